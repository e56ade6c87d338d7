"""The pipelined worker against a real PostgreSQL and a real endpoint that counts what overlaps:
--concurrency and a type's max_concurrency hold whatever the round trips in flight; expired
leases come back on the workers' own cadence, whether or not anything is claimed."""

from __future__ import annotations

from collections.abc import Callable

from endpoint import Endpoint, Reply, Request
from harness import WorkerProcess, most_at_once, point_types_at, schedule_due, statuses, wait_for
from syncsched import db


def test_pipelined_workers_keep_to_their_concurrency_and_to_a_types_max_concurrency(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    db.execute(conn, "update syncsched.integration_types set max_concurrency = 3 where integration_type = 'xledger'")
    with Endpoint(lambda _r, _n: Reply(delay=0.05)) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=60, integration_type="xledger", integration_id="ledger")
        schedule_due(conn, count=60, integration_type="dynamics", integration_id="crm")
        workers("--concurrency", "6", "--worker-id", "six")
        workers("--concurrency", "4", "--worker-id", "four")
        wait_for(lambda: statuses(conn) == ["completed"] * 120, 120, "120 runs to complete")
        requests = list(endpoint.requests)
    assert len(requests) == 120
    by_worker = {name: [r for r in requests if f"({name})" in r.headers["User-Agent"]] for name in ("six", "four")}
    assert most_at_once(by_worker["six"]) <= 6
    assert most_at_once(by_worker["four"]) <= 4
    assert most_at_once(r for r in requests if r.path == "/xledger") <= 3, "max_concurrency 3 across both workers"
    # the caps hold the calls down, not a serial worker: several were in flight at once
    assert most_at_once(requests) > 3
    assert all(by_worker.values())


def test_an_expired_lease_is_reaped_within_a_lease_while_no_worker_claims(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    """A worker that is full claims nothing; the run of a worker that died still comes back."""

    def behaviour(request: Request, _n: int) -> Reply:
        return Reply(delay=60.0 if request.body["org_id"] == "org1" else 0.0)

    with Endpoint(behaviour) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=1)
        worker = workers("--concurrency", "1")
        wait_for(lambda: endpoint.requests, 20, "the long call")
        # a run that a worker which has since died claimed with a lease of 5 s
        schedule_due(conn, count=1, integration_id="other")
        (lost,) = db.fetch_all(conn, "select run_id from syncsched.claim_runs('dead', 1, interval '5 seconds')")

        def reaped() -> db.Row | None:
            return db.fetch_one(
                conn,
                "select a.outcome, a.worker_id, r.status::text as status"
                " from syncsched.sync_run_attempts as a join syncsched.sync_run_log as r using (run_id)"
                " where a.run_id = %s",
                (lost["run_id"],),
            )

        # its lease of 5 s, then within another (the tick, which also reaps, does not run here)
        attempt = wait_for(reaped, 10, "the expired lease to be reaped")
        assert attempt["outcome"] == "lost" and attempt["worker_id"] == "dead"
        assert attempt["status"] == "pending"  # and nobody claimed it: the only worker is full
        assert len(endpoint.requests) == 1
        assert worker.proc.poll() is None
