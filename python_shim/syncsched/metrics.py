"""Prometheus metrics of a worker, served with /healthz on --metrics-port (aiohttp, same event loop)."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# A `*_created` series per counter and histogram reads like a count and says only when this
# process started.
disable_created_metrics()  # type: ignore[no-untyped-call]

_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
_DRIFT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400)
ENDPOINT_STATUSES = ("healthy", "unhealthy", "unknown")
# why pending runs are held (queue_depth's `held`): the first that applies, in the order of
# schedule_overview's held_reason; the first three hold all of a type's pending runs
HELD_REASONS = ("dispatch_paused", "circuit_open", "rate_limited", "delayed")


class WorkerMetrics:
    """The worker's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
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
        self.last_loop = time.monotonic()
        self.listening = False
        self.database_connected = Gauge(
            "syncsched_database_connected",
            "1 while this worker's LISTEN connection to the database is up",
            registry=self.registry,
        )
        self.database_connected.set_function(lambda: float(self.listening))
        self._tick_age: tuple[float, float] | None = None  # (age by the database's clock, monotonic then)
        self.last_tick_age = Gauge(
            "syncsched_last_tick_age_seconds",
            "Seconds since the last scheduler tick started (since this worker started, when none has run yet)",
            registry=self.registry,
        )
        self.last_tick_age.set_function(self._seconds_since_tick)
        # the database's state by type, read at each scrape (all workers see the same)
        self.pending = self._by_type("syncsched_pending", "Pending runs in the database, by type")
        self.running = self._by_type("syncsched_running", "Running runs in the database (all workers), by type")
        self.held = self._by_type(
            "syncsched_held",
            "Pending runs no claim hands out now, by type and reason: dispatch_paused, circuit_open or "
            "rate_limited (a 429's Retry-After) hold all of them; delayed, those waiting out a retry's backoff "
            "or a spread offset",
            "reason",
        )
        self.dispatch_paused = self._by_type(
            "syncsched_dispatch_paused", "1 while dispatch is paused for the type (or for every type)"
        )
        self.endpoint_status = self._by_type(
            "syncsched_endpoint_status",
            "Endpoint health by type: 1 for its status (healthy, unhealthy, unknown), 0 for the others",
            "status",
        )
        self.endpoint_passive = self._by_type(
            "syncsched_endpoint_passive", "1 when the type's health follows run outcomes only (passive mode)"
        )
        self.endpoint_failures = self._by_type(
            "syncsched_endpoint_consecutive_failures", "Consecutive failed health checks or runs of the type's endpoint"
        )
        self.circuit_open = self._by_type(
            "syncsched_circuit_open", "1 while the circuit breaker holds the type's runs (unhealthy in active mode)"
        )
        self.rate_limited = self._by_type(
            "syncsched_rate_limited", "1 while a 429's Retry-After holds the type's runs (across all workers)"
        )
        self.scheduling_paused = self._by_type(
            "syncsched_scheduling_paused", "1 while the tick creates no runs of the type (its pause, or every type's)"
        )
        self.rate_budget = self._by_type(
            "syncsched_rate_budget", "The type's rate_limit: requests allowed per rate_window (types with a budget)"
        )
        self.rate_budget_used = self._by_type(
            "syncsched_rate_budget_used", "Requests of the type counted in its current rate_window, across all workers"
        )

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """metric.labels(*labels), looked up once per label values (labels() checks them and takes a
        lock at every call: per run, that adds up)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def _by_type(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, ["integration_type", *labels], registry=self.registry)

    def tick_seen(self, age: float) -> None:
        """The seconds since the last tick, as the database just said."""
        self._tick_age = (age, time.monotonic())

    def _seconds_since_tick(self) -> float:
        if self._tick_age is None:
            return math.nan
        age, at = self._tick_age
        return age + (time.monotonic() - at)

    def set_queue(self, rows: Iterable[dict[str, Any]]) -> None:
        """The per-type gauges from WORKER_GAUGES rows; a type no longer there loses its series."""
        gauges = (
            self.pending,
            self.running,
            self.held,
            self.dispatch_paused,
            self.endpoint_status,
            self.endpoint_passive,
            self.endpoint_failures,
            self.circuit_open,
            self.rate_limited,
            self.scheduling_paused,
            self.rate_budget,
            self.rate_budget_used,
        )
        for gauge in gauges:
            gauge.clear()
        for row in rows:
            kind = row["integration_type"]
            self.pending.labels(kind).set(row["pending"])
            self.running.labels(kind).set(row["running"])
            holds = (row["dispatch_paused"], row["circuit_open"], row["rate_limited"], True)
            reason = next(r for r, holding in zip(HELD_REASONS, holds, strict=True) if holding)
            for held_reason in HELD_REASONS:
                self.held.labels(kind, held_reason).set(row["held"] if held_reason == reason else 0)
            self.dispatch_paused.labels(kind).set(row["dispatch_paused"])
            for status in ENDPOINT_STATUSES:
                self.endpoint_status.labels(kind, status).set(row["status"] == status)
            self.endpoint_passive.labels(kind).set(row["mode"] == "passive")
            self.endpoint_failures.labels(kind).set(row["consecutive_failures"])
            self.circuit_open.labels(kind).set(row["circuit_open"])
            self.rate_limited.labels(kind).set(row["rate_limited"])
            self.scheduling_paused.labels(kind).set(row["scheduling_paused"])
            if row["rate_limit"] is not None:
                self.rate_budget.labels(kind).set(row["rate_limit"])
                self.rate_budget_used.labels(kind).set(row["requests_in_window"])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def serve(
    metrics: WorkerMetrics,
    port: int,
    healthy: Callable[[], tuple[bool, str]],
    refresh: Callable[[], Awaitable[None]],
) -> web.AppRunner:
    """Start /metrics and /healthz on 0.0.0.0:port; returns the runner to clean up. Each scrape
    first awaits `refresh` (the database's gauges, as of the scrape)."""

    async def metrics_view(_request: web.Request) -> web.Response:
        await refresh()
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
