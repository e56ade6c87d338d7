"""The engine core: state only the owner writes, typed settings, exact misfire accounting, staleness
that follows the schedule, fair claims over the whole backlog, one clock, and every attempt kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endpoint import Endpoint, Reply, Request
from harness import (
    WorkerProcess,
    a_minute_ago,
    connect_as,
    login_role,
    point_types_at,
    schedule_due,
    set_next_run,
    wait_for,
)
from syncsched import db

T0 = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)  # a Monday


def add(conn: db.Connection, org: str, integration: str = "i", **columns: Any) -> None:
    columns = {"integration_type": "xledger", **columns}
    if "cron_schedule" not in columns and "interval_minutes" not in columns:
        columns["cron_schedule"] = "0 * * * *"
    names = ", ".join(columns)
    db.execute(
        conn,
        f"insert into syncsched.organization_integrations (org_id, integration_id, {names})"
        f" values (%s, %s, {', '.join(['%s'] * len(columns))})",
        (org, integration, *columns.values()),
    )


def tick(conn: db.Connection, at: datetime) -> dict[str, Any]:
    result: dict[str, Any] = db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s)", (at,))
    return result


def alerts(conn: db.Connection, kind: str) -> list[dict[str, Any]]:
    return db.fetch_all(
        conn,
        "select org_id, integration_id, detail from syncsched.scheduler_alerts where kind = %s order by alert_id",
        (kind,),
    )


def runs(conn: db.Connection, org: str | None = None) -> list[dict[str, Any]]:
    return db.fetch_all(
        conn,
        "select org_id, integration_id, scheduled_for, trigger, status::text from syncsched.sync_run_log"
        " where %s::text is null or org_id = %s order by scheduled_for, run_id",
        (org, org),
    )


# --- the state the tick trusts --------------------------------------------------------------------


def test_admin_and_tenant_cannot_change_what_the_tick_believes(syncsched_dsn: str, conn: db.Connection) -> None:
    add(conn, "acme", "nightly", cron_schedule="0 2 * * *")
    before = db.fetch_one(conn, "select * from syncsched.schedule_state")
    with login_role(conn, "syncsched_admin") as admin_role, login_role(conn, "syncsched_tenant") as tenant_role:
        with connect_as(syncsched_dsn, admin_role) as admin:
            # what worked before the state had its own table: a past next_run_at, a parsed '* * * * *'
            with pytest.raises(psycopg.errors.UndefinedColumn):
                db.execute(
                    admin, "update syncsched.organization_integrations set next_run_at = now() - interval '1 hour'"
                )
            for statement in (
                "update syncsched.schedule_state set next_run_at = now() - interval '1 hour'",
                "update syncsched.schedule_state set cron_spec = syncsched.cron_parse('* * * * *')",
                "delete from syncsched.schedule_state",
                "insert into syncsched.schedule_state (id) values (999)",
                "update syncsched.sync_run_attempts set error = null",
                "update syncsched.dispatch_state set last_org_id = 'zzz'",
                "select syncsched._alert('failing', 'acme', 'nightly', 'xledger', '{}')",
                "select syncsched._resolve_alerts(array['failing:acme/nightly'])",
                "select syncsched._health_from_runs(array['xledger'], false, 'forged')",
                "update syncsched.settings set type = 'url' where key = 'lease'",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    db.execute(admin, statement)
        with connect_as(syncsched_dsn, tenant_role) as tenant:
            db.execute(tenant, "select set_config('syncsched.org_id', 'acme', false)")
            assert db.fetch_value(tenant, "select count(*) from syncsched.schedule_state") == 1  # its own, read only
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(tenant, "update syncsched.schedule_state set next_run_at = now() - interval '1 hour'")
    assert db.fetch_one(conn, "select * from syncsched.schedule_state") == before
    # a minute before its next 02:00 (whenever the test runs): nothing is due
    result = tick(conn, before["next_run_at"] - timedelta(minutes=1))
    assert result["triggered"] == 0, "the tick ran a nightly schedule at a time that is not its period"


def test_state_is_derived_again_from_every_schedule_change(conn: db.Connection) -> None:
    add(conn, "acme", "x", cron_schedule="0 2 * * *", timezone="Europe/Oslo")
    state = "select cron_spec::text, next_run_at from syncsched.schedule_state"
    first = db.fetch_one(conn, state)
    db.execute(conn, "update syncsched.organization_integrations set payload = '{\"a\": 1}'")
    assert db.fetch_one(conn, state) == first, "a payload change is no schedule change"
    db.execute(conn, "update syncsched.organization_integrations set cron_schedule = '30 3 * * *'")
    second = db.fetch_one(conn, state)
    assert second is not None and second["next_run_at"].astimezone(ZoneInfo("Europe/Oslo")).strftime("%H:%M") == "03:30"
    db.execute(conn, "update syncsched.organization_integrations set is_enabled = false")
    assert db.fetch_value(conn, "select next_run_at from syncsched.schedule_state") is None


# --- typed settings -------------------------------------------------------------------------------

BAD_VALUES = {
    "interval": ["banana", "-1 minute", "0 seconds", "1000 years", ""],
    "integer": ["x", "-1", "0", "1.5", "99999999999"],
    "boolean": ["maybe", "2", ""],
    "url": ["ftp://example.com/hook", "env:lower_case", "example.com/hook"],
    "host_list": ["a b", "x;y", "a,,b"],
}


def test_every_setting_refuses_a_bad_value_with_22023_naming_it_and_the_tick_still_runs(
    syncsched_dsn: str, conn: db.Connection
) -> None:
    add(conn, "acme", interval_minutes=60)
    settings_rows = db.fetch_all(conn, "select key, type, value, min_value, max_value from syncsched.settings")
    assert {row["type"] for row in settings_rows} == set(BAD_VALUES)
    refused = 0
    with login_role(conn, "syncsched_admin") as admin_role, connect_as(syncsched_dsn, admin_role) as admin:
        for row in settings_rows:
            for value in BAD_VALUES[row["type"]]:
                if row["type"] == "interval" and value == "0 seconds" and row["min_value"] == "0 seconds":
                    continue  # a window of 0 is allowed where the range says so
                for statement in (
                    "select syncsched.set_setting(%(key)s, %(value)s)",
                    "update syncsched.settings set value = %(value)s where key = %(key)s",
                ):
                    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
                        db.execute(admin, statement, {"key": row["key"], "value": value})
                    message = error.value.diag.message_primary or ""
                    assert row["key"] in message and repr(value).replace('"', "'") in message, message
                    refused += 1
        assert db.fetch_all(conn, "select key, type, value, min_value, max_value from syncsched.settings") == (
            settings_rows
        ), "a refused value was written"
        # the tick, claims and schedule checks still work after every refused write
        db.execute(admin, "call syncsched.tick()")
        add(conn, "acme", "second", interval_minutes=30)
    assert refused >= 2 * len(settings_rows) * 2
    assert db.fetch_value(conn, "select syncsched.set_setting('scheduler_paused', 'on')") == "true"
    assert db.fetch_value(conn, "select syncsched.set_setting('tick_batch_size', ' 250 ')") == "250"
    assert db.fetch_value(conn, "select syncsched.reset_setting('tick_batch_size')") == "1000"
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute(conn, "select syncsched.set_setting('no_such_key', '1')")


def test_the_worker_takes_its_lease_from_the_lease_setting(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    db.execute(conn, "select syncsched.set_setting('lease', '17 seconds')")
    with Endpoint(lambda _r, _n: Reply(delay=3.0)) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        worker = workers("--concurrency", "1")  # no --lease
        lease = wait_for(
            lambda: db.fetch_value(
                conn, "select lease_expires_at - started_at from syncsched.sync_run_log where status = 'running'"
            ),
            20,
            "the run to be claimed",
        )
        assert timedelta(seconds=16) < lease < timedelta(seconds=18)
        assert "lease 17 s" in worker.output()


# --- every attempt kept ---------------------------------------------------------------------------


def test_a_run_failing_500_then_429_then_succeeding_keeps_three_attempts_numbered_1_2_3(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    db.execute(conn, "select syncsched.set_setting('retry_backoff_base', '100 milliseconds')")

    def behaviour(_request: Request, n: int) -> Reply:
        if n == 0:
            return Reply(status=500, body="database is down")
        if n == 1:
            return Reply(status=429, body="slow down", headers={"Retry-After": "1"})
        return Reply(body='{"exported": 3}')

    with Endpoint(behaviour) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, max_attempts=5)
        worker = workers()
        wait_for(
            lambda: db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "completed",
            30,
            "the run to complete on its third attempt",
        )
        assert [request.body["attempt"] for request in endpoint.requests] == [1, 2, 3]
    run = db.fetch_one(conn, "select run_id, attempt, error, http_status from syncsched.sync_run_log")
    assert run is not None and (run["attempt"], run["error"], run["http_status"]) == (3, None, 200)
    attempts = db.fetch_all(
        conn,
        "select attempt, outcome, http_status, error, response_excerpt from syncsched.sync_run_attempts"
        " order by attempt",
    )
    assert attempts == [
        {
            "attempt": 1,
            "outcome": "failed",
            "http_status": 500,
            "error": "HTTP 500: database is down",
            "response_excerpt": None,
        },
        {
            "attempt": 2,
            "outcome": "failed",
            "http_status": 429,
            "error": "HTTP 429: slow down",
            "response_excerpt": None,
        },
        {
            "attempt": 3,
            "outcome": "completed",
            "http_status": 200,
            "error": None,
            "response_excerpt": '{"exported": 3}',
        },
    ]
    seen = db.fetch_value(conn, "select attempts from syncsched.recent_runs")
    assert [(a["attempt"], a["outcome"]) for a in seen] == [(1, "failed"), (2, "failed"), (3, "completed")]
    log = worker.output()
    for n in (1, 2, 3):
        assert f"run {run['run_id']} running: org1/ledger (xledger) attempt {n} of 5" in log


# --- misfire accounting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "silence", "periods"),
    [("0 * * * *", timedelta(days=7), 169), ("0 */6 * * *", timedelta(days=3), 13)],
)
def test_a_long_silence_is_counted_exactly_under_every_policy(
    conn: db.Connection, cron: str, silence: timedelta, periods: int
) -> None:
    for policy in ("run_once", "skip", "catch_up"):
        add(conn, policy, cron_schedule=cron, misfire_policy=policy)
    set_next_run(conn, T0)
    tick(conn, T0 + silence + timedelta(seconds=5))
    missed = {a["org_id"]: a["detail"] for a in alerts(conn, "missed")}
    for policy in ("run_once", "skip"):
        assert [r["scheduled_for"] for r in runs(conn, policy)] == [T0 + silence]
        assert missed[policy]["missed"] == periods - 1, policy
        first, last = (datetime.fromisoformat(missed[policy][k]) for k in ("first", "last"))
        assert (first, last) == (T0, T0 + silence - (silence / (periods - 1))), policy
    assert "catch_up" not in missed, "catch_up misses nothing: its periods run late"
    caught_up = runs(conn, "catch_up")
    assert len(caught_up) == min(periods, 24) and caught_up[0]["scheduled_for"] == T0
    assert {r["trigger"] for r in caught_up[:-1]} == {"catch_up"}, "late by design is catch_up, not schedule"


def test_a_silence_of_decades_is_counted_exactly_day_by_day(conn: db.Connection) -> None:
    add(conn, "utc", cron_schedule="0 * * * *")
    add(conn, "oslo", cron_schedule="30 2 * * *", timezone="Europe/Oslo")
    add(conn, "every15", interval_minutes=15)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    set_next_run(conn, start)
    now = datetime(2030, 6, 1, 12, 0, 5, tzinfo=UTC)
    tick(conn, now)
    missed = {a["org_id"]: a["detail"]["missed"] for a in alerts(conn, "missed")}
    hours = int((now - start).total_seconds() // 3600) + 1
    days = (now.date() - start.date()).days + 1
    assert missed["utc"] == hours - 1
    # one fire a day: 02:30 Oslo time, or 03:00 on the spring-forward days (fixed time); the last one runs
    assert missed["oslo"] == days - 1
    assert missed["every15"] == int((now - start).total_seconds() // 900)


CRONS = ["0 * * * *", "*/30 * * * *", "15 2 * * *", "0 9 * * 1-5", "45 1-3 * * *", "0 0 L * *", "30 6 * * 5L"]
ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Santiago"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cron=st.sampled_from(CRONS),
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
    days=st.integers(min_value=20, max_value=400),
    policy=st.sampled_from(["run_once", "skip"]),
)
def test_missed_counts_equal_a_brute_force_enumeration_of_periods(
    conn: db.Connection, cron: str, zone: str, start: datetime, days: int, policy: str
) -> None:
    spec = db.fetch_value(conn, "select syncsched.cron_parse(%s)", (cron,))
    first = db.fetch_value(conn, "select syncsched.cron_next(%s, %s, %s)", (cron, start.replace(tzinfo=UTC), zone))
    now = first + timedelta(days=days, minutes=7)
    brute = db.fetch_one(
        conn,
        """
        with recursive p (at) as (
            select %(first)s::timestamptz
            union all
            select syncsched._cron_next_spec(%(spec)s, p.at, %(zone)s) from p where p.at <= %(now)s
        )
        select count(*) as n, max(at) as last, (array_agg(at order by at desc))[2] as before_last
        from p where at <= %(now)s
        """,
        {"first": first, "spec": spec, "zone": zone, "now": now},
    )
    assert brute is not None
    got = db.fetch_one(
        conn,
        "select * from syncsched._due_periods(%s, null, %s, %s, %s, %s, interval '15 minutes', 24)",
        (spec, zone, first, now, policy),
    )
    assert got is not None and got["problem"] is None
    ran = now - brute["last"] <= timedelta(minutes=15) or policy == "run_once"
    assert got["periods"] == ([brute["last"]] if ran else [])
    assert got["missed"] == brute["n"] - (1 if ran else 0)
    assert got["first_missed"] == (first if got["missed"] else None)
    assert got["last_missed"] == ((brute["before_last"] if ran else brute["last"]) if got["missed"] else None)
    assert got["next_run_at"] == db.fetch_value(
        conn, "select syncsched._cron_next_spec(%s, %s, %s)", (spec, brute["last"], zone)
    )


def test_an_outage_of_ten_minutes_is_accounted_for_period_by_period(conn: db.Connection) -> None:
    db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '1 minute')")
    for n in range(5):
        add(conn, f"skip15-{n}", cron_schedule="* * * * *", misfire_policy="skip", misfire_grace="15 minutes")
        add(conn, f"skip5-{n}", cron_schedule="* * * * *", misfire_policy="skip", misfire_grace="5 minutes")
        add(conn, f"once-{n}", cron_schedule="* * * * *", misfire_policy="run_once")
        add(conn, f"catch-{n}", cron_schedule="* * * * *", misfire_policy="catch_up")
    set_next_run(conn, T0)
    tick(conn, T0 + timedelta(seconds=2))
    db.execute(conn, "update syncsched.sync_run_log set status = 'completed', finished_at = now()")
    # pg_cron stopped for ten minutes: the tick of 00:11 is the next
    tick(conn, T0 + timedelta(minutes=11, seconds=2))
    periods = {T0 + timedelta(minutes=m) for m in range(1, 12)}
    missed = {a["org_id"]: a["detail"] for a in alerts(conn, "missed")}
    for org in [f"{kind}-{n}" for kind in ("skip15", "skip5", "once", "catch") for n in range(5)]:
        ran = {r["scheduled_for"] for r in runs(conn, org)} - {T0}
        counted = missed.get(org, {}).get("missed", 0)
        if counted:
            first, last = (datetime.fromisoformat(missed[org][k]) for k in ("first", "last"))
            assert {p for p in periods if first <= p <= last} == periods - ran, org
        assert len(ran) + counted == len(periods), (org, len(ran), counted)
    catch_up = runs(conn, "catch-0")[1:]
    assert [r["trigger"] for r in catch_up] == ["catch_up"] * 10 + ["schedule"]
    # a catch-up run is late by design: no drift alert when it starts (a late scheduled one has one)
    db.execute(conn, "select syncsched.set_setting('drift_alert_threshold', '1 second')")
    db.execute(conn, "update syncsched.integration_types set max_concurrency = 1000")
    claimed = db.fetch_all(conn, "select run_id from syncsched.claim_runs('w', 1000)")
    assert len(claimed) == 15 + 5 * 11
    late_by_design = {
        r["run_id"] for r in db.fetch_all(conn, "select run_id from syncsched.sync_run_log where trigger = 'catch_up'")
    }
    drifted = {a["detail"]["run_id"] for a in alerts(conn, "drift")}
    assert len(drifted) == 20 and not drifted & late_by_design


# --- staleness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cron", ["0 9 * * 1-5", "0 2 L * *", "30 6 * * 5L", "0 9 * * 1#1"])
def test_a_year_on_time_raises_no_stale_and_one_missed_run_raises_exactly_one(conn: db.Connection, cron: str) -> None:
    add(conn, "acme", cron_schedule=cron, timezone="Europe/Oslo")
    start = datetime(2031, 1, 1, tzinfo=UTC)
    fires = [
        r["at"]
        for r in db.fetch_all(
            conn, "select r as at from syncsched.next_runs(%s, 'Europe/Oslo', 400, %s) as r", (cron, start)
        )
        if r["at"] < start + timedelta(days=366)
    ]
    assert len(fires) >= 12
    db.execute(conn, "update syncsched.schedule_state set derived_at = %s, stale_check_at = %s", (start, start))
    set_next_run(conn, fires[0])
    skipped = fires[len(fires) // 2]
    for at, following in zip(fires, [*fires[1:], fires[-1] + timedelta(days=1)], strict=True):
        # as the tick does: the runs of the minute, then the staleness look; the run completes later
        tick(conn, at + timedelta(seconds=10))
        db.fetch_value(conn, "select syncsched.check_staleness(%s)", (at + timedelta(seconds=10),))
        (run,) = db.fetch_all(conn, "select run_id, lease_token from syncsched.claim_runs('w', 1)")
        if at == skipped:
            db.execute(
                conn, "select syncsched.fail_run(%s, %s, 'HTTP 404', 404, false)", (run["run_id"], run["lease_token"])
            )
        else:
            db.execute(conn, "select syncsched.complete_run(%s, %s, 200, 'ok')", (run["run_id"], run["lease_token"]))
        # and the looks of the ticks before the next fire time
        for look in (at + (following - at) / 2, following - timedelta(seconds=1)):
            db.fetch_value(conn, "select syncsched.check_staleness(%s)", (look,))
    stale = alerts(conn, "stale")
    assert len(stale) == 1, [a["detail"] for a in stale]
    assert datetime.fromisoformat(stale[0]["detail"]["last_success_for"]) == fires[fires.index(skipped) - 1]
    assert db.fetch_value(conn, "select count(*) from syncsched.alerts_open where kind = 'stale'") == 0


# --- claims ---------------------------------------------------------------------------------------


def test_a_claim_is_fair_over_the_whole_backlog(conn: db.Connection) -> None:
    add(conn, "big", interval_minutes=60)
    add(conn, "small", interval_minutes=60)
    db.execute(
        conn,
        """
        insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
            trigger, max_attempts, not_before)
        select 'big', 'i', 'xledger', now() - g * interval '1 minute', 'big/i/' || g, 'schedule', 3,
            now() - g * interval '1 minute'
        from generate_series(1, 1000) as g
        union all
        select 'small', 'i', 'xledger', now(), 'small/i/1', 'schedule', 3, now()
        """,
    )
    first = db.fetch_all(conn, "select org_id from syncsched.claim_runs('w', 5)")
    assert len(first) == 5 and {"org_id": "small"} in first


def test_organizations_whose_runs_all_wait_do_not_starve_a_ready_one(conn: db.Connection) -> None:
    # 40 organizations in backoff sort before the one with a ready run: a claim window of the first
    # 2 * room + 10 organizations with pending runs held only waiting ones and came back empty.
    db.execute(
        conn,
        """
        insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)
        select 'a' || lpad(g::text, 2, '0'), 'i', 'xledger', 60 from generate_series(1, 40) as g
        union all select 'z', 'i', 'xledger', 60
        """,
    )
    db.execute(
        conn,
        """
        insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
            trigger, max_attempts, not_before)
        select org_id, 'i', 'xledger', now(), org_id || '/i/1', 'schedule', 3,
            case when org_id = 'z' then now() else now() + interval '1 hour' end
        from syncsched.organization_integrations
        """,
    )
    assert db.fetch_all(conn, "select org_id from syncsched.claim_runs('w', 1)") == [{"org_id": "z"}]


# --- one clock ------------------------------------------------------------------------------------


def test_a_tick_at_a_future_instant_reaps_no_live_lease(conn: db.Connection) -> None:
    add(conn, "acme", interval_minutes=60)
    set_next_run(conn, a_minute_ago())
    tick(conn, datetime.now(UTC))
    (claimed,) = db.fetch_all(conn, "select run_id from syncsched.claim_runs('w', 1, interval '5 minutes')")
    db.execute(conn, "call syncsched.tick(%s)", (datetime(2100, 1, 1, tzinfo=UTC),))
    assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "running"
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_attempts") == 0
    # the lease itself is what counts: expired on the wall clock, it is reaped
    db.execute(conn, "update syncsched.sync_run_log set lease_expires_at = now() - interval '1 second'")
    db.execute(conn, "call syncsched.tick(%s)", (datetime(2000, 1, 1, tzinfo=UTC),))
    assert (
        db.fetch_value(conn, "select status::text from syncsched.sync_run_log where run_id = %s", (claimed["run_id"],))
        == "pending"
    )
    assert db.fetch_value(conn, "select outcome from syncsched.sync_run_attempts") == "lost"


# --- plans that hold ------------------------------------------------------------------------------


def nested_plans(conn: db.Connection, statement: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """The plans of every statement run inside `statement`, as auto_explain logs them."""
    plans: list[str] = []
    conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
    for setting in (
        "load 'auto_explain'",
        "set auto_explain.log_min_duration = 0",
        "set auto_explain.log_nested_statements = on",
        "set auto_explain.log_format = 'json'",
        "set auto_explain.log_level = 'notice'",
    ):
        db.execute(conn, setting)
    try:
        db.execute(conn, statement, params)
    finally:
        db.execute(conn, "set auto_explain.log_min_duration = -1")
    return [json.loads(p.split("plan:", 1)[1]) for p in plans if p.startswith("duration:")]


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan node and all the nodes below it."""
    nodes = [node]
    for child in node.get("Plans", []):
        nodes += plan_nodes(child)
    return nodes


