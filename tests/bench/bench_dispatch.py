"""Benchmark `dispatch`: the same work done three ways against the same server and endpoint.

- syncsched: RUNS pending runs to `completed` by `syncsched worker` (one process unless said), each a
  real HTTP POST, at concurrency 5, 50 and 200 as it starts by default, and at 200 with
  SYNCSCHED_LOG_RUNS=failures (no log line for each run that goes right), with a budget that never
  binds, and with --processes 2;
- pgqueuer 1.6.0 at its best: asyncpg driver, batch enqueue, batch_size 100, 1 or 5 consumers in one
  process (and 1 in each of 2 processes), each job doing nothing or POSTing the same kind of body to
  the same endpoint;
- the HTTP-only ceiling: one aiohttp client making the same POSTs, 200 at a time, no database (and
  one in each of 2 processes, 100 at a time each);
- where pg_net is preloaded in the bench cluster: the pg_net transport, NET_RUNS runs sent and
  collected by the database itself (net_step() every 0.2 s, standing in for the collector job), at
  pg_net.batch_size 200 and 1,000, and the latency from net_step's commit to the request.

syncsched in N processes is compared with the peer and the ceiling in N processes.

Each is measured from the first job started to the last one finished, with the PostgreSQL CPU
(/proc of every server process) and commits (pg_stat_database) and WAL (pg_stat_wal) per job, and
the statements' own time (pg_stat_statements, preloaded in the bench cluster). ROUNDS rounds, the
systems interleaved within each, so that a noisy neighbour hits all of them; then the NOTIFY-to-
request latency of single runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from syncsched import db
from syncsched.localpg import free_port

RUNS = int(os.environ.get("DISPATCH_RUNS", "20000"))
ROUNDS = int(os.environ.get("DISPATCH_ROUNDS", "3"))
CONCURRENCIES = [int(c) for c in os.environ.get("DISPATCH_CONCURRENCIES", "5,50,200").split(",")]
# the worker as it starts by default; and at 200 with a line only for the runs that fail
# (concurrency, worker environment, the type's request budget per minute: None, or one that never binds)
SYNCSCHED_CONFIGS: list[tuple[int, dict[str, str], int | None]] = [(c, {}, None) for c in CONCURRENCIES] + [
    (200, {"SYNCSCHED_LOG_RUNS": "failures"}, None),
    (200, {}, 10_000_000),
    (200, {"SYNCSCHED_PROCESSES": "2"}, None),
    (200, {"SYNCSCHED_PROCESSES": "2", "SYNCSCHED_LOG_RUNS": "failures"}, None),
]
HTTP_CONCURRENCY = 200  # the ceiling's client and pgqueuer's cap: as many calls in flight as syncsched's
LATENCY_SAMPLES = 100
NET_RUNS = int(os.environ.get("DISPATCH_NET_RUNS", "5000"))
NET_BATCH_SIZES = (200, 1000)
SYNCSCHED = str(Path(sys.executable).parent / "syncsched")
# extra worker flags (e.g. "--processes 2"), for trying configurations by hand
WORKER_ARGS = os.environ.get("DISPATCH_WORKER_ARGS", "").split()

# The no-op endpoint: another process, aiohttp, answers 200; counts requests, notes when each key arrived.
ENDPOINT = """
import sys, time
from aiohttp import web
arrivals = {}
count = [0]
async def sync(request):
    count[0] += 1
    key = request.headers.get("Idempotency-Key", "")
    if key.startswith("latency/"):
        arrivals[key] = time.time()
    await request.read()
    return web.Response(text='{"ok":true}', content_type="application/json")
async def log(request):
    return web.json_response({"count": count[0], "arrivals": arrivals})
app = web.Application()
app.router.add_post("/{type}", sync)
app.router.add_get("/log", log)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

LOAD_RUNS = """
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
    trigger, max_attempts, payload)
select 'org' || (g %% 100), 'ledger', 'xledger', now(), %s || g, 'schedule', 1, '{"company": 42}'
from generate_series(1, %s) as g
"""

