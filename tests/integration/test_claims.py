"""claim_runs under concurrency: many sessions claiming at once, against a real PostgreSQL."""

from __future__ import annotations

import json
import threading
import time

from harness import claim_concurrently
from syncsched import db

LOAD = """
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
    trigger, max_attempts)
select 'org' || (g %% 20), 'ledger', %s, now() - interval '1 minute', %s || '/' || g, 'schedule', 1
from generate_series(1, %s) as g
"""


def add_runs(conn: db.Connection, count: int, integration_type: str = "xledger") -> None:
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes,"
        " is_enabled) select 'org' || g, 'ledger', 'xledger', 60, false from generate_series(0, 19) as g"
        " on conflict do nothing",
    )
    db.execute(conn, LOAD, (integration_type, integration_type, count))


def test_concurrent_claims_hand_out_each_run_once_and_never_come_back_empty(
    conn: db.Connection, syncsched_dsn: str
) -> None:
    db.execute(conn, "update syncsched.integration_types set max_concurrency = 10000")
    add_runs(conn, 2000)
    got = claim_concurrently(syncsched_dsn, sessions=6, per_claim=25, rounds=10)
    claimed = [run_id for ids in got for run_id in ids]
    assert len(claimed) == len(set(claimed)), "a run was handed to two claims"
    # 6 x 10 claims of 25 from 2,000 ready runs: claims take turns instead of failing
    assert len(claimed) == 6 * 10 * 25
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'running'") == 1500


def test_max_concurrency_holds_across_concurrent_claims(conn: db.Connection, syncsched_dsn: str) -> None:
    db.execute(conn, "update syncsched.integration_types set max_concurrency = 37 where integration_type = 'xledger'")
    add_runs(conn, 500)
    got = claim_concurrently(syncsched_dsn, sessions=6, per_claim=10, rounds=5)
    assert sum(len(ids) for ids in got) == 37
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'running'") == 37


def test_claims_and_completions_never_scan_the_run_log(conn: db.Connection) -> None:
    """A long history and a backlog must not slow the worker's path: every statement reads through
    an index, on plans built from real statistics."""
    add_runs(conn, 5000)
    db.execute(
        conn,
        "insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for,"
        " idempotency_key, trigger, status, max_attempts, started_at, finished_at)"
        " select 'org' || (g %% 20), 'ledger', 'xledger', now() - g * interval '1 minute', 'history/' || g,"
        " 'schedule', 'completed', 1, now(), now() from generate_series(1, 20000) as g",
    )
    db.execute(conn, "update syncsched.integration_types set max_concurrency = 10000")
    db.execute(conn, "analyze syncsched.sync_run_log")

    # (of the partitions that hold the runs: an empty one may be read whole for nothing)
    holding = db.fetch_value(conn, "select array_agg(distinct tableoid) from syncsched.sync_run_log")

    def seq_scans() -> int:
        db.execute(conn, "select pg_stat_force_next_flush()")
        return int(
            db.fetch_value(conn, "select sum(seq_scan) from pg_stat_user_tables where relid = any(%s)", (holding,))
        )

    before = seq_scans()
    for _ in range(12):  # past the fifth call: PL/pgSQL's cached generic plans, as a worker runs them
        rows = db.fetch_all(conn, "select run_id, lease_token from syncsched.claim_runs('w', 5)")
        db.fetch_all(
            conn,
            "select * from syncsched.complete_runs(%s, %s, %s, %s)",
            ([r["run_id"] for r in rows], [r["lease_token"] for r in rows], [200] * len(rows), ["ok"] * len(rows)),
        )
    assert seq_scans() == before, "a claim or a completion scanned the whole run log"


