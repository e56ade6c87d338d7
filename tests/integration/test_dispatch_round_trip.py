"""complete_and_claim, the worker's round trip: completions fenced exactly as complete_runs fences
them, and a claim in the same transaction; and the claim's choice when organizations' backlogs differ."""

from __future__ import annotations

import psycopg
import pytest

from syncsched import db

ROUND_TRIP = "select * from syncsched.complete_and_claim(%s, %s, %s, %s, %s, %s)"


def add_runs(conn: db.Connection, org_runs: dict[str, int]) -> None:
    """Pending runs, ready now: `count` per organization."""
    for org, count in org_runs.items():
        db.execute(
            conn,
            "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
            " interval_minutes, is_enabled) values (%s, 'ledger', 'xledger', 60, false)",
            (org,),
        )
        db.execute(
            conn,
            "insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for,"
            " idempotency_key, trigger, max_attempts)"
            " select %s, 'ledger', 'xledger', now() - interval '1 minute', %s || '/' || g, 'schedule', 3"
            " from generate_series(1, %s) as g",
            (org, org, count),
        )


def claim(conn: db.Connection, worker: str, count: int) -> list[db.Row]:
    return db.fetch_all(conn, "select run_id, lease_token, org_id from syncsched.claim_runs(%s, %s)", (worker, count))


def completions(rows: list[db.Row]) -> dict[int, bool]:
    return {row["run_id"]: row["applied"] for row in rows if row["applied"] is not None}


def claimed(rows: list[db.Row]) -> list[int]:
    return [row["run_id"] for row in rows if row["applied"] is None]


def test_a_stale_completion_changes_nothing_and_the_claim_still_goes_ahead(conn: db.Connection) -> None:
    add_runs(conn, {"a": 2, "b": 2})
    held, lost = claim(conn, "w1", 2)
    # another worker holds `lost` now (its lease expired and it was claimed again): w1's token is stale
    db.execute(
        conn,
        "update syncsched.sync_run_log set lease_token = gen_random_uuid(), worker_id = 'w2' where run_id = %s",
        (lost["run_id"],),
    )
    before = db.fetch_one(conn, "select * from syncsched.sync_run_log where run_id = %s", (lost["run_id"],))

    rows = db.fetch_all(
        conn,
        ROUND_TRIP,
        (
            "w1",
            [held["run_id"], lost["run_id"]],
            [held["lease_token"], lost["lease_token"]],
            [200, 200],
            ["ok", "ok"],
            5,
        ),
    )

    assert completions(rows) == {held["run_id"]: True, lost["run_id"]: False}
    after = db.fetch_one(conn, "select * from syncsched.sync_run_log where run_id = %s", (lost["run_id"],))
    assert after == before, "a stale completion changed the run"
    assert after is not None and after["status"] == "running" and after["worker_id"] == "w2"
    assert (
        db.fetch_value(conn, "select status::text from syncsched.sync_run_log where run_id = %s", (held["run_id"],))
        == "completed"
    )
    assert db.fetch_all(
        conn,
        "select detail ->> 'worker_id' as worker, (detail ->> 'run_id')::bigint as run_id"
        " from syncsched.scheduler_alerts where kind = 'stale_write'",
    ) == [{"worker": "w1", "run_id": lost["run_id"]}]
    # the claim part: the two runs still pending, for w1
    mine = claimed(rows)
    assert len(mine) == 2
    assert (
        db.fetch_all(conn, "select status::text, worker_id from syncsched.sync_run_log where run_id = any(%s)", (mine,))
        == [{"status": "running", "worker_id": "w1"}] * 2
    )
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'pending'") == 0