COMPLETED = "select count(*) from syncsched.sync_run_log where status = 'completed'"


# --- what the server spent --------------------------------------------------------------------


def _ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


class ServerCpu:
    """CPU seconds of every PostgreSQL process (backends, walwriter, checkpointer, ...) between
    start and stop: sampled every 0.2 s so that a backend that exits keeps what it used."""

    def __init__(self, admin_dsn: str) -> None:
        self._dsn = admin_dsn
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _pids(self, conn: db.Connection) -> list[int]:
        return [r["pid"] for r in db.fetch_all(conn, "select pid from pg_stat_activity")]

    def _sample(self) -> None:
        with db.connect(self._dsn) as conn:
            while True:
                for pid in self._pids(conn):
                    ticks = _ticks(pid)
                    if ticks is not None:
                        self._first.setdefault(pid, ticks)
                        self._last[pid] = ticks
                if self._stop.wait(0.2):
                    return

    def __enter__(self) -> ServerCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def seconds(self) -> float:
        hz = os.sysconf("SC_CLK_TCK")
        return sum(self._last[pid] - self._first[pid] for pid in self._last) / hz


def _process_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the processes of `worker --processes N`)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:  # ppid
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return sum(_ticks(p) or 0 for p in (pid, *children)) / os.sysconf("SC_CLK_TCK")


def _stats(admin: db.Connection, dbname: str) -> dict[str, float]:
    row = db.fetch_one(
        admin,
        "select d.xact_commit::float8 as commits, w.wal_records::float8 as wal_records,"
        " w.wal_bytes::float8 as wal_bytes, w.wal_sync::float8 as wal_syncs"
        " from pg_stat_database as d cross join pg_stat_wal as w where d.datname = %s",
        (dbname,),
    )
    assert row is not None
    return dict(row)


def _statements(admin: db.Connection, dbname: str, jobs: int) -> tuple[float, list[dict[str, Any]]]:
    """The statements' own time per job (ms), and the costliest statements."""
    rows = db.fetch_all(
        admin,
        "select left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90) as query, s.calls,"
        " s.total_exec_time as total_ms, s.rows"
        " from pg_stat_statements as s join pg_database as d on d.oid = s.dbid"
        " where d.datname = %s and s.query not like '%%bench-poll%%' order by s.total_exec_time desc",
        (dbname,),
    )
    total = sum(r["total_ms"] for r in rows)
    top = [
        {
            "query": r["query"],
            "calls": r["calls"],
            "ms_per_call": round(r["total_ms"] / r["calls"], 3),
            "rows_per_call": round(r["rows"] / r["calls"], 1),
        }
        for r in rows[:5]
    ]
    return total / jobs, top


@contextmanager
def measured(admin_dsn: str, dbname: str, jobs: int, polls: Callable[[], int]) -> Iterator[dict[str, Any]]:
    """Yields a dict that holds, once the block has ended, what the server spent per job. The block
    must end after its clients' connections closed (a backend flushes its counters when it exits)."""
    result: dict[str, Any] = {}
    with db.connect(admin_dsn) as admin:
        db.execute(admin, "select pg_stat_statements_reset()")
        db.execute(admin, "select pg_stat_reset_shared('wal')")
        time.sleep(1.2)  # the counters of idle backends reach shared memory within a second
        before = _stats(admin, dbname)
        with ServerCpu(admin_dsn) as cpu:
            yield result
        time.sleep(1.2)
        after = _stats(admin, dbname)
        statement_ms, top = _statements(admin, dbname, jobs)
    result["pg_cpu_ms_per_job"] = round(cpu.seconds() * 1000 / jobs, 4)
    result["pg_statement_ms_per_job"] = round(statement_ms, 4)
    result["commits_per_job"] = round((after["commits"] - before["commits"] - polls()) / jobs, 4)
    result["wal_bytes_per_job"] = round((after["wal_bytes"] - before["wal_bytes"]) / jobs)
    result["wal_syncs_per_job"] = round((after["wal_syncs"] - before["wal_syncs"]) / jobs, 4)
    result["top_statements"] = top


