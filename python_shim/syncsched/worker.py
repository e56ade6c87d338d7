"""`syncsched worker`: a LISTEN consumer that claims runs, calls the endpoints, writes the outcome.

The table is the truth; NOTIFY only wakes the dispatcher, which also looks for work every poll
interval and at once after every (re)connect. The dispatcher's round trip, complete_and_claim,
writes the completions that arrived since the last one and claims runs for the places free, in one
transaction; a second round trip may go out while one is on its way (pipelined), never for more
places than --concurrency leaves. Leases are renewed by heartbeats and reaped on their own cadence;
every status write carries the run's lease token, so a worker that lost a run cannot overwrite its fate.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncsched import __version__, db, queries
from syncsched.alerts import Alerts
from syncsched.config import (
    configure_logging,
    default_worker_id,
    duration_flag,
    quiet_pool_logging,
    resolve_dsn,
    whole_number_flag,
)
from syncsched.errors import ConfigError, ConnectError, PrerequisiteError, SyncschedError
from syncsched.health import Endpoint, Health, ServerSettings
from syncsched.invoker import Invoker, Outcome, Run
from syncsched.metrics import WorkerMetrics, serve
from syncsched.processes import MAX_PROCESSES, shares, supervise

log = logging.getLogger("syncsched.worker")

DAY = 86400.0
MAX_CONCURRENCY = 10000  # claim_runs hands out at most this many at once
MAX_WORKER_ID = 200  # characters, as claim_runs accepts
MIN_LEASE = 5.0  # the `lease` setting's range: a heartbeat every lease/3 must fit in it
GAUGE_TIMEOUT = 5.0  # seconds a scrape waits for the database's gauges
# seconds without reaping after an outage: the other workers reconnect within MAX_RECONNECT_DELAY
# and write the outcomes they kept in their first round trip
REAP_PAUSE_AFTER_OUTAGE = 10.0
# seconds a round trip waits for a pool connection: a database away fails it soon (its completions
# are kept for the next), and /healthz can tell
POOL_WAIT = 5.0
UNHEALTHY_AFTER = 10.0  # seconds of failed round trips before /healthz says so
PIPELINE_DEPTH = 2  # complete_and_claim round trips on their way at once
SUMMARY_EVERY = 60.0  # seconds between the summary lines (when anything happened)
# which runs' transitions are logged at INFO: all, or only failures, retries and lost or stale writes
LOG_RUNS = ("all", "failures")
MAX_COMPLETIONS = 1000  # completions written per round trip


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
    settings_interval: float = 15.0  # how often the server's settings are read again
    exit_on_unreachable: float | None = None  # None: retry for as long as it takes
    log_runs: str = "all"  # "failures": a run's start and success at DEBUG, the minute's summary says them
    processes: int = 1  # worker processes started as one (syncsched.processes)


def settings_from_args(args: argparse.Namespace) -> WorkerSettings:
    """The worker's settings from its flags (and SYNCSCHED_* variables); an impossible value is a
    one-line ConfigError before anything starts."""
    worker_id = args.worker_id.strip() or default_worker_id()
    processes = whole_number_flag("--processes", args.processes, 1, MAX_PROCESSES)
    longest = MAX_WORKER_ID - (len(f"/{processes}") if processes > 1 else 0)  # the processes' ids end in /1, /2…
    if len(worker_id) > longest:
        raise ConfigError(f"--worker-id must be at most {longest} characters, not {len(worker_id)}")
    metrics_port = args.metrics_port.strip()
    exit_on_unreachable = args.exit_on_unreachable.strip()
    log_runs = args.log_runs.strip()
    if log_runs not in LOG_RUNS:
        raise ConfigError(f"--log-runs must be {' or '.join(LOG_RUNS)}, not {log_runs!r}")
    settings = WorkerSettings(
        dsn=resolve_dsn(args.dsn),
        worker_id=worker_id,
        concurrency=whole_number_flag("--concurrency", args.concurrency, 1, MAX_CONCURRENCY),
        poll_interval=duration_flag("--poll-interval", args.poll_interval, 0.1, 3600),
        lease=duration_flag("--lease", args.lease, MIN_LEASE, DAY) if args.lease.strip() else None,
        grace=duration_flag("--grace", args.grace, 0, DAY),
        metrics_port=whole_number_flag("--metrics-port", metrics_port, 1, 65535) if metrics_port else None,
        exit_on_unreachable=(
            duration_flag("--exit-on-unreachable", exit_on_unreachable, 1, DAY) if exit_on_unreachable else None
        ),
        log_runs=log_runs,
        processes=processes,
    )
    if settings.processes > 1:
        shares(settings, settings.processes)  # an impossible split is a ConfigError now, not in N processes
    db.parse_dsn(settings.dsn)  # a DSN that cannot be parsed never will be
    return settings


def main(args: argparse.Namespace) -> int:
    """`syncsched worker`."""
    settings = settings_from_args(args)
    configure_logging(args.log_format)
    quiet_pool_logging()
    # lines per run: no caller, thread or process lookups for records that print none of them
    # (the logging module's documented optimisation)
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if settings.processes == 1:
        return run_worker(settings)
    # one "not migrated" or "no privilege" line, not one from each process
    if asyncio.run(Worker(settings).ready()) is None:
        return 0
    log.info("starting %d worker processes, concurrency %d in all", settings.processes, settings.concurrency)
    return supervise(shares(settings, settings.processes), run_worker)


class Unreachable(SyncschedError):
    """The database stayed out of reach for longer than --exit-on-unreachable."""


class Reachability:
    """How long the database has been out of reach: one log line per retry, and the end of the
    patience that --exit-on-unreachable gives."""

    def __init__(self, where: str, limit: float | None) -> None:
        self.where = where
        self.limit = limit
        self._since: float | None = None

    def reached(self) -> None:
        self._since = None

    def failed(self, reason: str, delay: float) -> float:
        """Log the failure; the seconds to wait before the next try (never past the limit).
        Raises Unreachable once the limit has passed."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        out_for = now - self._since
        if self.limit is not None:
            if out_for >= self.limit:
                raise Unreachable(
                    f"database {self.where} unreachable for {int(out_for)} s, giving up "
                    f"(--exit-on-unreachable {self.limit:g}s): {reason}"
                )
            delay = min(delay, self.limit - out_for)
        so_far = f" (unreachable for {int(out_for)} s)" if out_for >= 1 else ""
        log.warning("%s; retrying in %.1f s%s", reason, delay, so_far)
        return delay


