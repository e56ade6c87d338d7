"""Benchmark `retention`: 10^6 finished runs (RETENTION_RUNS), each with its attempt, past retention
in one monthly partition, taken away two ways side by side on the same data: row by row in
batches of 10,000 (what retention did before the log was partitioned, and still does outside the
monthly partitions), and by prune_run_log dropping the partition. Time and WAL bytes of each, after
a checkpoint each (the first change of a page after it writes the whole page, as in production).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any

from syncsched import db

RUNS = int(os.environ.get("RETENTION_RUNS", "1000000"))
INTEGRATIONS = 10_000
BATCH = 10_000

LOAD_RUNS = """
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
    status, attempt, max_attempts, started_at, finished_at, worker_id, http_status, response_excerpt)
select 'org' || (g %% %(integrations)s), 'ledger', 'xledger', at, 'org' || (g %% %(integrations)s) || '/ledger/' || g,
    'schedule', 'completed', 1, 5, at, at + interval '3 seconds', 'worker-1', 200, '{"exported": 42}'
from generate_series(1, %(runs)s) as g
cross join lateral (select %(start)s::timestamptz + (g %% 2592000) * interval '1 second' as at) as t
"""
LOAD_ATTEMPTS = """
insert into syncsched.sync_run_attempts (run_id, scheduled_for, attempt, org_id, outcome, worker_id, started_at,
    finished_at, http_status, response_excerpt)
select run_id, scheduled_for, 1, org_id, 'completed', worker_id, started_at, finished_at, http_status, response_excerpt
from syncsched.sync_run_log
"""
ROW_BY_ROW = """
select * from syncsched._prune_batch(%(cutoff)s, 0, %(batch)s, 'infinity', 'infinity', %(after_at)s, %(after_id)s)
"""
WAL_LSN = "select pg_current_wal_lsn()"
WAL_SINCE = "select pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint"


def _load(conn: db.Connection, start: datetime) -> None:
    db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts")
    db.execute(conn, LOAD_RUNS, {"integrations": INTEGRATIONS, "runs": RUNS, "start": start})
    db.execute(conn, LOAD_ATTEMPTS)
    db.execute(conn, "vacuum analyze syncsched.sync_run_log, syncsched.sync_run_attempts")
    db.execute(conn, "checkpoint")


def _measured(conn: db.Connection, step: Any) -> dict[str, float]:
    lsn = db.fetch_value(conn, WAL_LSN)
    started = time.perf_counter()
    step()
    return {"seconds": round(time.perf_counter() - started, 3), "wal_bytes": db.fetch_value(conn, WAL_SINCE, (lsn,))}


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    with db.connect(dsn) as conn:
        boundary: datetime = db.fetch_value(
            conn, "select to_at from syncsched.run_log_partitions() where from_at = '-infinity'"
        )
        # monthly partitions from the first boundary on; the first one's month is past retention
        db.execute(conn, "select syncsched.ensure_run_log_partitions(%s)", (boundary + timedelta(days=35),))
        later = boundary + timedelta(days=150)
        cutoff = later - timedelta(days=90)

        _load(conn, boundary)
        progress(f"   loaded {RUNS:,} runs and attempts")

        def row_by_row() -> None:
            after_at, after_id, more = "-infinity", 0, True
            while more:
                batch = db.fetch_one(
                    conn, ROW_BY_ROW, {"cutoff": cutoff, "batch": BATCH, "after_at": after_at, "after_id": after_id}
                )
                after_at = batch["p_after_finished_at"] or after_at
                after_id = batch["p_after_run_id"] or after_id
                more = batch["more"]

        rows = _measured(conn, row_by_row)
        left = db.fetch_value(conn, "select count(*) from syncsched.sync_run_log")
        assert left == 0, f"{left} runs left after deleting row by row"
        progress(f"   row by row: {rows}")

        _load(conn, boundary)
        result: dict[str, Any] = {}

        def drop() -> None:
            result.update(
                db.fetch_value(conn, "select syncsched.prune_run_log(interval '90 days', 0, %s, %s)", (BATCH, later))
            )

        dropped = _measured(conn, drop)
        assert result["runs"] == RUNS, result
        progress(f"   partition dropped: {dropped}")
        db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts")
    return {
        "runs": RUNS,
        "row_by_row": rows,
        "drop_partition": dropped,
        "time_ratio": round(rows["seconds"] / max(dropped["seconds"], 0.001), 1),
        "wal_ratio": round(rows["wal_bytes"] / max(dropped["wal_bytes"], 1), 1),
    }


def report(result: dict[str, Any]) -> str:
    rows, dropped = result["row_by_row"], result["drop_partition"]
    return (
        f"retention of {result['runs']:,} runs with their attempts: row by row {rows['seconds']:.2f} s and"
        f" {rows['wal_bytes'] / 1e6:.1f} MB of WAL; dropping their partition {dropped['seconds']:.3f} s and"
        f" {dropped['wal_bytes'] / 1e3:.1f} kB: {result['time_ratio']}x faster, {result['wal_ratio']}x less WAL"
    )
