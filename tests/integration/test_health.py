"""Endpoint health, warm-up, the circuit breaker and alerts, with real workers and real local HTTP servers."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from endpoint import Endpoint, Reply, Request
from harness import WorkerProcess, point_types_at, schedule_due, set_next_run, statuses, wait_for
from syncsched import db
from syncsched.localpg import free_port


def add_integration(conn: db.Connection, integration_type: str, org: str = "acme") -> None:
    """An enabled integration that does not fire during a test: it puts its type in use."""
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule)"
        " values (%s, %s, %s, '0 3 1 1 *')",
        (org, f"nightly-{integration_type}", integration_type),
    )


def health(conn: db.Connection, integration_type: str) -> db.Row:
    row = db.fetch_one(conn, "select * from syncsched.endpoint_health where integration_type = %s", (integration_type,))
    assert row is not None
    return row


def alerts(conn: db.Connection, kind: str) -> list[db.Row]:
    return db.fetch_all(conn, "select * from syncsched.scheduler_alerts where kind = %s order by alert_id", (kind,))


def set_webhook(conn: db.Connection, url: str) -> None:
    db.execute(conn, "update syncsched.settings set value = %s where key = 'alert_webhook_url'", (url,))


def no_health_checks_for_an_hour(conn: db.Connection) -> None:
    """Warm-up tests count the requests of warm-ups only."""
    db.execute(conn, "update syncsched.endpoint_health set next_check_at = now() + interval '1 hour'")


def test_two_workers_send_one_check_per_interval_and_back_off_when_it_fails(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    def checks(_request: Request, n: int) -> Reply:
        return Reply(status=200 if n < 4 else 503)

    with Endpoint(health=checks) as endpoint:
        point_types_at(conn, endpoint)
        db.execute(conn, "update syncsched.integration_types set health_check_interval = '1 second'")
        add_integration(conn, "xledger")
        workers()
        workers()
        # 4 good checks a second apart, then failures: the gaps after them are 2, 4 and 8 s
        wait_for(lambda: len(endpoint.probes) >= 8, 40, "eight health checks")
        starts = [p.started for p in endpoint.probes[:8]]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        healthy, failing = gaps[:3], gaps[4:]
        # Each check is scheduled from the moment the previous one was recorded, so a loaded
        # machine only lengthens the gaps: lower bounds hold whatever the load.
        # two workers, one check per interval: never two checks within the interval
        assert all(gap >= 0.9 for gap in healthy), gaps
        # after the 1st, 2nd and 3rd failure: at least 2, 4 and 8 s
        assert all(gap >= 0.95 * 2 ** (k + 1) for k, gap in enumerate(failing)), gaps
        wait_for(lambda: health(conn, "xledger")["consecutive_failures"] == 4, 10, "the fourth failure recorded")
        row = health(conn, "xledger")
        assert row["status"] == "unhealthy"
        # and exactly interval * 2^failures, as the database scheduled it: 16 s after the 4th
        assert (row["next_check_at"] - row["last_check_at"]).total_seconds() == 16.0
        assert len(alerts(conn, "endpoint_unhealthy")) == 1


def test_an_unhealthy_type_holds_its_runs_while_another_completes_and_releases_them_on_recovery(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    down = threading.Event()
    down.set()

    def checks(request: Request, _n: int) -> Reply:
        return Reply(status=503 if down.is_set() and request.path == "/xledger" else 200)

    with Endpoint(health=checks) as endpoint:
        point_types_at(conn, endpoint)
        db.execute(conn, "update syncsched.integration_types set health_check_interval = '1 second'")
        add_integration(conn, "xledger")
        add_integration(conn, "dynamics")
        workers()
        wait_for(lambda: health(conn, "xledger")["status"] == "unhealthy", 20, "xledger to be unhealthy")
        schedule_due(conn, count=2, integration_type="xledger", integration_id="ledger")
        schedule_due(conn, count=2, integration_type="dynamics", integration_id="crm")
        wait_for(
            lambda: (
                db.fetch_value(
                    conn,
                    "select count(*) from syncsched.sync_run_log where integration_type = 'dynamics'"
                    " and status = 'completed'",
                )
                == 2
            ),
            20,
            "the healthy type's runs",
        )
        time.sleep(2)  # a couple of claim rounds and health checks later
        held = db.fetch_all(
            conn, "select status::text, attempt from syncsched.sync_run_log where integration_type = 'xledger'"
        )
        assert held == [{"status": "pending", "attempt": 0}] * 2, "the circuit breaker let a run through"
        assert not [r for r in endpoint.requests if r.path == "/xledger"]
        down.clear()
        wait_for(lambda: statuses(conn) == ["completed"] * 4, 30, "the held runs after the recovery")
        assert len(alerts(conn, "endpoint_recovered")) == 1


def test_passive_mode_three_failed_runs_make_the_type_unhealthy_and_one_success_healthy(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    db.execute(conn, "update syncsched.settings set value = '100 milliseconds' where key = 'retry_backoff_base'")
    with Endpoint(lambda _r, n: Reply(status=500 if n < 3 else 200)) as endpoint:
        point_types_at(conn, endpoint)
        db.execute(conn, "select syncsched.set_endpoint_mode('xledger', 'passive')")
        schedule_due(conn, max_attempts=5)
        workers()
        wait_for(lambda: statuses(conn) == ["completed"], 30, "the run to succeed on its fourth attempt")
        (unhealthy,) = alerts(conn, "endpoint_unhealthy")
        assert unhealthy["detail"]["consecutive_failures"] == 3
        assert len(alerts(conn, "endpoint_recovered")) == 1
        assert health(conn, "xledger")["status"] == "healthy"
        # passive: no health checks, only the one warm-up of the idle endpoint
        assert len(endpoint.probes) <= 1


def test_a_health_check_answered_429_switches_the_type_to_passive(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    with Endpoint(health=lambda _r, _n: Reply(status=429, headers={"Retry-After": "60"})) as endpoint:
        point_types_at(conn, endpoint)
        db.execute(conn, "update syncsched.integration_types set health_check_interval = '1 second'")
        add_integration(conn, "xledger")
        workers("--metrics-port", str(port))
        wait_for(lambda: alerts(conn, "endpoint_passive"), 20, "the endpoint_passive alert")
        time.sleep(3)  # three intervals: a passive type is not pinged again
        assert len(endpoint.probes) == 1
        assert health(conn, "xledger")["mode"] == "passive"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'syncsched_alerts_total{kind="endpoint_passive"} 1.0' in metrics


def test_the_first_call_after_idling_is_preceded_by_exactly_one_warm_up(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        no_health_checks_for_an_hour(conn)
        schedule_due(conn, count=3)  # never used: idle
        workers()
        wait_for(lambda: statuses(conn) == ["completed"] * 3, 20, "three runs")
        (warmup,) = endpoint.probes
        assert warmup.path == "/xledger"
        assert warmup.finished <= min(r.started for r in endpoint.requests), "a call went out before the warm-up"
        # the endpoint is warm now: the next call goes straight out
        db.execute(conn, "select syncsched.run_now('org1', 'ledger')")
        wait_for(lambda: statuses(conn) == ["completed"] * 4, 20, "the fourth run")
        assert len(endpoint.probes) == 1
        assert alerts(conn, "cold_start") == []


def test_a_warm_up_of_six_seconds_is_a_cold_start(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint(health=lambda _r, _n: Reply(delay=6.0)) as endpoint:
        point_types_at(conn, endpoint)
        no_health_checks_for_an_hour(conn)
        schedule_due(conn)
        workers()
        wait_for(lambda: statuses(conn) == ["completed"], 30, "the run after its slow warm-up")
        (cold,) = alerts(conn, "cold_start")
        assert cold["integration_type"] == "xledger" and cold["detail"]["duration_ms"] >= 6000
        (request,) = endpoint.requests
        assert request.started >= endpoint.probes[0].finished, "the call did not wait for the warm-up"


def test_upcoming_runs_are_prewarmed(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        no_health_checks_for_an_hour(conn)
        add_integration(conn, "xledger")
        set_next_run(conn, datetime.now(UTC) + timedelta(seconds=25))
        workers()
        wait_for(lambda: endpoint.probes, 20, "the pre-warm request")
        assert endpoint.requests == []  # warmed ahead of the run, which is not due yet


def test_a_silent_scheduler_raises_scheduler_silent_within_3_to_4_minutes(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    # the last tick, 2 min 50 s ago; then nothing (pg_cron stopped, or its job unscheduled)
    db.execute(conn, "call syncsched.tick()")
    db.execute(
        conn,
        "update syncsched.scheduler_ticks set started_at = started_at - interval '2 minutes 50 seconds',"
        " at = at - interval '2 minutes 50 seconds'",
    )
    worker = workers()
    wait_for(lambda: alerts(conn, "scheduler_silent"), 45, "scheduler_silent")
    (alert,) = alerts(conn, "scheduler_silent")
    assert 180 <= alert["detail"]["silent_for_seconds"] <= 240
    wait_for(lambda: "no scheduler tick since" in worker.output(), 10, "the worker to say so")
    db.execute(conn, "call syncsched.tick()")  # the scheduler is back
    db.execute(conn, "select syncsched.check_scheduler()")
    assert db.fetch_value(conn, "select count(*) from syncsched.alerts_open where kind = 'scheduler_silent'") == 0


def test_webhook_receives_an_alert_once_and_not_again_within_the_hour(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    with Endpoint(lambda _r, _n: Reply(status=404, body="no such company")) as api, Endpoint() as hook:
        point_types_at(conn, api)
        no_health_checks_for_an_hour(conn)
        db.execute(
            conn, "update syncsched.settings set value = %s where key = 'alert_webhook_url'", (hook.url + "/slack",)
        )
        schedule_due(conn)
        workers()
        wait_for(lambda: hook.requests, 20, "the failing alert at the webhook")
        (delivered,) = hook.requests
        assert delivered.body["text"].startswith("syncsched failing: org1/ledger")
        fields = {f["title"]: f["value"] for f in delivered.body["attachments"][0]["fields"]}
        assert fields["kind"] == "failing" and fields["http_status"] == "404"
        # the same alert again, within the hour
        db.execute(conn, "select syncsched.run_now('org1', 'ledger')")
        wait_for(lambda: statuses(conn) == ["failed", "failed"], 20, "the second failure")
        wait_for(
            lambda: db.fetch_value(
                conn, "select count(*) from syncsched.scheduler_alerts where delivery = 'suppressed'"
            ),
            20,
            "the repeat to be suppressed",
        )
        assert len(hook.requests) == 1
        assert json.dumps(delivered.body).count("org1/ledger") >= 1


def test_a_webhook_that_hangs_does_not_delay_runs(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint() as api, Endpoint(lambda _r, _n: Reply(delay=30.0)) as hook:
        point_types_at(conn, api)
        no_health_checks_for_an_hour(conn)
        set_webhook(conn, hook.url)
        db.execute(conn, "select syncsched._alert('drift', null, null, 'xledger', '{}')")
        workers()
        wait_for(lambda: hook.requests, 20, "the webhook call to hang")
        schedule_due(conn, count=5)
        wait_for(lambda: statuses(conn) == ["completed"] * 5, 20, "five runs while the webhook hangs")
        assert hook.requests[0].finished == 0.0, "the webhook answered: the test proved nothing"
