"""Benchmark `web`: latency of the console's pages and the API's lists at 10^4 and 10^6 rows.

`syncsched web` runs as its own process against the benchmark cluster; for each size, 10^N
integrations and 10^N runs are loaded set-based (then a checkpoint, so that writing the load out
does not fall into the measurements), then every page and list is requested 200 times by one
client, in rounds that take each path in turn (after 5 rounds to warm up), so that a passing
disturbance of the machine spreads over the paths. p99 is the nearest rank (the 198th of 200).
Target: p99 at 10^6 at most twice p99 at 10^4.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncsched import db
from web_console import load_at_scale, start_console, token

SIZES = [10_000, 1_000_000]
REQUESTS = 200
WARMUP = 5
PATHS = [
    "",
    "integrations",
    "integrations?q=org12",
    "integrations?status=failing",
    "integrations?sort=next_run",
    "integrations?sort=outcome",
    "integrations?health=unknown&sort=next_run",
    "integrations/org4242/i0",
    "runs",
    "runs?status=failed",
    "alerts",
    "endpoints",
    "api/v1/integrations?limit=50",
    "api/v1/integrations?type=bufdir&limit=50",
    "api/v1/runs?limit=50",
    "api/v1/runs?org=org4242",
]


def _latencies(base: str, secret: str) -> dict[str, list[float]]:
    """Each path's latencies in seconds, REQUESTS each, the paths taken in turn round by round."""
    headers = {"Authorization": f"Bearer {secret}", "Cookie": f"syncsched_token={secret}"}
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    for n in range(WARMUP + REQUESTS):
        for path in PATHS:
            t0 = time.perf_counter()
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=60) as response:
                response.read()
                assert response.status == 200, (path, response.status)
            if n >= WARMUP:
                samples[path].append(time.perf_counter() - t0)
    return samples


def _p(samples: list[float], q: float) -> float:
    """The q-quantile by nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with db.connect(dsn) as conn, tempfile.TemporaryDirectory() as folder:
        for size in SIZES:
            db.execute(
                conn,
                "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.organization_integrations,"
                " syncsched.scheduler_alerts cascade",
            )
            t0 = time.perf_counter()
            load_at_scale(conn, size, size)
            db.execute(conn, "checkpoint")
            progress(f"   loaded {size:,} integrations and {size:,} runs in {time.perf_counter() - t0:.1f} s")
            secret = token(conn, "admin")
            console = start_console(dsn, Path(folder) / f"web-{size}.log")
            try:
                latencies = _latencies(console.url, secret)
                for path in PATHS:
                    samples = latencies[path]
                    row = {
                        "rows": size,
                        "path": "/" + path,
                        "p50_ms": round(statistics.median(samples) * 1000, 1),
                        "p99_ms": round(_p(samples, 0.99) * 1000, 1),
                    }
                    rows.append(row)
                    progress(
                        f"   {size:>9,} rows  {row['path']:<45}"
                        f" p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms"
                    )
            finally:
                console.stop()
        db.execute(
            conn,
            "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.organization_integrations,"
            " syncsched.scheduler_alerts cascade",
        )
    ratios = {}
    for path in PATHS:
        small = next(r for r in rows if r["rows"] == SIZES[0] and r["path"] == "/" + path)
        large = next(r for r in rows if r["rows"] == SIZES[-1] and r["path"] == "/" + path)
        ratios["/" + path] = round(large["p99_ms"] / small["p99_ms"], 2)
    return {
        "rows": rows,
        "p99_ratio_1e6_over_1e4": ratios,
        "worst_p99_ratio": max(ratios.values()),
        "target": {"p99_ratio_at_most": 2.0},
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"web: latency of pages and API lists (one client, {REQUESTS} requests each)",
        f"  {'path':<45} | {'p50 10^4':>9} | {'p99 10^4':>9} | {'p50 10^6':>9} | {'p99 10^6':>9} | ratio",
    ]
    for path, ratio in result["p99_ratio_1e6_over_1e4"].items():
        small = next(r for r in result["rows"] if r["rows"] == SIZES[0] and r["path"] == path)
        large = next(r for r in result["rows"] if r["rows"] == SIZES[-1] and r["path"] == path)
        lines.append(
            f"  {path:<45} | {small['p50_ms']:>9.1f} | {small['p99_ms']:>9.1f} | {large['p50_ms']:>9.1f} |"
            f" {large['p99_ms']:>9.1f} | {ratio:>5.2f}"
        )
    lines.append(f"  worst p99 at 10^6 / p99 at 10^4: {result['worst_p99_ratio']} (target <= 2)")
    return "\n".join(lines)
