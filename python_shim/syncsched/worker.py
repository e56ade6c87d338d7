"""`syncsched worker`: a LISTEN consumer that claims runs, calls the endpoints, writes the outcome.

The table is the truth; NOTIFY only wakes the claim loop, which also runs every poll interval
and at once after every (re)connect. Leases are renewed by heartbeats; every status write
carries the run's lease token, so a worker that lost a run cannot overwrite its fate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncsched import __version__, db, queries
from syncsched.alerts import Alerts
from syncsched.errors import ConnectError
from syncsched.health import Endpoint, Health, ServerSettings, fetch_settings
from syncsched.invoker import Invoker, Outcome, Run
from syncsched.metrics import WorkerMetrics, serve

log = logging.getLogger("syncsched.worker")


@dataclass(frozen=True)
class WorkerSettings:
    dsn: str
    worker_id: str
    concurrency: int = 5
    poll_interval: float = 5.0
    lease: float | None = None  # None: the server's lease setting
    grace: float = 30.0
    liveness_interval: float = 10.0
    metrics_port: int | None = None
    gauge_interval: float = 15.0


@dataclass
class _InFlight:
    run: Run
    task: asyncio.Task[None] = field(repr=False)


def pool_size(concurrency: int) -> int:
    """Connections for claims and status writes: both are batched, so a few serve any concurrency
    (a worker must not use up max_connections: 200 calls in flight need no 200 connections)."""
    return min(concurrency, 8) + 2


class Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        if settings.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.settings = settings
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: dict[int, _InFlight] = {}
        self._signals = 0
        self._pool: db.Pool | None = None
        self._invoker: Invoker | None = None
        self._health: Health | None = None
        self._alerts: Alerts | None = None
        self.metrics = WorkerMetrics()
        # completions wait here for the writer, which records many in one statement
        self._completions: asyncio.Queue[tuple[Run, Outcome, asyncio.Future[bool]]] = asyncio.Queue()

    # --- lifecycle -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """First signal: stop claiming and drain. Second: exit at once (the leases recover)."""
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting now; %d run(s) in flight return by lease expiry", len(self._inflight))
            os._exit(1)
        log.info(
            "stopping: no more claims; waiting up to %.0f s for %d run(s) in flight",
            self.settings.grace,
            len(self._inflight),
        )
        self._stopping.set()
        self._wake.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        name = f"syncsched worker {self.settings.worker_id}"[:63]
        async with (
            db.async_pool(self.settings.dsn, size=pool_size(self.settings.concurrency), application_name=name) as pool,
            Invoker(user_agent=f"syncsched/{__version__} ({self.settings.worker_id})") as invoker,
        ):
            self._pool, self._invoker = pool, invoker
            self._health = health = Health(
                pool, invoker, self.metrics, self.settings.worker_id, await self._server_settings(pool)
            )
            self._alerts = alerts = Alerts(pool, invoker, self.metrics)
            listener = asyncio.create_task(self._listen(name))
            background = [
                asyncio.create_task(work)
                for work in (
                    self._heartbeat_loop(),
                    self._gauge_loop(),
                    self._completion_writer(),
                    health.check_loop(),
                    health.prewarm_loop(),
                    health.scheduler_loop(),
                    alerts.delivery_loop(),
                )
            ]
            http = None
            if self.settings.metrics_port is not None:
                http = await serve(self.metrics, self.settings.metrics_port, self.health)
                log.info(
                    "metrics on :%d/metrics, health on :%d/healthz",
                    self.settings.metrics_port,
                    self.settings.metrics_port,
                )
            log.info(
                "worker %s started: concurrency %d, lease %.0f s, poll every %.1f s",
                self.settings.worker_id,
                self.settings.concurrency,
                self.lease,
                self.settings.poll_interval,
            )
            try:
                await self._claim_loop()
                listener.cancel()
                await self._drain()
            finally:
                for task in (listener, *background):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(listener, *background, return_exceptions=True)
                if http is not None:
                    await http.cleanup()
        log.info("worker %s stopped", self.settings.worker_id)
        return 0

    async def _server_settings(self, pool: db.Pool) -> ServerSettings:
        """The server's settings for this worker, waiting for the database as long as it takes."""
        delay = 0.5
        while True:
            try:
                return await fetch_settings(pool)
            except (db.Error, ConnectError, OSError) as exc:
                log.warning("settings not read (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    @property
    def lease(self) -> float:
        """Seconds of lease per claim and heartbeat: --lease, else the server's lease setting."""
        if self.settings.lease is not None:
            return self.settings.lease
        assert self._health is not None
        return self._health.settings.lease

    # --- the loops ---------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """Healthy while the LISTEN connection is up and the claim loop turns."""
        stalled = time.monotonic() - self.metrics.last_loop > self.settings.poll_interval * 3 + 5
        if self._stopping.is_set():
            return False, "stopping"
        if not self.metrics.listening:
            return False, "LISTEN connection down"
        if stalled:
            return False, "claim loop stalled"
        return True, f"ok: {len(self._inflight)} run(s) in flight"

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            self.metrics.last_loop = time.monotonic()
            self._wake.clear()
            free = self.settings.concurrency - len(self._inflight)
            claimed = 0
            if free > 0:
                claimed = await self._claim(free)
            if claimed and claimed == free:
                continue  # there may be more waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval)

    async def _claim(self, free: int) -> int:
        assert self._pool is not None
        try:
            rows = await db.async_fetch_all(
                self._pool,
                queries.CLAIM_RUNS,
                (self.settings.worker_id, free, timedelta(seconds=self.lease)),
            )
        except db.Error as exc:
            log.warning("claim failed: %s", db.error_message(exc))
            await asyncio.sleep(1)
            return 0
        now = datetime.now(UTC)
        runs = [Run.from_row(row) for row in rows]
        warmups = self._warmups(runs)
        for run in runs:
            self.metrics.drift_seconds.labels(run.integration_type).observe(
                max(0.0, (now - run.scheduled_for).total_seconds())
            )
            log.info(
                "run %d running: %s/%s (%s) attempt %d of %d",
                run.run_id,
                run.org_id,
                run.integration_id,
                run.integration_type,
                run.attempt,
                run.max_attempts,
            )
            task = asyncio.create_task(self._execute(run, warmups.get(run.integration_type)))
            self._inflight[run.run_id] = _InFlight(run, task)
            task.add_done_callback(functools.partial(self._finished, run.run_id))
        self.metrics.in_flight.set(len(self._inflight))
        return len(rows)

    def _warmups(self, runs: list[Run]) -> dict[str, asyncio.Task[None]]:
        """One warm-up per idle endpoint of this claim; its runs wait for it."""
        assert self._health is not None
        warmups: dict[str, asyncio.Task[None]] = {}
        for run in runs:
            if run.warmup and run.health_url and run.integration_type not in warmups:
                endpoint = Endpoint(
                    run.integration_type, run.health_url, run.health_method, run.timeout_ms, run.connect_timeout_ms
                )
                warmups[run.integration_type] = self._health.warm_up(endpoint)
        return warmups

    def _finished(self, run_id: int, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(run_id, None)
        self.metrics.in_flight.set(len(self._inflight))
        self._wake.set()

    async def _execute(self, run: Run, warmup: asyncio.Task[None] | None) -> None:
        assert self._invoker is not None
        if warmup is not None:
            await asyncio.shield(warmup)  # shared by the runs of this claim: a lost lease must not cancel it
        started = time.monotonic()
        outcome = await self._invoker.call(run)
        self.metrics.call_seconds.labels(run.integration_type).observe(time.monotonic() - started)
        if outcome.http_status is not None:
            self.metrics.http_statuses.labels(run.integration_type, str(outcome.http_status)).inc()
        applied = await self._record(run, outcome)
        self.metrics.runs.labels(run.integration_type, outcome.kind if applied else "stale").inc()

    async def _record(self, run: Run, outcome: Outcome) -> bool:
        if outcome.kind == "completed":
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._completions.put_nowait((run, outcome, done))
            applied = await done
            log.info("run %d completed: HTTP %s%s", run.run_id, outcome.http_status, "" if applied else " (stale)")
            return applied
        retry_after = timedelta(seconds=outcome.retry_after) if outcome.retry_after is not None else None
        rows = await self._write(
            queries.FAIL_RUN,
            (
                run.run_id,
                run.lease_token,
                outcome.error,
                outcome.http_status,
                outcome.kind == "retry",
                retry_after,
                self.settings.worker_id,
            ),
        )
        applied = bool(rows and rows[0]["applied"])
        will_retry = outcome.kind == "retry" and run.attempt < run.max_attempts
        log.info(
            "run %d %s: %s%s",
            run.run_id,
            "failed, will retry" if will_retry else "failed",
            outcome.error,
            "" if applied else " (stale: another worker holds it now)",
        )
        return applied

    async def _completion_writer(self) -> None:
        """Record completions in batches: all that arrived while the previous write ran."""
        while True:
            batch = [await self._completions.get()]
            while not self._completions.empty() and len(batch) < 1000:
                batch.append(self._completions.get_nowait())
            rows = await self._write(
                queries.COMPLETE_RUNS,
                (
                    [run.run_id for run, _, _ in batch],
                    [run.lease_token for run, _, _ in batch],
                    [outcome.http_status for _, outcome, _ in batch],
                    [outcome.excerpt for _, outcome, _ in batch],
                    self.settings.worker_id,
                ),
            )
            applied = {row["run_id"]: bool(row["applied"]) for row in rows}
            for run, _, done in batch:
                if not done.done():
                    done.set_result(applied.get(run.run_id, False))

    async def _write(self, query: str, params: tuple[Any, ...]) -> list[db.Row]:
        """A status write, retried while the database is unreachable, for up to a lease."""
        assert self._pool is not None
        deadline = asyncio.get_running_loop().time() + self.lease
        delay = 0.2
        while True:
            try:
                return await db.async_fetch_all(self._pool, query, params)
            except (db.Error, ConnectError) as exc:
                if asyncio.get_running_loop().time() + delay > deadline:
                    log.error("status write abandoned after a lease of retries: %s", exc)
                    return []
                log.warning("status write failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _heartbeat_loop(self) -> None:
        assert self._pool is not None
        while True:
            await asyncio.sleep(self.lease / 3)
            held = list(self._inflight.values())
            if not held:
                continue
            try:
                rows = await db.async_fetch_all(
                    self._pool,
                    queries.HEARTBEAT,
                    (
                        self.settings.worker_id,
                        [h.run.run_id for h in held],
                        [h.run.lease_token for h in held],
                        timedelta(seconds=self.lease),
                    ),
                )
            except db.Error as exc:
                log.warning("heartbeat failed: %s", db.error_message(exc))
                continue
            for row in rows:
                if not row["applied"] and row["run_id"] in self._inflight:
                    log.warning("run %d: lease lost, abandoning it", row["run_id"])
                    self._inflight[row["run_id"]].task.cancel()

    async def _gauge_loop(self) -> None:
        assert self._pool is not None
        assert self._health is not None
        while True:
            try:
                for row in await db.async_fetch_all(self._pool, queries.QUEUE_DEPTH):
                    self.metrics.pending.labels(row["integration_type"]).set(row["pending"])
            except db.Error as exc:
                log.debug("queue depth not read: %s", db.error_message(exc))
            await self._health.load_settings()  # settings changed by a DBA reach the worker
            await asyncio.sleep(self.settings.gauge_interval)

    async def _listen(self, name: str) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                conn = await db.async_connect(self.settings.dsn, application_name=name)
                async with conn:
                    await db.listen(conn, queries.RUNS_CHANNEL)
                    await db.listen(conn, queries.ALERTS_CHANNEL)
                    log.info("listening on %s", queries.RUNS_CHANNEL)
                    self.metrics.listening = True
                    self._wake.set()  # claim at once after every (re)connect
                    backoff = 0.5
                    while not self._stopping.is_set():
                        async for channel, payload in db.notifications(conn, self.settings.liveness_interval):
                            if channel == queries.ALERTS_CHANNEL:
                                assert self._alerts is not None
                                self._alerts.notified(payload)
                            else:
                                self._wake.set()
                        # a dead or half-open connection fails here, or does not answer in time
                        await asyncio.wait_for(db.ping(conn), timeout=self.settings.liveness_interval)
            except (db.Error, ConnectError, OSError, TimeoutError) as exc:
                self.metrics.listening = False
                log.warning("LISTEN connection lost (%s); reconnecting in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _drain(self) -> None:
        """Let calls in flight finish within the grace period; give the rest back."""
        held = list(self._inflight.values())
        if held:
            await asyncio.wait([h.task for h in held], timeout=self.settings.grace)
        for h in held:
            if not h.task.done():
                h.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await h.task
                rows = await self._write(
                    queries.RELEASE_RUN, (h.run.run_id, h.run.lease_token, self.settings.worker_id)
                )
                log.info(
                    "run %d released at shutdown%s", h.run.run_id, "" if rows and rows[0]["applied"] else " (stale)"
                )


def run_worker(settings: WorkerSettings) -> int:
    """Run a worker to completion on uvloop (a faster event loop) where it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(Worker(settings).run())
    return uvloop.run(Worker(settings).run())
