"""Prometheus metrics of a worker, served with /healthz on --metrics-port (aiohttp, same event loop)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
_DRIFT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400)


class WorkerMetrics:
    """The worker's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "syncsched_runs",
            "Runs finished by this worker, by type and outcome (completed, retry, failed, stale)",
            ["integration_type", "outcome"],
            registry=self.registry,
        )
        self.http_statuses = Counter(
            "syncsched_http_responses",
            "Endpoint answers by type and HTTP status",
            ["integration_type", "status"],
            registry=self.registry,
        )
        self.call_seconds = Histogram(
            "syncsched_call_duration_seconds",
            "Duration of endpoint calls",
            ["integration_type"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.drift_seconds = Histogram(
            "syncsched_drift_seconds",
            "Claim time minus scheduled time of runs claimed",
            ["integration_type"],
            buckets=_DRIFT_BUCKETS,
            registry=self.registry,
        )
        self.health_checks = Counter(
            "syncsched_health_checks",
            "Health checks sent by this worker, by type and outcome (ok, failed)",
            ["integration_type", "outcome"],
            registry=self.registry,
        )
        self.warmups = Counter(
            "syncsched_warmups",
            "Warm-up requests sent by this worker, by type and result (warm, cold)",
            ["integration_type", "result"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "syncsched_alerts", "Alerts raised (seen on syncsched_alerts), by kind", ["kind"], registry=self.registry
        )
        self.alert_deliveries = Counter(
            "syncsched_alert_deliveries",
            "Webhook deliveries by this worker, by outcome (sent, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.in_flight = Gauge("syncsched_in_flight", "Runs this worker is calling now", registry=self.registry)
        self.pending = Gauge(
            "syncsched_pending", "Pending runs in the database, by type", ["integration_type"], registry=self.registry
        )
        self.last_loop = time.monotonic()
        self.listening = False

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def serve(metrics: WorkerMetrics, port: int, healthy: Callable[[], tuple[bool, str]]) -> web.AppRunner:
    """Start /metrics and /healthz on 0.0.0.0:port; returns the runner to clean up."""

    async def metrics_view(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health_view(_request: web.Request) -> web.Response:
        ok, detail = healthy()
        return web.Response(status=200 if ok else 503, text=detail + "\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", health_view)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
