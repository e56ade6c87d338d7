"""Endpoint health, warm-up and the scheduler watch: the worker's side of the health tables.

The decisions live in SQL (who checks when, what a result means, which alert it raises);
the worker only sends the requests it is handed and reports what came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncsched import db, queries
from syncsched.config import env_default
from syncsched.errors import ConnectError
from syncsched.invoker import Guard, Invoker, Probe
from syncsched.metrics import WorkerMetrics

log = logging.getLogger("syncsched.health")

PREWARM_EVERY = 10.0  # seconds between looks at the upcoming runs
HEALTH_SLEEP_MAX = 15.0  # longest sleep between looks at the health schedule
_DB_ERRORS = (db.Error, ConnectError, OSError)


@dataclass(frozen=True)
class ServerSettings:
    """The settings a worker reads from the database (syncsched.worker_config()), durations in seconds.
    Their defaults live in the database only (syncsched.settings)."""

    lease: float
    health_check_timeout: float
    warmup_timeout: float
    scheduler_silent_after: float
    allowed_private_hosts: str
    allowed_insecure_hosts: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ServerSettings:
        return cls(
            lease=float(config["lease"]),
            health_check_timeout=float(config["health_check_timeout"]),
            warmup_timeout=float(config["warmup_timeout"]),
            scheduler_silent_after=float(config["scheduler_silent_after"]),
            allowed_private_hosts=str(config["allowed_private_hosts"]),
            allowed_insecure_hosts=str(config["allowed_insecure_hosts"]),
        )

    def guard(self) -> Guard:
        """The SSRF guard: the settings' allow-lists, extended for this worker by its environment."""
        return Guard.from_lists(
            private=f"{self.allowed_private_hosts},{env_default('ALLOWED_PRIVATE_HOSTS', '')}",
            insecure=f"{self.allowed_insecure_hosts},{env_default('ALLOWED_INSECURE_HOSTS', '')}",
        )


async def fetch_settings(pool: db.Pool) -> ServerSettings:
    """The server's settings for this worker: lease, timeouts, and the guard of every outbound request."""
    rows = await db.async_fetch_all(pool, queries.WORKER_CONFIG)
    return ServerSettings.from_config(rows[0]["config"])


