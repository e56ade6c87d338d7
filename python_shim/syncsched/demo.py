"""`syncsched demo`: the whole system live on the embedded PostgreSQL with pg_cron.

It starts what is needed (the cluster in .syncsched/, the pg_cron tick, the endpoint
simulators, one worker) and shows what happens. The real pg_cron tick drives everything: no
Python loop calls the tick. At the end (Ctrl-C or --duration) it stops every process it
started; the data stays in the cluster's folder for `syncsched status`.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from syncsched import db, localpg, queries
from syncsched.config import time_zone
from syncsched.errors import ConnectError
from syncsched.migrate import migrate

TYPES = ("xledger", "dynamics", "bufdir")
ZONES = ("Europe/Oslo", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC", "America/Sao_Paulo")
# (cron, interval minutes): every minute keeps the demo busy; the rest shows variety
SCHEDULES: tuple[tuple[str | None, int | None], ...] = (
    ("* * * * *", None),
    ("* * * * *", None),
    ("*/2 * * * *", None),
    ("*/5 * * * *", None),
    (None, 3),
    ("0 * * * *", None),
    ("30 2 * * *", None),
    ("0 9 * * 1-5", None),
)
# Changed for the demo, and said so on screen (the defaults: README, Settings).
DEMO_SETTINGS = {
    "min_schedule_interval": "1 minute",
    "warmup_after": "30 seconds",
    "retry_backoff_base": "2 seconds",
    "drift_alert_threshold": "2 minutes",
    # the simulators listen on 127.0.0.1 over http: allowed past the SSRF guard
    "allowed_private_hosts": "127.0.0.1",
    "allowed_insecure_hosts": "127.0.0.1",
}
HEALTH_CHECK_INTERVAL = "1 minute"
STATUS_COLOURS = {"completed": "green", "failed": "red", "running": "cyan", "pending": "yellow", "cancelled": "dim"}


class Stop(Exception):
    """SIGTERM: leave as Ctrl-C does."""


@dataclass
class Demo:
    root: Path
    orgs: int = 50
    duration: float | None = None
    console: Console = field(default_factory=Console)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def say(self, message: str) -> None:
        self.console.print(f"[bold]syncsched demo[/]: {message}", highlight=False)

    # --- set-up -------------------------------------------------------------------------------

    def seed(self, conn: db.Connection, endpoint_url: str) -> int:
        """Demo organizations with integrations of the three types, on varied crons and zones."""
        for key, value in DEMO_SETTINGS.items():
            db.execute(conn, queries.SET_SETTING, (key, value))
        db.execute(conn, queries.POINT_TYPES_AT, (endpoint_url, HEALTH_CHECK_INTERVAL))
        rng = random.Random(42)  # the same demo every time
        count = 0
        for n in range(1, self.orgs + 1):
            for integration_type in rng.sample(TYPES, rng.randint(1, 3)):
                cron, minutes = rng.choice(SCHEDULES)
                payload = json.dumps({"company": 1000 + n, "export": integration_type})
                db.execute(
                    conn,
                    queries.UPSERT_INTEGRATION,
                    (
                        f"org{n:03d}",
                        f"{integration_type}-sync",
                        integration_type,
                        cron,
                        minutes,
                        rng.choice(ZONES),
                        payload,
                    ),
                )
                count += 1
        return count

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """A child in a session of its own: Ctrl-C reaches the demo, which stops it in order."""
        log = (self.root / f"{name}.log").open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append(proc)
        return proc

    # --- the view ------------------------------------------------------------------------------

    def frame(self, conn: db.Connection) -> Group:
        now = datetime.now(UTC)
        counts = db.fetch_one(conn, queries.DEMO_COUNTS, {"since": self.started_at}) or {}
        elapsed = (now - self.started_at).total_seconds()
        left = f", {max(0, self.duration - elapsed):.0f} s left" if self.duration else ", Ctrl-C to stop"
        last_tick = counts.get("last_tick")
        first = counts.get("first_completed")
        header = (
            f"[bold]{counts.get('orgs', 0)}[/] organizations, [bold]{counts.get('integrations', 0)}[/] integrations."
            f" pg_cron ticks every minute: {counts.get('ticks', 0)} tick(s) so far"
            + (f", last at {last_tick:%H:%M:%S}" if last_tick else f", the first at {_next_minute(now):%H:%M:%S}")
            + (f". First run completed {(first - self.started_at).total_seconds():.0f} s after start" if first else "")
            + f". {elapsed:.0f} s{left}.\n[dim]Set for the demo: "
            + ", ".join(f"{k} = {v}" for k, v in DEMO_SETTINGS.items())
            + f". Logs: {self.root}/worker.log, simulator.log[/]"
        )
        return Group(
            Panel(header, title="syncsched demo", border_style="blue"),
            Columns([self._runs_table(conn), self._health_table(conn), self._drift_table(conn)]),
            Columns([self._next_table(conn), self._alerts_table(conn)]),
            self._failures_table(conn),
        )

    def _runs_table(self, conn: db.Connection) -> Table:
        table = Table(title="Runs by type (this demo)")
        statuses = ["pending", "running", "completed", "failed", "cancelled"]
        table.add_column("type")
        for status in statuses:
            table.add_column(status, justify="right", style=STATUS_COLOURS[status])
        cells: dict[tuple[str, str], int] = {
            (r["integration_type"], r["status"]): r["n"]
            for r in db.fetch_all(conn, queries.DEMO_RUNS_BY_TYPE, (self.started_at,))
        }
        for integration_type in TYPES:
            table.add_row(integration_type, *(str(cells.get((integration_type, s), 0)) for s in statuses))
        return table

    def _health_table(self, conn: db.Connection) -> Table:
        table = Table(title="Endpoint health")
        for column in ("type", "status", "mode", "failures", "last check"):
            table.add_column(column)
        for r in db.fetch_all(conn, queries.DEMO_HEALTH):
            colour = {"healthy": "green", "unhealthy": "red"}.get(r["status"], "yellow")
            table.add_row(
                r["integration_type"],
                f"[{colour}]{r['status']}[/]",
                r["mode"],
                str(r["consecutive_failures"]),
                _clock(r["last_check_at"]),
            )
        return table

    def _drift_table(self, conn: db.Connection) -> Table:
        table = Table(title="Drift (start - scheduled)")
        for column in ("type", "runs", "avg s", "max s"):
            table.add_column(column, justify="right" if column != "type" else "left")
        for r in db.fetch_all(conn, queries.DEMO_DRIFT, (self.started_at,)):
            table.add_row(r["integration_type"], str(r["runs"]), str(r["avg_s"]), str(r["max_s"]))
        return table

    def _next_table(self, conn: db.Connection) -> Table:
        table = Table(title="Next scheduled runs")
        for column in ("integration", "schedule", "zone", "next (UTC)", "local"):
            table.add_column(column)
        for r in db.fetch_all(conn, queries.DEMO_NEXT_RUNS, (8,)):
            local = r["next_run_at"].astimezone(time_zone(r["timezone"]))
            table.add_row(r["integration"], r["schedule"], r["timezone"], _clock(r["next_run_at"]), f"{local:%H:%M}")
        return table

    def _alerts_table(self, conn: db.Connection) -> Table:
        table = Table(title="Open alerts")
        for column in ("at", "kind", "about"):
            table.add_column(column)
        for r in db.fetch_all(conn, queries.DEMO_ALERTS, (8,)):
            table.add_row(_clock(r["at"]), r["kind"], r["alert_key"].split(":", 1)[1])
        return table

    def _failures_table(self, conn: db.Connection) -> Table:
        table = Table(title="Recent failures and retries")
        for column in ("run", "integration", "status", "attempt", "retry at", "error"):
            table.add_column(column)
        for r in db.fetch_all(conn, queries.DEMO_FAILURES, (self.started_at, 6)):
            retry = _clock(r["not_before"]) if r["status"] == "pending" else ""
            status = f"[{STATUS_COLOURS.get(r['status'], 'white')}]{r['status']}[/]"
            attempt = f"{r['attempt']}/{r['max_attempts']}"
            table.add_row(str(r["run_id"]), r["integration"], status, attempt, retry, (r["error"] or "")[:60])
        return table

    def summary(self, conn: db.Connection) -> str:
        """One line for logs (when the output is not a terminal)."""
        rows = db.fetch_all(conn, queries.DEMO_RUNS_BY_TYPE, (self.started_at,))
        totals: dict[str, int] = {}
        for r in rows:
            totals[r["status"]] = totals.get(r["status"], 0) + r["n"]
        counts = db.fetch_one(conn, queries.DEMO_COUNTS, {"since": self.started_at}) or {}
        elapsed = (datetime.now(UTC) - self.started_at).total_seconds()
        runs = ", ".join(f"{status} {n}" for status, n in sorted(totals.items())) or "none yet"
        return f"{elapsed:4.0f} s: {counts.get('ticks', 0)} tick(s), runs: {runs}"


def _clock(value: datetime | None) -> str:
    return f"{value:%H:%M:%S}" if value else ""


def _next_minute(now: datetime) -> datetime:
    return datetime.fromtimestamp((int(now.timestamp()) // 60 + 1) * 60, UTC)


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise Stop

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(root: Path, orgs: int, duration: float | None) -> int:
    demo = Demo(root=root.resolve(), orgs=orgs, duration=duration)
    cluster = localpg.persistent(demo.root)
    was_running = cluster.is_running()
    demo.say(f"starting PostgreSQL with pg_cron in {demo.root} ...")
    dsn = cluster.start()
    try:
        with _stop_on_sigterm():
            return _run(demo, cluster, dsn)
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        _shut_down(demo, cluster, dsn, stop_cluster=not was_running)


def _run(demo: Demo, cluster: localpg.LocalCluster, dsn: str) -> int:
    migrate(dsn)
    port = localpg.free_port()
    endpoint_url = f"http://127.0.0.1:{port}"
    demo.spawn("simulator", [sys.executable, "-m", "syncsched.simulator", "--port", str(port)])
    with db.connect(dsn, application_name="syncsched demo") as conn:
        count = demo.seed(conn, endpoint_url)
        demo.say(
            f"{demo.orgs} organizations with {count} integrations; endpoints simulated on {endpoint_url}; "
            "min_schedule_interval lowered to 1 minute for the demo"
        )
        db.execute(conn, queries.INSTALL_CRON, ("* * * * *",))
        demo.say("the pg_cron tick is installed: every minute, CALL syncsched.tick()")
        demo.started_at = datetime.now(UTC)
        syncsched = str(Path(sys.executable).parent / "syncsched")
        metrics_port = localpg.free_port()
        demo.spawn(
            "worker",
            [
                syncsched,
                "worker",
                "--dsn",
                dsn,
                "--concurrency",
                "10",
                "--grace",
                "5s",
                "--metrics-port",
                str(metrics_port),
            ],
        )
        demo.say(f"one worker started (metrics on http://127.0.0.1:{metrics_port}/metrics)")
        deadline = time.monotonic() + demo.duration if demo.duration else None
        if demo.console.is_terminal:
            with Live(demo.frame(conn), console=demo.console, refresh_per_second=2, transient=False) as live:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(1)
                    live.update(demo.frame(conn))
        else:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(min(10.0, max(0.0, deadline - time.monotonic())) if deadline else 10.0)
                print(demo.summary(conn), flush=True)
            demo.console.print(demo.frame(conn))
    return 0


def _shut_down(demo: Demo, cluster: localpg.LocalCluster, dsn: str, *, stop_cluster: bool) -> None:
    """Stop what the demo started, worker first (it drains), and leave the data for inspection."""
    demo.say("stopping ...")
    for proc in reversed(demo.children):  # the worker, then the simulator
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for log in demo._logs:
        log.close()
    try:
        with db.connect(dsn, application_name="syncsched demo") as conn:
            db.execute(conn, queries.UNINSTALL_CRON)  # a frozen state to inspect
    except (db.Error, ConnectError) as exc:
        demo.say(f"the pg_cron jobs were not removed: {exc}")
    if stop_cluster:
        cluster.stop()
    where = "" if demo.root == localpg.DEFAULT_DIR.resolve() else f" --dir {demo.root}"
    demo.say(f"stopped; the data stays in {demo.root}: see it with `syncsched status{where}`")
