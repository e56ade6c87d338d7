"""Benchmark `web`: latency of the console's pages and the API's lists at 10^4 and 10^6 rows.

`syncsched web` runs as its own process against the benchmark cluster; for each size, 10^N
integrations and 10^N runs are loaded set-based, then every page and list is requested 60 times
(after 5 to warm up) by one client. Target: p99 at 10^6 at most twice p99 at 10^4.
"""

from __future__ import annotations

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
REQUESTS = 60
WARMUP = 5
PATHS = [
    "",
    "integrations",
    "integrations?q=org12",
    "integrations?status=failing",
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


def _latencies(url: str, secret: str) -> list[float]:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {secret}", "Cookie": f"syncsched_token={secret}"}
    )
    samples = []
    for n in range(WARMUP + REQUESTS):
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            assert response.status == 200, (url, response.status)
        if n >= WARMUP:
            samples.append(time.perf_counter() - t0)
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with db.connect(dsn) as conn, tempfile.TemporaryDirectory() as folder:
        for size in SIZES:
            db.execute(
                conn,
                "truncate syncsched.sync_run_log, syncsched.organization_integrations,"
                " syncsched.scheduler_alerts cascade",
            )
            t0 = time.perf_counter()
            load_at_scale(conn, size, size)
            progress(f"   loaded {size:,} integrations and {size:,} runs in {time.perf_counter() - t0:.1f} s")
            secret = token(conn, "admin")
            console = start_console(dsn, Path(folder) / f"web-{size}.log")
            try:
                for path in PATHS:
                    samples = _latencies(console.url + path, secret)
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
            "truncate syncsched.sync_run_log, syncsched.organization_integrations, syncsched.scheduler_alerts cascade",
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
        "web: latency of pages and API lists (one client, 60 requests each)",
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