@dataclass(frozen=True)
class Endpoint:
    """Where a health check or warm-up goes, as the SQL functions hand it out."""

    integration_type: str
    url: str
    method: str
    timeout_ms: int
    connect_timeout_ms: int

    @classmethod
    def from_row(cls, row: db.Row) -> Endpoint:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class Health:
    def __init__(
        self, pool: db.Pool, invoker: Invoker, metrics: WorkerMetrics, worker_id: str, settings: ServerSettings
    ) -> None:
        self.pool = pool
        self.invoker = invoker
        self.metrics = metrics
        self.worker_id = worker_id
        self.settings = settings
        self.invoker.guard = settings.guard()
        self.watching_since = datetime.now(UTC)
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def load_settings(self) -> None:
        """The server's settings again (a DBA may have changed them); the last ones while it is unreachable."""
        with contextlib.suppress(*_DB_ERRORS):
            self.settings = await fetch_settings(self.pool)
        self.invoker.guard = self.settings.guard()

    # --- active health checks -------------------------------------------------------------

    async def check_loop(self) -> None:
        """Send the health checks this worker is handed, then sleep until the next is due."""
        while True:
            try:
                claimed = await db.async_fetch_all(self.pool, queries.CLAIM_HEALTH_CHECKS, (self.worker_id, 10))
                # recorded before the next look: the record sets when the next check is due
                await asyncio.gather(*(self._check(Endpoint.from_row(row)) for row in claimed))
                rows = await db.async_fetch_all(self.pool, queries.NEXT_HEALTH_CHECK_AT)
                due: datetime | None = rows[0]["at"] if rows else None
            except _DB_ERRORS as exc:
                log.warning("health checks not claimed: %s", db.one_line(exc))
                due = None
            await asyncio.sleep(_until(due, HEALTH_SLEEP_MAX))

    async def _check(self, endpoint: Endpoint) -> None:
        probe = await self._send(endpoint, self.settings.health_check_timeout)
        outcome = "ok" if probe.ok else "failed"
        self.metrics.health_checks.labels(endpoint.integration_type, outcome).inc()
        status = await self._report(
            queries.RECORD_HEALTH_CHECK,
            (endpoint.integration_type, probe.ok, probe.http_status, probe.error, round(probe.seconds * 1000)),
        )
        log.info(
            "health check of %s: %s%s -> %s",
            endpoint.integration_type,
            f"HTTP {probe.http_status}" if probe.http_status else probe.error,
            f" in {probe.seconds * 1000:.0f} ms",
            status,
        )

    # --- warm-up ----------------------------------------------------------------------------

    def warm_up(self, endpoint: Endpoint, claimed: bool = False) -> asyncio.Task[None]:
        """Warm an idle endpoint up; the runs claimed with it (`claimed`) wait for this one task."""
        return self._spawn(self._warm(endpoint, claimed))

    async def _warm(self, endpoint: Endpoint, claimed: bool) -> None:
        probe = await self._send(endpoint, self.settings.warmup_timeout)
        cold = await self._report(
            queries.RECORD_WARMUP,
            (endpoint.integration_type, probe.ok, round(probe.seconds * 1000), probe.error, claimed),
        )
        self.metrics.warmups.labels(endpoint.integration_type, "cold" if cold else "warm").inc()
        log.info(
            "warm-up of %s: %s in %.0f ms%s",
            endpoint.integration_type,
            f"HTTP {probe.http_status}" if probe.http_status else probe.error,
            probe.seconds * 1000,
            " (cold start)" if cold else "",
        )

    async def prewarm_loop(self) -> None:
        """Warm up, ahead of time, the idle endpoints of runs the schedule says are coming."""
        while True:
            try:
                for row in await db.async_fetch_all(self.pool, queries.CLAIM_PREWARM):
                    self.warm_up(Endpoint.from_row(row))
            except _DB_ERRORS as exc:
                log.debug("pre-warm not claimed: %s", db.one_line(exc))
            await asyncio.sleep(PREWARM_EVERY)

    # --- the scheduler watch ----------------------------------------------------------------

    async def scheduler_loop(self) -> None:
        """Raise scheduler_silent (in SQL, once for all workers) when no tick came for too long."""
        while True:
            try:
                rows = await db.async_fetch_all(self.pool, queries.CHECK_SCHEDULER_AGE, {"since": self.watching_since})
                result = rows[0]["result"]
                self.metrics.tick_seen(rows[0]["tick_age"])
                if result["raised"]:
                    log.error("no scheduler tick since %s: is pg_cron running?", result["last_tick_at"] or "ever")
            except _DB_ERRORS as exc:
                log.debug("scheduler not checked: %s", db.one_line(exc))
            await asyncio.sleep(max(1.0, min(20.0, self.settings.scheduler_silent_after / 6)))

    # --- helpers ------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _send(self, endpoint: Endpoint, timeout: float) -> Probe:
        return await self.invoker.probe(
            endpoint.method, endpoint.url, min(timeout, endpoint.timeout_ms / 1000), endpoint.connect_timeout_ms / 1000
        )

    async def _report(self, query: str, params: tuple[Any, ...]) -> Any:
        try:
            rows = await db.async_fetch_all(self.pool, query, params)
        except _DB_ERRORS as exc:
            log.warning("health result not recorded: %s", db.one_line(exc))
            return None
        return next(iter(rows[0].values())) if rows else None


def _until(when: datetime | None, longest: float) -> float:
    """Seconds to sleep until `when`, between 0.05 s and `longest`."""
    if when is None:
        return longest
    return max(0.05, min(longest, (when - datetime.now(UTC)).total_seconds()))