# --- the endpoint -----------------------------------------------------------------------------


def _endpoint_log(endpoint_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint_url}/log", timeout=10) as response:
        return dict(json.loads(response.read()))


def _wait(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("benchmark step did not finish in time")


# --- syncsched --------------------------------------------------------------------------------


def _syncsched(
    dsn: str, admin_dsn: str, endpoint_url: str, concurrency: int, tag: str, env: dict[str, str], budget: int | None
) -> dict[str, Any]:
    polls = 0
    with db.connect(dsn) as conn:
        db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.request_ledger")
        db.execute(conn, "update syncsched.integration_types set rate_limit = %s, rate_window = '1 minute'", (budget,))
        db.execute(conn, LOAD_RUNS, (f"bench/{tag}/", RUNS))
        db.execute(conn, "vacuum analyze syncsched.sync_run_log")
        seen = _endpoint_log(endpoint_url)["count"]
        with measured(admin_dsn, db.parse_dsn(dsn)["dbname"], RUNS, lambda: polls) as spent:
            worker = subprocess.Popen(
                [SYNCSCHED, "worker", "--dsn", dsn, "--concurrency", str(concurrency), *WORKER_ARGS],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **env},
            )
            try:
                # the endpoint saw every call (no database polling meanwhile), then the last writes
                _wait(lambda: _endpoint_log(endpoint_url)["count"] - seen >= RUNS, 900, 0.25)

                def done() -> bool:
                    nonlocal polls
                    polls += 1
                    return bool(db.fetch_value(conn, COMPLETED + " /* bench-poll */") == RUNS)

                _wait(done, 120)
                worker_cpu = _process_cpu(worker.pid)
            finally:
                worker.terminate()
                worker.wait(timeout=60)
        polls += 1
        elapsed = db.fetch_value(
            conn,
            "select extract(epoch from max(finished_at) - min(started_at))::float8 from syncsched.sync_run_log"
            " /* bench-poll */",
        )
    return {
        "per_second": round(RUNS / elapsed),
        "client_cpu_ms_per_job": round(worker_cpu * 1000 / RUNS, 4),
        **spent,
    }


