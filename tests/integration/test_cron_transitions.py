"""cron_next at tzdata's transitions, 1900-2100, against cronsim and against the README's rule.

For each sampled transition of each zone of pg_timezone_names: expressions aimed at the local
hours around it, and instants around it (its repeated stretch included). Where cronsim answers
with an instant later than the one it was given, cron_next must give the same instant. Where
cronsim hangs (it comes back to a state it has been in) or goes backwards, cron_next must give
what a scan of the local wall clock, minute by minute, finds under the README's rule. Every
answer comes back within the statement timeout and is later than its instant.

SYNCSCHED_CRON_SWEEP=all takes every transition of every zone (a long local run); a number takes
that many transitions (default 800, plus the notable ones); SYNCSCHED_CRON_SEED repeats a sample.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from cron_oracle import Change, changes, expected_next, offset_at, zone_file
from syncsched import db

REPO = Path(__file__).resolve().parents[2]
HOUR = 3600
SWEEP = os.environ.get("SYNCSCHED_CRON_SWEEP", "800")
SEED = int(os.environ.get("SYNCSCHED_CRON_SEED", str(random.SystemRandom().randrange(10**6))))
# transitions every sample includes: those of the README, the reproductions and the extremes
NOTABLE = [
    ("Pacific/Chatham", 2025, 4),
    ("Pacific/Chatham", 2026, 4),
    ("Pacific/Chatham", 2025, 9),
    ("America/St_Johns", 2010, 11),
    ("America/Goose_Bay", 2010, 11),
    ("Antarctica/Macquarie", 1919, 3),
    ("Pacific/Kwajalein", 1969, 9),
    ("Pacific/Kwajalein", 1993, 8),
    ("Pacific/Apia", 2011, 12),
    ("Antarctica/Troll", 2024, 3),
    ("Antarctica/Troll", 2024, 10),
    ("Australia/Lord_Howe", 2026, 4),
    ("Europe/Riga", 2021, 10),
    ("Europe/Oslo", 2026, 3),
    ("Europe/Oslo", 2026, 10),
    ("America/Havana", 2030, 3),
    ("Africa/Abidjan", 1912, 1),
]


# --- the cases -----------------------------------------------------------------------------------


def _expressions(change: Change, tz: ZoneInfo, rng: random.Random) -> list[str]:
    """Expressions aimed at the local hours around a change, of every shape the engine treats apart."""
    before = datetime.fromtimestamp(change.at - 1, tz)
    after = datetime.fromtimestamp(change.at, tz)
    hours = sorted({before.hour, after.hour, (before.hour + 1) % 24, (after.hour + 23) % 24})
    hour = rng.choice(hours)
    minute = rng.choice([0, 1, 14, 15, 29, 30, 31, 44, 45, 50, 59, rng.randrange(60)])
    day = rng.choice([before, after])
    return [
        f"*/{rng.choice([5, 7, 10, 15, 20, 30, 45, 50])} {hour} * * *",
        f"{minute} */{rng.choice([1, 2, 3, 4, 6, 7])} * * *",
        f"{minute} {hour} * * *",
        f"{minute},{(minute + rng.randrange(1, 60)) % 60} {hour},{rng.choice(hours)} * * *",
        rng.choice(["*/15 * * * *", "*/30 * * * *", "* * * * *", "0 * * * *", "15-16/5 */7 * * *", "0-59 0-23 * * *"]),
        rng.choice(
            [
                f"*/{rng.choice([15, 30])} {hour} {day.day} * *",
                f"{minute} {hour} * * {(day.weekday() + 1) % 7}",
                f"* {hour} * {day.month} *",
                f"0 0 {day.day},{(day.day % 28) + 1} * *",
            ]
        ),
    ]


def _instants(change: Change, rng: random.Random) -> list[float]:
    back = max(change.before - change.after, 0)
    near = [-3 * HOUR, -HOUR, -1800, -61, -1, 0, 1, 60, back - 1, back, back + 1, back + HOUR]
    far = [rng.uniform(-4 * HOUR, back + 4 * HOUR) for _ in range(4)]
    return [change.at + d for d in near + far]


def _zone_names(conn: db.Connection) -> list[str]:
    """The zones of pg_timezone_names that syncsched accepts (timezone_validate)."""
    rows = db.fetch_all(
        conn,
        "select name from pg_timezone_names where syncsched.timezone_validate(name) is null order by name",
    )
    return [r["name"] for r in rows]


def _distinct(names: list[str]) -> dict[str, list[str]]:
    """Names grouped by the content of their file: links and the posix/ copies are one zone."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(hashlib.sha256(zone_file(name).read_bytes()).hexdigest(), []).append(name)
    return {members[0]: members for members in groups.values()}


