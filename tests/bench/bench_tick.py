"""Benchmark `tick`: CALL syncsched.tick() with 10^4, 10^5, 10^6 configured integrations and
0, 1,000, 10,000 due, beside a naive tick that evaluates every row's cron each minute.

Rows are loaded set-based with the schedule trigger bypassed (the parsed cron and next_run_at
are computed once per distinct expression and zone and joined in), so that loading a million
rows takes seconds rather than the trigger's per-row validation.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncsched import db

SIZES = [10_000, 100_000, 1_000_000]
DUE = [0, 1_000, 10_000]
NAIVE_SIZES = [10_000, 100_000, 1_000_000]
CRONS = ["0 2 * * *", "30 6 * * 1-5", "*/15 * * * *", "0 */4 * * *", "15 2 L * *", "0 9 * * 1#1", "5,35 8-18 * * *"]
ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Australia/Sydney"]
BASE = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)

LOAD = [
    "set session_replication_role = replica",
    "truncate syncsched.sync_run_log, syncsched.organization_integrations, syncsched.scheduler_ticks,"
    " syncsched.scheduler_alerts",
    "create temporary table if not exists bench_shape (n integer, cron text, tz text, spec syncsched.cron_spec,"
    " next_at timestamptz)",
    "truncate bench_shape",
    """insert into bench_shape
    select row_number() over () - 1, c, z, syncsched.cron_parse(c),
        syncsched.cron_next(c, %(base)s::timestamptz + interval '1 day', z)
    from unnest(%(crons)s::text[]) as c, unnest(%(zones)s::text[]) as z""",
    """insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule,
        cron_spec, timezone, next_run_at)
    select 'org' || g, 'ledger', (array['xledger', 'dynamics', 'bufdir'])[1 + g %% 3], s.cron, s.spec, s.tz,
        s.next_at
    from generate_series(1, %(size)s) as g
    join bench_shape as s on s.n = g %% (select count(*) from bench_shape)""",
    "set session_replication_role = origin",
    "analyze syncsched.organization_integrations",
]

MAKE_DUE = """
update syncsched.organization_integrations set next_run_at = %s, last_tick_at = null
where id in (select id from syncsched.organization_integrations order by id limit %s)
"""

NAIVE_TICK = """
select count(*) from syncsched.organization_integrations as o
where o.is_enabled and syncsched.cron_matches(o.cron_schedule, %s, o.timezone)
"""


def _timed(conn: db.Connection, sql: str, params: tuple[Any, ...]) -> float:
    t0 = time.perf_counter()
    db.execute(conn, sql, params)
    return time.perf_counter() - t0


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with db.connect(dsn) as conn:
        db.execute(conn, "update syncsched.settings set value = 'false' where key = 'scheduler_paused'")
        for size in SIZES:
            t0 = time.perf_counter()
            for statement in LOAD:
                db.execute(conn, statement, {"base": BASE, "crons": CRONS, "zones": ZONES, "size": size})
            progress(f"   loaded {size:>9,} integrations in {time.perf_counter() - t0:.1f} s")
            minute = 0
            for due in DUE:
                samples = []
                for _ in range(3 if due else 5):
                    minute += 1
                    at = BASE + timedelta(minutes=minute)
                    db.execute(conn, "truncate syncsched.sync_run_log")
                    db.execute(conn, MAKE_DUE, (at, due))
                    db.execute(conn, "vacuum analyze syncsched.organization_integrations")
                    samples.append(_timed(conn, "call syncsched.tick(%s)", (at + timedelta(seconds=1),)))
                    created = db.fetch_value(conn, "select count(*) from syncsched.sync_run_log")
                    assert created == due, (size, due, created)
                seconds = statistics.median(samples)
                rows.append({"configured": size, "due": due, "tick_seconds": round(seconds, 4)})
                progress(f"   {size:>9,} configured, {due:>6,} due: tick {seconds * 1000:9.1f} ms")
            if size in NAIVE_SIZES:
                naive = _timed(conn, NAIVE_TICK, (BASE + timedelta(minutes=minute + 1),))
                rows.append({"configured": size, "due": "naive", "tick_seconds": round(naive, 4)})
                progress(f"   {size:>9,} configured, naive tick: {naive * 1000:9.1f} ms")
        db.execute(conn, "truncate syncsched.sync_run_log, syncsched.organization_integrations")
    return summarize(rows)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def seconds(size: int, due: int | str) -> float:
        return next(r["tick_seconds"] for r in rows if r["configured"] == size and r["due"] == due)

    idle_small, idle_large = seconds(SIZES[0], 0), seconds(SIZES[-1], 0)
    naive_large = seconds(SIZES[-1], "naive")
    return {
        "rows": rows,
        "idle_ratio_1e6_over_1e4": round(idle_large / idle_small, 2),
        "due_10000_among_1e6_seconds": seconds(SIZES[-1], 10_000),
        "naive_over_idle_tick_at_1e6": round(naive_large / idle_large, 1),
        "targets": {"idle_ratio_at_most": 2.0, "due_10000_among_1e6_under_seconds": 2.0},
    }


def report(result: dict[str, Any]) -> str:
    sizes = sorted({r["configured"] for r in result["rows"]})
    header = f"  {'configured':>10} | " + " | ".join(f"{str(d) + ' due':>12}" for d in [*DUE, "naive"])
    lines = ["tick (CALL syncsched.tick(), median seconds)", header, "  " + "-" * (len(header) - 2)]
    for size in sizes:
        cells = []
        for due in [*DUE, "naive"]:
            match = [r["tick_seconds"] for r in result["rows"] if r["configured"] == size and r["due"] == due]
            cells.append(f"{match[0]:>12.4f}" if match else f"{'-':>12}")
        lines.append(f"  {size:>10,} | " + " | ".join(cells))
    lines += [
        f"  idle tick at 10^6 / idle tick at 10^4 = {result['idle_ratio_1e6_over_1e4']} (target <= 2)",
        f"  10,000 due among 10^6: {result['due_10000_among_1e6_seconds']} s (target < 2 s)",
        f"  naive tick / idle tick at 10^6 = {result['naive_over_idle_tick_at_1e6']}",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for due in [*DUE, "naive"]:
        points = [(r["configured"], r["tick_seconds"]) for r in result["rows"] if r["due"] == due]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=f"{due} due" if due != "naive" else "naive (every row's cron)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("configured integrations")
    ax.set_ylabel("tick duration (s)")
    ax.set_title("syncsched tick: cost follows the number due")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
