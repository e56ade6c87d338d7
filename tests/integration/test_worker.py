"""`syncsched worker` as a real process against a real PostgreSQL and a real local HTTP endpoint."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from endpoint import Endpoint, Reply, Request
from harness import WorkerProcess, listen_backends, login_role, point_types_at, schedule_due, statuses, wait_for
from syncsched import db


def test_one_run_pending_running_completed(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint(lambda _r, _n: Reply(delay=1.0, body='{"exported": 12}')) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        worker = workers()
        wait_for(lambda: statuses(conn) == ["running"], 20, "the run to be running")
        wait_for(lambda: statuses(conn) == ["completed"], 20, "the run to complete")
        run = db.fetch_one(conn, "select * from syncsched.sync_run_log")
        assert run is not None
        (request,) = endpoint.requests
        assert request.path == "/xledger"
        assert request.headers["Idempotency-Key"] == run["idempotency_key"]
        assert request.body == {
            "run_id": run["run_id"],
            "org_id": "org1",
            "integration_id": "ledger",
            "integration_type": "xledger",
            "scheduled_for": run["scheduled_for"].isoformat(),
            "attempt": 1,
            "idempotency_key": run["idempotency_key"],
            "payload": {"n": 1},
        }
        assert run["http_status"] == 200 and run["response_excerpt"] == '{"exported": 12}'
        assert run["worker_id"] and run["started_at"] <= run["finished_at"]
        assert f"run {run['run_id']} completed: HTTP 200" in worker.output()


def test_500_is_retried_then_failed(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    db.execute(conn, "update syncsched.settings set value = '300 milliseconds' where key = 'retry_backoff_base'")
    with Endpoint(lambda _r, _n: Reply(status=500, body="database is down")) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, max_attempts=3)
        workers()
        wait_for(lambda: statuses(conn) == ["failed"], 30, "the run to fail")
        run = db.fetch_one(conn, "select attempt, error, http_status from syncsched.sync_run_log")
        assert run == {"attempt": 3, "error": "HTTP 500: database is down", "http_status": 500}
        assert len(endpoint.requests) == 3
        assert db.fetch_value(conn, "select count(*) from syncsched.scheduler_alerts where kind = 'failing'") == 1


def test_429_retry_after_is_honoured(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    def behaviour(_request: Request, n: int) -> Reply:
        return Reply(status=429, headers={"Retry-After": "3"}) if n == 0 else Reply()

    with Endpoint(behaviour) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        workers()
        wait_for(lambda: statuses(conn) == ["completed"], 30, "the run to complete after the 429")
        first, second = endpoint.requests
        assert second.started - first.finished >= 3.0


def test_404_fails_at_once(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint(lambda _r, _n: Reply(status=404, body="no such company")) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        workers()
        wait_for(lambda: statuses(conn) == ["failed"], 20, "the run to fail")
        assert len(endpoint.requests) == 1
        assert db.fetch_value(conn, "select attempt from syncsched.sync_run_log") == 1


def test_five_due_are_called_concurrently(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint(lambda _r, _n: Reply(delay=1.5)) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=5)
        workers("--concurrency", "5")
        wait_for(lambda: statuses(conn) == ["completed"] * 5, 30, "five runs to complete")
        assert endpoint.max_active == 5


def test_twenty_due_complete_quickly(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        db.execute(conn, "update syncsched.integration_types set max_concurrency = 20")
        schedule_due(conn, count=20)
        workers("--concurrency", "20")
        # the requirement's bound: all twenty within 50 s
        wait_for(lambda: statuses(conn) == ["completed"] * 20, 50, "twenty runs to complete")


def test_sigterm_drains_in_flight_and_claims_nothing_more(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    with Endpoint(lambda _r, _n: Reply(delay=3.0)) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        worker = workers()
        wait_for(lambda: endpoint.requests, 20, "the call to start")
        worker.signal(signal.SIGTERM)
        time.sleep(0.3)
        db.execute(conn, "select syncsched.run_now('org1', 'ledger', p_force => true)")
        assert worker.wait(timeout=20) == 0
        assert statuses(conn) == ["completed", "pending"], worker.output()
        assert len(endpoint.requests) == 1


def test_killed_worker_run_is_taken_over_after_its_lease(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    with Endpoint(lambda _r, n: Reply(delay=30.0 if n == 0 else 0.0)) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        first = workers("--lease", "5s")
        wait_for(lambda: endpoint.requests, 20, "the first call")
        first.proc.kill()
        first.wait(timeout=10)
        workers("--lease", "5s")  # the shortest lease a worker takes
        # a lease of 5 s plus a worker's start: well within 20 s
        wait_for(lambda: statuses(conn) == ["completed"], 20, "another worker to complete the run")
        run = db.fetch_one(conn, "select attempt, status::text from syncsched.sync_run_log")
        assert run == {"attempt": 2, "status": "completed"}  # the lost attempt counts
        outcomes = db.fetch_all(conn, "select attempt, outcome from syncsched.sync_run_attempts order by attempt")
        assert outcomes == [{"attempt": 1, "outcome": "lost"}, {"attempt": 2, "outcome": "completed"}]
        assert len(endpoint.requests) == 2


def test_worker_started_late_processes_waiting_runs(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=3)
        workers("--poll-interval", "60s")
        # sooner than the first poll (60 s): claimed at once after connecting
        wait_for(lambda: statuses(conn) == ["completed"] * 3, 20, "the waiting runs")


def test_listen_connection_terminated_is_reestablished(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        worker = workers("--poll-interval", "120s")
        wait_for(lambda: "listening on syncsched_runs" in worker.output(), 20, "the worker to listen")
        (backend,) = listen_backends(conn)
        assert db.fetch_value(conn, "select pg_terminate_backend(%s)", (backend,))
        wait_for(lambda: worker.output().count("listening on syncsched_runs") >= 2, 20, "a new LISTEN")
        schedule_due(conn)  # only NOTIFY can wake it within the test: the poll interval is 2 minutes
        wait_for(lambda: statuses(conn) == ["completed"], 15, "the run after the reconnect")


def test_a_notify_on_the_alerts_channel_that_is_no_alert_stops_nothing(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    """Any role may NOTIFY syncsched_alerts. Before, a payload that was JSON but no object ('1')
    raised in the LISTEN task, which ended without a word: no NOTIFY woke the worker again, and its
    /healthz still said listening."""
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        worker = workers("--poll-interval", "120s")
        wait_for(lambda: "listening on syncsched_runs" in worker.output(), 20, "the worker to listen")
        for payload in ("1", "[]", '"x"', "null", '{"kind": 7}', "not json"):
            db.execute(conn, "select pg_notify('syncsched_alerts', %s)", (payload,))
        schedule_due(conn)  # only NOTIFY can wake it within the test: the poll interval is 2 minutes
        wait_for(lambda: statuses(conn) == ["completed"], 15, "the run woken by NOTIFY")


def test_zombie_worker_write_changes_nothing(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint(lambda _r, n: Reply(delay=6.0 if n == 0 else 0.0, body=f"call {n}")) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        zombie = workers("--lease", "5s")
        wait_for(lambda: endpoint.requests, 20, "the first call")
        zombie.signal(signal.SIGSTOP)
        time.sleep(5.5)  # past its lease
        workers("--lease", "5s")
        wait_for(lambda: statuses(conn) == ["completed"], 20, "the second worker to complete the run")
        # resume it once the endpoint has answered its call: the answer is waiting in its socket
        wait_for(lambda: endpoint.requests[0].finished, 20, "the first call's answer")
        zombie.signal(signal.SIGCONT)
        wait_for(lambda: "(stale" in zombie.output() or "lease lost" in zombie.output(), 20, "the zombie to react")
        run = db.fetch_one(conn, "select status::text, response_excerpt from syncsched.sync_run_log")
        assert run == {"status": "completed", "response_excerpt": "call 1"}, "the zombie changed the run"
        # the second call was made while the first worker might still have been calling: said so
        (alert,) = db.fetch_all(conn, "select detail from syncsched.scheduler_alerts where kind = 'possible_duplicate'")
        assert alert["detail"]["lost_by"] != alert["detail"]["claimed_by"]
        assert alert["detail"]["idempotency_key"] == endpoint.requests[0].headers["Idempotency-Key"]
        if "(stale" in zombie.output():  # it wrote before its heartbeat told it the run was gone
            assert (
                db.fetch_value(conn, "select count(*) from syncsched.scheduler_alerts where kind = 'stale_write'") == 1
            )


def http_get(port: int, path: str) -> tuple[int, str]:
    """A worker's /metrics or /healthz: status and body (0 while nothing listens)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_huge_response_is_cut_at_the_cap_and_memory_stays_flat(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    huge = "x" * (50 * 1024 * 1024)
    with Endpoint(lambda _r, _n: Reply(body=huge)) as endpoint:
        point_types_at(conn, endpoint)
        worker = workers()
        wait_for(lambda: "listening on syncsched_runs" in worker.output(), 20, "the worker to start")
        before = rss_kib(worker.proc.pid)
        schedule_due(conn, count=3)
        wait_for(lambda: statuses(conn) == ["completed"] * 3, 60, "three runs with 50 MB answers")
        after = rss_kib(worker.proc.pid)
        lengths = [
            r["n"] for r in db.fetch_all(conn, "select length(response_excerpt) as n from syncsched.sync_run_log")
        ]
        assert lengths == [256 * 1024] * 3
        assert after - before < 30 * 1024, f"worker RSS grew by {(after - before) // 1024} MiB"


