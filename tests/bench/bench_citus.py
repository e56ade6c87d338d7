"""Benchmark `citus`: syncsched in Citus' distributed mode beside plain PostgreSQL, in the same run.

A coordinator and two workers on this machine (Citus' default 32 shards), syncsched installed by
`migrate --citus-distribute`; plain PostgreSQL is the bench's own cluster. The same rows on both:

- the tick: 10^6 integrations configured (bench_tick's shapes), 10,000 of them due, CALL
  syncsched.tick(); and the bare INSERT of the same runs into a copy of the run log (distributed
  the same way on Citus): the physical limit on each;
- the claims: 4,000 ready runs of 200 organizations taken by 1, 2 and 4 sessions doing the worker's
  round trip (complete_and_claim of the runs they hold, 50 at a time, with their organizations; no
  HTTP): runs per second, the database's side of dispatch.

Skipped, with the reason, where Citus is not installed (it is not in Debian's packages).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import bench_tick

from syncsched import db, localpg
from syncsched.migrate import migrate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import CITUS_SETTINGS, citus_database

SIZE = 1_000_000
DUE = 10_000
TICKS = 3
CLAIM_RUNS = 4_000
SESSIONS = [1, 2, 4]
BATCH = 50

# (the triggers bypassed, on the shards too: SET LOCAL reaches them with propagation. On Citus they
# run on the workers, where they cannot yet: docs/citus.md, what is left)
WITHOUT_TRIGGERS = ["set local citus.propagate_set_commands = 'local'", "set local session_replication_role = replica"]

BARE = "create table bench_bare (like syncsched.sync_run_log including defaults including identity including indexes)"
DISTRIBUTE_BARE = "select create_distributed_table('bench_bare', 'org_id', colocate_with => 'syncsched.sync_run_log')"

MAKE_DUE = "update syncsched.schedule_state set next_run_at = %(at)s, last_tick_at = null where id = any(%(ids)s)"

BARE_INSERT = bench_tick.BARE_INSERT_OF.format(due="syncsched.organization_integrations as o where o.id = any(%(ids)s)")

READY_RUNS = """
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
    trigger, max_attempts)
select 'claim' || (g %% 200), 'i' || g, (array['xledger', 'dynamics', 'bufdir'])[1 + g %% 3],
    %(base)s::timestamptz, 'claim/' || g, 'manual', 3
from generate_series(1, %(runs)s) as g
"""

ROUND_TRIP = "select * from syncsched.complete_and_claim(%s, %s, %s, %s, %s, %s, null, %s)"


def citus_missing(dsn: str) -> str | None:
    with db.connect(dsn) as conn:
        if db.fetch_value(conn, "select count(*) from pg_available_extensions where name = 'citus'"):
            return None
    return "Citus is not installed on this machine (not in Debian's packages)"


def _without_triggers(conn: db.Connection, statements: list[str], params: dict[str, Any]) -> None:
    with db.transaction(conn):
        for statement in [*WITHOUT_TRIGGERS, *statements]:
            db.execute(conn, statement, params)


def _ticks(conn: db.Connection) -> dict[str, float]:
    """Median seconds of TICKS ticks of DUE due rows, and of the bare inserts of their runs."""
    ids = [r["id"] for r in db.fetch_all(conn, "select id from syncsched.organization_integrations order by id")]
    due = ids[:: len(ids) // DUE][:DUE]
    ticks, bares = [], []
    for minute in range(1, TICKS + 1):
        at = bench_tick.BASE + timedelta(minutes=minute)
        db.execute(conn, MAKE_DUE, {"at": at, "ids": due})
        t0 = time.perf_counter()
        db.execute(conn, "call syncsched.tick(%s)", (at + timedelta(seconds=1),))
        ticks.append(time.perf_counter() - t0)
        created = db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'pending'")
        assert created == DUE, created
        t0 = time.perf_counter()
        db.execute(conn, BARE_INSERT, {"at": at, "ids": due})
        bares.append(time.perf_counter() - t0)
        _without_triggers(conn, ["delete from syncsched.sync_run_log where status = 'pending'"], {})
        db.execute(conn, "delete from bench_bare")
    return {
        "tick_seconds": round(statistics.median(ticks), 4),
        "bare_insert_seconds": round(statistics.median(bares), 4),
    }


def _claims(dsn: str, sessions: int) -> float:
    """Runs per second for `sessions` sessions taking CLAIM_RUNS ready runs with the worker's round trip."""
    with db.connect(dsn) as conn:
        _without_triggers(
            conn,
            [
                "update syncsched.integration_types set max_concurrency = 10000",
                READY_RUNS,
            ],
            {"base": bench_tick.BASE, "runs": CLAIM_RUNS},
        )
    errors: list[BaseException] = []
    barrier = threading.Barrier(sessions + 1)

    def session(n: int) -> None:
        try:
            with db.connect(dsn) as conn:
                held: list[dict[str, Any]] = []
                barrier.wait()
                while True:
                    rows = db.fetch_all(
                        conn,
                        ROUND_TRIP,
                        (
                            f"bench{n}",
                            [r["run_id"] for r in held],
                            [r["lease_token"] for r in held],
                            [200] * len(held),
                            ["ok"] * len(held),
                            BATCH,
                            [r["org_id"] for r in held],
                        ),
                    )
                    held = [r for r in rows if r["applied"] is None]
                    if not held:
                        return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    assert errors == [], errors
    with db.connect(dsn) as conn:
        done = db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'completed'")
        assert done == CLAIM_RUNS, done
        _without_triggers(conn, ["delete from syncsched.sync_run_attempts", "delete from syncsched.sync_run_log"], {})
    return round(CLAIM_RUNS / elapsed, 1)


