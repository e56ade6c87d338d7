"""Benchmark `dispatch`: pending -> completed with one `syncsched worker` process making a real
HTTP call per run to a no-op endpoint in another process, at concurrency 5, 50 and 200; the
NOTIFY-to-request latency of single runs; and, in the same run, pgqueuer draining the same
number of no-op jobs (no HTTP call at all) on the same server.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from syncsched import db
from syncsched.localpg import free_port

RUNS = 10_000
CONCURRENCIES = [5, 50, 200]
LATENCY_SAMPLES = 30
SYNCSCHED = str(Path(sys.executable).parent / "syncsched")

# The no-op endpoint: another process, aiohttp, answers 200 and notes when each request arrived.
ENDPOINT = """
import sys, time
from aiohttp import web
arrivals = {}
async def sync(request):
    arrivals[request.headers.get("Idempotency-Key", "")] = time.time()
    return web.Response(text='{"ok":true}', content_type="application/json")
async def log(request):
    return web.json_response(arrivals)
app = web.Application()
app.router.add_post("/{type}", sync)
app.router.add_get("/arrivals", log)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

LOAD_RUNS = """
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
    trigger, max_attempts)
select 'org' || (g %% 100), 'ledger', 'xledger', now(), 'bench/' || %s || '/' || g, 'schedule', 1
from generate_series(1, %s) as g
"""


def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("benchmark step did not finish in time")


def _ours(dsn: str, endpoint_url: str, concurrency: int) -> float:
    with db.connect(dsn) as conn:
        db.execute(conn, "truncate syncsched.sync_run_log")
        db.execute(conn, LOAD_RUNS, (f"c{concurrency}", RUNS))
        db.execute(conn, "vacuum analyze syncsched.sync_run_log")
        worker = subprocess.Popen(
            [SYNCSCHED, "worker", "--dsn", dsn, "--concurrency", str(concurrency), "--log-format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(
                lambda: (
                    db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'completed'")
                    == RUNS
                ),
                600,
            )
            elapsed = db.fetch_value(
                conn, "select extract(epoch from max(finished_at) - min(started_at)) from syncsched.sync_run_log"
            )
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    return RUNS / float(elapsed)


def _latency(dsn: str, endpoint_url: str) -> dict[str, float]:
    import json
    import urllib.request

    with db.connect(dsn) as conn:
        db.execute(conn, "truncate syncsched.sync_run_log")
        worker = subprocess.Popen(
            [SYNCSCHED, "worker", "--dsn", dsn, "--poll-interval", "60s"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(2)
            keys = []
            for n in range(LATENCY_SAMPLES):
                key = f"latency/{n}"
                db.execute(conn, LOAD_RUNS.replace("'bench/' || %s || '/' || g", "%s"), (key, 1))
                db.execute(conn, "select pg_notify('syncsched_runs', 'bench')")
                keys.append(key)
                _wait(
                    lambda expected=n + 1: (
                        db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'completed'")
                        == expected
                    ),
                    30,
                )
            with urllib.request.urlopen(f"{endpoint_url}/arrivals", timeout=10) as response:
                arrivals = json.loads(response.read())
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
    millis = sorted((arrivals[k] - enqueued[k]) * 1000 for k in keys)
    return {"p50_ms": round(statistics.median(millis), 1), "p99_ms": round(millis[int(len(millis) * 0.99) - 1], 1)}


async def _pgqueuer_drain(dsn: str) -> float:
    import psycopg
    from pgqueuer import PsycopgDriver, Queries, QueueManager
    from pgqueuer.domain.types import QueueExecutionMode

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        driver = PsycopgDriver(conn)
        queries = Queries(driver)
        await queries.install()
        await queries.enqueue(["noop"] * RUNS, [None] * RUNS, [0] * RUNS)
        manager = QueueManager(queries)

        @manager.entrypoint("noop")
        async def noop(_job: Any) -> None:
            return None

        started = time.perf_counter()
        # batch 500: pgqueuer's fastest here (10: ~1,050/s, 50: ~1,470/s, 200: ~1,550/s, 500: ~1,600/s)
        await manager.run(batch_size=500, mode=QueueExecutionMode.drain, log_aggregation_interval=timedelta(0))
        return RUNS / (time.perf_counter() - started)


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    port = free_port()
    endpoint = subprocess.Popen([sys.executable, "-c", ENDPOINT, str(port)])
    endpoint_url = f"http://127.0.0.1:{port}"
    try:
        time.sleep(1.5)
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
        rates = {}
        for concurrency in CONCURRENCIES:
            rates[concurrency] = _ours(dsn, endpoint_url, concurrency)
            progress(f"   syncsched, concurrency {concurrency:>3}: {rates[concurrency]:8.0f} runs/s")
        latency = _latency(dsn, endpoint_url)
        progress(f"   NOTIFY-to-request latency: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
    finally:
        endpoint.terminate()
        endpoint.wait(timeout=30)
    with db.connect(dsn) as conn:
        db.execute(conn, "drop database if exists pgqueuer_bench")
        db.execute(conn, "create database pgqueuer_bench")
    peer = asyncio.run(_pgqueuer_drain(db.with_database(dsn, "pgqueuer_bench")))
    progress(f"   pgqueuer no-op drain: {peer:8.0f} jobs/s")
    best = max(rates.values())
    return {
        "runs": RUNS,
        "syncsched_runs_per_second": {str(c): round(r) for c, r in rates.items()},
        "notify_to_request_latency": latency,
        "pgqueuer_noop_jobs_per_second": round(peer),
        "ratio_best_syncsched_over_pgqueuer": round(best / peer, 3),
        "note": "syncsched makes a real HTTP call per run; pgqueuer's jobs do nothing",
    }


def report(result: dict[str, Any]) -> str:
    lines = [f"dispatch: {result['runs']} runs pending -> completed, one worker process, real HTTP call each"]
    for concurrency, rate in result["syncsched_runs_per_second"].items():
        lines.append(f"  concurrency {concurrency:>3}: {rate:>7} runs/s")
    latency = result["notify_to_request_latency"]
    lines.append(f"  NOTIFY-to-request latency: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
    lines.append(f"  pgqueuer no-op drain: {result['pgqueuer_noop_jobs_per_second']} jobs/s")
    lines.append(f"  ratio best syncsched / pgqueuer = {result['ratio_best_syncsched_over_pgqueuer']}")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"syncsched c={c}" for c in result["syncsched_runs_per_second"]] + ["pgqueuer no-op"]
    values = [*result["syncsched_runs_per_second"].values(), result["pgqueuer_noop_jobs_per_second"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(labels, values, color=["#4477aa"] * (len(values) - 1) + ["#aa7744"])
    ax.set_ylabel("per second")
    ax.set_title("dispatch: runs completed per second (syncsched with an HTTP call each)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
