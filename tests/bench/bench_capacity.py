"""Benchmark `capacity`: what one run and one integration cost a single primary, for docs/capacity.md.

At 10^6 and 10^7 integrations configured (CAPACITY_SIZES), with 10^4 and 10^5 of them due in one
minute: the tick's time and WAL; then the due runs claimed and completed set-based in batches of
200 (what workers do, without HTTP), its PostgreSQL time, WAL and commits per run; and the bytes a
finished run keeps in the run log and its attempt history (tables and indexes), and an
integration in its tables. The integrations are loaded as `make bench tick` loads them.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import bench_tick

from syncsched import db

SIZES = [int(s) for s in os.environ.get("CAPACITY_SIZES", "1000000,10000000").split(",")]
DUE = [10_000, 100_000]
BATCH = 200  # runs per claim and per completion, as a worker at --concurrency 200 sends them

WAL_LSN = "select pg_current_wal_lsn()"
WAL_SINCE = "select pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint"
COMMITS = "select xact_commit from pg_stat_database where datname = current_database()"

CLAIM = "select array_agg(run_id) as ids, array_agg(lease_token) as tokens from syncsched.claim_runs('bench', %s)"
COMPLETE = (
    "select count(*) from syncsched.complete_runs(%s, %s, array_fill(200, array[cardinality(%s::bigint[])]),"
    " array_fill('{\"ok\": true}'::text, array[cardinality(%s::bigint[])]), 'bench')"
)

RUN_BYTES = """
select (select sum(pg_total_relation_size(p.relid)) from pg_partition_tree('syncsched.sync_run_log') as p)::float8
    + (select sum(pg_total_relation_size(p.relid)) from pg_partition_tree('syncsched.sync_run_attempts') as p)
    / greatest((select count(*) from syncsched.sync_run_log), 1)
"""
INTEGRATION_BYTES = """
select (pg_total_relation_size('syncsched.organization_integrations')
        + pg_total_relation_size('syncsched.schedule_state'))::float8
    / greatest((select count(*) from syncsched.organization_integrations), 1)
"""


def _dispatch(conn: db.Connection, due: int) -> dict[str, float]:
    """Claim and complete every pending run, BATCH at a time, each call its own transaction."""
    lsn = db.fetch_value(conn, WAL_LSN)
    commits = db.fetch_value(conn, COMMITS)
    started = time.perf_counter()
    done = 0
    while True:
        row = db.fetch_one(conn, CLAIM, (BATCH,))
        if not row["ids"]:
            break
        done += db.fetch_value(conn, COMPLETE, (row["ids"], row["tokens"], row["ids"], row["ids"]))
    seconds = time.perf_counter() - started
    assert done == due, (done, due)
    return {
        "claim_and_complete_ms_per_run": round(seconds * 1000 / due, 4),
        "dispatch_wal_bytes_per_run": round(db.fetch_value(conn, WAL_SINCE, (lsn,)) / due),
        "commits_per_run": round((db.fetch_value(conn, COMMITS) - commits) / due, 4),
    }


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with db.connect(dsn) as conn:
        db.execute(conn, "select syncsched.reset_setting('scheduler_paused')")
        db.execute(conn, "update syncsched.integration_types set max_concurrency = 10000")
        minute = 0
        for size in SIZES:
            t0 = time.perf_counter()
            params = bench_tick.load_params(size)
            for statement in bench_tick.LOAD:
                db.execute(conn, statement, params)
            db.execute(conn, "drop table if exists bench_bare")
            progress(f"   loaded {size:>10,} integrations in {time.perf_counter() - t0:.0f} s")
            per_integration = db.fetch_value(conn, INTEGRATION_BYTES)
            for due in DUE:
                db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts cascade")
                for statement in bench_tick.CHOOSE_DUE:
                    db.execute(conn, statement, {"due": due, "base": bench_tick.BASE})
                minute += 1
                at = bench_tick.BASE + timedelta(minutes=minute)
                db.execute(conn, bench_tick.MAKE_DUE, {"at": at})
                db.execute(conn, "checkpoint")
                lsn = db.fetch_value(conn, WAL_LSN)
                t0 = time.perf_counter()
                db.execute(conn, "call syncsched.tick(%s)", (at + timedelta(seconds=1),))
                tick = time.perf_counter() - t0
                tick_wal = db.fetch_value(conn, WAL_SINCE, (lsn,))
                db.execute(conn, "vacuum analyze syncsched.sync_run_log")
                dispatched = _dispatch(conn, due)
                db.execute(conn, "vacuum syncsched.sync_run_log, syncsched.sync_run_attempts")
                row = {
                    "configured": size,
                    "due": due,
                    "tick_seconds": round(tick, 3),
                    "tick_ms_per_due_run": round(tick * 1000 / due, 4),
                    "tick_wal_bytes_per_run": round(tick_wal / due),
                    **dispatched,
                    "finished_run_bytes": round(db.fetch_value(conn, RUN_BYTES)),
                    "integration_bytes": round(per_integration),
                }
                rows.append(row)
                progress(f"   {size:>10,} configured, {due:>7,} due: {row}")
        db.execute(
            conn,
            "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.organization_integrations cascade",
        )
    return {"batch": BATCH, "rows": rows}


def report(result: dict[str, Any]) -> str:
    lines = [f"capacity: per run and per integration (claims and completions in batches of {result['batch']})"]
    for row in result["rows"]:
        lines.append(
            f"  {row['configured']:>10,} configured, {row['due']:>7,} due: tick {row['tick_seconds']:.2f} s"
            f" ({row['tick_ms_per_due_run']:.3f} ms and {row['tick_wal_bytes_per_run']} WAL bytes a run);"
            f" claim+complete {row['claim_and_complete_ms_per_run']:.3f} ms, {row['dispatch_wal_bytes_per_run']}"
            f" WAL bytes, {row['commits_per_run']} commits a run; a finished run keeps {row['finished_run_bytes']}"
            f" bytes, an integration {row['integration_bytes']}"
        )
    return "\n".join(lines)