@pytest.mark.parametrize("statistics", ["never analyzed", "analyzed empty", "analyzed full"])
def test_the_tick_reads_the_run_log_through_its_indexes_whatever_its_statistics(
    conn: db.Connection, statistics: str
) -> None:
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule)"
        " select 'org' || g, 'i', 'xledger', '0 * * * *' from generate_series(1, 3000) as g",
    )
    # the partitions the tick makes ahead are made (moving rows out of the DEFAULT partition is a
    # scan of it, which the first tick of a populated test log would do)
    db.execute(conn, "select syncsched.ensure_run_log_partitions()")
    if statistics == "analyzed empty":
        db.execute(conn, "analyze syncsched.sync_run_log")  # what autovacuum does to a new install
    db.execute(
        conn,
        """
        insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
            trigger, status, max_attempts, started_at, finished_at, attempt)
        select 'org' || (g %% 3000 + 1), 'i', 'xledger', %s - g * interval '1 hour', 'k' || g, 'schedule',
            'completed', 3, now(), now(), 1
        from generate_series(1, 60000) as g
        """,
        (T0,),
    )
    if statistics == "analyzed full":
        db.execute(conn, "analyze syncsched.sync_run_log")
    set_next_run(conn, T0)
    # batches of 500: the later ones are planned with the runs of the earlier ones in the log
    db.execute(conn, "select syncsched.set_setting('tick_batch_size', '500')")
    plans = nested_plans(conn, "call syncsched.tick(%s)", (T0 + timedelta(seconds=3),))
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where scheduled_for = %s", (T0,)) == 3000
    reads = [
        (plan["Query Text"][:60], node["Node Type"], node["Total Cost"])
        for plan in plans
        for node in plan_nodes(plan["Plan"])
        # (the log's partitions: sync_run_log_p…, sync_run_log_default)
        if str(node.get("Relation Name", "")).startswith("sync_run_log")
    ]
    assert len(reads) > 6, "no plan read the run log"
    # (a scan of an empty log costs nothing: it is where the first batch starts from a truncated log)
    assert [read for read in reads if read[1] == "Seq Scan" and read[2] > 0] == [], (
        "a statement of the tick scanned the whole run log"
    )


