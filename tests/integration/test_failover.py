"""A run whose worker lost its lease mid-call: its late completion is taken while no other claim has
the run, and a claim of it while its first worker may still be calling is a possible_duplicate alert."""

from __future__ import annotations

from typing import Any

from harness import schedule_due
from syncsched import db


def claim(conn: db.Connection, worker: str) -> dict[str, Any]:
    (run,) = db.fetch_all(conn, "select run_id, lease_token, attempt from syncsched.claim_runs(%s, 1)", (worker,))
    return run


def lose_lease(conn: db.Connection, run_id: int) -> None:
    """The run's lease expires (its worker cut off from the database) and the reaper takes it back."""
    db.execute(
        conn,
        "update syncsched.sync_run_log set lease_expires_at = now() - interval '1 second' where run_id = %s",
        (run_id,),
    )
    assert db.fetch_value(conn, "select syncsched.reap_expired_runs()") == 1


def complete(conn: db.Connection, run: dict[str, Any], worker: str) -> bool:
    return bool(
        db.fetch_value(
            conn,
            "select syncsched.complete_run(%s, %s, 200, 'late', %s)",
            (run["run_id"], run["lease_token"], worker),
        )
    )


def alerts(conn: db.Connection, kind: str) -> list[dict[str, Any]]:
    return db.fetch_all(
        conn, "select alert_key, detail from syncsched.scheduler_alerts where kind = %s order by alert_id", (kind,)
    )


def test_a_late_completion_is_taken_while_the_run_is_not_claimed_again(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=3)
    run = claim(conn, "w1")
    lose_lease(conn, run["run_id"])
    assert complete(conn, run, "w1"), "the reaped run was not claimed again: its outcome is taken"
    row = db.fetch_one(conn, "select status::text, attempt, response_excerpt from syncsched.sync_run_log")
    assert row == {"status": "completed", "attempt": 1, "response_excerpt": "late"}
    attempts = db.fetch_all(conn, "select attempt, outcome, worker_id, error from syncsched.sync_run_attempts")
    assert attempts == [
        {
            "attempt": 1,
            "outcome": "completed",
            "worker_id": "w1",
            "error": "completed: the outcome was written after the lease expired",
        }
    ]
    assert db.fetch_all(conn, "select run_id from syncsched.claim_runs('w2', 1)") == [], "nothing left to call again"
    assert alerts(conn, "stale_write") == [] and alerts(conn, "possible_duplicate") == []


def test_a_late_completion_of_a_last_attempt_turns_failed_into_completed(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=1)
    run = claim(conn, "w1")
    lose_lease(conn, run["run_id"])
    assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "failed"
    assert db.fetch_value(conn, "select count(*) from syncsched.scheduler_alerts where kind = 'failing' and is_open")
    assert complete(conn, run, "w1")
    assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "completed"
    assert not db.fetch_value(
        conn, "select count(*) from syncsched.scheduler_alerts where kind = 'failing' and is_open"
    ), "the completion resolves the failing alert"


def test_a_run_claimed_again_after_a_lost_lease_is_a_possible_duplicate(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=3)
    first = claim(conn, "w1")
    lose_lease(conn, first["run_id"])
    second = claim(conn, "w2")
    assert second["run_id"] == first["run_id"] and second["attempt"] == 2
    (alert,) = alerts(conn, "possible_duplicate")
    key = db.fetch_value(conn, "select idempotency_key from syncsched.sync_run_log")
    assert alert["alert_key"] == "possible_duplicate:org1/ledger"
    assert alert["detail"]["idempotency_key"] == key
    assert (alert["detail"]["lost_by"], alert["detail"]["claimed_by"]) == ("w1", "w2")
    assert (
        f"(Idempotency-Key {key}) claimed again by worker w2 after worker w1 lost its lease"
        in (alert["detail"]["problem"])
    )
    # the first worker's outcome now comes too late: the second claim holds the run
    assert not complete(conn, first, "w1")
    assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "running"
    assert complete(conn, second, "w2")


def test_a_run_given_back_or_failed_is_claimed_again_without_an_alert(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=3)
    run = claim(conn, "w1")
    assert db.fetch_value(conn, "select syncsched.release_run(%s, %s, 'w1')", (run["run_id"], run["lease_token"]))
    run = claim(conn, "w2")
    failed = "select syncsched.fail_run(%s, %s, 'HTTP 503', 503, true, null, 'w2')"
    assert db.fetch_value(conn, failed, (run["run_id"], run["lease_token"]))
    db.execute(conn, "update syncsched.sync_run_log set not_before = now()")  # its backoff over
    assert claim(conn, "w3")["attempt"] == 3
    assert alerts(conn, "possible_duplicate") == []
    assert not complete(conn, run, "w2"), "a token given up with its attempt is no longer taken"

