"""Benchmark `tick`: CALL syncsched.tick() against its physical limit, in the same run.

10^4, 10^5 and 10^6 integrations configured (7 cron expressions and 2 intervals across 6 zones and
the three misfire policies, mixed across the due rows at every size), 0, 1,000 and 10,000 of them
due. The physical limit is a bare INSERT ... SELECT of the same run rows into a copy of
sync_run_log with the same indexes: no schedule, no overlap rule, no state to advance. Every
measurement is taken with the run log in three states: never analyzed, analyzed empty (what
autovacuum does to a new install), and analyzed holding 10^6 finished runs (the plans must hold in
all three). A naive tick (every row's cron each minute) is measured once per size.

Rows are loaded set-based with the schedule triggers bypassed (the parsed cron and next_run_at are
computed once per distinct expression and zone and joined in), so that loading a million rows
takes seconds rather than the triggers' per-row work.
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
LOG_STATES = ["never analyzed", "analyzed empty", "analyzed, 10^6 runs"]
CRONS = ["0 2 * * *", "30 6 * * 1-5", "*/15 * * * *", "0 */4 * * *", "15 2 L * *", "0 9 * * 1#1", "5,35 8-18 * * *"]
INTERVALS = [15, 60]
ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Sao_Paulo"]
POLICIES = ["run_once", "catch_up", "skip"]
HISTORY = 1_000_000
BASE = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)

# the rows' shapes: each cron expression and interval in each zone with each policy
SHAPES = [
    "drop table if exists bench_shape",
    """create temporary table bench_shape as
    select row_number() over () - 1 as n, s.cron, s.minutes, z as tz, p::syncsched.misfire_policy as policy,
        case when s.cron is not null then syncsched.cron_parse(s.cron) end as spec
    from (select c as cron, null::integer as minutes from unnest(%(crons)s::text[]) as c
          union all select null, m from unnest(%(intervals)s::integer[]) as m) as s,
        unnest(%(zones)s::text[]) as z, unnest(%(policies)s::text[]) as p""",
]
# the integrations and their schedule state, written as the schedule triggers would (bypassed)
INTEGRATIONS = [
    """insert into syncsched.organization_integrations (id, org_id, integration_id, integration_type, cron_schedule,
        interval_minutes, timezone, misfire_policy, payload)
    overriding system value
    select g, 'org' || g, 'ledger', (array['xledger', 'dynamics', 'bufdir'])[1 + g %% 3], s.cron, s.minutes, s.tz,
        s.policy, jsonb_build_object('company', g)
    from generate_series(1, %(size)s) as g
    join bench_shape as s on s.n = g %% (select count(*) from bench_shape)""",
    # not due: a day ahead; never looked at for staleness during the bench
    """insert into syncsched.schedule_state (id, org_id, cron_spec, next_run_at, stale_check_at, derived_at)
    select o.id, o.org_id, s.spec, %(base)s::timestamptz + interval '1 day', 'infinity', %(base)s::timestamptz
    from syncsched.organization_integrations as o
    join bench_shape as s on s.n = o.id %% (select count(*) from bench_shape)""",
]
LOAD = [
    "set session_replication_role = replica",
    "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.organization_integrations,"
    " syncsched.schedule_state,"
    " syncsched.scheduler_ticks, syncsched.scheduler_alerts cascade",
    *SHAPES,
    *INTEGRATIONS,
    "set session_replication_role = origin",
    "vacuum analyze syncsched.organization_integrations, syncsched.schedule_state",
    # the physical limit's table: the run log's columns, defaults and indexes, nothing else
    "drop table if exists bench_bare",
    "create table bench_bare (like syncsched.sync_run_log including defaults including identity including indexes)",
]

# the due rows, spread over all shapes at every size (the others not due: those the last
# measurements advanced go back a day ahead)
CHOOSE_DUE = [
    "update syncsched.schedule_state set next_run_at = %(base)s::timestamptz + interval '1 day'"
    " where next_run_at < %(base)s::timestamptz + interval '1 day'",
    "drop table if exists bench_due",
    "create temporary table bench_due as"
    " select id from syncsched.organization_integrations order by hashint8(id) limit %(due)s",
    "analyze bench_due",
]

MAKE_DUE = """
update syncsched.schedule_state as s set next_run_at = %(at)s, last_tick_at = null
from bench_due as d where s.id = d.id
"""

# the same rows the tick inserts, with no scheduling logic ({due}: the due integrations, as o)
BARE_INSERT_OF = """
insert into bench_bare (org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
    max_attempts, payload, not_before, enqueued_at, drift)