def test_claims_completions_and_failures_tell_watchers_on_their_own_channel(
    conn: db.Connection, syncsched_dsn: str
) -> None:
    """A live view (the console) learns that runs moved; the workers' channel stays quiet."""
    add_runs(conn, 3)
    with db.connect(syncsched_dsn) as watcher:
        db.execute(watcher, "listen syncsched_run_events")
        db.execute(watcher, "listen syncsched_runs")
        claimed = db.fetch_all(conn, "select run_id, lease_token from syncsched.claim_runs('w', 3)")
        first, second, third = claimed
        db.fetch_all(
            conn,
            "select * from syncsched.complete_runs(%s, %s, array[200, 200], array['ok', 'ok'], 'w')",
            ([first["run_id"], second["run_id"]], [first["lease_token"], second["lease_token"]]),
        )
        db.fetch_value(
            conn,
            "select syncsched.fail_run(%s, %s, 'HTTP 400', 400, false)",
            (third["run_id"], third["lease_token"]),
        )
        heard = [(n.channel, json.loads(n.payload)) for n in watcher.notifies(timeout=1, stop_after=4)]
    assert heard == [
        ("syncsched_run_events", {"what": "claimed", "runs": 3}),
        ("syncsched_run_events", {"what": "completed", "runs": 2}),
        ("syncsched_run_events", {"what": "failed", "runs": 1}),
    ]


def test_claims_health_checks_and_prewarming_never_deadlock(conn: db.Connection, syncsched_dsn: str) -> None:
    """Every claim of a type takes the type's claim lock before the type's endpoint row, in name order:
    claims of runs, health checks and pre-warming at once never wait on each other in a circle."""
    db.execute(
        conn,
        "update syncsched.integration_types set max_concurrency = 10000, rate_limit = 100000,"
        " health_check_interval = '1 second'",
    )
    for kind in ("xledger", "dynamics", "bufdir"):
        add_runs(conn, 300, kind)
    db.execute(conn, "update syncsched.organization_integrations set is_enabled = true")
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def session(n: int) -> None:
        try:
            with db.connect(syncsched_dsn) as own:
                barrier.wait()
                for _ in range(40):
                    # the endpoints idle again and due a check: every call has work to do (rows another
                    # session holds are left alone: this reset must not wait on anyone itself)
                    db.execute(
                        own,
                        "update syncsched.endpoint_health set last_used_at = now() - interval '1 hour',"
                        " next_check_at = now() - interval '1 second' where integration_type in ("
                        " select integration_type from syncsched.endpoint_health for update skip locked)",
                    )
                    if n % 2:
                        db.fetch_all(own, "select * from syncsched.claim_runs(%s, 5)", (f"w{n}",))
                    else:
                        db.fetch_all(own, "select * from syncsched.claim_health_checks(%s, 10)", (f"w{n}",))
                        db.fetch_all(own, "select * from syncsched.claim_prewarm('1 hour')")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], errors[:3]


HOLDS = {
    "an answer 429": "rate_limited_until = now() + interval '1 minute'",
    "a pause of its dispatch": "dispatch_paused = true",
}


def test_a_hold_committed_while_a_claim_waits_for_its_turn_holds_that_claim(
    conn: db.Connection, syncsched_dsn: str
) -> None:
    """A claim picks the types it will serve before it waits for their claim locks: a 429 (or a pause)
    recorded meanwhile, by the session that held the lock, must hold it all the same."""
    add_runs(conn, 5)
    db.execute(conn, "update syncsched.organization_integrations set is_enabled = true")
    db.execute(conn, "update syncsched.endpoint_health set next_check_at = now() - interval '1 second'")
    claims = {
        "runs": "select count(*) from syncsched.claim_runs('w', 5)",
        "health checks": "select count(*) from syncsched.claim_health_checks('w', 5)"
        " where integration_type = 'xledger'",
    }
    for hold, change in HOLDS.items():
        for what, claim in claims.items():
            if what == "health checks" and hold != "an answer 429":
                continue  # a paused dispatch holds runs only
            got: list[int] = []
            with db.connect(syncsched_dsn, autocommit=False) as holder, db.connect(syncsched_dsn) as claimer:
                db.execute(holder, f"update syncsched.dispatch_state set {change} where integration_type = 'xledger'")
                waiter = threading.Thread(target=lambda c=claimer, q=claim, g=got: g.append(db.fetch_value(c, q)))
                waiter.start()
                deadline = time.monotonic() + 10
                while not db.fetch_value(conn, WAITING_FOR_ITS_TURN) and time.monotonic() < deadline:
                    time.sleep(0.02)
                holder.commit()
                waiter.join(10)
            assert got == [0], f"{what} claimed after {hold} committed while the claim waited"
            db.execute(
                conn,
                "update syncsched.dispatch_state set rate_limited_until = null, dispatch_paused = false"
                " where integration_type = 'xledger'",
            )


