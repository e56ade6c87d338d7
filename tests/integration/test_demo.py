"""`syncsched demo` as a user runs it: the real pg_cron tick drives the runs, and nothing is left running."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import run_syncsched
from syncsched import db, localpg


def children_of(pids: set[int]) -> set[int]:
    """Every process descending from `pids`."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found = set(pids)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_demo_runs_on_the_real_pg_cron_tick_and_leaves_nothing_running() -> None:
    root = Path(tempfile.mkdtemp(prefix="syncsched-demo-"))
    os.chmod(root, 0o755)  # reachable by the postgres user when run as root
    cluster_dir = root / "cluster"
    try:
        demo = subprocess.Popen(
            [str(Path(sys.executable).parent / "syncsched"), "demo", "--duration", "100", "--dir", str(cluster_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # everything it started, seen while it runs: its children and the server's processes
        time.sleep(60)
        started = children_of({demo.pid}) - {demo.pid}
        postmaster = int((cluster_dir / "data" / "postmaster.pid").read_text().split()[0])
        started |= children_of({postmaster})
        output, _ = demo.communicate(timeout=180)
        assert demo.returncode == 0, output
        assert len(started) > 5, "the demo started less than a server, a simulator and a worker"
        assert [pid for pid in started if alive(pid)] == [], output
        assert not (cluster_dir / "data" / "postmaster.pid").exists()
        assert "First run completed" in output

        # the data stays, for `syncsched status`, which starts the cluster for the look and stops it again
        status = run_syncsched("status", "--dir", str(cluster_dir), env={"SYNCSCHED_DSN": "", "DATABASE_URL": ""})
        assert status.returncode == 0, status.stderr
        assert "Recent runs" in status.stdout and "completed" in status.stdout
        assert not (cluster_dir / "data" / "postmaster.pid").exists()

        # and shows that pg_cron's tick created the runs the worker completed
        cluster = localpg.persistent(cluster_dir)
        with db.connect(cluster.start()) as conn:
            ticks = db.fetch_value(
                conn,
                "select count(*) from cron.job_run_details where command = 'CALL syncsched.tick()'"
                " and status = 'succeeded'",
            )
            assert ticks >= 1
            completed = db.fetch_value(
                conn, "select count(*) from syncsched.sync_run_log where status = 'completed' and trigger = 'schedule'"
            )
            assert completed >= 10
            assert db.fetch_value(conn, "select count(*) from cron.job") == 0, "the tick job outlived the demo"
        cluster.stop()
    finally:
        localpg.persistent(cluster_dir).destroy()
        subprocess.run(["rm", "-rf", str(root)], check=False)