select o.org_id, o.integration_id, o.integration_type, %(at)s::timestamptz,
    o.org_id || '/' || o.integration_id || '/'
        || to_char(%(at)s::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'),
    'schedule', 5, o.payload, now(), now(), interval '1 second'
from {due}
"""
BARE_INSERT = BARE_INSERT_OF.format(due="bench_due as d join syncsched.organization_integrations as o on o.id = d.id")

HISTORY_ROWS = """
insert into {table} (org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger, status,
    attempt, max_attempts, started_at, finished_at)
select 'org' || (g %% %(size)s + 1), 'ledger', (array['xledger', 'dynamics', 'bufdir'])[1 + (g %% %(size)s + 1) %% 3],
    %(base)s::timestamptz - g * interval '1 minute', 'history/' || g, 'schedule', 'completed', 1, 5,
    %(base)s::timestamptz - g * interval '1 minute', %(base)s::timestamptz - g * interval '1 minute'
from generate_series(1, %(history)s) as g
"""

FORGET_STATISTICS = [
    "delete from pg_statistic where starelid in (select relid from pg_partition_tree('syncsched.sync_run_log'))",
    "update pg_class set reltuples = -1, relpages = 0"
    " where oid in (select relid from pg_partition_tree('syncsched.sync_run_log'))",
]

NAIVE_TICK = """
select count(*) from syncsched.organization_integrations as o
where o.is_enabled and o.cron_schedule is not null and syncsched.cron_matches(o.cron_schedule, %s, o.timezone)
"""


def load_params(size: int) -> dict[str, Any]:
    """The parameters of SHAPES and INTEGRATIONS for `size` integrations."""
    return {"base": BASE, "crons": CRONS, "intervals": INTERVALS, "zones": ZONES, "policies": POLICIES, "size": size}


def _timed(conn: db.Connection, sql: str, params: Any = ()) -> float:
    t0 = time.perf_counter()
    db.execute(conn, sql, params)
    return time.perf_counter() - t0


def _run_log_state(conn: db.Connection, state: str, size: int) -> None:
    """Bring the run log (and the bare copy) to one of the three LOG_STATES."""
    db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts cascade")
    db.execute(conn, "truncate bench_bare")
    if state == "never analyzed":
        for statement in FORGET_STATISTICS:
            db.execute(conn, statement)
    elif state == "analyzed empty":
        db.execute(conn, "analyze syncsched.sync_run_log")
    else:
        params = {"size": size, "base": BASE, "history": HISTORY}
        db.execute(conn, HISTORY_ROWS.format(table="syncsched.sync_run_log"), params)
        db.execute(conn, HISTORY_ROWS.format(table="bench_bare"), params)
        db.execute(conn, "vacuum analyze syncsched.sync_run_log, bench_bare")


def _measure(conn: db.Connection, due: int, minute: int) -> tuple[float, float]:
    """One tick of `due` due rows and one bare insert of the same rows: seconds each."""
    at = BASE + timedelta(minutes=minute)
    db.execute(conn, "delete from syncsched.sync_run_log where status = 'pending'")
    db.execute(conn, "delete from bench_bare where status = 'pending'")
    db.execute(conn, MAKE_DUE, {"at": at})
    tick = _timed(conn, "call syncsched.tick(%s)", (at + timedelta(seconds=1),))
    created = db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'pending'")
    assert created == due, (due, created)
    bare = _timed(conn, BARE_INSERT, {"at": at})
    return tick, bare


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with db.connect(dsn) as conn:
        db.execute(conn, "select syncsched.reset_setting('scheduler_paused')")
        minute = 0
        for size in SIZES:
            t0 = time.perf_counter()
            params = load_params(size)
            for statement in LOAD:
                db.execute(conn, statement, params)
            progress(f"   loaded {size:>9,} integrations in {time.perf_counter() - t0:.1f} s")
            for state in LOG_STATES:
                _run_log_state(conn, state, size)
                for due in DUE:
                    for statement in CHOOSE_DUE:
                        db.execute(conn, statement, {"due": due, "base": BASE})
                    ticks, bares = [], []
                    for _ in range(3 if due else 31):  # an idle tick is milliseconds, noise is as large: more samples
                        minute += 1
                        tick, bare = _measure(conn, due, minute)
                        ticks.append(tick)
                        bares.append(bare)
                    row = {
                        "configured": size,
                        "due": due,
                        "run_log": state,
                        "tick_seconds": round(statistics.median(ticks), 4),
                        "bare_insert_seconds": round(statistics.median(bares), 4),
                    }
                    rows.append(row)
                    progress(
                        f"   {size:>9,} configured, {due:>6,} due, run log {state:<20}:"
                        f" tick {row['tick_seconds'] * 1000:8.1f} ms,"
                        f" bare insert {row['bare_insert_seconds'] * 1000:8.1f} ms"
                    )
            naive = _timed(conn, NAIVE_TICK, (BASE + timedelta(minutes=minute + 1),))
            rows.append({"configured": size, "due": "naive", "run_log": "-", "tick_seconds": round(naive, 4)})
            progress(f"   {size:>9,} configured, naive tick: {naive * 1000:9.1f} ms")
        db.execute(
            conn,
            "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.organization_integrations cascade",
        )
        db.execute(conn, "drop table if exists bench_bare")
    return summarize(rows)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def row(size: int, due: int | str, state: str) -> dict[str, Any]:
        return next(r for r in rows if r["configured"] == size and r["due"] == due and r["run_log"] == state)

    ratios = {
        f"{due} due among {size:.0e}, run log {state}": round(
            row(size, due, state)["tick_seconds"] / row(size, due, state)["bare_insert_seconds"], 2
        )
        for size in SIZES
        for due in DUE
        if due
        for state in LOG_STATES
    }
    idle = {
        state: round(row(SIZES[-1], 0, state)["tick_seconds"] / row(SIZES[0], 0, state)["tick_seconds"], 2)
        for state in LOG_STATES
    }
    worst_10k = max(v for k, v in ratios.items() if k.startswith(f"10000 due among {SIZES[-1]:.0e}"))
    return {
        "rows": rows,
        "tick_over_bare_insert": ratios,
        "worst_tick_over_bare_insert_10000_due_among_1e6": worst_10k,
        "idle_ratio_1e6_over_1e4": idle,
        "targets": {"tick_over_bare_insert_10000_due_among_1e6_at_most": 2.0, "idle_ratio_at_most": 1.2},
    }


def report(result: dict[str, Any]) -> str:
    lines = ["tick: CALL syncsched.tick() against a bare INSERT of the same runs (median seconds)"]
    header = f"  {'configured':>10} | {'due':>6} | {'run log':<20} | {'tick':>8} | {'bare':>8} | {'ratio':>5}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for r in result["rows"]:
        if r["due"] == "naive":
            lines.append(f"  {r['configured']:>10,} | {'naive':>6} | {'-':<20} | {r['tick_seconds']:>8.4f} |")
        elif r["due"] == 0:
            lines.append(f"  {r['configured']:>10,} | {0:>6} | {r['run_log']:<20} | {r['tick_seconds']:>8.4f} |")
        else:
            ratio = r["tick_seconds"] / r["bare_insert_seconds"]
            lines.append(
                f"  {r['configured']:>10,} | {r['due']:>6,} | {r['run_log']:<20} | {r['tick_seconds']:>8.4f} |"
                f" {r['bare_insert_seconds']:>8.4f} | {ratio:>5.2f}"
            )
    lines += [
        "  worst tick / bare insert, 10,000 due among 10^6:"
        f" {result['worst_tick_over_bare_insert_10000_due_among_1e6']} (target <= 2)",
        f"  idle tick at 10^6 / at 10^4: {result['idle_ratio_1e6_over_1e4']} (target <= 1.2)",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for due in DUE[1:]:
        for key, style in (("tick_seconds", "-"), ("bare_insert_seconds", ":")):
            points = [
                (r["configured"], r[key])
                for r in result["rows"]
                if r["due"] == due and r["run_log"] == "analyzed, 10^6 runs"
            ]
            xs, ys = zip(*points, strict=True)
            label = f"{due:,} due: " + ("tick" if key == "tick_seconds" else "bare insert")
            ax.plot(xs, ys, style, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("configured integrations")
    ax.set_ylabel("seconds (run log holding 10^6 runs)")
    ax.set_title("syncsched tick against the bare insert of its runs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
