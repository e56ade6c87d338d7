"""`syncsched demo` as a user runs it: the real pg_cron tick drives the runs, the faults it simulates
show on its screen and in its web console, and nothing is left running however it is stopped."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_syncsched
from syncsched import db, localpg

SYNCSCHED = str(Path(sys.executable).parent / "syncsched")
NO_DSN = {"SYNCSCHED_DSN": "", "DATABASE_URL": ""}
# wide enough that no cell of the final tables wraps the words the test looks for
WIDE = {"COLUMNS": "200"}
CONSOLE_LINE = re.compile(r"web console on (http://\S+) : sign in with the admin token (ssw_[0-9a-f]+)")


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


class DemoProcess:
    """`syncsched demo ... 2>&1 | reader`: the test reads its output when it waits for something."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [SYNCSCHED, "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **NO_DSN, **WIDE},
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.received = b""
        self.eof = False

    def _read(self, timeout: float) -> None:
        if self.eof:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            chunk = os.read(self.fd, 65536)
            self.received += chunk
            self.eof = not chunk

    @property
    def output(self) -> str:
        return self.received.decode()

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.eof:
            self._read(0.2)
            found = pattern.search(self.output)
            if found:
                return found
        raise AssertionError(f"no {pattern.pattern!r} in the demo's output:\n{self.output}")

    def started(self, cluster: localpg.LocalCluster) -> set[int]:
        """Everything it started, seen while it runs: its children and the server's processes."""
        pids = children_of({self.proc.pid}) - {self.proc.pid}
        pid = cluster.postmaster_pid()
        assert pid is not None
        return pids | children_of({pid})

    def close_output(self) -> None:
        """The reader goes away: every later write of the demo fails (EPIPE)."""
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.eof = True

    def finish(self, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._read(1.0)
        self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        return self.output


def console_get(url: str, token: str, timeout: float = 30) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def completed_runs(url: str, token: str) -> list[object]:
    page = console_get(url + "api/v1/runs?status=completed", token)
    assert isinstance(page, dict)
    return list(page["items"])


def first_live_event(url: str, token: str, timeout: float) -> str:
    """The first server-sent event of the console's live feed (a run changed, an alert)."""
    request = urllib.request.Request(url + "events", headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(request, timeout=timeout) as stream:
        while time.monotonic() < deadline:
            line = stream.readline().decode()
            if line.startswith("data:"):
                return line
    raise AssertionError("no live event from the console")


def faults_line(output: str) -> dict[str, int]:
    """The counts of the last summary line: retried, rate limited, cold start(s), open alert(s)."""
    last = [line for line in output.splitlines() if "; faults: " in line][-1]
    return {name: int(n) for n, name in re.findall(r"(\d+) (retried|rate limited|cold start|open alert)", last)}


def reachable_folder() -> Path:
    """A folder the postgres user reaches (pytest's tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="syncsched-demo-"))
    os.chmod(root, 0o755)
    return root


@pytest.mark.slow
def test_demo_shows_its_faults_live_in_two_minutes_and_leaves_nothing_running() -> None:
    root = reachable_folder()
    cluster_dir = root / "cluster"
    cluster = localpg.persistent(cluster_dir)
    try:
        demo = DemoProcess("--duration", "120", "--dir", str(cluster_dir))
        console = demo.wait_for(CONSOLE_LINE)
        url, token = console.group(1), console.group(2)
        # the console shows the demo live: the first tick's runs reach it as events, then in its lists
        assert "data:" in first_live_event(url, token, timeout=90)
        deadline = time.monotonic() + 90
        while not completed_runs(url, token) and time.monotonic() < deadline:
            time.sleep(2)
        assert completed_runs(url, token)
        assert console_get(url + "api/v1/health", token) == {"status": "ok", "database": True, "live": True}
        started = demo.started(cluster)
        output = demo.finish()
        assert demo.proc.returncode == 0, output
        assert len(started) > 6, "the demo started less than a server, a simulator, a worker and a console"
        assert [pid for pid in started if alive(pid)] == [], output
        assert not (cluster.datadir / "postmaster.pid").exists()

        # within its two minutes it showed each fault it simulates, from the attempts history
        counts = faults_line(output)
        assert counts["retried"] >= 1 and counts["rate limited"] >= 1, output
        assert counts["cold start"] >= 1 and counts["open alert"] >= 1, output
        final_view = output.split("Faults and what followed", 1)[1]
        for shown in ("HTTP 429", "Retry-After 5 s", "retried after", "cold start", "warm-up took"):
            assert shown in final_view, output
        assert "First run completed" in output
        # piped: whole lines, not wrapped at 80 columns
        assert max(len(line) for line in output.splitlines()) > 100
        simulated = (cluster_dir / "simulator.log").read_text().splitlines()
        assert any(" POST /dynamics 429 " in line and "Retry-After" in line for line in simulated)

        # the data stays, for `syncsched status`, which starts the cluster for the look and stops it again
        status = run_syncsched("status", "--dir", str(cluster_dir), env=NO_DSN)
        assert status.returncode == 0, status.stderr
        assert "Recent runs" in status.stdout and "completed" in status.stdout
        assert not (cluster.datadir / "postmaster.pid").exists()

        # and shows that pg_cron's tick created the runs the worker completed
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
            assert db.fetch_value(conn, "select count(*) from syncsched.web_tokens where revoked_at is null") == 0
            # a run left pending for the next demo on this folder, and no run of its own for that one
            # (its scheduling paused: whenever a tick comes, it creates nothing)
            db.execute(conn, "select syncsched.run_now('org001', 'dynamics-sync', true)")
            db.execute(conn, "select syncsched.pause_scheduling()")
        cluster.stop()

        # the folder reused: the screen counts this demo only, while the worker completes the old run
        again = DemoProcess("--duration", "10", "--dir", str(cluster_dir))
        output = again.finish(timeout=120)
        assert again.proc.returncode == 0, output
        assert "runs: none yet" in [line for line in output.splitlines() if "; faults: " in line][-1], output
        assert "First run completed" not in output, output
        with db.connect(cluster.start()) as conn:
            assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log where trigger = 'manual'") == (
                "completed"
            )
        cluster.stop()
    finally:
        cluster.destroy()
        subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One data folder for the stop tests (started anew, then reused). As root, in a folder the postgres
    user cannot enter (pytest's are private to root): the cluster goes where that user reaches it."""
    folder = tmp_path_factory.mktemp("demo") / "project" / ".syncsched"
    yield folder
    localpg.persistent(folder).destroy()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_stops_everything_when_the_output_is_gone(demo_folder: Path, signum: signal.Signals) -> None:
    """`syncsched demo 2>&1 | tee log`, then Ctrl-C: tee is gone before the demo handles the signal,
    and every write fails. SIGTERM (a background job) and SIGHUP (the terminal closed) likewise."""
    demo = DemoProcess("--orgs", "5", "--dir", str(demo_folder))
    demo.wait_for(CONSOLE_LINE)
    cluster = localpg.persistent(demo_folder)
    if os.geteuid() == 0:
        assert cluster.relocated
    started = demo.started(cluster)
    demo.close_output()
    demo.proc.send_signal(signum)
    demo.finish(timeout=90)
    assert demo.proc.returncode == 0
    assert [pid for pid in started if alive(pid)] == []
    assert not (cluster.datadir / "postmaster.pid").exists()
    with db.connect(cluster.start()) as conn:
        assert db.fetch_value(conn, "select count(*) from cron.job") == 0, "the tick job outlived the demo"
    cluster.stop()
