"""Hostile input to every API function: a clear error (a known SQLSTATE, a short message) and
nothing written. A hypothesis property test does the same over upsert_integration."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncsched import db

BIG = "x" * 1_000_000
INJECT = "acme'); drop table syncsched.sync_run_log; --"
BIG_PAYLOAD = json.dumps({"blob": "y" * 70_000})
# the classes of a clear error: data exception, integrity, limit, in use, raised by syncsched; and
# duplicate_object (create_integration of one that exists)
CLEAR = ("22", "23", "54", "55", "P0", "42710")

CASES: list[tuple[str, tuple[Any, ...]]] = [
    # configuration
    ("select syncsched.upsert_integration(%s, %s, %s)", (None, "ledger", "xledger")),
    ("select syncsched.upsert_integration(%s, %s, %s)", ("", "ledger", "xledger")),
    ("select syncsched.upsert_integration(%s, %s, %s)", (BIG, "ledger", "xledger")),
    ("select syncsched.upsert_integration(%s, %s, %s)", (INJECT, "ledger", "xledger")),
    ("select syncsched.upsert_integration(%s, %s, %s)", ("acme", BIG, "xledger")),
    ("select syncsched.upsert_integration(%s, %s, %s)", ("acme", "ledger", None)),
    ("select syncsched.upsert_integration(%s, %s, %s)", ("acme", "ledger", INJECT)),
    ("select syncsched.upsert_integration(%s, %s, %s, %s)", ("acme", "ledger", "xledger", BIG)),
    ("select syncsched.upsert_integration(%s, %s, %s, %s)", ("acme", "ledger", "xledger", "")),
    ("select syncsched.upsert_integration(%s, %s, %s, %s)", ("acme", "ledger", "xledger", INJECT)),
    (
        "select syncsched.upsert_integration(%s, %s, %s, %s, null, %s)",
        ("acme", "ledger", "xledger", "0 2 * * *", "Mars/Base"),
    ),
    ("select syncsched.upsert_integration(%s, %s, %s, %s, null, %s)", ("acme", "ledger", "xledger", "0 2 * * *", BIG)),
    ("select syncsched.upsert_integration(%s, %s, %s, %s, null, %s)", ("acme", "ledger", "xledger", "0 2 * * *", "")),
    ("select syncsched.upsert_integration(%s, %s, %s, %s, null, %s)", ("acme", "ledger", "xledger", "0 2 * * *", None)),
    ("select syncsched.upsert_integration(%s, %s, %s, null, %s)", ("acme", "ledger", "xledger", 0)),
    ("select syncsched.upsert_integration(%s, %s, %s, null, %s)", ("acme", "ledger", "xledger", 10**9)),
    ("select syncsched.upsert_integration(%s, %s, %s, %s, %s)", ("acme", "ledger", "xledger", "0 2 * * *", 60)),
    (
        "select syncsched.upsert_integration(%s, %s, %s, %s, p_payload => %s)",
        ("acme", "ledger", "xledger", "0 2 * * *", BIG_PAYLOAD),
    ),
    (
        "select syncsched.upsert_integration(%s, %s, %s, %s, p_payload => %s)",
        ("acme", "ledger", "xledger", "0 2 * * *", "[1]"),
    ),
    (
        "select syncsched.upsert_integration(%s, %s, %s, %s, p_max_attempts => %s)",
        ("acme", "ledger", "xledger", "0 2 * * *", 0),
    ),
    ("select syncsched.create_integration(%s, %s, %s)", (None, "ledger", "xledger")),
    ("select syncsched.create_integration(%s, %s, %s)", (INJECT, "ledger", "xledger")),
    ("select syncsched.create_integration(%s, %s, %s, %s)", ("acme", "ledger", "nope", "0 2 * * *")),
    ("select syncsched.create_integration(%s, %s, %s, %s)", ("acme", "ledger", "xledger", BIG)),
    ("select syncsched.create_integration(%s, %s, %s, p_misfire_policy => %s)", ("acme", "l", "xledger", "often")),
    ("select syncsched.create_integration(%s, %s, %s, p_payload => %s)", ("acme", "ledger", "xledger", "[1]")),
    ("select syncsched.create_integration(%s, %s, %s, %s)", ("acme", "nightly", "xledger", "0 2 * * *")),
    ("select syncsched.alter_integration(%s, %s, p_cron_schedule => %s)", ("acme", "nightly", "61 * * * *")),
    ("select syncsched.alter_integration(%s, %s, p_timezone => %s)", ("acme", "nightly", "Mars/Base")),
    ("select syncsched.alter_integration(%s, %s, p_reset => %s)", ("acme", "nightly", ["colour"])),
    ("select syncsched.alter_integration(%s, %s, p_max_attempts => %s)", ("acme", "nope", 3)),
    ("select syncsched.alter_integration(%s, %s, p_max_attempts => %s)", (None, "nightly", 3)),
    ("select syncsched.delete_integration(%s, %s)", (INJECT, "nightly")),
    ("select syncsched.retry_run(%s)", (None,)),
    ("select syncsched.retry_run(%s)", (-1,)),
    ("select syncsched.pause_dispatch(%s)", (INJECT,)),
    ("select syncsched.pause_scheduling(%s)", ("nope",)),
    ("select syncsched.check_endpoint_now(%s)", (INJECT,)),
    ("select syncsched.set_schedule(%s, %s, %s)", (None, "ledger", "0 2 * * *")),
    ("select syncsched.set_schedule(%s, %s, %s)", ("acme", "nightly", None)),
    ("select syncsched.set_schedule(%s, %s, %s)", ("acme", "nightly", BIG)),
    ("select syncsched.set_schedule(%s, %s, %s, %s)", ("acme", "nightly", "0 2 * * *", "Europe/Nowhere")),
    ("select syncsched.set_schedule(%s, %s, %s)", (INJECT, "nightly", "0 2 * * *")),
    ("select syncsched.set_interval(%s, %s, %s)", ("acme", "nightly", -5)),
    ("select syncsched.set_interval(%s, %s, %s)", ("acme", "nightly", None)),
    ("select syncsched.enable_integration(%s, %s)", (BIG, "nightly")),
    ("select syncsched.disable_integration(%s, %s)", ("acme", None)),
    ("select syncsched.set_endpoint_mode(%s, %s)", ("xledger", "loud")),
    ("select syncsched.set_endpoint_mode(%s, %s)", (INJECT, "active")),
    ("select syncsched.install_cron(%s)", (BIG,)),
    ("select syncsched.install_cron(%s)", (None,)),
    # operation
    ("select syncsched.run_now(%s, %s)", (INJECT, "nightly")),
    ("select syncsched.run_now(%s, %s)", ("acme", BIG)),
    ("select syncsched.run_now(%s, %s, %s)", ("acme", "nightly", None)),
    ("select syncsched.cancel_run(%s)", (None,)),
    ("select syncsched.cancel_run(%s)", (-1,)),
    ("select syncsched.prune_run_log(%s, %s)", (None, -1)),
    ("select syncsched.run_scheduled_jobs(%s)", (None,)),
    # previews
    ("select * from syncsched.next_runs(%s, %s)", (BIG, "UTC")),
    ("select * from syncsched.next_runs(%s, %s)", ("0 2 * * *", BIG)),
    ("select * from syncsched.next_runs(%s, %s, %s)", ("0 2 * * *", "UTC", 10**9)),
    ("select syncsched.cron_next(%s, now(), %s)", (None, "UTC")),
    ("select syncsched.cron_next(%s, now(), %s)", ("0 2 * * *", None)),
    ("select syncsched.cron_next(%s, %s, %s)", ("0 2 * * *", None, "UTC")),
    # the worker's functions
    ("select * from syncsched.claim_runs(%s, %s)", (None, 5)),
    ("select * from syncsched.claim_runs(%s, %s)", (BIG, 5)),
    ("select * from syncsched.claim_runs(%s, %s)", ("w", 0)),
    ("select * from syncsched.heartbeat(%s, %s, %s)", ("w", [1], [])),
    ("select * from syncsched.complete_runs(%s, %s, %s, %s)", ([1, 2], [None], [200], ["ok"])),
    ("select syncsched.complete_run(%s, %s)", (None, None)),
    ("select syncsched.fail_run(%s, %s, %s)", (None, None, "x")),
    ("select syncsched.release_run(%s, %s)", (None, None)),
    ("select syncsched.record_health_check(%s, %s)", (INJECT, True)),
    ("select syncsched.record_health_check(%s, %s)", ("xledger", None)),
    ("select syncsched.record_warmup(%s, %s, %s)", (INJECT, False, 10)),
    ("select * from syncsched.claim_health_checks(%s, %s)", ("w", 0)),
    ("select * from syncsched.claim_alert_deliveries(%s)", (0,)),
]


def snapshot(conn: db.Connection) -> str:
    """A digest of every row of every syncsched table."""
    tables = [
        r["t"]
        for r in db.fetch_all(
            conn,
            "select c.oid::regclass::text as t from pg_class c"
            " where c.relnamespace = 'syncsched'::regnamespace and c.relkind = 'r' order by 1",
        )
    ]
    text = "".join(
        db.fetch_value(conn, f"select coalesce(string_agg(x::text, E'\\n' order by x::text), '') from {t} as x")
        for t in tables
    )
    return hashlib.sha256(text.encode()).hexdigest()


def assert_clear_error(conn: db.Connection, query: str, params: tuple[Any, ...]) -> None:
    before = snapshot(conn)
    with pytest.raises(psycopg.Error) as caught:
        db.fetch_all(conn, query, params)
    error = caught.value
    state = error.sqlstate or ""
    message = error.diag.message_primary or ""
    shown = f"{query} {str(params)[:120]}: {state} {message[:200]}"
    assert state.startswith(CLEAR), f"not a clear error: {shown}"
    if None in params:
        assert state == "22023", f"a missing argument is invalid_parameter_value: {shown}"
    assert 0 < len(message) <= 300, f"the message is {len(message)} characters: {shown}"
    assert len(error.diag.message_detail or "") <= 300, f"the detail is too long: {shown}"
    assert snapshot(conn) == before, f"something was written: {shown}"


@pytest.fixture
def configured(conn: db.Connection) -> db.Connection:
    db.execute(conn, "select syncsched.upsert_integration('acme', 'nightly', 'xledger', '0 2 * * *')")
    return conn


@pytest.mark.parametrize(("query", "params"), CASES, ids=[f"{n:02d}" for n in range(len(CASES))])
def test_a_hostile_argument_is_a_clear_error_and_writes_nothing(
    configured: db.Connection, query: str, params: tuple[Any, ...]
) -> None:
    assert_clear_error(configured, query, params)


TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=300)
NAMES = st.one_of(TEXT, st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,20}\Z"), st.just(INJECT))
CRONS = st.one_of(
    TEXT,
    st.sampled_from(["0 2 * * *", "*/15 * * * *", "0 9 * * 1-5", "@daily", "61 * * * *", "* * * *", "0 2 L * *"]),
)
ZONES = st.one_of(TEXT, st.sampled_from(["UTC", "Europe/Oslo", "America/New_York", "Mars/Base", "", "Etc/GMT+13"]))
PAYLOADS = st.dictionaries(TEXT, st.one_of(st.integers(), TEXT, st.booleans()), max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    org=NAMES,
    integration=NAMES,
    integration_type=st.sampled_from(["xledger", "dynamics", "nope", ""]),
    cron=st.one_of(st.none(), CRONS),
    minutes=st.one_of(st.none(), st.integers(-10, 10**7)),
    zone=ZONES,
    payload=PAYLOADS,
)
def test_upsert_integration_either_succeeds_consistently_or_fails_clearly_with_nothing_written(
    conn: db.Connection,
    org: str,
    integration: str,
    integration_type: str,
    cron: str | None,
    minutes: int | None,
    zone: str,
    payload: dict[str, Any],
) -> None:
    before = snapshot(conn)
    try:
        db.fetch_all(
            conn,
            "select syncsched.upsert_integration(%s, %s, %s, %s, %s, %s, %s)",
            (org, integration, integration_type, cron, minutes, zone, json.dumps(payload)),
        )
    except psycopg.Error as exc:
        assert (exc.sqlstate or "").startswith(CLEAR), f"{exc.sqlstate}: {exc.diag.message_primary}"
        assert len(exc.diag.message_primary or "") <= 300
        assert snapshot(conn) == before
        return
    row = db.fetch_one(
        conn,
        "select syncsched.schedule_problem(o.cron_schedule, o.interval_minutes, o.timezone, o.is_enabled) as problem,"
        " s.next_run_at from syncsched.organization_integrations as o join syncsched.schedule_state as s on s.id = o.id"
        " where o.org_id = %s and o.integration_id = %s",
        (org, integration),
    )
    assert row is not None and row["problem"] is None
    assert (row["next_run_at"] is None) == (cron is None and minutes is None)