def _measure(dsn: str, *, distributed: bool, progress: Any) -> dict[str, Any]:
    params = bench_tick.load_params(SIZE)
    with db.connect(dsn) as conn:
        if not distributed:  # (a fresh install on Citus: as it is; its settings' audit trigger runs on the workers)
            db.execute(conn, "select syncsched.reset_setting('scheduler_paused')")
        t0 = time.perf_counter()
        _without_triggers(
            conn,
            [
                "delete from syncsched.sync_run_attempts",
                "delete from syncsched.sync_run_log",
                "delete from syncsched.schedule_state",
                "delete from syncsched.organization_integrations",
                *bench_tick.SHAPES,
                *bench_tick.INTEGRATIONS,
            ],
            params,
        )
        db.execute(conn, "vacuum analyze syncsched.organization_integrations, syncsched.schedule_state")
        db.execute(conn, "analyze syncsched.sync_run_log")
        progress(f"   loaded {SIZE:,} integrations in {time.perf_counter() - t0:.1f} s")
        db.execute(conn, "drop table if exists bench_bare")
        db.execute(conn, BARE)
        if distributed:
            db.execute(conn, DISTRIBUTE_BARE)
        result: dict[str, Any] = _ticks(conn)
        db.execute(conn, "drop table bench_bare")
        _without_triggers(
            conn, ["delete from syncsched.schedule_state", "delete from syncsched.organization_integrations"], {}
        )
    result["claims_per_second"] = {str(n): _claims(dsn, n) for n in SESSIONS}
    return result


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    missing = citus_missing(dsn)
    if missing:
        return {"skipped": missing}
    plain = _measure(dsn, distributed=False, progress=progress)
    progress(f"   plain PostgreSQL: {plain}")
    with ExitStack() as stack:
        nodes = [stack.enter_context(localpg.throwaway(durable=True, extra_settings=CITUS_SETTINGS)) for _ in range(3)]
        coordinator = citus_database(nodes)
        migrate(coordinator, citus_distribute=True)
        citus = _measure(coordinator, distributed=True, progress=progress)
        progress(f"   Citus: {citus}")
    return {
        "plain": plain,
        "citus": citus,
        "tick_citus_over_plain": round(citus["tick_seconds"] / plain["tick_seconds"], 2),
        "tick_over_bare_insert": {
            "plain": round(plain["tick_seconds"] / plain["bare_insert_seconds"], 2),
            "citus": round(citus["tick_seconds"] / citus["bare_insert_seconds"], 2),
        },
        "claims_citus_over_plain": {
            n: round(citus["claims_per_second"][n] / plain["claims_per_second"][n], 3) for n in map(str, SESSIONS)
        },
        "setup": "a coordinator and two workers on one machine, 32 shards; plain PostgreSQL on the same machine",
    }


def report(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"citus: skipped: {result['skipped']}"
    plain, citus = result["plain"], result["citus"]
    lines = [
        "citus: distributed mode beside plain PostgreSQL (10^6 integrations, 10,000 due; median seconds)",
        f"  tick         plain {plain['tick_seconds']:8.3f}   Citus {citus['tick_seconds']:8.3f}"
        f"   Citus / plain {result['tick_citus_over_plain']}",
        f"  bare insert  plain {plain['bare_insert_seconds']:8.3f}   Citus {citus['bare_insert_seconds']:8.3f}",
        f"  tick / bare insert: plain {result['tick_over_bare_insert']['plain']},"
        f" Citus {result['tick_over_bare_insert']['citus']}",
        "  claims (runs/s, the worker's round trip, 50 at a time):",
    ]
    for n in map(str, SESSIONS):
        lines.append(
            f"    {n} session(s): plain {plain['claims_per_second'][n]:8.1f}"
            f"   Citus {citus['claims_per_second'][n]:8.1f}   Citus / plain {result['claims_citus_over_plain'][n]}"
        )
    return "\n".join(lines)