def test_open_alerts_are_read_through_an_index_at_100k_alerts(conn: db.Connection) -> None:
    db.execute(
        conn,
        """
        insert into syncsched.scheduler_alerts (kind, alert_key, org_id, integration_id, detail, at, is_condition,
            resolved_at)
        select case when g %% 10 = 0 then 'failing' else 'drift' end,
            case when g %% 10 = 0 then 'failing:' else 'drift:' end || 'org' || (g %% 5000) || '/i',
            'org' || (g %% 5000), 'i', '{}', now() - (g %% 2000) * interval '1 hour', g %% 10 = 0,
            case when g %% 10 = 0 and g > 100 then now() end
        from generate_series(1, 100000) as g
        """,
    )
    db.execute(conn, "analyze syncsched.scheduler_alerts")
    plan = str(db.fetch_value(conn, "explain (format json) select * from syncsched.alerts_open"))
    assert "Seq Scan" not in plan, plan
    assert "scheduler_alerts_open_idx" in plan
    assert db.fetch_value(conn, "select count(*) from syncsched.alerts_open where kind = 'failing'") == 10


def test_recent_runs_reads_the_last_day_through_an_index(conn: db.Connection) -> None:
    add(conn, "acme", interval_minutes=60)
    db.execute(
        conn,
        """
        insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
            trigger, status, max_attempts, enqueued_at, started_at, finished_at, attempt)
        select 'acme', 'i', 'xledger', now() - g * interval '1 minute', 'k' || g, 'schedule', 'completed', 3,
            now() - g * interval '1 minute', now(), now(), 1
        from generate_series(1, 50000) as g
        """,
    )
    db.execute(conn, "analyze syncsched.sync_run_log")
    plan = db.fetch_value(conn, "explain (format json) select run_id from syncsched.recent_runs")[0]["Plan"]
    # (each partition through its copy of sync_run_log_enqueued_at_idx; the empty DEFAULT one costs nothing)
    assert "enqueued_at_idx" in str(plan), plan
    assert [n for n in plan_nodes(plan) if n["Node Type"] == "Seq Scan" and n["Total Cost"] > 0] == [], plan


