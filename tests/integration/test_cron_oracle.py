"""The PL/pgSQL cron engine against cronsim, the oracle: same validity, same next fire time.

Expressions are generated across the whole grammar, instants between 1970 and 2100
(half of them within hours of a DST change of the zone), zones with and without DST.
Where cronsim answers no later than the instant it was given (from inside a repeated
hour) or never answers, the README's rule is the oracle (tests/cron_oracle.py).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim, CronSimError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cron_oracle import expected_next
from syncsched import db

ZONES = [
    "UTC",
    "Europe/Oslo",
    "America/New_York",
    "Australia/Sydney",
    "Europe/London",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
    "America/Havana",
    "Asia/Tehran",
]
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
START = int(datetime(1970, 1, 2, tzinfo=UTC).timestamp())
END = int(datetime(2100, 12, 30, tzinfo=UTC).timestamp())
INSTANTS_PER_CASE = 40
# (low, high) of each field, with a little room outside to produce invalid values
BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


@functools.cache
def transitions(zone: str) -> list[int]:
    """UTC seconds of the offset changes of a zone, 1970-2100 (found day by day, then refined)."""
    if zone == "UTC":
        return []
    tz = ZoneInfo(zone)
    found = []
    step = 86400
    t = START
    prev = datetime.fromtimestamp(t, tz).utcoffset()
    while t < END:
        nxt = t + step
        off = datetime.fromtimestamp(nxt, tz).utcoffset()
        if off != prev:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            prev = off
        t = nxt
    return found


def oracle_valid(expr: str) -> bool:
    try:
        CronSim(MACROS.get(expr.strip().lower(), expr), datetime(2020, 1, 1))
    except (CronSimError, ValueError):
        return False
    return True


# --- the grammar --------------------------------------------------------------------------


def _number(field: int) -> st.SearchStrategy[str]:
    low, high = BOUNDS[field]
    inside = st.integers(low, high).map(str)
    outside = st.sampled_from([str(high + 1), str(low - 1) if low > 0 else "60", "99", "007"])
    return st.one_of(inside, inside, inside, inside, outside)


def _name(field: int) -> st.SearchStrategy[str]:
    names = MONTHS if field == 3 else DAYS
    cased = st.sampled_from(names).flatmap(lambda n: st.sampled_from([n, n.lower(), n.title()]))
    return st.one_of(cased, cased, st.just("FUN"))


def _value(field: int) -> st.SearchStrategy[str]:
    if field in (3, 4):
        return st.one_of(_number(field), _name(field))
    return _number(field)


def _term(field: int) -> st.SearchStrategy[str]:
    value = _value(field)
    step = st.integers(0, 32).map(str)
    options = [
        st.just("*"),
        value,
        value,
        st.tuples(value, value).map(lambda p: f"{p[0]}-{p[1]}"),
        step.map(lambda s: f"*/{s}"),
        st.tuples(value, value, step).map(lambda p: f"{p[0]}-{p[1]}/{p[2]}"),
        st.tuples(value, step).map(lambda p: f"{p[0]}/{p[1]}"),
    ]
    if field == 2:
        options += [st.sampled_from(["L", "LW", "L/2", "LW/3", "l", "lw"])]
    if field == 4:
        options += [
            _number(4).map(lambda v: f"{v}L"),
            st.tuples(value, st.integers(0, 6)).map(lambda p: f"{p[0]}#{p[1]}"),
            st.sampled_from(["L", "FRIL", "5L/2"]),
        ]
    return st.one_of(*options)


def _field(field: int) -> st.SearchStrategy[str]:
    return st.lists(_term(field), min_size=1, max_size=3).map(",".join)


expressions = st.one_of(
    st.tuples(*[_field(i) for i in range(5)]).map(" ".join),
    st.tuples(*[_field(i) for i in range(5)]).map(" ".join),
    st.tuples(*[_field(i) for i in range(5)]).map(" ".join),
    st.sampled_from([*list(MACROS), "@reboot", "@DAILY"]),
    st.sampled_from(
        [
            "0 2 * * *",
            "*/15 * * * *",
            "30 2 * * *",
            "0 0 29 2 *",
            "0 9 * * 1#1",
            "0 2 L * *",
            "0 3 * * 1-5",
            "15 */2 * * *",
            "0 2 31 * *",
            "59 23 LW * *",
        ]
    ),
)


@st.composite
def instants(draw: st.DrawFn, zone: str) -> list[float]:
    near = transitions(zone)
    out = []
    for _ in range(INSTANTS_PER_CASE):
        if near and draw(st.booleans()):
            base = near[draw(st.integers(0, len(near) - 1))]
            ts: float = base + draw(st.integers(-3 * 3600, 3 * 3600))
        else:
            ts = draw(st.integers(START, END))
        if draw(st.integers(0, 3)) == 0:
            ts += draw(st.integers(1, 999_999)) / 1e6
        out.append(ts)
    return out


cases = st.sampled_from(ZONES).flatmap(lambda zone: st.tuples(expressions, st.just(zone), instants(zone)))


@pytest.fixture(scope="module")
def cron_conn(syncsched_server) -> Iterator[db.Connection]:  # type: ignore[no-untyped-def]
    name, dsn = syncsched_server.fresh_database()
    try:
        with db.connect(dsn) as connection:
            db.execute(connection, "set statement_timeout = '20s'")
            yield connection
    finally:
        syncsched_server.drop_database(name)


COMPARISONS: dict[str, int] = {"n": 0}


# SYNCSCHED_CRON_EXAMPLES raises the number of cases for a long local run.
EXAMPLES = int(os.environ.get("SYNCSCHED_CRON_EXAMPLES", "1800"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases)
def test_cron_next_equals_cronsim(cron_conn: db.Connection, case: tuple[str, str, list[float]]) -> None:
    expr, zone, stamps = case
    valid = db.fetch_value(cron_conn, "select syncsched.cron_validate(%s)", (expr,))
    expected_valid = oracle_valid(expr)
    assert (valid is None) == expected_valid, f"validity of {expr!r}: ours {valid!r}, cronsim {expected_valid}"
    if not expected_valid:
        return
    afters = [datetime.fromtimestamp(ts, UTC) for ts in stamps]
    rows = db.fetch_all(
        cron_conn,
        "select syncsched.cron_next(%s, a, %s) as next"
        " from unnest(%s::timestamptz[]) with ordinality as t(a, n) order by n",
        (expr, zone, afters),
    )
    for after, row in zip(afters, rows, strict=True):
        # cronsim's answer where it is later than `after`, else the README's rule (a few in 10,000)
        expected, source = expected_next(MACROS.get(expr.strip().lower(), expr), after, zone)
        got = row["next"]
        COMPARISONS["n"] += 1
        COMPARISONS[source] = COMPARISONS.get(source, 0) + 1
        assert got == expected, (
            f"cron_next({expr!r}, {after.isoformat()}, {zone!r}): ours {got}, {source} {expected}"
            f" ({expected.isoformat() if expected else None})"
        )


def test_enough_comparisons_were_made() -> None:
    # Runs after the property test in file order: at least 20,000 next-time comparisons.
    assert COMPARISONS["n"] >= 20_000, COMPARISONS


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(st.text(max_size=60), st.text(alphabet="0123456789*/-,#LW @ \t", max_size=40)))
def test_cron_validate_never_raises(cron_conn: db.Connection, text: str) -> None:
    text = text.replace("\x00", "")
    message = db.fetch_value(cron_conn, "select syncsched.cron_validate(%s)", (text,))
    if message is not None:
        assert isinstance(message, str) and message
    assert (message is None) == oracle_valid(text) or text.strip().lower() in MACROS or (len(text.split()) == 6), (
        f"{text!r}: {message!r}"
    )


def test_cron_validate_survives_huge_and_odd_inputs(cron_conn: db.Connection) -> None:
    for text in [
        "* " * 5000,
        "1," * 5000 + "1 * * * *",
        "\u00e9\u00e8 * * * *",
        "\U0001f600",
        "9" * 10000,
        None,
        "",
        "   ",
        "@",
        "@@daily",
    ]:
        message = db.fetch_value(cron_conn, "select syncsched.cron_validate(%s)", (text,))
        assert message, text[:20] if text else text


def test_transitions_found() -> None:
    assert len(transitions("Europe/Oslo")) > 200
    oslo_2026 = [t for t in transitions("Europe/Oslo") if datetime.fromtimestamp(t, UTC).year == 2026]
    assert [datetime.fromtimestamp(t, UTC) for t in oslo_2026] == [
        datetime(2026, 3, 29, 1, tzinfo=UTC),
        datetime(2026, 10, 25, 1, tzinfo=UTC),
    ]