WAITING_FOR_ITS_TURN = """
select exists (
    select from pg_stat_activity where wait_event_type = 'Lock' and query like 'select count(*) from syncsched.claim%%'
)
"""


def seconds_to_next_claim(conn: db.Connection) -> int | None:
    return db.fetch_value(conn, "select round(extract(epoch from syncsched.next_claim_at() - now()))::int")


def request_sent(conn: db.Connection, seconds_ago: int) -> None:
    """One xledger request counted against its budget `seconds_ago`."""
    db.execute(
        conn,
        "insert into syncsched.request_ledger (integration_type, at, requests)"
        " values ('xledger', now() - %s * interval '1 second', 1)",
        (seconds_ago,),
    )


def test_next_claim_at_is_when_time_alone_releases_a_run(conn: db.Connection) -> None:
    """A worker whose claim came back short sleeps until next_claim_at, not its whole poll interval:
    a backoff ending, a 429's Retry-After passing, a spent budget's window moving on; never what
    waits on an event (a pause, an open circuit)."""
    add_runs(conn, 2)
    assert seconds_to_next_claim(conn) is None, "runs ready now: a claim takes them, nothing waits on time"
    db.execute(conn, "update syncsched.sync_run_log set not_before = now() + interval '40 seconds'")
    assert seconds_to_next_claim(conn) == 40, "a retry backoff (or a spread offset) ending"
    db.execute(
        conn,
        "update syncsched.dispatch_state set rate_limited_until = now() + interval '7 seconds'"
        " where integration_type = 'xledger'",
    )
    assert seconds_to_next_claim(conn) == 7, "a 429's Retry-After passing"
    db.execute(conn, "update syncsched.dispatch_state set rate_limited_until = null")
    db.execute(
        conn,
        "update syncsched.integration_types set rate_limit = 2, rate_window = '10 seconds'"
        " where integration_type = 'xledger'",
    )
    request_sent(conn, 5)
    db.execute(conn, "update syncsched.endpoint_health set last_used_at = now()")
    assert seconds_to_next_claim(conn) == 40, "a budget with room left holds nothing"
    db.execute(conn, "update syncsched.endpoint_health set last_used_at = null")
    assert seconds_to_next_claim(conn) == 6, "unless an idle endpoint's warm-up would take the last request"
    db.execute(conn, "update syncsched.endpoint_health set last_used_at = now()")
    request_sent(conn, 2)
    assert seconds_to_next_claim(conn) == 6, "a spent budget: its oldest request leaves the window (10 s + 1 s)"
    db.execute(conn, "select syncsched.pause_dispatch('xledger')")
    assert seconds_to_next_claim(conn) is None, "a paused type waits for its resume"
    db.execute(conn, "select syncsched.resume_dispatch('xledger')")
    db.execute(
        conn,
        "update syncsched.endpoint_health set status = 'unhealthy', mode = 'active' where integration_type = 'xledger'",
    )
    assert seconds_to_next_claim(conn) is None, "an open circuit waits for a health check that succeeds"


def test_a_resumed_dispatch_and_a_closed_circuit_wake_the_workers(conn: db.Connection, syncsched_dsn: str) -> None:
    """What an event releases (not time) is told on the workers' channel: they claim at once."""
    db.execute(conn, "select syncsched.pause_dispatch('xledger')")
    db.execute(conn, "update syncsched.endpoint_health set status = 'unhealthy' where integration_type = 'dynamics'")
    with db.connect(syncsched_dsn) as worker:
        db.execute(worker, "listen syncsched_runs")
        db.execute(conn, "select syncsched.resume_dispatch('xledger')")
        db.execute(conn, "select syncsched.resume_dispatch('xledger')")  # not paused: no news
        db.execute(conn, "select syncsched.record_health_check('dynamics', true, 200)")
        db.execute(conn, "select syncsched.record_health_check('dynamics', true, 200)")  # healthy already
        heard = [json.loads(n.payload) for n in worker.notifies(timeout=1, stop_after=3)]
    assert heard == [{"resumed": "xledger"}, {"recovered": "dynamics"}]