# --- retention ------------------------------------------------------------------------------------


def test_retention_deletes_in_batches_keeps_the_last_runs_and_every_open_condition(conn: db.Connection) -> None:
    add(conn, "acme", interval_minutes=60)
    add(conn, "beta", interval_minutes=60)
    db.execute(
        conn,
        """
        insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
            trigger, status, max_attempts, started_at, finished_at, attempt)
        select o, 'i', 'xledger', now() - g * interval '1 day', o || g, 'schedule', 'completed', 3,
            now() - g * interval '1 day', now() - g * interval '1 day', 1
        from generate_series(1, 400) as g, unnest(array['acme', 'beta']) as o
        """,
    )
    db.execute(
        conn,
        "insert into syncsched.sync_run_attempts (run_id, scheduled_for, attempt, org_id, outcome, started_at,"
        " finished_at) select run_id, scheduled_for, 1, org_id, 'completed', started_at, finished_at"
        " from syncsched.sync_run_log",
    )
    db.execute(
        conn,
        """
        insert into syncsched.scheduler_alerts (kind, alert_key, org_id, integration_id, at, is_condition, resolved_at)
        values ('failing', 'failing:acme/i', 'acme', 'i', now() - interval '200 days', true, null),
            ('failing', 'failing:beta/i', 'beta', 'i', now() - interval '200 days', true, now()),
            ('drift', 'drift:acme/i', 'acme', 'i', now() - interval '200 days', false, null)
        """,
    )
    notices: list[str] = []
    conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    result = db.fetch_value(conn, "select syncsched.prune_run_log(interval '90 days', 150, 50)")
    # runs finished more than 90 days ago: 310 of each; of those, the ones among the last 150 stay
    assert result["runs"] == 2 * (400 - 150) and result["alerts"] == 2 and result["batches"] > 10
    assert len(notices) == result["batches"] - 1 and notices[0].startswith("syncsched: pruned")
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log") == 300
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_attempts") == 300, "attempts go with runs"
    assert db.fetch_all(conn, "select alert_key from syncsched.scheduler_alerts") == [{"alert_key": "failing:acme/i"}]


