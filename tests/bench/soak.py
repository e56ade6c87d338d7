"""The reliability battery (`make soak`; a 2-minute version runs in `make test`).

On the embedded cluster, an accelerated clock drives `syncsched.tick(p_now)` so that hours of
schedules pass in minutes: 500 integrations on mixed crons, zones and misfire policies, three
worker processes, an endpoint with 10% 500s, 5% timeouts and some 429s. Every 20 s one worker is
SIGKILLed and restarted; PostgreSQL is restarted once; one LISTEN connection is terminated once.
At the end: periods due and accounted for, runs created / completed / failed, duplicate
successful exports of one idempotency key (each must be explained by a worker killed between the
endpoint's answer and its status write), runs lost or left non-final (must be 0), the longest
time from a worker's death to its runs being taken over, and the tick lateness.

The simulated clock runs behind the real one (runs are created with not_before = p_now, so they
can be claimed at once): it starts (acceleration - 1) x duration before the real start.

Usage: python tests/bench/soak.py [--minutes 10] [--json tests/bench/results/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncsched import db, localpg
from syncsched.migrate import migrate

ACCELERATION = 30  # simulated minutes per real 2 s
INTEGRATIONS = 500
WORKERS = 3
KILL_EVERY = 20.0
LEASE = "10s"
SYNCSCHED = str(Path(sys.executable).parent / "syncsched")
RESULTS = Path(__file__).resolve().parent / "results"

CRONS = [
    "*/5 * * * *",
    "*/10 * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "30 * * * *",
    "*/20 * * * *",
    "15 */2 * * *",
    "0 */3 * * *",
]
INTERVALS = [5, 7, 20, 45]
ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "Asia/Kathmandu"]

# The endpoint: another process; logs every answer with its Idempotency-Key and its caller.
ENDPOINT = """
import asyncio, json, random, sys, time
from aiohttp import web
rng = random.Random(7)
answers = []
async def sync(request):
    await request.read()
    started = time.time()
    roll = rng.random()
    if roll < 0.05:
        await asyncio.sleep(3.0)  # past the type's 2 s timeout: the caller has given up, nothing exported
        status = 503
    elif roll < 0.15:
        status = 500
    elif roll < 0.18:
        status = 429
    else:
        await asyncio.sleep(rng.uniform(0.02, 0.1))
        status = 200
    # logged when the handler ends, even if the caller died meanwhile: the export happened
    answers.append([request.headers.get("Idempotency-Key", ""), status, started, time.time(),
                    request.headers.get("User-Agent", "")])
    return web.json_response({"ok": status == 200}, status=status,
                             headers={"Retry-After": "1"} if status == 429 else {})
async def health(request):
    return web.Response(text="ok")
async def log(request):
    return web.json_response(answers)