def test_a_round_trip_writes_exactly_what_complete_runs_writes(conn: db.Connection) -> None:
    """The same completions through complete_runs and through complete_and_claim leave the same rows."""
    add_runs(conn, {"a": 2})
    one, two = claim(conn, "w", 2)
    db.fetch_all(
        conn,
        "select * from syncsched.complete_runs(%s, %s, %s, %s, 'w')",
        ([one["run_id"]], [one["lease_token"]], [201], ['{"n": 1}']),
    )
    db.fetch_all(conn, ROUND_TRIP, ("w", [two["run_id"]], [two["lease_token"]], [201], ['{"n": 1}'], 0))
    columns = "status::text, http_status, response_excerpt, error, lease_expires_at, worker_id, attempt"
    first, second = db.fetch_all(conn, f"select {columns} from syncsched.sync_run_log order by run_id")
    assert first == second and first["status"] == "completed"
    assert (
        db.fetch_all(
            conn,
            "select attempt, outcome, http_status, response_excerpt from syncsched.sync_run_attempts order by run_id",
        )
        == [{"attempt": 1, "outcome": "completed", "http_status": 201, "response_excerpt": '{"n": 1}'}] * 2
    )


def test_completions_free_their_places_under_max_concurrency_for_the_claim(conn: db.Connection) -> None:
    db.execute(conn, "update syncsched.integration_types set max_concurrency = 2 where integration_type = 'xledger'")
    add_runs(conn, {"a": 3, "b": 3})
    held = claim(conn, "w", 10)
    assert len(held) == 2
    rows = db.fetch_all(
        conn,
        ROUND_TRIP,
        ("w", [r["run_id"] for r in held], [r["lease_token"] for r in held], [200, 200], ["ok", "ok"], 10),
    )
    assert set(completions(rows).values()) == {True}
    assert len(claimed(rows)) == 2, "the two completed in the same transaction make room for two more"
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'running'") == 2


def test_a_round_trip_with_nothing_to_claim_only_completes(conn: db.Connection) -> None:
    add_runs(conn, {"a": 2})
    (run,) = claim(conn, "w", 1)
    rows = db.fetch_all(conn, ROUND_TRIP, ("w", [run["run_id"]], [run["lease_token"]], [200], ["ok"], 0))
    assert completions(rows) == {run["run_id"]: True} and claimed(rows) == []
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'pending'") == 1


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        (("w", [], [], [], [], -1), "p_max must be 0-10000"),
        (("w", [], [], [], [], 10001), "p_max must be 0-10000"),
        (("w", None, None, None, None, 1), "one run id and one lease token per run"),
        (("", [], [], [], [], 1), "needs a worker id"),
    ],
)
def test_bad_arguments_are_refused_with_22023(conn: db.Connection, params: tuple[object, ...], problem: str) -> None:
    with pytest.raises(psycopg.Error) as caught:
        db.fetch_all(conn, ROUND_TRIP, params)
    assert caught.value.sqlstate == "22023"
    assert problem in str(caught.value)


def test_a_big_backlog_fills_the_claim_and_every_small_organization_gets_its_turn(conn: db.Connection) -> None:
    """The claim reads each organization's share first and more only where the room is not filled:
    a claim larger than the share still fills up from the big backlog, small ones first in turn."""
    db.execute(conn, "update syncsched.integration_types set max_concurrency = 10000")
    add_runs(conn, {"big": 100, **{f"small{n:02}": 1 for n in range(10)}})
    got = claim(conn, "w", 50)
    assert len(got) == 50
    orgs = [r["org_id"] for r in got]
    assert sorted(set(orgs) - {"big"}) == [f"small{n:02}" for n in range(10)]
    assert orgs.count("big") == 40


def test_a_claim_raises_drift_for_late_first_attempts_of_scheduled_runs_only(conn: db.Connection) -> None:
    """Drift alerts come from the rows the claim updated: a scheduled run that starts later than
    drift_alert_threshold raises one; a manual run, or a retry, as late, none."""
    add_runs(conn, {"late": 1, "manual": 1, "retry": 1, "on_time": 1})
    db.execute(
        conn,
        "update syncsched.sync_run_log set drift = interval '10 minutes',"
        " trigger = case org_id when 'manual' then 'manual' else trigger end,"
        " attempt = case org_id when 'retry' then 1 else 0 end,"
        " started_at = case org_id when 'retry' then now() - interval '1 minute' end"
        " where org_id <> 'on_time'",
    )
    assert len(claim(conn, "w", 10)) == 4
    alerts = db.fetch_all(
        conn,
        "select org_id, (detail ->> 'drift_seconds')::numeric >= 600 as late from syncsched.scheduler_alerts"
        " where kind = 'drift'",
    )
    assert alerts == [{"org_id": "late", "late": True}]