# --- a tick across a fall-back that once hung it -------------------------------------------------


def test_a_tick_across_chathams_april_fall_back_finishes_with_exactly_the_rules_runs(conn: db.Connection) -> None:
    from cron_oracle import expected_next

    zone = "Pacific/Chatham"  # 2025-04-06 03:45 +13:45 falls back to 02:45 +12:45
    add(conn, "nz", cron_schedule="*/15 3 * * *", timezone=zone)
    start = datetime.fromisoformat("2025-04-06 03:30:00+13:45")
    set_next_run(conn, start)
    expected, at = [], start
    while at < datetime.fromisoformat("2025-04-06 05:00:00+12:45"):
        expected.append(at)
        found, _source = expected_next("*/15 3 * * *", at, zone)
        assert found is not None
        at = found
    minute = start + timedelta(minutes=1)
    while minute < datetime.fromisoformat("2025-04-06 05:00:00+12:45"):
        db.execute(conn, "set statement_timeout = '10s'")
        result = tick(conn, minute)
        assert result["invalid"] == 0, result
        db.execute(conn, "update syncsched.sync_run_log set status = 'completed', finished_at = now()")
        minute += timedelta(minutes=1)
    assert [r["scheduled_for"] for r in runs(conn)] == expected
    # 03:30 +13:45; at 03:45 +13:45 the clock goes back to 02:45 +12:45; then 03:00 to 03:45 +12:45
    assert len(expected) == 5