def readiness_problem(row: db.Row, where: str) -> SyncschedError | None:
    """What keeps this database or role from a worker's work (WORKER_PREFLIGHT's answer), if anything."""
    if not row["migrated"]:
        return PrerequisiteError(f"database {where} has no syncsched schema: run `syncsched migrate` first")
    if row["missing"]:
        return PrerequisiteError(
            f"database {where} lacks {_some(row['missing'])} (a schema older than this worker): "
            "run `syncsched migrate` first"
        )
    lacks = [] if row["schema_usage"] else ["USAGE on schema syncsched"]
    if row["denied"]:
        lacks.append(f"EXECUTE on {_some(row['denied'])}")
    if lacks:
        role = row["role"]
        return ConfigError(
            f"role {role} may not run a worker: no {', no '.join(lacks)} (grant syncsched_worker to {role})"
        )
    return None


def _transient(exc: db.Error) -> bool:
    """A connection lost, or a server shutting down, starting up or short of connections: worth a retry.
    Any other error with a SQLSTATE is the server's answer, and would be the same next time."""
    state = db.sqlstate(exc)
    return state is None or state.startswith(("08", "53", "57P"))


def _some(names: list[str], shown: int = 4) -> str:
    listed = ", ".join(f"syncsched.{name}" for name in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


@dataclass
class _InFlight:
    run: Run
    task: asyncio.Task[None] = field(repr=False)


@dataclass
class _Done:
    """A completion waiting for the dispatcher's next round trip."""

    run: Run
    outcome: Outcome
    recorded: asyncio.Future[bool] = field(repr=False)  # whether the write applied (False: stale)


def pool_size(concurrency: int) -> int:
    """Connections for claims and status writes: both are batched, so a few serve any concurrency
    (a worker must not use up max_connections: 200 calls in flight need no 200 connections)."""
    return min(concurrency, 8) + 2


class Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        if settings.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.settings = settings
        self._stopping = asyncio.Event()
        # held runs: the call in flight, or its outcome not written yet (heartbeats renew them all)
        self._inflight: dict[int, _InFlight] = {}
        self._signals = 0
        self._gave_up: Unreachable | None = None
        self._broken: BaseException | None = None  # a task of the worker's that ended on an error
        # the dispatcher: it acts when kicked (a completion, a place freed, a round trip back, a wake)
        self._kick = asyncio.Event()
        self._look = True  # NOTIFY, poll or (re)connect: there may be work
        self._more = False  # the last claim got all it asked for: more may be waiting
        # after a short claim: when time alone releases a run (a backoff, a 429, a budget), by the loop's clock
        self._ready_at: float | None = None
        self._asking: asyncio.Task[None] | None = None  # the question when, on its way
        self._ask_again = False  # a claim came back short meanwhile: the answer on its way may be out of date
        self._done: list[_Done] = []
        self._trips: set[asyncio.Task[None]] = set()
        self._reserved = 0  # places asked for by the round trips on their way
        self._trip_delay = 0.0  # back-off after a failed round trip
        self._failing_since: float | None = None  # round trips have failed since (monotonic)
        self._back_at = -math.inf  # when the database was last back after an outage (monotonic)
        self._complete_only = False  # after a failed round trip: its completions go again without a claim
        self._tally: collections.Counter[str] = collections.Counter()  # runs since the last summary line
        # a run's start and success: a line each (all), or DEBUG (failures: at thousands a second,
        # two lines per run cost the worker an eighth of its CPU)
        self._success_level = logging.INFO if settings.log_runs == "all" else logging.DEBUG
        self._reach = Reachability(db.describe_dsn(settings.dsn), settings.exit_on_unreachable)
        self._pool: db.Pool | None = None
        self._invoker: Invoker | None = None
        self._health: Health | None = None
        self._alerts: Alerts | None = None
        self.metrics = WorkerMetrics()

    # --- lifecycle -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """First signal: stop claiming and drain. Second: exit at once (the leases recover)."""
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting now; %d run(s) in flight return by lease expiry", len(self._inflight))
            os._exit(1)
        self._stop()

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        """A task of the worker's ended on an error (a defect): the worker says so and stops, its
        runs in flight drained, rather than going on without it (its LISTEN task once ended unseen,
        and no NOTIFY woke the worker again). Its service manager starts it again."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        log.error("%s ended on an error, stopping: %r", task.get_name(), error, exc_info=error)
        if self._broken is None:
            self._broken = error
        if not self._stopping.is_set():
            self._stop()

    def _stop(self) -> None:
        log.info(
            "stopping: no more claims; waiting up to %.0f s for %d run(s) in flight",
            self.settings.grace,
            len(self._inflight),
        )
        self._stopping.set()
        self._kick.set()

    def _stop_requests(self, stop_fd: int) -> None:
        """Under --processes, the supervisor's stop requests: the first drains, the second exits at
        once; the pipe closing (the supervisor is gone) drains."""
        data = os.read(stop_fd, 16)
        if not data:
            asyncio.get_running_loop().remove_reader(stop_fd)
            log.warning("the supervising process is gone")
        for _ in data:
            self._signals += 1
            if self._signals > 1:
                log.warning("exiting now; %d run(s) in flight return by lease expiry", len(self._inflight))
                os._exit(1)
        self._drain_once()

    def _drain_once(self) -> None:
        """A stop request that never means "exit now": a signal to one of --processes' workers
        (Ctrl-C and a service manager reach every process of the group, and the supervisor forwards
        them too)."""
        if not self._stopping.is_set():
            self._stop()

    @property
    def _name(self) -> str:
        """The worker's application_name in pg_stat_activity."""
        return f"syncsched worker {self.settings.worker_id}"[:63]

    async def ready(self) -> ServerSettings | None:
        """Wait for the database and check that this worker may work there (see _preflight)."""
        return await self._preflight(self._name)

    async def run(self, stop_fd: int | None = None) -> int:
        """Work until stopped: by SIGTERM or SIGINT, or under --processes by bytes on stop_fd."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop if stop_fd is None else self._drain_once)
        if stop_fd is not None:
            loop.add_reader(stop_fd, self._stop_requests, stop_fd)
        name = self._name
        server_settings = await self._preflight(name)
        if server_settings is not None:
            await self._serve(name, server_settings)
        log.info("worker %s stopped", self.settings.worker_id)
        if self._gave_up is not None:
            raise self._gave_up
        return 1 if self._broken is not None else 0

    async def _serve(self, name: str, server_settings: ServerSettings) -> None:
        async with (
            db.async_pool(
                self.settings.dsn, size=pool_size(self.settings.concurrency), application_name=name, wait=POOL_WAIT
            ) as pool,
            Invoker(user_agent=f"syncsched/{__version__} ({self.settings.worker_id})") as invoker,
        ):
            self._pool, self._invoker = pool, invoker
            self._health = health = Health(pool, invoker, self.metrics, self.settings.worker_id, server_settings)
            self._alerts = alerts = Alerts(pool, invoker, self.metrics)
            listener = asyncio.create_task(self._listen(name), name="the LISTEN task")
            background = [
                asyncio.create_task(work, name=f"the {what} loop")
                for what, work in (
                    ("heartbeat", self._heartbeat_loop()),
                    ("reaper", self._reap_loop()),
                    ("summary", self._summary_loop()),
                    ("settings", self._settings_loop()),
                    ("health check", health.check_loop()),
                    ("pre-warm", health.prewarm_loop()),
                    ("scheduler watch", health.scheduler_loop()),
                    ("alert delivery", alerts.delivery_loop()),
                )
            ]
            for task in (listener, *background):
                task.add_done_callback(self._task_ended)
            http = None
            if self.settings.metrics_port is not None:
                http = await serve(self.metrics, self.settings.metrics_port, self.health, self._read_gauges)
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
            dispatcher = asyncio.create_task(self._dispatch_loop())
            try:
                stopped = asyncio.create_task(self._stopping.wait())
                await asyncio.wait([dispatcher, stopped], return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if dispatcher.done():
                    dispatcher.result()
                listener.cancel()
                await self._drain()  # the dispatcher writes what finishes meanwhile, and claims nothing
                if self._done:
                    log.error(
                        "%d completion(s) not written, the database out of reach at shutdown: runs %s go again"
                        " after their lease",
                        len(self._done),
                        ", ".join(str(done.run.run_id) for done in self._done[:20]),
                    )
            finally:
                asking = [self._asking] if self._asking is not None else []
                for task in (listener, dispatcher, *asking, *background):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(
                        listener, dispatcher, *self._trips, *asking, *background, return_exceptions=True
                    )
                if http is not None:
                    await http.cleanup()

    async def _preflight(self, name: str) -> ServerSettings | None:
        """Wait for the database (one line per try), then check that it is migrated and that this
        role may do a worker's work: the server's settings for this worker, or None when stopped
        while waiting. A definite no (bad credentials, no schema, no privilege) ends the worker."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                async with await db.async_connect(self.settings.dsn, application_name=name) as conn:
                    ready = await db.async_fetch_conn(conn, queries.WORKER_PREFLIGHT, (list(queries.WORKER_FUNCTIONS),))
                    problem = readiness_problem(ready[0], self._reach.where)
                    if problem is not None:
                        raise problem
                    config = await db.async_fetch_conn(conn, queries.WORKER_CONFIG)
                    self._reach.reached()
                    return ServerSettings.from_config(config[0]["config"])
            except ConnectError as exc:
                if db.refused(exc):
                    raise
                wait = self._reach.failed(str(exc), delay)
            except (db.Error, OSError) as exc:
                if isinstance(exc, db.Error) and not _transient(exc):
                    raise SyncschedError(f"database {self._reach.where}: {db.one_line(exc)}") from None
                wait = self._reach.failed(f"database {self._reach.where}: {db.one_line(exc)}", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)
            delay = min(delay * 2, 30.0)
        return None

    @property
    def lease(self) -> float:
        """Seconds of lease per claim and heartbeat: --lease, else the server's lease setting."""
        if self.settings.lease is not None:
            return self.settings.lease
        assert self._health is not None
        return self._health.settings.lease

    # --- the loops ---------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """Healthy while the LISTEN connection is up, the claim loop turns and its round trips reach
        the database."""
        now = time.monotonic()
        stalled = now - self.metrics.last_loop > self.settings.poll_interval * 3 + 5
        if self._stopping.is_set():
            return False, "stopping"
        if not self.metrics.listening:
            return False, "LISTEN connection down"
        if self._failing_since is not None and now - self._failing_since > UNHEALTHY_AFTER:
            return False, f"no database connection for claims and status writes for {now - self._failing_since:.0f} s"
        if stalled:
            return False, "claim loop stalled"
        return True, f"ok: {len(self._inflight)} run(s) in flight"

    def _nudge(self, look: bool = False) -> None:
        """Something for the dispatcher; `look`: there may be work (NOTIFY, poll, reconnect)."""
        self._look = self._look or look
        self._kick.set()

    async def _dispatch_loop(self) -> None:
        """Round trips of complete_and_claim: at most PIPELINE_DEPTH on their way; a second one
        only for a worthwhile number of places (a quarter of --concurrency), so that the first one's
        batch is not cut into slivers."""
        loop = asyncio.get_running_loop()
        while True:
            self.metrics.last_loop = time.monotonic()
            self._kick.clear()
            if not self._launch():
                wait = self.settings.poll_interval
                if self._ready_at is not None:
                    wait = min(wait, max(self._ready_at - loop.time(), 0.0))
                try:
                    # (asyncio.timeout, not wait_for: a cancel that meets a kick must not be lost)
                    async with asyncio.timeout(wait):
                        await self._kick.wait()
                except TimeoutError:
                    # the poll, or a run released by time: the table is the truth, NOTIFY only wakes
                    self._look = True
                    if self._ready_at is not None and self._ready_at <= loop.time():
                        self._ready_at = None

    def _launch(self) -> bool:
        """Send a round trip if there is anything to send; whether one went."""
        if len(self._trips) >= PIPELINE_DEPTH or (self._trip_delay and self._trips):
            return False
        batch = self._done[:MAX_COMPLETIONS]
        # the completions of this round trip free their places in its transaction, before its claim
        free = self.settings.concurrency - len(self._inflight) - self._reserved + len(batch)
        # a completion frees a place under its type's max_concurrency: a run that waited for it may go
        may_be_work = self._look or self._more or bool(batch)
        claiming = may_be_work and not self._stopping.is_set() and not (self._complete_only and batch)
        want = 0
        if free > 0 and claiming:
            want = free if not self._trips or free >= max(1, self.settings.concurrency // 4) else 0
        if not want and (not batch or self._trips):
            return False
        del self._done[: len(batch)]
        if want:
            self._look = False
            self._reserved += want
        trip = asyncio.create_task(self._trip(batch, want))
        self._trips.add(trip)
        return True

    async def _trip(self, batch: list[_Done], want: int) -> None:
        assert self._pool is not None
        try:
            if self._trip_delay:
                await asyncio.sleep(self._trip_delay)
            rows = await db.async_fetch_all(
                self._pool,
                queries.COMPLETE_AND_CLAIM,
                (
                    self.settings.worker_id,
                    [done.run.run_id for done in batch],
                    [done.run.lease_token for done in batch],
                    [done.outcome.http_status for done in batch],
                    [done.outcome.excerpt for done in batch],
                    want,
                    timedelta(seconds=self.lease),
                    # (each run's organization: on Citus the writes go to their shards alone)
                    [done.run.org_id for done in batch],
                ),
            )
        except (db.Error, ConnectError) as exc:
            self._trip_failed(batch, want, exc)
            return
        finally:
            self._reserved -= want
            self._trips.discard(asyncio.current_task())
            self._kick.set()
        self._trip_delay = 0.0
        self._complete_only = False
        self._failing_since = None
        applied = {row["run_id"]: row["applied"] for row in rows if row["applied"] is not None}
        for done in batch:
            held = self._inflight.get(done.run.run_id)
            if held is not None and held.run is done.run:  # its place is free: the claim below counted on it
                del self._inflight[done.run.run_id]
            if not done.recorded.done():
                done.recorded.set_result(applied.get(done.run.run_id, False))
        runs = [Run.from_row(row) for row in rows if row["applied"] is None]
        if want:
            self._more = len(runs) == want
            if not self._more:
                if self._asking is None or self._asking.done():
                    self._asking = asyncio.create_task(self._ask_when_ready())
                else:
                    self._ask_again = True
        if runs:
            self._start(runs)

    async def _ask_when_ready(self) -> None:
        """A claim came back short: when does time alone release a run (a retry backoff or spread
        offset ending, a 429's Retry-After passing, a spent budget's window moving on)? The
        dispatcher claims then rather than at its next poll."""
        assert self._pool is not None
        self._ask_again = True
        while self._ask_again:
            self._ask_again = False
            try:
                rows = await db.async_fetch_all(self._pool, queries.NEXT_CLAIM_IN)
            except (db.Error, ConnectError):
                return  # the poll still comes
            seconds = rows[0]["seconds"] if rows else None
            if seconds is None or seconds >= self.settings.poll_interval:
                continue
            at = asyncio.get_running_loop().time() + max(seconds, 0.0)
            if self._ready_at is None or at < self._ready_at:
                self._ready_at = at
                self._kick.set()  # the dispatcher's wait is shorter now

    def _trip_failed(self, batch: list[_Done], want: int, exc: BaseException) -> None:
        """Nothing of the round trip happened (one transaction): its completions wait for the next,
        however long the database is away (a run whose lease expired meanwhile still takes its
        completion while no other claim has it: better than calling it twice); its claim is tried
        again after a back-off."""
        self._trip_delay = min(max(self._trip_delay * 2, 0.2), 5.0)
        self._complete_only = bool(batch and want)
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        message = db.one_line(exc)
        if batch:
            self._done[:0] = batch
            log.warning(
                "status write of %d completion(s) failed (%s); retrying in %.1f s",
                len(batch),
                message,
                self._trip_delay,
            )
        else:
            # while the LISTEN connection is down too, its retries already say the database is out of reach
            log.log(logging.WARNING if self.metrics.listening else logging.DEBUG, "claim failed: %s", message)
        if want:
            self._look = True

    def _start(self, runs: list[Run]) -> None:
        now = datetime.now(UTC)
        warmups = self._warmups(runs)
        self._tally["claimed"] += len(runs)
        for run in runs:
            self.metrics.child(self.metrics.drift_seconds, run.integration_type).observe(
                max(0.0, (now - run.scheduled_for).total_seconds())
            )
            self._transition(
                run,
                "running",
                "run %d running: %s/%s (%s) attempt %d of %d",
                run.run_id,
                run.org_id,
                run.integration_id,
                run.integration_type,
                run.attempt,
                run.max_attempts,
                level=self._success_level,
            )
            task = asyncio.create_task(self._execute(run, warmups.get(run.integration_type)))
            self._inflight[run.run_id] = _InFlight(run, task)
            task.add_done_callback(functools.partial(self._finished, run.run_id))
        self.metrics.in_flight.set(len(self._inflight))

    def _transition(
        self,
        run: Run,
        status: str,
        message: str,
        *args: Any,
        outcome: Outcome | None = None,
        seconds: float | None = None,
        applied: bool = True,
        level: int = logging.INFO,
    ) -> None:
        """Log a run's move to `status`; with --log-format json its fields are keys of the line."""
        if not log.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "run_id": run.run_id,
            "org_id": run.org_id,
            "integration_id": run.integration_id,
            "integration_type": run.integration_type,
            "attempt": run.attempt,
            "max_attempts": run.max_attempts,
            "status": status,
            "http_status": outcome.http_status if outcome is not None else None,
            "duration_ms": round(seconds * 1000) if seconds is not None else None,
            "worker_id": self.settings.worker_id,
        }
        if outcome is not None and outcome.error:
            fields["error"] = outcome.error
        if not applied:
            fields["stale"] = True  # the write changed nothing: another worker holds the run now
        log.log(level, message, *args, extra={"fields": fields})

    def _warmups(self, runs: list[Run]) -> dict[str, asyncio.Task[None]]:
        """One warm-up per idle endpoint of this claim; its runs wait for it."""
        assert self._health is not None
        warmups: dict[str, asyncio.Task[None]] = {}
        for run in runs:
            if run.warmup and run.health_url and run.integration_type not in warmups:
                endpoint = Endpoint(
                    run.integration_type, run.health_url, run.health_method, run.timeout_ms, run.connect_timeout_ms
                )
                warmups[run.integration_type] = self._health.warm_up(endpoint, claimed=True)
        return warmups

    def _finished(self, run_id: int, task: asyncio.Task[None]) -> None:
        held = self._inflight.get(run_id)
        if held is not None and held.task is task:  # not a newer claim of the same run
            del self._inflight[run_id]
        self.metrics.in_flight.set(len(self._inflight))
        self._kick.set()  # a place is free

    async def _execute(self, run: Run, warmup: asyncio.Task[None] | None) -> None:
        assert self._invoker is not None
        if warmup is not None:
            await asyncio.shield(warmup)  # shared by the runs of this claim: a lost lease must not cancel it
        started = time.monotonic()
        outcome = await self._invoker.call(run)
        seconds = time.monotonic() - started
        metrics = self.metrics
        metrics.child(metrics.call_seconds, run.integration_type).observe(seconds)
        if outcome.http_status is not None:
            metrics.child(metrics.http_statuses, run.integration_type, str(outcome.http_status)).inc()
        applied = await self._record(run, outcome, seconds)
        kind = outcome.kind if applied else "stale"
        metrics.child(metrics.runs, run.integration_type, kind).inc()
        self._tally[kind] += 1

    async def _record(self, run: Run, outcome: Outcome, seconds: float) -> bool:
        if outcome.kind == "completed":
            loop = asyncio.get_running_loop()
            done = _Done(run, outcome, loop.create_future())
            self._done.append(done)
            self._kick.set()
            applied = await done.recorded
            self._transition(
                run,
                "completed",
                "run %d completed: HTTP %s in %.0f ms%s",
                run.run_id,
                outcome.http_status,
                seconds * 1000,
                "" if applied else " (stale)",
                outcome=outcome,
                seconds=seconds,
                applied=applied,
                level=self._success_level if applied else logging.INFO,
            )
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
                run.org_id,
            ),
        )
        applied = bool(rows and rows[0]["applied"])
        will_retry = outcome.kind == "retry" and run.attempt < run.max_attempts
        self._transition(
            run,
            "pending" if will_retry else "failed",
            "run %d %s: %s%s",
            run.run_id,
            "failed, will retry" if will_retry else "failed",
            outcome.error,
            "" if applied else " (stale: another worker holds it now)",
            outcome=outcome,
            seconds=seconds,
            applied=applied,
        )
        return applied

    async def _write(self, query: str, params: tuple[Any, ...]) -> list[db.Row]:
        """A status write, retried while the database is unreachable: for as long as it takes while
        the worker runs, for up to a lease once it is stopping."""
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delay = 0.2
        while True:
            try:
                return await db.async_fetch_all(self._pool, query, params)
            except (db.Error, ConnectError) as exc:
                if deadline is None and self._stopping.is_set():
                    deadline = loop.time() + self.lease
                if deadline is not None and loop.time() + delay > deadline:
                    log.error("status write abandoned after a lease of retries at shutdown: %s", db.one_line(exc))
                    return []
                log.warning("status write failed (%s); retrying in %.1f s", db.one_line(exc), delay)
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
                        [h.run.org_id for h in held],
                    ),
                )
            except db.Error as exc:
                log.warning("heartbeat failed: %s", db.one_line(exc))
                continue
            sent = {h.run.run_id: h for h in held}
            for row in rows:
                lost = self._inflight.get(row["run_id"])
                # (the same run may be held again under a new claim: a claim lost with a crashed primary)
                if not row["applied"] and lost is not None and lost is sent.get(row["run_id"]):
                    self._transition(
                        lost.run, "lost", "run %d: lease lost, abandoning it", lost.run.run_id, level=logging.WARNING
                    )
                    lost.task.cancel()

    async def _summary_loop(self) -> None:
        """One line a minute of what the runs came to, for the operator who does not read every run's."""
        while True:
            await asyncio.sleep(SUMMARY_EVERY)
            tally, self._tally = self._tally, collections.Counter()
            if tally:
                log.info(
                    "last %.0f s: %d run(s) claimed; %d completed, %d failed (retryable), %d failed, %d stale;"
                    " %d in flight",
                    SUMMARY_EVERY,
                    tally["claimed"],
                    tally["completed"],
                    tally["retry"],
                    tally["failed"],
                    tally["stale"],
                    len(self._inflight),
                    extra={"fields": {"summary": dict(tally), "in_flight": len(self._inflight)}},
                )

    async def _reap_loop(self) -> None:
        """Runs whose worker stopped renewing their lease come back within a poll interval of its
        expiry, whether or not any worker claims (the tick reaps too, each minute). Not during an
        outage, nor in the first seconds after it: every lease may look expired then (a failover),
        and the other workers' outcomes kept meanwhile should reach their runs before another claim
        does. The outage lasts until the LISTEN connection is back: the pool may find the new
        primary first."""
        assert self._pool is not None
        while True:
            await asyncio.sleep(self.settings.poll_interval)
            if not self.metrics.listening or time.monotonic() - self._back_at < REAP_PAUSE_AFTER_OUTAGE:
                continue
            try:
                rows = await db.async_fetch_all(self._pool, queries.REAP_EXPIRED_RUNS)
            except (db.Error, ConnectError) as exc:
                log.debug("reaping failed: %s", db.one_line(exc))
                continue
            if rows and rows[0]["reaped"]:
                log.info("%d run(s) whose lease expired taken back", rows[0]["reaped"])

    async def _settings_loop(self) -> None:
        """Settings changed by a DBA reach the worker."""
        assert self._health is not None
        while True:
            await asyncio.sleep(self.settings.settings_interval)
            await self._health.load_settings()

    async def _read_gauges(self) -> None:
        """The database's per-type gauges, as of this scrape; none while it cannot be read (no stale values)."""
        assert self._pool is not None
        rows: list[db.Row] = []
        try:
            rows = await asyncio.wait_for(db.async_fetch_all(self._pool, queries.WORKER_GAUGES), GAUGE_TIMEOUT)
        except (db.Error, ConnectError, OSError, TimeoutError) as exc:
            log.debug("gauges not read: %s", db.one_line(exc))
        self.metrics.set_queue(rows)

    async def _database_back(self) -> None:
        """The LISTEN connection is back after an outage (a restart, a failover): the pool's own
        reconnection may be backing off for a minute, so it is renewed, and the completions kept
        meanwhile go at once."""
        assert self._pool is not None
        # the next round trip goes almost at once; and none goes beside the one on its way, which
        # fails as the old pool closes and carries completions that must be written before any claim
        self._trip_delay = 0.1
        await self._pool.renew()
        self._back_at = time.monotonic()
        log.info("database back: connection pool renewed")

    async def _listen(self, name: str) -> None:
        backoff = 0.5
        outage = False  # the connection was lost, or never made: the pool may be backing off
        while not self._stopping.is_set():
            connected = False
            try:
                conn = await db.async_connect(self.settings.dsn, application_name=name)
                async with conn:
                    await db.listen(conn, queries.RUNS_CHANNEL)
                    await db.listen(conn, queries.ALERTS_CHANNEL)
                    log.info("listening on %s at %s", queries.RUNS_CHANNEL, db.server_of(conn))
                    if outage:
                        await self._database_back()
                    connected = self.metrics.listening = True
                    outage = False
                    self._reach.reached()
                    self._nudge(look=True)  # claim at once after every (re)connect
                    backoff = 0.5
                    while not self._stopping.is_set():
                        async for channel, payload in db.notifications(conn, self.settings.liveness_interval):
                            if channel == queries.ALERTS_CHANNEL:
                                assert self._alerts is not None
                                self._alerts.notified(payload)
                            else:
                                self._nudge(look=True)
                        # a dead or half-open connection fails here, or does not answer in time
                        await asyncio.wait_for(db.ping(conn), timeout=self.settings.liveness_interval)
            except (db.Error, ConnectError, OSError, TimeoutError) as exc:
                self.metrics.listening = False
                outage = True
                if isinstance(exc, TimeoutError):
                    reason = f"no answer within {self.settings.liveness_interval:g} s"
                else:
                    reason = db.one_line(exc)
                try:
                    wait = self._reach.failed(f"LISTEN connection lost: {reason}" if connected else reason, backoff)
                except Unreachable as gave_up:
                    log.error("%s", gave_up)
                    self._gave_up = gave_up
                    self._stop()
                    # a claim waiting for a connection would wait for the pool's timeout: nothing to lose
                    for trip in self._trips:
                        trip.cancel()
                    return
                await asyncio.sleep(wait)
                # a new primary is found within a couple of seconds of accepting connections
                backoff = min(backoff * 2, db.MAX_RECONNECT_DELAY)

    async def _drain(self) -> None:
        """Let calls in flight finish within the grace period; give the rest back."""
        held = list(self._inflight.values())
        if held:
            await asyncio.wait([h.task for h in held], timeout=self.settings.grace)
        # together: while the database is out of reach, each release retries for up to a lease
        await asyncio.gather(*(self._release(h) for h in held if not h.task.done()))

    async def _release(self, held: _InFlight) -> None:
        held.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await held.task
        run = held.run
        rows = await self._write(
            queries.RELEASE_RUN, (run.run_id, run.lease_token, self.settings.worker_id, run.org_id)
        )
        applied = bool(rows and rows[0]["applied"])
        self._transition(
            run,
            "pending" if run.attempt < run.max_attempts else "failed",
            "run %d released at shutdown%s",
            run.run_id,
            "" if applied else " (stale)",
            applied=applied,
        )


def run_worker(settings: WorkerSettings, stop_fd: int | None = None) -> int:
    """Run a worker to completion on uvloop (a faster event loop) where it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(Worker(settings).run(stop_fd))
    return uvloop.run(Worker(settings).run(stop_fd))
