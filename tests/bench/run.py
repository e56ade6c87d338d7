"""`make bench`: benchmarks on a throwaway durable cluster, results in tests/bench/results/.

Usage: python tests/bench/run.py [NAME ...]   (default: all)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_capacity
import bench_citus
import bench_cron
import bench_dispatch
import bench_retention
import bench_spread
import bench_tick
import bench_web

from syncsched import localpg
from syncsched.migrate import migrate

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = {
    "cron": bench_cron,
    "tick": bench_tick,
    "spread": bench_spread,
    "dispatch": bench_dispatch,
    "web": bench_web,
    "capacity": bench_capacity,
    "retention": bench_retention,
    "citus": bench_citus,
}


def pg_net_installed() -> bool:
    """pg_net's files are in this PostgreSQL's extension folder (it is not in Debian's packages)."""
    sharedir = subprocess.run(
        [str(localpg.find_bindir() / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return bool(sharedir) and (Path(sharedir) / "extension" / "pg_net.control").exists()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}")
    RESULTS.mkdir(exist_ok=True)
    # durable: commits cost what they cost in production; pg_stat_statements: what the statements cost
    statements = {"shared_preload_libraries": "'pg_cron,pg_stat_statements'", "pg_stat_statements.track": "top"}
    if pg_net_installed():  # (dispatch measures the pg_net transport too; pg_net serves one database)
        statements |= {
            "shared_preload_libraries": "'pg_cron,pg_stat_statements,pg_net'",
            "pg_net.database_name": "'syncsched'",
        }
    with localpg.throwaway(durable=True, extra_settings=statements) as cluster:
        migrate(cluster.dsn())
        for name in args.names or list(BENCHMARKS):
            module = BENCHMARKS[name]
            print(f"== {name}", flush=True)
            result = module.run(cluster.dsn())
            print(module.report(result), flush=True)
            path = RESULTS / f"{name}.json"
            path.write_text(json.dumps(result, indent=2) + "\n")
            print(f"   written to {path}")
            if hasattr(module, "plot"):
                module.plot(result, path.with_suffix(".png"))
                print(f"   plot: {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