def _latency(dsn: str, endpoint_url: str) -> dict[str, float]:
    with db.connect(dsn) as conn:
        db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts")
        worker = subprocess.Popen(
            [SYNCSCHED, "worker", "--dsn", dsn, "--poll-interval", "60s", *WORKER_ARGS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)
            committed: dict[str, float] = {}
            for n in range(LATENCY_SAMPLES):
                key = f"latency/{n}"
                # one transaction: the NOTIFY goes out with the commit that makes the run visible
                with db.transaction(conn):
                    db.execute(conn, LOAD_RUNS, (key, 1))
                    db.execute(conn, "select pg_notify('syncsched_runs', 'bench')")
                committed[key + "1"] = time.time()
                _wait(lambda expected=n + 1: db.fetch_value(conn, COMPLETED) == expected, 30, 0.01)
                time.sleep(0.05)
            arrivals = _endpoint_log(endpoint_url)["arrivals"]
            enqueued = {
                r["idempotency_key"]: r["t"]
                for r in db.fetch_all(
                    conn,
                    "select idempotency_key, extract(epoch from enqueued_at)::float8 as t from syncsched.sync_run_log",
                )
            }
        finally:
            worker.terminate()
            worker.wait(timeout=60)

    def percentiles(since: dict[str, float]) -> tuple[float, float]:
        millis = sorted((arrivals[k] - since[k]) * 1000 for k in committed)
        return round(statistics.median(millis), 1), round(millis[math.ceil(len(millis) * 0.99) - 1], 1)

    # from the commit that sent the NOTIFY; and from the run's enqueued_at (its transaction's start)
    p50, p99 = percentiles(committed)
    p50_enqueued, p99_enqueued = percentiles(enqueued)
    return {"p50_ms": p50, "p99_ms": p99, "from_enqueued_p50_ms": p50_enqueued, "from_enqueued_p99_ms": p99_enqueued}


# --- the pg_net transport -----------------------------------------------------------------------


def net_available(dsn: str) -> bool:
    """pg_net preloaded for this database (run.py preloads it where it is installed)."""
    with db.connect(dsn) as conn:
        if not db.fetch_value(conn, "select count(*) from pg_available_extensions where name = 'pg_net'"):
            return False
        db.execute(conn, "create extension if not exists pg_net")
        return db.fetch_value(conn, "select syncsched._net_problem()") is None


@contextmanager
def _net_transport(dsn: str, admin_dsn: str, batch_size: int) -> Iterator[db.Connection]:
    """xledger sent through pg_net, pg_net.batch_size set (pg_net reads it on reload)."""
    with db.connect(admin_dsn) as admin:
        db.execute(admin, f"alter system set pg_net.batch_size = {int(batch_size)}")
        db.execute(admin, "select pg_reload_conf()")
    with db.connect(dsn) as conn:
        db.execute(conn, "update syncsched.integration_types set transport = 'pg_net', auth_secret_env = null")
        db.execute(conn, "select syncsched.set_endpoint_mode('xledger', 'passive')")  # no health check in between
        db.execute(conn, "select syncsched.set_setting('net_batch', '10000')")
        try:
            yield conn
        finally:
            db.execute(conn, "update syncsched.integration_types set transport = 'worker'")
            db.execute(conn, "select syncsched.set_endpoint_mode('xledger', 'active')")
            with db.connect(admin_dsn) as admin:
                db.execute(admin, "alter system reset pg_net.batch_size")
                db.execute(admin, "select pg_reload_conf()")


def _pg_net(dsn: str, admin_dsn: str, endpoint_url: str, batch_size: int, tag: str) -> dict[str, Any]:
    """NET_RUNS runs to completed through pg_net; net_step() every 0.2 s."""
    steps = 0
    with _net_transport(dsn, admin_dsn, batch_size) as conn:
        db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.request_ledger")
        db.execute(conn, LOAD_RUNS, (f"bench/{tag}/", NET_RUNS))
        db.execute(conn, "vacuum analyze syncsched.sync_run_log")
        with measured(admin_dsn, db.parse_dsn(dsn)["dbname"], NET_RUNS, lambda: steps * 2) as spent:

            def done() -> bool:
                nonlocal steps
                steps += 1
                db.fetch_value(conn, "select syncsched.net_step()")
                return bool(db.fetch_value(conn, COMPLETED + " /* bench-poll */") == NET_RUNS)

            _wait(done, 1800, 0.2)
        elapsed = db.fetch_value(
            conn,
            "select extract(epoch from max(finished_at) - min(started_at))::float8 from syncsched.sync_run_log",
        )
    return {"per_second": round(NET_RUNS / elapsed), "client_cpu_ms_per_job": 0.0, **spent}


def _net_latency(dsn: str, admin_dsn: str, endpoint_url: str) -> dict[str, float]:
    """From the commit of the net_step that sent a run to its request at the endpoint (what pg_net adds;
    the collector's period comes on top: 5 s with pg_cron 1.5's job, up to a minute with the tick alone)."""
    with _net_transport(dsn, admin_dsn, 200) as conn:
        db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts")
        committed: dict[str, float] = {}
        for n in range(LATENCY_SAMPLES):
            key = f"latency/net{n}"
            db.execute(conn, LOAD_RUNS, (key, 1))
            db.fetch_value(conn, "select syncsched.net_step()")
            committed[key + "1"] = time.time()
            _wait(lambda k=key + "1": k in _endpoint_log(endpoint_url)["arrivals"], 30, 0.01)
            db.fetch_value(conn, "select syncsched.net_step()")  # collect it
        arrivals = _endpoint_log(endpoint_url)["arrivals"]
    millis = sorted((arrivals[k] - committed[k]) * 1000 for k in committed)
    return {
        "p50_ms": round(statistics.median(millis), 1),
        "p99_ms": round(millis[math.ceil(len(millis) * 0.99) - 1], 1),
    }


# --- pgqueuer ---------------------------------------------------------------------------------


def _asyncpg_args(dsn: str) -> dict[str, Any]:
    params = db.parse_dsn(dsn)
    names = {"host": "host", "port": "port", "user": "user", "password": "password", "dbname": "database"}
    return {theirs: params[ours] for ours, theirs in names.items() if params.get(ours)}


def _body(n: int) -> bytes:
    """What syncsched's worker POSTs for a run, with a job's numbers."""
    return json.dumps(
        {
            "run_id": n,
            "org_id": f"org{n % 100}",
            "integration_id": "ledger",
            "integration_type": "xledger",
            "scheduled_for": "2026-01-01T02:00:00+00:00",
            "attempt": 1,
            "idempotency_key": f"pgq/org{n % 100}/ledger/{n}",
            "payload": {"company": 42},
        }
    ).encode()


async def _pgqueuer_consume(
    dsn: str, consumers: int, http_url: str | None, max_tasks: int | None
) -> tuple[float, float, float]:
    """Drain pgqueuer's queue in this process: (first job started, last finished, CPU seconds)."""
    import aiohttp
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.domain.types import QueueExecutionMode

    first: list[float] = []
    last = [0.0]
    cpu = time.thread_time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def consumer() -> None:
            conn = await asyncpg.connect(**_asyncpg_args(dsn))
            try:
                manager = QueueManager(Queries(AsyncpgDriver(conn)))

                @manager.entrypoint("job")
                async def job(job: Any) -> None:
                    if not first:
                        first.append(time.perf_counter())
                    if http_url is not None:
                        headers = {"Content-Type": "application/json", "Idempotency-Key": f"pgq/{job.id}"}
                        async with session.post(http_url, data=job.payload, headers=headers) as response:
                            await response.read()
                            if response.status != 200:
                                raise RuntimeError(f"HTTP {response.status}")
                    last[0] = time.perf_counter()

                await manager.run(
                    batch_size=100,
                    mode=QueueExecutionMode.drain,
                    max_concurrent_tasks=max_tasks,
                    log_aggregation_interval=timedelta(0),
                )
            finally:
                await conn.close()

        await asyncio.gather(*(consumer() for _ in range(consumers)))
    return (first[0] if first else math.inf), last[0], time.thread_time() - cpu


def _run_in_process(work: Callable[..., Any], args: tuple[Any, ...]) -> tuple[float, float, float]:
    return asyncio.run(work(*args))


def _in_processes(work: Callable[..., Any], shares: list[tuple[Any, ...]]) -> dict[str, Any]:
    """`work(*share)` (a coroutine giving first start, last finish, CPU seconds) for each share, each
    in an event loop of its own process (perf_counter is CLOCK_MONOTONIC: one clock for all)."""
    if len(shares) == 1:
        results = [_run_in_process(work, shares[0])]
    else:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(len(shares), mp_context=context) as pool:
            results = list(pool.map(_run_in_process, [work] * len(shares), shares))
    first = min(r[0] for r in results)
    last = max(r[1] for r in results)
    return {
        "per_second": round(RUNS / (last - first)),
        "client_cpu_ms_per_job": round(sum(r[2] for r in results) * 1000 / RUNS, 4),
    }


async def _pgqueuer_load(dsn: str) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    setup = await asyncpg.connect(**_asyncpg_args(dsn))
    try:
        queries = Queries(AsyncpgDriver(setup))
        await setup.execute("truncate pgqueuer, pgqueuer_log, pgqueuer_statistics")
        await queries.enqueue(["job"] * RUNS, [_body(n) for n in range(RUNS)], [0] * RUNS)
        await setup.execute("vacuum analyze pgqueuer")
    finally:
        await setup.close()


def _pgqueuer_measured(
    dsn: str, admin_dsn: str, consumers: int, http_url: str | None, max_tasks: int | None, processes: int
) -> dict[str, Any]:
    asyncio.run(_pgqueuer_load(dsn))
    with measured(admin_dsn, db.parse_dsn(dsn)["dbname"], RUNS, lambda: 0) as spent:
        rate = _in_processes(_pgqueuer_consume, [(dsn, consumers, http_url, max_tasks)] * processes)
    return {**rate, **spent}


def _install_pgqueuer(dsn: str) -> None:
    from pgqueuer import AsyncpgDriver, Queries

    async def install() -> None:
        import asyncpg

        conn = await asyncpg.connect(**_asyncpg_args(dsn))
        try:
            await Queries(AsyncpgDriver(conn)).install()
        finally:
            await conn.close()

    asyncio.run(install())


# --- the HTTP-only ceiling --------------------------------------------------------------------


async def _ceiling_share(url: str, part: int, parts: int) -> tuple[float, float, float]:
    """This process's share of the ceiling's POSTs (every parts-th from part), at its share of
    HTTP_CONCURRENCY."""
    import aiohttp

    numbers = range(part, RUNS, parts)
    bodies = {n: _body(n) for n in numbers}
    gate = asyncio.Semaphore(HTTP_CONCURRENCY // parts)
    first: list[float] = []
    last = [0.0]
    cpu = time.thread_time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def post(n: int) -> None:
            async with gate:
                if not first:
                    first.append(time.perf_counter())
                headers = {"Content-Type": "application/json", "Idempotency-Key": f"ceiling/{n}"}
                async with session.post(url, data=bodies[n], headers=headers) as response:
                    await response.read()
                last[0] = time.perf_counter()

        await asyncio.gather(*(post(n) for n in numbers))
    return first[0], last[0], time.thread_time() - cpu


def _ceiling(url: str, processes: int) -> dict[str, Any]:
    """The same POSTs with no database, from one aiohttp client per process."""
    return _in_processes(_ceiling_share, [(url, part, processes) for part in range(processes)])


# --- the benchmark ----------------------------------------------------------------------------

PGQUEUER_CONFIGS = [
    # (name, consumers, HTTP call, max_concurrent_tasks per process, processes)
    ("pgqueuer no-op, 1 consumer", 1, False, None, 1),
    ("pgqueuer no-op, 5 consumers", 5, False, None, 1),
    ("pgqueuer HTTP, 1 consumer", 1, True, None, 1),
    ("pgqueuer HTTP, 5 consumers", 5, True, None, 1),
    ("pgqueuer HTTP, 1 consumer, max 200 tasks", 1, True, HTTP_CONCURRENCY, 1),
    # as many processes as the worker's --processes 2 (pgqueuer wants max_concurrent_tasks at least
    # twice its batch: 200 a process)
    ("pgqueuer HTTP, 1 consumer, 2 processes", 1, True, None, 2),
    ("pgqueuer HTTP, 1 consumer, max 200 tasks, 2 processes", 1, True, HTTP_CONCURRENCY, 2),
]
CEILINGS = {1: "HTTP-only ceiling", 2: "HTTP-only ceiling, 2 processes"}


def _processes(name: str) -> int:
    """How many processes a configuration's name says it runs in."""
    return 2 if "PROCESSES=2" in name or "2 processes" in name else 1


def _prepare(dsn: str, endpoint_url: str) -> str:
    """Point the types at the endpoint; the admin DSN (pg_stat_statements lives there); pgqueuer's database."""
    admin_dsn = db.with_database(dsn, "postgres")
    with db.connect(admin_dsn) as admin:
        db.execute(admin, "create extension if not exists pg_stat_statements")
        db.execute(admin, "drop database if exists pgqueuer_bench")
        db.execute(admin, "create database pgqueuer_bench")
    with db.connect(dsn) as conn:
        db.execute(
            conn,
            "update syncsched.integration_types set endpoint_url = %s || '/' || integration_type,"
            " max_concurrency = 10000",
            (endpoint_url,),
        )
        # the no-op endpoint listens on 127.0.0.1 over http: past the SSRF guard
        db.execute(
            conn,
            "update syncsched.settings set value = '127.0.0.1'"
            " where key in ('allowed_private_hosts', 'allowed_insecure_hosts')",
        )
        db.execute(
            conn,
            "insert into syncsched.organization_integrations (org_id, integration_id,"
            " integration_type, interval_minutes, is_enabled)"
            " select 'org' || g, 'ledger', 'xledger', 60, false from generate_series(0, 99) as g"
            " on conflict do nothing",
        )
    _install_pgqueuer(db.with_database(dsn, "pgqueuer_bench"))
    return admin_dsn


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    port = free_port()
    endpoint = subprocess.Popen([sys.executable, "-c", ENDPOINT, str(port)])
    endpoint_url = f"http://127.0.0.1:{port}"
    peer_dsn = db.with_database(dsn, "pgqueuer_bench")
    rounds: list[dict[str, Any]] = []
    try:
        _wait(lambda: _reachable(endpoint_url), 30, 0.1)
        admin_dsn = _prepare(dsn, endpoint_url)
        with_net = net_available(dsn)
        for n in range(ROUNDS):
            results: dict[str, Any] = {}
            for config, (concurrency, env, budget) in enumerate(SYNCSCHED_CONFIGS):
                name = f"syncsched, concurrency {concurrency}" + "".join(f", {k}={v}" for k, v in env.items())
                name += f", rate_limit {budget:,}/min (not binding)" if budget else ""
                tag = f"r{n}s{config}"
                results[name] = _syncsched(dsn, admin_dsn, endpoint_url, concurrency, tag, env, budget)
                progress(f"   round {n + 1}: {_line(name, results[name])}")
            for name, consumers, http, max_tasks, processes in PGQUEUER_CONFIGS:
                url = f"{endpoint_url}/pgqueuer" if http else None
                results[name] = _pgqueuer_measured(peer_dsn, admin_dsn, consumers, url, max_tasks, processes)
                progress(f"   round {n + 1}: {_line(name, results[name])}")
            for processes, name in CEILINGS.items():
                results[name] = _ceiling(f"{endpoint_url}/ceiling", processes)
                progress(f"   round {n + 1}: {_line(name, results[name])}")
            for batch_size in NET_BATCH_SIZES if with_net else ():
                name = f"syncsched through pg_net, pg_net.batch_size {batch_size}"
                results[name] = _pg_net(dsn, admin_dsn, endpoint_url, batch_size, f"r{n}n{batch_size}")
                progress(f"   round {n + 1}: {_line(name, results[name])}")
            rounds.append(results)
        latency = _latency(dsn, endpoint_url)
        progress(f"   NOTIFY-to-request latency: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
        if with_net:
            latency["pg_net"] = _net_latency(dsn, admin_dsn, endpoint_url)
            progress(
                f"   pg_net: net_step commit to request: p50 {latency['pg_net']['p50_ms']} ms,"
                f" p99 {latency['pg_net']['p99_ms']} ms"
            )
        else:
            progress("   pg_net is not preloaded in the bench cluster (not installed here): its transport is left out")
    finally:
        endpoint.terminate()
        endpoint.wait(timeout=30)
    return _summary(rounds, latency)


def _reachable(url: str) -> bool:
    try:
        _endpoint_log(url)
    except OSError:
        return False
    return True


def _line(name: str, result: dict[str, Any]) -> str:
    text = f"{name:<58} {result['per_second']:>7} /s"
    if "pg_cpu_ms_per_job" in result:
        text += (
            f"   PG CPU {result['pg_cpu_ms_per_job']:.3f} ms/job, commits {result['commits_per_job']:.4f}/job,"
            f" WAL syncs {result['wal_syncs_per_job']:.4f}/job"
        )
    text += f"{',' if 'pg_cpu_ms_per_job' in result else ' '} client CPU {result['client_cpu_ms_per_job']:.3f} ms/job"
    return text


def _summary(rounds: list[dict[str, Any]], latency: dict[str, float]) -> dict[str, Any]:
    ours = [name for name in rounds[0] if name.startswith("syncsched, concurrency 200")]
    peers_http = [name for name, _, http, _, _ in PGQUEUER_CONFIGS if http]
    peers_noop = [name for name, _, http, _, _ in PGQUEUER_CONFIGS if not http]
    ratios: dict[str, list[float]] = {}
    best_peer_names = []
    for results in rounds:
        # each against the peer and the ceiling in as many processes as it runs in
        best_http = {
            processes: max(
                (name for name in peers_http if _processes(name) == processes),
                key=lambda name: results[name]["per_second"],
            )
            for processes in CEILINGS
        }
        best_peer_names.append(best_http)
        for name in ours:
            rate, processes = results[name]["per_second"], _processes(name)
            peer, ceiling = results[best_http[processes]], results[CEILINGS[processes]]
            ratios.setdefault(f"{name} / best pgqueuer with HTTP", []).append(rate / peer["per_second"])
            ratios.setdefault(f"{name} / HTTP ceiling", []).append(rate / ceiling["per_second"])
    names = list(rounds[0])
    return {
        "jobs": RUNS,
        "rounds": len(rounds),
        "worker_args": WORKER_ARGS,
        "per_second": {name: _spread([r[name]["per_second"] for r in rounds]) for name in names},
        "ratios_at_concurrency_200": {name: _spread(values) for name, values in ratios.items()},
        "best_pgqueuer_with_http": best_peer_names,
        "pgqueuer_no_op_best": _spread([max(r[name]["per_second"] for name in peers_noop) for r in rounds]),
        "server_per_job": {
            name: {
                key: _spread([r[name][key] for r in rounds])
                for key in ("pg_cpu_ms_per_job", "pg_statement_ms_per_job", "commits_per_job", "wal_syncs_per_job")
            }
            for name in names
            if "pg_cpu_ms_per_job" in rounds[0][name]
        },
        "client_cpu_ms_per_job": {name: _spread([r[name]["client_cpu_ms_per_job"] for r in rounds]) for name in names},
        "notify_to_request_latency": latency,
        "rounds_detail": rounds,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"dispatch: {result['jobs']} jobs per system, {result['rounds']} rounds (median, min-max); ratios against"
        " the peer and the ceiling in as many processes"
        + (f"; worker flags {' '.join(result['worker_args'])}" if result["worker_args"] else "")
    ]
    for name, spread in result["per_second"].items():
        server = result["server_per_job"].get(name)
        text = f"  {name:<58} {spread['median']:>8.0f} /s ({spread['min']:.0f}-{spread['max']:.0f})"
        if server:
            text += (
                f"  PG CPU {server['pg_cpu_ms_per_job']['median']:.3f} ms/job,"
                f" commits {server['commits_per_job']['median']:.4f}/job,"
            )
        text += f"  client CPU {result['client_cpu_ms_per_job'][name]['median']:.3f} ms/job"
        lines.append(text)
    for name, spread in result["ratios_at_concurrency_200"].items():
        lines.append(f"  {name}: {spread['median']:.2f} ({spread['min']:.2f}-{spread['max']:.2f})")
    latency = result["notify_to_request_latency"]
    lines.append(f"  NOTIFY-to-request latency: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
    if "pg_net" in latency:
        net = latency["pg_net"]
        lines.append(f"  pg_net: net_step commit to request: p50 {net['p50_ms']} ms, p99 {net['p99_ms']} ms")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["per_second"])
    medians = [result["per_second"][n]["median"] for n in names]
    lows = [m - result["per_second"][n]["min"] for n, m in zip(names, medians, strict=True)]
    highs = [result["per_second"][n]["max"] - m for n, m in zip(names, medians, strict=True)]
    palette = {"syncsched": "#4477aa", "pgqueuer": "#aa7744"}
    colours = [palette.get(n.split(" ")[0].rstrip(","), "#777777") for n in names]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.barh(names, medians, xerr=[lows, highs], color=colours)
    ax.invert_yaxis()
    ax.set_xlabel("jobs per second (median of rounds, bars: min-max)")
    ax.set_title("dispatch: jobs per second, the same POST per job (no-op: none)", loc="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