@functools.cache
def _sample(names: tuple[str, ...]) -> tuple[tuple[str, Change], ...]:
    """The transitions of this run: all of them, or the notable ones and a seeded sample."""
    rng = random.Random(SEED)
    if SWEEP == "all":
        return tuple((name, change) for name in names for change in changes(name))
    picked: list[tuple[str, Change]] = []
    for name, year, month in NOTABLE:
        for change in changes(name):
            when = datetime.fromtimestamp(change.at, UTC)
            if (when.year, when.month) == (year, month):
                picked.append((name, change))
    zones = [n for n in names if n.split("/")[0] != "posix"]
    while len(picked) < len(NOTABLE) + int(SWEEP):
        name = rng.choice(zones)
        if changes(name):
            picked.append((name, rng.choice(changes(name))))
    return tuple(picked)


def _sweep_zones(conn: db.Connection) -> tuple[str, ...]:
    """Every distinct zone for the exhaustive run (aliases share a file), every name otherwise."""
    names = _zone_names(conn)
    return tuple(_distinct(names)) if SWEEP == "all" else tuple(names)


@pytest.fixture(scope="module")
def sweep_conn(syncsched_server) -> Iterator[db.Connection]:  # type: ignore[no-untyped-def]
    name, dsn = syncsched_server.fresh_database()
    try:
        with db.connect(dsn) as connection:
            db.execute(connection, "set statement_timeout = '20s'")  # a batch of 4,000 takes well under 1 s
            yield connection
    finally:
        syncsched_server.drop_database(name)


def test_tzdata_has_the_shape_the_engine_relies_on(sweep_conn: db.Connection) -> None:
    # 10_cron.sql relies on these (a window of 72 hours holds one change at most).
    zones = _sweep_zones(sweep_conn)
    for name in sorted(set(zones) if SWEEP == "all" else {n for n, _ in _sample(zones)}):
        found = changes(name)
        for change in found:
            assert -15 * HOUR <= change.after <= 15 * HOUR, (name, change)
            assert abs(change.after - change.before) <= 24 * HOUR, (name, change)
        for first, second in itertools.pairwise(found):
            assert second.at - first.at > 72 * HOUR, (name, first, second)
    assert len(changes("Europe/Oslo")) > 100
    assert Change(int(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp()), 3600, 7200) in changes("Europe/Oslo")


def test_postgresql_and_python_read_the_same_offsets(sweep_conn: db.Connection) -> None:
    # The oracle and the server must agree on tzdata itself, on every zone name at each change.
    rng = random.Random(SEED)
    names = _zone_names(sweep_conn)
    if SWEEP != "all":
        names = rng.sample(names, 60) + [n for n, _, _ in NOTABLE]
    stamps: list[datetime] = []
    zones: list[str] = []
    expected: list[int] = []
    for name in names:
        tz = ZoneInfo(name)
        for change in changes(name):
            for at in (change.at - 1, change.at):
                stamps.append(datetime.fromtimestamp(at, UTC))
                zones.append(name)
                expected.append(offset_at(tz, at))
    rows = db.fetch_all(
        sweep_conn,
        "select extract(epoch from syncsched._tz_offset(a, z))::int as o"
        " from unnest(%s::timestamptz[], %s::text[]) with ordinality as t(a, z, n) order by n",
        (stamps, zones),
    )
    wrong = [(z, s, e, r["o"]) for z, s, e, r in zip(zones, stamps, expected, rows, strict=True) if r["o"] != e]
    assert wrong == [], wrong[:10]


