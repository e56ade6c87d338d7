"""H in cron fields (Jenkins' semantics): a value chosen by a specified hash of the integration's
identity, the same on every server, after a dump and restore and after a migrate; the resolved
expression is plain cron, so every rule of the engine (DST included) applies to it unchanged."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest
from cronsim import CronSim

from conftest import pg_tool
from cron_oracle import expected_next
from syncsched import db
from syncsched.migrate import migrate
from syncsched.testing import TestServer

FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
H_DEFAULT = [(0, 59), (0, 23), (1, 28), (1, 12), (0, 6)]  # H alone: days 1-28, weekdays 0-6
EXPRESSIONS = [
    "H 2 * * *",
    "H(0-7) H * * *",
    "H/15 * * * *",
    "H H 1 * *",
    "H 2 * * 1-5",
    "H(0-29),H(30-59) H(8-17)/3 * * H",
    "5 H/7 H(10-20) JAN-MAR,H *",
]


def h_hash(seed: str, field: int, term: int) -> int:
    """The README's hash, written again here: the first 4 bytes of SHA-256 of '<seed>#<field>.<term>'."""
    return int.from_bytes(hashlib.sha256(f"{seed}#{field}.{term}".encode()).digest()[:4], "big")


def resolve(expr: str, seed: str) -> str:
    """What H resolves to, by the README's rules, independently of the engine."""
    fields = expr.upper().split()
    for position, field in enumerate(fields, start=1):
        terms = field.split(",")
        for index, term in enumerate(terms, start=1):
            match = re.fullmatch(r"H(?:\((\d+)-(\d+)\))?(?:/(\d+))?", term)
            if not match:
                continue
            low, high = (int(match[1]), int(match[2])) if match[1] else H_DEFAULT[position - 1]
            value = h_hash(seed, position, index)
            if match[3]:
                step = int(match[3])
                terms[index - 1] = f"{low + value % min(step, high - low + 1)}-{high}/{step}"
            else:
                terms[index - 1] = str(low + value % (high - low + 1))
        fields[position - 1] = ",".join(terms)
    return " ".join(fields)


def test_h_resolves_as_specified_and_follows_the_field_rules(conn: db.Connection) -> None:
    seeds = [f"org{n}/integration-{n % 7}" for n in range(150)] + ["acme/ledger", "æøå/ünïcode"]
    rows = db.fetch_all(
        conn,
        "select e, s, syncsched.cron_resolve(e, s) as resolved from unnest(%s::text[]) as e, unnest(%s::text[]) as s",
        (EXPRESSIONS, seeds),
    )
    assert len(rows) == len(EXPRESSIONS) * len(seeds)
    for row in rows:
        assert row["resolved"] == resolve(row["e"], row["s"]), row
        # plain cron that cronsim reads, every value inside its field's range
        CronSim(row["resolved"], datetime(2030, 1, 1, tzinfo=UTC))
    # pinned: a change of the hash would move every tenant's schedule
    assert db.fetch_value(conn, "select syncsched.cron_resolve('H 2 * * *', 'acme/ledger')") == "9 2 * * *"


def test_the_engine_evaluates_the_resolved_expression_exactly(conn: db.Connection) -> None:
    """Fire times of an H expression are those of what it resolves to (cronsim, the oracle), across
    Oslo's spring-forward night."""
    for expr in EXPRESSIONS:
        seed = "acme/ledger"
        resolved = resolve(expr, seed)
        got = db.fetch_all(
            conn,
            "select r from syncsched.next_runs(%s, 'Europe/Oslo', 12, '2030-03-30 12:00+00', p_seed => %s) as r",
            (expr, seed),
        )
        expected, at = [], datetime(2030, 3, 30, 12, 0, tzinfo=UTC)
        for _ in range(12):
            at = expected_next(resolved, at, "Europe/Oslo")[0]
            expected.append(at)
        assert [r["r"] for r in got] == expected, (expr, resolved)