def test_an_endpoint_that_never_answers_times_out_and_is_retried(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    db.execute(conn, "update syncsched.settings set value = '100 milliseconds' where key = 'retry_backoff_base'")
    with Endpoint(lambda _r, _n: Reply(delay=20.0)) as endpoint:
        point_types_at(conn, endpoint)
        db.execute(conn, "update syncsched.integration_types set timeout_ms = 1000")
        schedule_due(conn, max_attempts=2)
        workers()
        wait_for(lambda: statuses(conn) == ["failed"], 30, "the run to time out twice")
        assert db.fetch_value(conn, "select error from syncsched.sync_run_log") == "timeout after 1000 ms"
        assert len(endpoint.requests) == 2


@pytest.mark.slow
def test_postgresql_restarted_mid_run(tmp_path: Path) -> None:
    from syncsched import localpg
    from syncsched.migrate import migrate

    with localpg.throwaway() as cluster, Endpoint(lambda _r, _n: Reply(delay=2.0)) as endpoint:
        dsn = cluster.dsn()
        migrate(dsn)
        with db.connect(dsn) as conn:
            point_types_at(conn, endpoint)
            schedule_due(conn, count=3)
        worker = WorkerProcess(dsn, tmp_path / "worker.log")
        try:
            wait_for(lambda: len(endpoint.requests) >= 3, 20, "three calls in flight")
            cluster.restart("fast")
            with db.connect(dsn) as conn:
                wait_for(lambda: statuses(conn) == ["completed"] * 3, 60, "every run to reach a final state")
            assert "LISTEN connection lost" in worker.output()
            assert "database back: connection pool renewed" in worker.output()
        finally:
            worker.stop()


def test_outcomes_kept_through_an_outage_longer_than_the_lease_are_taken_late(
    conn: db.Connection, syncsched_dsn: str, tmp_path: Path
) -> None:
    """Calls answered while the worker cannot reach the database, for longer than their lease, and
    their runs reaped meanwhile (as the tick on a new primary would): the worker keeps the outcomes
    and writes them when it is back, and the runs, not claimed again, take them. Before, the worker
    gave them up and the runs were called a second time."""
    with Endpoint(lambda _r, _n: Reply(delay=1.0)) as endpoint, login_role(conn, "syncsched_worker") as role:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=3)
        worker = WorkerProcess(f"{syncsched_dsn} user={role}", tmp_path / "worker.log", "--lease", "5s")
        try:
            wait_for(lambda: len(endpoint.requests) >= 3, 20, "three calls in flight")
            # cut off: no new connection for the role, the ones it has closed
            db.execute(conn, f"alter role {role} nologin")
            db.execute(conn, "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (role,))
            wait_for(lambda: all(r.finished for r in endpoint.requests), 20, "the calls to be answered")
            live = "select count(*) from syncsched.sync_run_log where lease_expires_at > now()"
            wait_for(lambda: db.fetch_value(conn, live) == 0, 20, "the leases to expire")
            assert db.fetch_value(conn, "select syncsched.reap_expired_runs()") == 3
            db.execute(conn, f"alter role {role} login")
            wait_for(lambda: statuses(conn) == ["completed"] * 3, 30, "the runs to take the late outcomes")
            attempts = db.fetch_all(conn, "select attempt, outcome from syncsched.sync_run_attempts")
            # (the pool may find the database before the LISTEN connection's next try)
            back = "database back: connection pool renewed"
            wait_for(lambda: back in worker.output(), 10, "the LISTEN connection back")
        finally:
            worker.stop()
    assert len(endpoint.requests) == 3, "no run was called twice"
    assert attempts == [{"attempt": 1, "outcome": "completed"}] * 3


def test_a_worker_whose_pool_gets_no_connection_fails_healthz(
    conn: db.Connection, syncsched_dsn: str, tmp_path: Path
) -> None:
    """Its LISTEN connection up, but no connection for claims and writes (max_connections used up by
    others, as measured with 5 workers on 20 connections): /healthz says so, and the log."""

    from syncsched.localpg import free_port

    def healthz() -> tuple[int, str]:
        return http_get(port, "/healthz")

    port = free_port()
    with login_role(conn, "syncsched_worker") as role:
        worker = WorkerProcess(f"{syncsched_dsn} user={role}", tmp_path / "worker.log", "--metrics-port", str(port))
        try:
            wait_for(lambda: healthz()[0] == 200, 20, "a healthy worker")
            (listener,) = listen_backends(conn)
            db.execute(conn, f"alter role {role} nologin")
            db.execute(
                conn,
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s and pid <> %s",
                (role, listener),
            )
            _status, text = wait_for(lambda: healthz() if healthz()[0] == 503 else None, 40, "/healthz to fail")
            assert text.startswith("no database connection for claims and status writes for "), text
            assert "claim failed: couldn't get a connection after 5.00 sec" in worker.output()
            db.execute(conn, f"alter role {role} login")
            wait_for(lambda: healthz()[0] == 200, 30, "healthy again")
        finally:
            worker.stop()


def test_metrics_healthz_and_json_logs(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    import json

    from syncsched.localpg import free_port

    def behaviour(request: Request, _n: int) -> Reply:
        return Reply(status=404) if request.body["org_id"] == "org3" else Reply()

    port = free_port()
    with Endpoint(behaviour) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=3)
        worker = workers("--metrics-port", str(port), "--log-format", "json")
        wait_for(lambda: sorted(statuses(conn)) == ["completed", "completed", "failed"], 20, "three outcomes")

        def get(path: str) -> tuple[int, str]:
            return http_get(port, path)

        _status, text = wait_for(lambda: get("/healthz") if get("/healthz")[0] == 200 else None, 20, "healthz 200")
        assert text.startswith("ok")
        _, metrics = get("/metrics")
        assert 'syncsched_runs_total{integration_type="xledger",outcome="completed"} 2.0' in metrics
        assert 'syncsched_runs_total{integration_type="xledger",outcome="failed"} 1.0' in metrics
        assert 'syncsched_http_responses_total{integration_type="xledger",status="404"} 1.0' in metrics
        assert 'syncsched_drift_seconds_count{integration_type="xledger"} 3.0' in metrics
        assert 'syncsched_call_duration_seconds_count{integration_type="xledger"} 3.0' in metrics
        assert "syncsched_in_flight 0.0" in metrics
        assert 'syncsched_pending{integration_type="xledger"}' in metrics
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
        lines = [json.loads(line) for line in worker.output().splitlines() if line.strip()]
        assert any("completed: HTTP 200" in line["message"] for line in lines)
        assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)