app = web.Application()
app.router.add_get("/_answers", log)
app.router.add_post("/{type}", sync)
app.router.add_get("/{type}", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

SETTINGS = {
    "min_schedule_interval": "5 minutes",
    "retry_backoff_base": "1 second",
    "retry_backoff_cap": "5 seconds",
    "running_skip_window": "10 seconds",
    "drift_alert_threshold": "1 day",  # the simulated clock runs hours behind: every run is 'late'
    "allowed_private_hosts": "127.0.0.1",
    "allowed_insecure_hosts": "127.0.0.1",
}


@dataclass
class Kill:
    worker_id: str
    at: float
    held: list[int]
    taken_over_after: float | None = None


@dataclass
class Soak:
    dsn: str
    cluster: localpg.LocalCluster
    seconds: float
    root: Path
    progress: Any = print
    workers: dict[int, tuple[str, subprocess.Popen[bytes]]] = field(default_factory=dict)
    generation: int = 0
    kills: list[Kill] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    # --- set-up ---------------------------------------------------------------------------------

    def prepare(self, endpoint_url: str, sim_start: datetime) -> None:
        rng = random.Random(11)
        with db.connect(self.dsn) as conn:
            for key, value in SETTINGS.items():
                db.execute(conn, "update syncsched.settings set value = %s where key = %s", (value, key))
            db.execute(
                conn,
                "update syncsched.integration_types set endpoint_url = %s || '/' || integration_type,"
                " timeout_ms = 2000, max_concurrency = 30",
                (endpoint_url,),
            )
            for n in range(INTEGRATIONS):
                cron, minutes = (rng.choice(CRONS), None) if rng.random() < 0.8 else (None, rng.choice(INTERVALS))
                policy = rng.choices(["run_once", "catch_up", "skip"], weights=[8, 1, 1])[0]
                db.execute(
                    conn,
                    "select syncsched.upsert_integration(%s, 'sync', %s, %s, %s, %s, '{}', true, %s, 3)",
                    (
                        f"org{n:03d}",
                        rng.choice(["xledger", "dynamics", "bufdir"]),
                        cron,
                        minutes,
                        rng.choice(ZONES),
                        policy,
                    ),
                )
            # the schedules start at the simulated clock, not the real one
            db.execute(
                conn,
                "update syncsched.schedule_state as s"
                " set next_run_at = syncsched._schedule_next(s.cron_spec, o.interval_minutes, o.timezone, %s)"
                " from syncsched.organization_integrations as o where o.id = s.id",
                (sim_start - timedelta(seconds=1),),
            )

    def start_worker(self, slot: int) -> None:
        self.generation += 1
        worker_id = f"soak-{slot}-{self.generation}"
        log = (self.root / f"{worker_id}.log").open("wb")
        proc = subprocess.Popen(
            [
                SYNCSCHED,
                "worker",
                "--dsn",
                self.dsn,
                "--worker-id",
                worker_id,
                "--concurrency",
                "10",
                "--lease",
                LEASE,
                "--poll-interval",
                "1s",
                "--grace",
                "2s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers[slot] = (worker_id, proc)

    # --- faults ----------------------------------------------------------------------------------

    def kill_one(self, slot: int) -> None:
        worker_id, proc = self.workers[slot]
        held = self._held(worker_id)
        proc.kill()
        proc.wait()
        kill = Kill(worker_id, time.time(), held)
        self.kills.append(kill)
        self.start_worker(slot)
        if held:
            thread = threading.Thread(target=self._watch_takeover, args=(kill,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _held(self, worker_id: str) -> list[int]:
        try:
            with db.connect(self.dsn) as conn:
                rows = db.fetch_all(
                    conn,
                    "select run_id from syncsched.sync_run_log where status = 'running' and worker_id = %s",
                    (worker_id,),
                )
            return [r["run_id"] for r in rows]
        except Exception:  # the server may be restarting
            return []

    def _watch_takeover(self, kill: Kill) -> None:
        """How long the dead worker's runs stay with it: until each is claimed again, or final."""
        deadline = kill.at + 120
        while time.time() < deadline:
            try:
                with db.connect(self.dsn) as conn:
                    still = db.fetch_value(
                        conn,
                        "select count(*) from syncsched.sync_run_log where run_id = any(%s)"
                        " and status = 'running' and worker_id = %s",
                        (kill.held, kill.worker_id),
                    )
                    # released by its lease but not yet claimed again counts as not taken over
                    waiting = db.fetch_value(
                        conn,
                        "select count(*) from syncsched.sync_run_log where run_id = any(%s) and status = 'pending'",
                        (kill.held,),
                    )
                if still == 0 and waiting == 0:
                    kill.taken_over_after = time.time() - kill.at
                    return
            except Exception:  # the server may be restarting
                pass
            time.sleep(0.2)

    def terminate_a_listen_connection(self) -> None:
        with db.connect(self.dsn) as conn:
            pids = db.fetch_all(
                conn,
                "select pid from pg_stat_activity where application_name like 'syncsched worker%%'"
                " and query ilike 'listen%%'",
            )
            if pids:
                db.execute(conn, "select pg_terminate_backend(%s)", (pids[0]["pid"],))
        self.events.append(f"{self._clock()}: one LISTEN connection terminated")

    def restart_postgresql(self) -> None:
        started = time.time()
        self.cluster.restart("fast")
        self.events.append(f"{self._clock()}: PostgreSQL restarted ({time.time() - started:.1f} s)")

    def _clock(self) -> str:
        return datetime.now(UTC).strftime("%H:%M:%S")

    # --- the run ---------------------------------------------------------------------------------

    def tick_at(self, sim_now: datetime) -> None:
        """One tick at simulated time; retried while the server is away (a restart)."""
        while True:
            try:
                with db.connect(self.dsn, application_name="syncsched soak tick") as conn:
                    db.execute(conn, "call syncsched.tick(%s)", (sim_now,))
                return
            except Exception:
                time.sleep(0.5)

    def drive(self, sim_start: datetime) -> datetime:
        minutes = int(self.seconds * ACCELERATION / 60)
        step = 60.0 / ACCELERATION
        t0 = time.time()
        next_kill = t0 + KILL_EVERY
        restart_at = t0 + self.seconds * 0.4
        listen_at = t0 + self.seconds * 0.6
        restarted = listened = False
        slot = 0
        sim_now = sim_start
        for minute in range(minutes):
            intended = t0 + minute * step
            while time.time() < intended:
                time.sleep(min(0.05, max(0.0, intended - time.time())))
            sim_now = sim_start + timedelta(minutes=minute, seconds=5)
            self.tick_at(sim_now)
            self.lateness.append(time.time() - intended)
            now = time.time()
            if now >= next_kill:
                self.kill_one(slot)
                slot = (slot + 1) % WORKERS
                next_kill += KILL_EVERY
            if not restarted and now >= restart_at:
                restarted = True
                threading.Thread(target=self.restart_postgresql, daemon=True).start()
            if not listened and now >= listen_at:
                listened = True
                self.terminate_a_listen_connection()
            if minute % 10 == 0:
                self.progress(f"   {now - t0:5.0f} s: simulated {sim_now:%H:%M}, {len(self.kills)} worker(s) killed")
        return sim_now

    def drain(self, timeout: float = 90.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with db.connect(self.dsn) as conn:
                    open_runs = db.fetch_value(
                        conn, "select count(*) from syncsched.sync_run_log where status in ('pending', 'running')"
                    )
                if open_runs == 0:
                    return
            except Exception:
                pass
            time.sleep(1)

    def stop_workers(self) -> None:
        for _worker_id, proc in self.workers.values():
            proc.send_signal(signal.SIGTERM)
        for _worker_id, proc in self.workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for thread in self._threads:
            thread.join(timeout=5)


EXPECTED = """
with recursive p as (
    select o.org_id, o.integration_id, s.cron_spec, o.interval_minutes, o.timezone,
        syncsched._schedule_next(s.cron_spec, o.interval_minutes, o.timezone, %(start)s) as period
    from syncsched.organization_integrations as o
    join syncsched.schedule_state as s on s.id = o.id
    union all
    select p.org_id, p.integration_id, p.cron_spec, p.interval_minutes, p.timezone,
        syncsched._schedule_next(p.cron_spec, p.interval_minutes, p.timezone, p.period)
    from p
    where p.period <= %(end)s
)
select org_id, integration_id, period from p where period <= %(end)s
"""


def account(conn: db.Connection, sim_start: datetime, sim_end: datetime) -> dict[str, Any]:
    """Every period due in the simulated span: run, skipped (overlap) or missed (recorded), or lost."""
    expected = {
        (r["org_id"], r["integration_id"], r["period"])
        for r in db.fetch_all(conn, EXPECTED, {"start": sim_start - timedelta(seconds=1), "end": sim_end})
    }
    ran = {
        (r["org_id"], r["integration_id"], r["scheduled_for"])
        for r in db.fetch_all(
            conn,
            "select org_id, integration_id, scheduled_for from syncsched.sync_run_log where trigger <> 'manual'",
        )
    }
    skipped: set[tuple[str, str, datetime]] = set()
    missed_ranges: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for alert in db.fetch_all(
        conn,
        "select kind, org_id, integration_id, detail from syncsched.scheduler_alerts"
        " where kind in ('skipped_overlap', 'missed')",
    ):
        key = (alert["org_id"], alert["integration_id"])
        if alert["kind"] == "skipped_overlap":
            for period in alert["detail"]["periods"]:
                skipped.add((*key, datetime.fromisoformat(period)))
        else:
            first = datetime.fromisoformat(alert["detail"]["first"])
            last = datetime.fromisoformat(alert["detail"]["last"])
            missed_ranges.setdefault(key, []).append((first, last))

    def missed(item: tuple[str, str, datetime]) -> bool:
        return any(first <= item[2] <= last for first, last in missed_ranges.get(item[:2], []))

    lost = sorted(p for p in expected - ran - skipped if not missed(p))
    return {
        "periods_due": len(expected),
        "periods_run": len(expected & ran),
        "periods_skipped_overlap": len((expected - ran) & skipped),
        "periods_missed_recorded": sum(1 for p in expected - ran - skipped if missed(p)),
        "periods_lost": len(lost),
        "lost_examples": [f"{o}/{i} {p.isoformat()}" for o, i, p in lost[:10]],
    }


def duplicates(answers: list[list[Any]], kills: list[Kill], conn: db.Connection) -> dict[str, Any]:
    """Keys exported (answered 2xx) more than once; explained when the worker of the first export
    was killed after sending its request (mid-call, or between the answer and its status write)
    and another worker completed the run."""
    successes: dict[str, list[tuple[float, str]]] = {}
    for key, status, started, _answered, agent in answers:
        if 200 <= status < 300:
            successes.setdefault(key, []).append((started, agent.split("(")[-1].rstrip(")")))
    completed_by = {
        r["idempotency_key"]: r["worker_id"]
        for r in db.fetch_all(
            conn, "select idempotency_key, worker_id from syncsched.sync_run_log where status = 'completed'"
        )
    }
    explained, unexplained = [], []
    for key, hits in sorted(successes.items()):
        if len(hits) < 2:
            continue
        hits.sort()
        (sent_at, first_worker) = hits[0]
        died = any(k.worker_id == first_worker and sent_at <= k.at for k in kills)
        case = f"{key}: answered {len(hits)}x, first to {first_worker}, completed by {completed_by.get(key)}"
        (explained if died and completed_by.get(key) != first_worker else unexplained).append(case)
    return {"explained": explained, "unexplained": unexplained}


def run(minutes: float, progress: Any = print, durable: bool = True) -> dict[str, Any]:
    seconds = minutes * 60
    with localpg.throwaway(durable=durable) as cluster:
        dsn = cluster.dsn()
        migrate(dsn)
        root = cluster.root / "soak"
        root.mkdir()
        port = localpg.free_port()
        endpoint = subprocess.Popen([sys.executable, "-c", ENDPOINT, str(port)])
        soak = Soak(dsn, cluster, seconds, root, progress)
        try:
            t0 = datetime.now(UTC)
            sim_start = (t0 - timedelta(seconds=(ACCELERATION - 1) * seconds + 600)).replace(second=0, microsecond=0)
            time.sleep(1.0)
            soak.prepare(f"http://127.0.0.1:{port}", sim_start)
            for slot in range(WORKERS):
                soak.start_worker(slot)
            progress(
                f"   {INTEGRATIONS} integrations, {WORKERS} workers; simulated clock from {sim_start:%H:%M} "
                f"at {ACCELERATION}x for {minutes:g} min"
            )
            sim_end = soak.drive(sim_start)
            soak.drain()
            soak.stop_workers()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_answers", timeout=30) as response:
                answers = json.loads(response.read())
            with db.connect(dsn) as conn:
                counts = {
                    r["status"]: r["n"]
                    for r in db.fetch_all(
                        conn, "select status::text, count(*)::int as n from syncsched.sync_run_log group by 1"
                    )
                }
                periods = account(conn, sim_start, sim_end)
                dupes = duplicates(answers, soak.kills, conn)
        finally:
            soak.stop_workers()
            endpoint.terminate()
            endpoint.wait(timeout=30)
    takeovers = [k.taken_over_after for k in soak.kills if k.taken_over_after is not None]
    lateness = sorted(soak.lateness)
    return {
        "minutes": minutes,
        "simulated_hours": round(seconds * ACCELERATION / 3600, 1),
        "integrations": INTEGRATIONS,
        **{k: v for k, v in periods.items() if k != "lost_examples"},
        "runs_created": sum(counts.values()),
        "runs_completed": counts.get("completed", 0),
        "runs_failed": counts.get("failed", 0),
        "runs_cancelled": counts.get("cancelled", 0),
        "runs_non_final": counts.get("pending", 0) + counts.get("running", 0),
        "endpoint_answers": len(answers),
        "duplicate_exports_explained": len(dupes["explained"]),
        "duplicate_exports_unexplained": len(dupes["unexplained"]),
        "duplicate_cases": dupes["explained"] + dupes["unexplained"],
        "workers_killed": len(soak.kills),
        "workers_killed_holding_runs": sum(1 for k in soak.kills if k.held),
        "longest_takeover_seconds": round(max(takeovers), 1) if takeovers else None,
        "ticks": len(lateness),
        "tick_lateness_p50_ms": round(statistics.median(lateness) * 1000) if lateness else None,
        "tick_lateness_p99_ms": round(lateness[int(len(lateness) * 0.99) - 1] * 1000) if lateness else None,
        "events": soak.events,
        "lost_examples": periods["lost_examples"],
    }


def report(result: dict[str, Any]) -> str:
    rows = [
        (key, result[key])
        for key in (
            "minutes",
            "simulated_hours",
            "integrations",
            "periods_due",
            "periods_run",
            "periods_skipped_overlap",
            "periods_missed_recorded",
            "periods_lost",
            "runs_created",
            "runs_completed",
            "runs_failed",
            "runs_non_final",
            "duplicate_exports_explained",
            "duplicate_exports_unexplained",
            "workers_killed",
            "workers_killed_holding_runs",
            "longest_takeover_seconds",
            "ticks",
            "tick_lateness_p50_ms",
            "tick_lateness_p99_ms",
        )
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["soak:"] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
    lines += [f"  event: {e}" for e in result["events"]]
    lines += [f"  duplicate: {c}" for c in result["duplicate_cases"]]
    lines += [f"  LOST: {c}" for c in result["lost_examples"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--json", default=str(RESULTS / "soak.json"))
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    result = run(args.minutes)
    print(report(result), flush=True)
    Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"   written to {args.json}")
    bad = result["periods_lost"] or result["runs_non_final"] or result["duplicate_exports_unexplained"]
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