def test_ten_thousand_tenants_on_h_2_spread_over_the_hour(conn: db.Connection) -> None:
    db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '1 minute')")
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule)"
        " select 'org' || g, 'ledger', 'xledger', 'H 2 * * *' from generate_series(1, 10000) as g",
    )
    rows = db.fetch_all(conn, "select resolved_schedule from syncsched.schedule_overview")
    minutes = Counter(int(r["resolved_schedule"].split()[0]) for r in rows)
    assert sorted(minutes) == list(range(60)), "every minute of 02:00-02:59 is used"
    mean = 10_000 / 60
    assert max(minutes.values()) <= 1.6 * mean, f"busiest minute {max(minutes.values())}, mean {mean:.1f}"
    # and the state the tick trusts holds the resolved schedule: each next run at its own minute
    at_minute = Counter(
        r["m"]
        for r in db.fetch_all(
            conn, "select extract(minute from next_run_at at time zone 'UTC')::int as m from syncsched.schedule_state"
        )
    )
    assert at_minute == minutes


def test_the_tick_runs_an_h_schedule_at_its_resolved_minute(conn: db.Connection) -> None:
    db.execute(
        conn,
        "select syncsched.create_integration('acme', 'ledger', 'xledger', 'H 2 * * *', p_timezone => 'Europe/Oslo')",
    )
    minute = int(resolve("H 2 * * *", "acme/ledger").split()[0])
    period = datetime(2030, 1, 7, 1, minute, tzinfo=UTC)  # 02:mm in Oslo in January
    db.execute(conn, "update syncsched.schedule_state set next_run_at = %s", (period,))
    db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s)", (period.replace(second=30),))
    assert db.fetch_value(conn, "select scheduled_for from syncsched.sync_run_log") == period
    assert db.fetch_value(conn, "select next_run_at from syncsched.schedule_state") == period.replace(day=8)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("H(7-3) * * * *", 'minute: "H(7-3)": H(a-b) needs 0 <= a <= b <= 59'),
        ("H/0 * * * *", 'minute: "H/0": step must be at least 1'),
        ("H(0-99) * * * *", 'minute: "H(0-99)": H(a-b) needs 0 <= a <= b <= 59'),
        ("0 H(0-24) * * *", 'hour: "H(0-24)": H(a-b) needs 0 <= a <= b <= 23'),
        ("0 2 HL * *", 'day-of-month: "HL": H is written H, H(a-b), H/n or H(a-b)/n'),
    ],
)
def test_bad_h_forms_are_refused_naming_the_field(conn: db.Connection, expr: str, message: str) -> None:
    assert db.fetch_value(conn, "select syncsched.cron_validate(%s)", (expr,)) == message
    with pytest.raises(psycopg.Error) as caught:
        db.execute(conn, "select syncsched.create_integration('acme', 'x', 'xledger', %s)", (expr,))
    assert caught.value.sqlstate == "22023" and message in str(caught.value)


def test_resolution_survives_a_dump_restore_and_a_migrate(
    syncsched_server: TestServer, syncsched_dsn: str, empty_dsn: str
) -> None:
    state = (
        "select o.resolved_schedule, s.cron_spec::text from syncsched.schedule_overview as o"
        " join syncsched.organization_integrations as i using (org_id, integration_id)"
        " join syncsched.schedule_state as s on s.id = i.id"
    )
    with db.connect(syncsched_dsn) as conn:
        db.execute(conn, "select syncsched.create_integration('acme', 'ledger', 'xledger', 'H H(1-5) * * H')")
        before = db.fetch_all(conn, state)
    assert before[0]["resolved_schedule"] == resolve("H H(1-5) * * H", "acme/ledger")
    source, target = db.parse_dsn(syncsched_dsn), db.parse_dsn(empty_dsn)
    common = ["-h", source["host"], "-p", str(source["port"]), "-U", source["user"]]
    dump = subprocess.run(
        [pg_tool(syncsched_server, "pg_dump"), *common, source["dbname"]], capture_output=True, check=True
    )
    subprocess.run(
        [pg_tool(syncsched_server, "psql"), "-q", "-v", "ON_ERROR_STOP=1", *common, target["dbname"]],
        input=dump.stdout,
        capture_output=True,
        check=True,
    )
    migrate(empty_dsn)
    with db.connect(empty_dsn) as copy:
        assert db.fetch_all(copy, state) == before
        # derived again on this server, from the configuration: the same
        db.execute(copy, "update syncsched.organization_integrations set cron_schedule = 'H  H(1-5) * * H'")
        assert db.fetch_all(copy, state) == before