def test_cron_next_across_transitions_agrees_with_cronsim_or_the_rule(sweep_conn: db.Connection) -> None:
    rng = random.Random(SEED + 1)
    picked = _sample(_sweep_zones(sweep_conn))
    cases: list[tuple[str, datetime, str]] = []
    for name, change in picked:
        tz = ZoneInfo(name)
        for expr in _expressions(change, tz, rng):
            for at in _instants(change, rng):
                cases.append((expr, datetime.fromtimestamp(at, UTC), name))
    print(
        f"\ncron sweep: seed {SEED} (SYNCSCHED_CRON_SEED), {len(picked)} transitions of"
        f" {len({n for n, _ in picked})} zones, {len(cases)} cases"
    )
    tally: Counter[str] = Counter()
    wrong: list[str] = []
    started = time.monotonic()
    for chunk in range(0, len(cases), 4000):
        part = cases[chunk : chunk + 4000]
        rows = db.fetch_all(
            sweep_conn,
            "select syncsched.cron_next(e, a, z) as next"
            " from unnest(%s::text[], %s::timestamptz[], %s::text[]) with ordinality as t(e, a, z, n) order by n",
            ([c[0] for c in part], [c[1] for c in part], [c[2] for c in part]),
        )
        for (expr, after, name), row in zip(part, rows, strict=True):
            got = row["next"]
            expected, source = expected_next(expr, after, name)
            tally[source] += 1
            if got is not None and got <= after:
                wrong.append(f"cron_next({expr!r}, {after.isoformat()}, {name!r}) = {got}: not later")
            elif got != expected:
                wrong.append(f"cron_next({expr!r}, {after.isoformat()}, {name!r}) = {got}, {source}: {expected}")
    print(f"cron sweep: {dict(tally)} in {time.monotonic() - started:.0f} s")
    assert wrong == [], f"{len(wrong)} wrong (seed {SEED}):\n" + "\n".join(wrong[:30])
    assert tally["cronsim hangs"] > 0 and tally["cronsim goes backwards"] > 0, "the sample misses cronsim's failures"


