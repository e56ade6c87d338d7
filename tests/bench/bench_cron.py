"""Benchmark `cron`: cron_next in PL/pgSQL against cronsim in Python, in one run.

Both evaluate the same (expression, instant, zone) triples; the database side is
timed inside the server (no round trips), cronsim in this process.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim

from syncsched import db

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

TIMED_CALLS = """
create or replace function pg_temp.time_cron_next(p_exprs text[], p_afters timestamptz[], p_zones text[])
returns table (expr text, micros double precision)
language plpgsql as $$
declare
    v_i integer;
    v_t0 timestamptz;
    v_next timestamptz;
begin
    for v_i in 1 .. cardinality(p_exprs) loop
        v_t0 := clock_timestamp();
        v_next := syncsched.cron_next(p_exprs[v_i], p_afters[v_i], p_zones[v_i]);
        expr := p_exprs[v_i];
        micros := extract(epoch from clock_timestamp() - v_t0) * 1e6;
        return next;
    end loop;
end
$$;
"""


def _cases(n: int, seed: int = 7) -> list[tuple[str, datetime, str]]:
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    return [
        (rng.choice(EXPRESSIONS), datetime.fromtimestamp(rng.uniform(start, end), UTC), rng.choice(ZONES))
        for _ in range(n)
    ]


def run(dsn: str, calls: int = 20_000, rounds: int = 10) -> dict[str, Any]:
    """Interleave rounds of PL/pgSQL and cronsim calls so that machine noise hits both alike."""
    cases = _cases(calls)
    zoneinfos = {z: (UTC if z == "UTC" else ZoneInfo(z)) for z in ZONES}
    chunk = calls // rounds
    per_call: list[float] = []
    by_expr: dict[str, list[float]] = {}
    pg_rates: list[float] = []
    py_rates: list[float] = []
    with db.connect(dsn) as conn:
        db.execute(conn, TIMED_CALLS)
        warm = cases[:500]
        db.fetch_all(
            conn,
            "select * from pg_temp.time_cron_next(%s, %s, %s)",
            ([c[0] for c in warm], [c[1] for c in warm], [c[2] for c in warm]),
        )
        for r in range(rounds):
            part = cases[r * chunk : (r + 1) * chunk]
            args = ([c[0] for c in part], [c[1] for c in part], [c[2] for c in part])
            t0 = time.perf_counter()
            rows = db.fetch_all(conn, "select * from pg_temp.time_cron_next(%s, %s, %s)", args)
            pg_rates.append(len(part) / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            for expr, after, zone in part:
                next(CronSim(expr, after.astimezone(zoneinfos[zone])))
            py_rates.append(len(part) / (time.perf_counter() - t0))
            for row in rows:
                per_call.append(row["micros"])
                by_expr.setdefault(row["expr"], []).append(row["micros"])
        # One statement, one constant expression, many instants: cron_next is inlined and
        # the planner parses the expression once.
        instants = [c[1] for c in cases]
        t0 = time.perf_counter()
        db.fetch_value(
            conn,
            "select count(syncsched.cron_next('0 2 * * *', a, 'Europe/Oslo')) from unnest(%s::timestamptz[]) as a",
            (instants,),
        )
        statement_us = (time.perf_counter() - t0) / len(instants) * 1e6

    pg_rate = statistics.median(pg_rates)
    py_rate = statistics.median(py_rates)
    return {
        "calls": calls,
        "rounds": rounds,
        "plpgsql_calls_per_second": round(pg_rate),
        "cronsim_calls_per_second": round(py_rate),
        "ratio_plpgsql_over_cronsim": round(pg_rate / py_rate, 3),
        "ratio_per_round": [round(a / b, 3) for a, b in zip(pg_rates, py_rates, strict=True)],
        "plpgsql_median_us": round(statistics.median(per_call), 1),
        "plpgsql_p99_us": round(sorted(per_call)[int(len(per_call) * 0.99)], 1),
        "median_us_by_expression": {e: round(statistics.median(v), 1) for e, v in sorted(by_expr.items())},
        "one_statement_parsed_once_us_per_instant": round(statement_us, 1),
        "expressions": EXPRESSIONS,
        "zones": ZONES,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"cron_next, {result['calls']} calls over {len(result['expressions'])} expressions x "
        f"{len(result['zones'])} zones",
        f"  PL/pgSQL : {result['plpgsql_calls_per_second']:>8} calls/s"
        f"   median {result['plpgsql_median_us']} us"
        f"   p99 {result['plpgsql_p99_us']} us",
        f"  cronsim  : {result['cronsim_calls_per_second']:>8} calls/s",
        f"  ratio PL/pgSQL / cronsim = {result['ratio_plpgsql_over_cronsim']}"
        f" (median of {result['rounds']} interleaved rounds)",
        f"  one statement, one expression parsed once: "
        f"{result['one_statement_parsed_once_us_per_instant']} us per instant",
    ]
    for expr, median in result["median_us_by_expression"].items():
        lines.append(f"    {expr:<24} median {median} us")
    return "\n".join(lines)