def test_an_unresponsive_listen_connection_is_replaced_within_30_s(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        worker = workers("--poll-interval", "120s")
        wait_for(lambda: "listening on syncsched_runs" in worker.output(), 20, "the worker to listen")
        (backend,) = listen_backends(conn)
        # a stopped backend keeps its TCP connection open: half-open as far as the worker can tell
        os.kill(backend, signal.SIGSTOP)
        try:
            # the requirement's bound: a half-open connection is replaced within 30 s
            wait_for(lambda: worker.output().count("listening on syncsched_runs") >= 2, 30, "a new LISTEN")
        finally:
            os.kill(backend, signal.SIGCONT)
        schedule_due(conn)
        wait_for(lambda: statuses(conn) == ["completed"], 15, "the run, woken by NOTIFY on the new connection")


def test_log_runs_failures_leaves_out_each_start_and_success(
    conn: db.Connection, syncsched_dsn: str, tmp_path: Path
) -> None:
    """SYNCSCHED_LOG_RUNS=failures: a line for what went wrong, none for each run that went right."""
    with Endpoint(lambda request, _n: Reply(status=404) if request.body["org_id"] == "org2" else Reply()) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=2)
        worker = WorkerProcess(syncsched_dsn, tmp_path / "worker.log", env={"SYNCSCHED_LOG_RUNS": "failures"})
        try:
            wait_for(lambda: statuses(conn) == ["completed", "failed"], 20, "a success and a failure")
        finally:
            worker.stop()
    failed = db.fetch_value(conn, "select run_id from syncsched.sync_run_log where status = 'failed'")
    log = worker.output()
    assert f"run {failed} failed: HTTP 404" in log
    assert " running: " not in log and " completed: " not in log
    bad = WorkerProcess(syncsched_dsn, tmp_path / "bad.log", env={"SYNCSCHED_LOG_RUNS": "some"})
    assert bad.wait(timeout=20) == 2
    assert bad.output().strip() == "syncsched: error: --log-runs must be all or failures, not 'some'"