def test_every_parallel_safe_function_runs_in_a_parallel_worker(sweep_conn: db.Connection) -> None:
    source = "\n".join(path.read_text() for path in sorted((REPO / "plpgsql").glob("*.sql")))
    declared = {
        line.split("syncsched.", 1)[1].split("(", 1)[0]
        for line in source.splitlines()
        if line.startswith("create or replace function syncsched.")
    }
    spec = "syncsched._cron_parse(x.e)"
    calls = {
        "_tz_name_ok": "syncsched._tz_name_ok(x.z)",
        "_tz_offset": "syncsched._tz_offset(x.a, x.z)",
        "_tz_change": "syncsched._tz_change(x.a, x.a + interval '72 hours', x.z)",
        "_tz_day_is_plain": "syncsched._tz_day_is_plain(x.a::date, x.z)",
        "_tz_to_utc": "syncsched._tz_to_utc(x.a at time zone x.z, 1, x.z)",
        "_tz_fold": "syncsched._tz_fold(x.a, x.z)",
        "_tz_check": "syncsched._tz_check(x.z)",
        "_bit_low": "syncsched._bit_low(x.n)",
        "_bit_next": "syncsched._bit_next(x.n, 2)",
        "_cron_fail": "syncsched._cron_fail(1, x.e)",
        "_cron_number": "syncsched._cron_number(x.n::text, 1, x.e)",
        "_cron_value": "syncsched._cron_value(x.w, 5)",
        "_cron_field": "syncsched._cron_field(x.f, 1)",
        "_cron_term": "syncsched._cron_term(x.f, 1)",
        "_cron_plain_value": "syncsched._cron_plain_value(x.w, 5)",
        "_cron_month_days": f"syncsched._cron_month_days({spec}, x.a::date)",
        "_cron_fields": "syncsched._cron_fields(x.e)",
        "_cron_parse": spec,
        "cron_parse": "syncsched.cron_parse(x.e)",
        "_cron_bits_text": "syncsched._cron_bits_text(x.n, 0, 59)",
        "_cron_spec_text": f"syncsched._cron_spec_text({spec})",
        "_cron_give_up": f"syncsched._cron_give_up({spec}, x.z, 1)",
        "_cron_day_matches": f"syncsched._cron_day_matches({spec}, x.a::date)",
        "_cron_next_wall": f"syncsched._cron_next_wall({spec}, x.a::timestamp, 2100, x.z)",
        "_cron_fire": "syncsched._cron_fire(x.a at time zone x.z, x.z)",
        "_cron_next_fixed": f"syncsched._cron_next_fixed({spec}, x.a, x.z, x.a at time zone x.z)",
        "_cron_next_rule": f"syncsched._cron_next_rule({spec}, x.a, x.z)",
        "_cron_next_elapsed": f"syncsched._cron_next_elapsed({spec}, x.a, x.z)",
        "_cron_next_spec": f"syncsched._cron_next_spec({spec}, x.a, x.z)",
        "cron_next_spec": f"syncsched.cron_next_spec({spec}, x.a, x.z)",
        "cron_next": "syncsched.cron_next(x.e, x.a, x.z)",
        "cron_matches": "syncsched.cron_matches(x.e, x.a, x.z)",
        "next_runs": "syncsched.next_runs(x.e, x.z, 3, x.a)",
        # the rest of the engine
        "_setting_expected": "syncsched._setting_expected('interval', x.e, x.z)",
        "_alert_key": "syncsched._alert_key('stale', x.z, x.w, null)",
        "_period_key": "syncsched._period_key(x.z, x.w, x.a)",
        "_interval_next": "syncsched._interval_next(x.n::integer, x.a)",
        "_schedule_next": f"syncsched._schedule_next({spec}, null, x.z, x.a)",
        "_stale_deadline": f"syncsched._stale_deadline({spec}, null, x.z, null, x.a)",
        "_cron_min_gap": f"syncsched._cron_min_gap({spec}, 5)",
        "_attempts_left": "syncsched._attempts_left(x.n::integer, 7)",
        "_circuit_open": "syncsched._circuit_open('active', x.w)",
        "_health_checked": "syncsched._health_checked('active', 'xledger')",
        "_web_token_hash": "syncsched._web_token_hash(x.e)",
        "_label": "syncsched._label(x.e)",
        "_cron_hash": "syncsched._cron_hash(x.e, 1, 1)",
        "_cron_has_h": "syncsched._cron_has_h(x.e)",
        "_cron_resolve_field": "syncsched._cron_resolve_field('H/15', 1, x.e)",
        "cron_resolve": "syncsched.cron_resolve('H 2 * * *', x.e)",
        "_integration_seed": "syncsched._integration_seed(x.e, x.z)",
        "_spread_offset": "syncsched._spread_offset(x.e, interval '10 minutes')",
    }
    labels = {
        r["proname"]: r["proparallel"]
        for r in db.fetch_all(
            sweep_conn,
            "select proname, proparallel from pg_proc where pronamespace = 'syncsched'::regnamespace"
            " and proname = any(%s)",
            (sorted(declared),),
        )
    }
    safe = sorted(n for n in declared if labels[n] == "s")
    assert set(safe) <= set(calls), f"add a call of {set(safe) - set(calls)} to this test"
    assert labels["cron_validate"] == labels["timezone_validate"] == "u", "exception blocks cannot run in parallel"
    # one row of arguments in a table, so that nothing is folded into a constant at planning
    db.execute(
        sweep_conn,
        "create table if not exists public.cron_args as select '*/15 3 * * *'::text as e,"
        " '2025-04-05 13:40+00'::timestamptz as a, 'Pacific/Chatham'::text as z, 5::bigint as n,"
        " 'MON'::text as w, '1-5/2'::text as f",
    )
    raises = {"_cron_fail": "22023", "_cron_give_up": "54000"}
    db.execute(sweep_conn, "set force_parallel_mode = on")
    try:
        for name in safe:
            query = f"select {calls[name]} from public.cron_args as x"
            plan = "\n".join(r["QUERY PLAN"] for r in db.fetch_all(sweep_conn, f"explain {query}"))
            assert "Gather" in plan, f"{name} is not run in a parallel worker:\n{plan}"
            if name in raises:
                with pytest.raises(psycopg.Error) as raised:
                    db.fetch_all(sweep_conn, query)
                assert raised.value.sqlstate == raises[name], (name, raised.value)
            else:
                db.fetch_all(sweep_conn, query)
    finally:
        db.execute(sweep_conn, "reset force_parallel_mode")
