"""Benchmark `cron`: cron_next in PL/pgSQL against cronsim in Python, side by side in one run.

Both evaluate the same (expression, instant, zone) triples, and both parse the expression at
every call. The database is timed two ways: inside the server, one statement over many triples
read from a table (`select count(syncsched.cron_next(e, a, z)) from bench_cases`, its time over
the number of triples), and through one SQL round trip per triple. cronsim is
`next(CronSim(expr, after))` in this process. Rounds interleave the two so that machine noise hits
both alike; a ratio is cronsim's time per call over the database's, the median over rounds
(above 1: faster than cronsim).

Two sets: the benchmark's expressions and zones at random instants 2020-2030, and a DST-heavy set
of DST-sensitive expressions at instants within six hours of the offset changes of zones with DST
(the cases where cronsim never answers are left out: there is nothing to time it against).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim

from syncsched import db

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cron_oracle import changes, cronsim_next

EXPRESSIONS = [
    "0 2 * * *",
    "*/15 * * * *",
    "30 6 * * 1-5",
    "0 0 1 * *",
    "0 */4 * * *",
    "15 2 L * *",
    "0 9 * * 1#1",
    "5,35 8-18 * * mon-fri",
]
ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Australia/Sydney"]
DST_EXPRESSIONS = [*EXPRESSIONS, "30 2 * * *", "*/15 3 * * *", "50 */3 * * *", "*/30 * * * *", "0 1-4 * * *"]
DST_ZONES = [
    "Europe/Oslo",
    "America/New_York",
    "Australia/Sydney",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Antarctica/Troll",
    "America/Santiago",
]

Case = tuple[str, datetime, str]
STATEMENT = "select count(syncsched.cron_next(e, a, z)) from bench_cases"


def _zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def _main_cases(n: int, rng: random.Random) -> list[Case]:
    start = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    return [
        (rng.choice(EXPRESSIONS), datetime.fromtimestamp(rng.uniform(start, end), UTC), rng.choice(ZONES))
        for _ in range(n)
    ]


def _dst_cases(n: int, rng: random.Random) -> tuple[list[Case], int]:
    low = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    high = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    near = {z: [c.at for c in changes(z) if low <= c.at < high] for z in DST_ZONES}
    cases: list[Case] = []
    hangs = 0
    while len(cases) < n:
        zone = rng.choice(DST_ZONES)
        case = (
            rng.choice(DST_EXPRESSIONS),
            datetime.fromtimestamp(rng.choice(near[zone]) + rng.uniform(-6 * 3600, 6 * 3600), UTC),
            zone,
        )
        answer = cronsim_next(case[0], case[1], _zone(zone))
        if answer is not None and not isinstance(answer, datetime):
            hangs += 1  # cronsim would loop forever here
            continue
        cases.append(case)
    return cases, hangs


def _cronsim(cases: list[Case], zones: dict[str, tzinfo]) -> float:
    started = time.perf_counter()
    for expr, after, zone in cases:
        next(CronSim(expr, after.astimezone(zones[zone])))
    return time.perf_counter() - started


def _statement(conn: db.Connection, cases: list[Case]) -> float:
    """Seconds of one statement over the cases, read from a table (their transfer is not timed)."""
    db.execute(conn, "truncate bench_cases")
    db.execute(
        conn,
        "insert into bench_cases select * from unnest(%s::text[], %s::timestamptz[], %s::text[])",
        ([c[0] for c in cases], [c[1] for c in cases], [c[2] for c in cases]),
    )
    started = time.perf_counter()
    db.fetch_value(conn, STATEMENT)
    return time.perf_counter() - started


def _side_by_side(conn: db.Connection, cases: list[Case], rounds: int) -> dict[str, Any]:
    """Interleaved rounds: one statement over a chunk of cases, then cronsim over the same chunk."""
    zones = {z: _zone(z) for z in {c[2] for c in cases}}
    chunk = len(cases) // rounds
    _statement(conn, cases[:chunk])  # warm the plans and the zone cache
    _cronsim(cases[:chunk], zones)
    db_us: list[float] = []
    py_us: list[float] = []
    for r in range(rounds):
        part = cases[r * chunk : (r + 1) * chunk]
        db_us.append(_statement(conn, part) / len(part) * 1e6)
        py_us.append(_cronsim(part, zones) / len(part) * 1e6)
    ratios = [p / d for d, p in zip(db_us, py_us, strict=True)]
    return {
        "calls": chunk * rounds,
        "db_us_per_call": round(statistics.median(db_us), 1),
        "cronsim_us_per_call": round(statistics.median(py_us), 1),
        "ratio_cronsim_over_db": round(statistics.median(ratios), 2),
        "ratio_per_round": [round(x, 2) for x in ratios],
    }


def _round_trips(conn: db.Connection, cases: list[Case], rounds: int) -> dict[str, Any]:
    """One prepared `select syncsched.cron_next(...)` per case, each in its own transaction
    (autocommit) and all in one, against cronsim on the same cases; and `select 1` for scale."""
    zones = {z: _zone(z) for z in {c[2] for c in cases}}
    chunk = len(cases) // rounds

    def trips(query: str, part: list[Case], one_transaction: bool) -> float:
        started = time.perf_counter()
        if one_transaction:
            with conn.transaction():
                for case in part:
                    conn.execute(query, case if "%s" in query else (), prepare=True).fetchone()
        else:
            for case in part:
                conn.execute(query, case if "%s" in query else (), prepare=True).fetchone()
        return (time.perf_counter() - started) / len(part) * 1e6

    query = "select syncsched.cron_next(%s, %s, %s)"
    auto: list[float] = []
    grouped: list[float] = []
    empty: list[float] = []
    py_us: list[float] = []
    for r in range(rounds):
        part = cases[r * chunk : (r + 1) * chunk]
        auto.append(trips(query, part, one_transaction=False))
        grouped.append(trips(query, part, one_transaction=True))
        empty.append(trips("select 1", part, one_transaction=False))
        py_us.append(_cronsim(part, zones) / len(part) * 1e6)
    return {
        "calls": chunk * rounds,
        "db_us_per_call": round(statistics.median(auto), 1),
        "db_us_per_call_in_one_transaction": round(statistics.median(grouped), 1),
        "select_1_us_per_round_trip": round(statistics.median(empty), 1),
        "cronsim_us_per_call": round(statistics.median(py_us), 1),
        "ratio_cronsim_over_db": round(statistics.median([p / d for d, p in zip(auto, py_us, strict=True)]), 2),
    }


def run(dsn: str, calls: int = 20_000, rounds: int = 10) -> dict[str, Any]:
    rng = random.Random(7)
    main = _main_cases(calls, rng)
    dst, left_out = _dst_cases(calls // 2, rng)
    with db.connect(dsn) as conn:
        db.execute(conn, "create temp table bench_cases (e text, a timestamptz, z text)")
        inside = _side_by_side(conn, main, rounds)
        inside_dst = _side_by_side(conn, dst, rounds)
        by_expression = {}
        for expr in EXPRESSIONS:
            part = [c for c in main if c[0] == expr]
            _statement(conn, part)
            by_expression[expr] = round(min(_statement(conn, part) for _ in range(3)) / len(part) * 1e6, 1)
        # the tick's path: the stored spec, no parsing, no pinned entry point
        db.execute(conn, "create temp table bench_specs (s syncsched.cron_spec, a timestamptz, z text)")
        db.execute(
            conn,
            "insert into bench_specs select syncsched.cron_parse(e), a, z"
            " from unnest(%s::text[], %s::timestamptz[], %s::text[]) as t(e, a, z)",
            ([c[0] for c in main], [c[1] for c in main], [c[2] for c in main]),
        )
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            db.fetch_value(conn, "select count(syncsched._cron_next_spec(s, a, z)) from bench_specs")
            timings.append(time.perf_counter() - started)
        tick_us = min(timings) / len(main) * 1e6
        trips = _round_trips(conn, main[:2000], 4)
    return {
        "inside_the_server": inside,
        "inside_the_server_dst_heavy": {**inside_dst, "left_out_cronsim_never_answers": left_out},
        "round_trip_each": trips,
        "db_us_per_call_by_expression": by_expression,
        "tick_path_cron_next_spec_us_per_call": round(tick_us, 1),
        "expressions": EXPRESSIONS,
        "zones": ZONES,
        "dst_expressions": DST_EXPRESSIONS,
        "dst_zones": DST_ZONES,
    }


def report(result: dict[str, Any]) -> str:
    lines = []
    for key, title in [
        ("inside_the_server", "inside the server, one statement"),
        ("inside_the_server_dst_heavy", "inside the server, DST-heavy set"),
        ("round_trip_each", "one round trip per call"),
    ]:
        part = result[key]
        lines.append(
            f"cron_next, {title}: {part['db_us_per_call']} us per call, cronsim {part['cronsim_us_per_call']} us"
            f" over {part['calls']} calls: cronsim / PL/pgSQL = {part['ratio_cronsim_over_db']}"
        )
    trips = result["round_trip_each"]
    lines.append(
        f"  a round trip of select 1: {trips['select_1_us_per_round_trip']} us; cron_next round trips in one"
        f" transaction: {trips['db_us_per_call_in_one_transaction']} us"
    )
    lines.append(
        f"  DST-heavy cases left out (cronsim never answers): "
        f"{result['inside_the_server_dst_heavy']['left_out_cronsim_never_answers']}"
    )
    lines.append(
        f"  the tick's path (_cron_next_spec on a stored spec): "
        f"{result['tick_path_cron_next_spec_us_per_call']} us per call"
    )
    for expr, us in result["db_us_per_call_by_expression"].items():
        lines.append(f"    {expr:<24} {us} us per call")
    return "\n".join(lines)