# --- runs name their integration ------------------------------------------------------------------


def test_a_delete_racing_a_tick_never_leaves_a_run_without_its_integration(
    conn: db.Connection, syncsched_dsn: str
) -> None:
    """Runs have no foreign key to their integration: a plain DELETE that comes while a tick creates
    a run for it waits for that tick (the schedule's state row), then sees the run and refuses."""
    add(conn, "acme", "nightly", interval_minutes=60)
    set_next_run(conn, a_minute_ago())
    with db.connect(syncsched_dsn, autocommit=False) as ticking, db.connect(syncsched_dsn) as deleting:
        assert tick(ticking, datetime.now(UTC))["triggered"] == 1  # its run inserted, not committed
        outcome: list[BaseException | None] = []

        def delete() -> None:
            try:
                db.execute(deleting, "delete from syncsched.organization_integrations where org_id = 'acme'")
                outcome.append(None)
            except psycopg.Error as exc:
                outcome.append(exc)

        worker = threading.Thread(target=delete)
        worker.start()
        wait_for(lambda: db.fetch_value(conn, WAITING_ON_A_LOCK), 10, "the delete to wait for the tick")
        ticking.commit()
        worker.join(10)
    assert isinstance(outcome[0], psycopg.errors.ObjectInUse), outcome
    assert (
        db.fetch_value(
            conn,
            "select count(*) from syncsched.sync_run_log as r where not exists (select from"
            " syncsched.organization_integrations as o"
            " where (o.org_id, o.integration_id) = (r.org_id, r.integration_id))",
        )
        == 0
    )


WAITING_ON_A_LOCK = """
select exists (
    select from pg_stat_activity where wait_event_type = 'Lock' and query like 'delete from syncsched.%%'
)
"""
