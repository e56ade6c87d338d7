"""What a running worker tells its operator: the fields of its JSON log lines, and its /metrics."""

from __future__ import annotations

import json
import signal
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from endpoint import Endpoint, Reply, Request
from harness import WorkerProcess, point_types_at, schedule_due, statuses, wait_for
from syncsched import db
from syncsched.localpg import free_port

TRANSITION_FIELDS = {
    "run_id",
    "org_id",
    "integration_id",
    "integration_type",
    "attempt",
    "status",
    "http_status",
    "duration_ms",
    "worker_id",
}


def test_json_log_lines_carry_the_fields_of_each_transition(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    db.execute(conn, "update syncsched.settings set value = '100 milliseconds' where key = 'retry_backoff_base'")
    calls: Counter[str] = Counter()

    def behaviour(request: Request, _n: int) -> Reply:
        org = request.body["org_id"]
        calls[org] += 1
        if org == "org2" and calls[org] == 1:
            return Reply(status=500, body="try again")
        return Reply(status=404, body="no such company") if org == "org3" else Reply()

    with Endpoint(behaviour) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, count=3)
        worker = workers("--log-format", "json", "--worker-id", "json-worker")
        wait_for(lambda: sorted(statuses(conn)) == ["completed", "completed", "failed"], 30, "three outcomes")
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    lines = [json.loads(line) for line in worker.output().splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    transitions = [line for line in lines if "run_id" in line]
    assert all(set(line) >= TRANSITION_FIELDS for line in transitions), transitions
    run_ids = {
        row["org_id"]: row["run_id"] for row in db.fetch_all(conn, "select org_id, run_id from syncsched.sync_run_log")
    }

    def moves(org: str) -> list[tuple[int, str, int | None]]:
        mine = [line for line in transitions if line["org_id"] == org]
        assert all(line["run_id"] == run_ids[org] for line in mine)
        assert all(
            line["integration_id"] == "ledger"
            and line["integration_type"] == "xledger"
            and line["worker_id"] == "json-worker"
            for line in mine
        )
        return [(line["attempt"], line["status"], line["http_status"]) for line in mine]

    assert moves("org1") == [(1, "running", None), (1, "completed", 200)]
    assert moves("org2") == [(1, "running", None), (1, "pending", 500), (2, "running", None), (2, "completed", 200)]
    assert moves("org3") == [(1, "running", None), (1, "failed", 404)]
    for line in transitions:
        if line["status"] == "running":
            assert line["duration_ms"] is None
        else:
            assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0
    failed = next(line for line in transitions if line["status"] == "failed")
    assert failed["error"] == "HTTP 404: no such company"
    assert failed["message"] == f"run {run_ids['org3']} failed: HTTP 404: no such company"


Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> tuple[str, Series]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, series


def value(series: Series, name: str, **labels: str) -> float:
    return series[(name, frozenset(labels.items()))]


def endpoint_status(conn: db.Connection, integration_type: str) -> Any:
    return db.fetch_value(
        conn, "select status from syncsched.endpoint_health where integration_type = %s", (integration_type,)
    )


def test_metrics_show_health_circuits_holds_the_last_tick_and_pending_as_of_the_scrape(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    def checks(request: Request, _n: int) -> Reply:
        return Reply(status=503 if request.path == "/xledger" else 200)

    def runs(request: Request, _n: int) -> Reply:
        wait = {"Retry-After": "600"}
        if request.path == "/bufdir":
            return Reply(status=429, headers=wait)  # holds the whole type
        return Reply(status=503, headers=wait) if request.path == "/payroll" else Reply()

    port = free_port()
    with Endpoint(runs, health=checks) as endpoint:
        db.execute(
            conn,
            "insert into syncsched.integration_types (integration_type, endpoint_url) values ('payroll', 'http://127.0.0.1/')",
        )
        point_types_at(conn, endpoint)
        db.execute(conn, "update syncsched.integration_types set health_check_interval = '1 second'")
        db.execute(conn, "select syncsched.pause_dispatch('dynamics')")
        db.execute(
            conn,
            "update syncsched.integration_types set rate_limit = 1000, rate_window = '1 hour'"
            " where integration_type = 'bufdir'",
        )
        schedule_due(conn, count=1, integration_type="bufdir", integration_id="grants")
        schedule_due(conn, count=1, integration_type="payroll", integration_id="salaries")
        schedule_due(conn, count=3, integration_type="dynamics", integration_id="crm")
        db.execute(conn, "select syncsched.pause_scheduling('payroll')")
        # xledger in use (so its health is checked), its runs due once its circuit is open
        db.execute(
            conn,
            "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
            " cron_schedule) values ('acme', 'nightly', 'xledger', '0 3 1 1 *')",
        )
        workers("--metrics-port", str(port))
        wait_for(lambda: endpoint_status(conn, "xledger") == "unhealthy", 30, "xledger's circuit to open")
        schedule_due(conn, count=2, integration_type="xledger", integration_id="ledger")
        wait_for(lambda: endpoint_status(conn, "bufdir") == "healthy", 30, "bufdir's health check")
        wait_for(lambda: endpoint_status(conn, "dynamics") == "healthy", 30, "dynamics' health check")
        wait_for(lambda: endpoint_status(conn, "payroll") == "healthy", 30, "payroll's health check")
        # bufdir's and payroll's runs were answered 429 and 503 with a Retry-After of 10 minutes: pending
        wait_for(
            lambda: db.fetch_value(conn, "select count(*) from syncsched.sync_run_attempts") == 2, 30, "429 and 503"
        )
        # the last tick an hour ago, as the worker's next look at the scheduler sees it
        db.execute(
            conn,
            "update syncsched.scheduler_ticks set at = at - interval '1 hour',"
            " started_at = started_at - interval '1 hour', finished_at = finished_at - interval '1 hour'",
        )
        wait_for(
            lambda: scrape(port)[1][("syncsched_last_tick_age_seconds", frozenset())] >= 3600, 40, "the tick's age"
        )
        text, series = scrape(port)
        bufdir_seen = len([r for r in endpoint.requests + endpoint.probes if r.path == "/bufdir"])
        assert not [r for r in endpoint.requests if r.path == "/xledger"], "the circuit breaker let a run through"

    assert "_created" not in text
    assert value(series, "syncsched_database_connected") == 1
    assert 3600 <= value(series, "syncsched_last_tick_age_seconds") < 3600 + 600
    expected = {
        # type: pending, held (reason: count), circuit open, dispatch paused, rate limited, health status
        "xledger": (2, {"circuit_open": 2}, 1, 0, 0, "unhealthy"),
        "dynamics": (3, {"dispatch_paused": 3}, 0, 1, 0, "healthy"),
        "bufdir": (1, {"rate_limited": 1}, 0, 0, 1, "healthy"),
        "payroll": (1, {"delayed": 1}, 0, 0, 0, "healthy"),
    }
    for kind, (pending, held, circuit_open, paused, rate_limited, status) in expected.items():
        assert value(series, "syncsched_pending", integration_type=kind) == pending, kind
        assert value(series, "syncsched_running", integration_type=kind) == 0, kind
        for reason in ("dispatch_paused", "circuit_open", "rate_limited", "delayed"):
            count = value(series, "syncsched_held", integration_type=kind, reason=reason)
            assert count == held.get(reason, 0), (kind, reason)
        assert value(series, "syncsched_circuit_open", integration_type=kind) == circuit_open, kind
        assert value(series, "syncsched_dispatch_paused", integration_type=kind) == paused, kind
        assert value(series, "syncsched_rate_limited", integration_type=kind) == rate_limited, kind
        for state in ("healthy", "unhealthy", "unknown"):
            assert value(series, "syncsched_endpoint_status", integration_type=kind, status=state) == (state == status)
        assert value(series, "syncsched_endpoint_passive", integration_type=kind) == 0
    assert value(series, "syncsched_endpoint_consecutive_failures", integration_type="xledger") >= 1
    for kind in expected:
        assert value(series, "syncsched_scheduling_paused", integration_type=kind) == (kind == "payroll"), kind
    # bufdir's budget: its run, health checks and warm-up counted against it, as the endpoint saw them (one
    # more when a check was handed out but had not arrived yet); the other types have none
    assert value(series, "syncsched_rate_budget", integration_type="bufdir") == 1000
    assert bufdir_seen >= 2
    assert bufdir_seen - 1 <= value(series, "syncsched_rate_budget_used", integration_type="bufdir") <= bufdir_seen + 1
    assert ("syncsched_rate_budget", frozenset({("integration_type", "xledger")})) not in series

    # as of the scrape, not of the last time a loop came round: one run fewer, at once
    run_id = db.fetch_value(conn, "select min(run_id) from syncsched.sync_run_log where integration_type = 'xledger'")
    assert db.fetch_value(conn, "select syncsched.cancel_run(%s)", (run_id,))
    _, series = scrape(port)
    assert value(series, "syncsched_pending", integration_type="xledger") == 1
    assert value(series, "syncsched_held", integration_type="xledger", reason="circuit_open") == 1
