"""A pg_auto_failover formation on loopback for the failover tests: a monitor and two nodes, each run
by its own `pg_autoctl run` (Debian: postgresql-15-auto-failover), pg_cron preloaded on both nodes.

The monitor's health checks are tightened from their defaults (a failover in about 50 s) to a few
seconds. A node is killed as a machine dies: its keeper, its postmaster and every backend at once
(SIGKILL to its process group), so that no keeper restarts the server and the monitor promotes the
other node itself."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from syncsched import db, localpg
from syncsched.errors import ConnectError

PG_AUTOCTL = shutil.which("pg_autoctl")
DBNAME = "syncsched"
# promoted, a node stays read-only (default_transaction_read_only) until the monitor says wait_primary
WRITABLE = "select not pg_is_in_recovery() and current_setting('transaction_read_only') = 'off'"
# the monitor's decision in seconds, not in the ~50 s of its defaults (5 s checks, 20 s unhealthy, 30 s demote)
MONITOR_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_buffers": "'32MB'",
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    "pgautofailover.primary_demote_timeout": "3000",
}
NODE_SETTINGS = {
    "shared_preload_libraries": "'pg_stat_statements,pg_cron'",  # pg_autoctl's own, then pg_cron
    "cron.database_name": f"'{DBNAME}'",
    "cron.use_background_workers": "on",
    "max_worker_processes": "32",
    "shared_buffers": "'128MB'",  # pg_autoctl sizes it for a machine of its own
    "timezone": "'UTC'",
    # pg_autoctl's pg_basebackup waits for a spread checkpoint (~90 s); unthrottled it is immediate
    "checkpoint_completion_target": "0",
}


def available() -> str | None:
    """Why the formation cannot be built here, or None."""
    if PG_AUTOCTL is None:
        return "pg_autoctl is not installed (Debian: apt-get install postgresql-15-auto-failover)"
    return None


@dataclass
class Node:
    """One server of the formation and the `pg_autoctl run` that keeps it."""

    formation: Formation
    name: str
    port: int
    dbname: str = DBNAME
    keeper: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.formation.root / self.name

    def dsn(self, dbname: str | None = None) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname or self.dbname}"

    def run(self) -> None:
        self.keeper = self.formation.spawn("run", "--pgdata", str(self.pgdata), log=self.name)

    def stop(self, mode: str = "immediate") -> None:
        """The machine dies: keeper, postmaster and backends killed together."""
        keepers = [self.keeper] if self.keeper is not None else []
        _kill(keepers, [self.pgdata])

    def promote(self) -> None:
        """Nothing to do but wait: the monitor promotes this node once it has seen the primary die."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(db.Error, ConnectError), db.connect(f"{self.dsn()} connect_timeout=2") as conn:
                if db.fetch_value(conn, WRITABLE):
                    return
            time.sleep(0.1)
        raise AssertionError(f"pg_auto_failover did not promote {self.name} in 60 s")


@dataclass
class Formation:
    """A monitor and its nodes under `root`, owned by the server's user when we are root."""

    root: Path
    bindir: Path = field(default_factory=localpg.find_bindir)
    keepers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def monitor_uri(self) -> str:
        return f"postgres://autoctl_node@127.0.0.1:{self.monitor_port}/pg_auto_failover?sslmode=disable"

    def __post_init__(self) -> None:
        self.monitor_port = localpg.free_port()

    def _command(self, *args: str) -> list[str]:
        env = [f"{k}={self.root}/{v}" for k, v in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "share"))]
        command = ["env", f"HOME={self.root}", f"XDG_RUNTIME_DIR={self.root}", *env, str(PG_AUTOCTL), *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", localpg.SERVER_USER_WHEN_ROOT, "--", *command]
        return command

    def create(self, *args: str, log: str) -> None:
        with (self.root / f"{log}-create.log").open("wb") as out:
            proc = subprocess.run(self._command("create", *args), stdout=out, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            tail = (self.root / f"{log}-create.log").read_text().strip().splitlines()[-5:]
            raise AssertionError(f"pg_autoctl create {args[0]} failed: " + " | ".join(tail))

    def spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        """A `pg_autoctl` service in a process group of its own (how a machine's death is played)."""
        with (self.root / f"{log}.log").open("ab") as out:
            keeper = subprocess.Popen(
                self._command(*args), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd="/"
            )
        self.keepers.append(keeper)
        return keeper

    def settings(self, pgdata: Path, settings: dict[str, str]) -> None:
        """Ours after pg_autoctl's: included last in postgresql.conf (a standby copies both)."""
        (pgdata / "syncsched.conf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write("include = 'syncsched.conf'\n")

    def node(self, name: str) -> Node:
        node = Node(self, name, localpg.free_port())
        self.create(
            "postgres",
            "--pgdata",
            str(node.pgdata),
            "--pgport",
            str(node.port),
            "--pgctl",
            str(self.bindir / "pg_ctl"),
            "--dbname",
            DBNAME,
            "--name",
            name,
            "--hostname",
            "127.0.0.1",
            "--listen",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
            "--monitor",
            self.monitor_uri,
            log=name,
        )
        return node

    def states(self) -> dict[str, str]:
        with db.connect(f"host=127.0.0.1 port={self.monitor_port} user=autoctl_node dbname=pg_auto_failover") as conn:
            return {r["nodename"]: r["reportedstate"] for r in db.fetch_all(conn, "select * from pgautofailover.node")}

    def wait_for_states(self, wanted: dict[str, str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (states := self.states()) != wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"pg_auto_failover: {states}, waited {timeout} s for {wanted}")
            time.sleep(0.2)

    def stop(self) -> None:
        _kill(self.keepers, [pid_file.parent for pid_file in self.root.glob("*/postmaster.pid")])


@contextlib.contextmanager
def formation() -> Iterator[tuple[Node, Node]]:
    """A monitor, a primary and its synchronous secondary (pg_autoctl's default for two nodes), all
    running; yields (primary, secondary). pg_cron is created in the primary's database."""
    root = Path(tempfile.mkdtemp(prefix="syncsched-paf-"))
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        user = pwd.getpwnam(localpg.SERVER_USER_WHEN_ROOT)
        os.chown(root, user.pw_uid, user.pw_gid)
    group = Formation(root)
    try:
        group.create(
            "monitor",
            "--pgdata",
            str(root / "monitor"),
            "--pgport",
            str(group.monitor_port),
            "--pgctl",
            str(group.bindir / "pg_ctl"),
            "--hostname",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
            log="monitor",
        )
        group.settings(root / "monitor", MONITOR_SETTINGS)
        group.spawn("run", "--pgdata", str(root / "monitor"), log="monitor")
        _wait_until_accepting(f"host=127.0.0.1 port={group.monitor_port} user=autoctl_node dbname=pg_auto_failover")
        primary = group.node("node1")
        group.settings(primary.pgdata, NODE_SETTINGS)
        primary.run()
        _wait_until_accepting(primary.dsn())
        with db.connect(primary.dsn()) as conn:
            db.execute(conn, "create extension pg_cron")
        secondary = group.node("node2")
        secondary.run()
        group.wait_for_states({"node1": "primary", "node2": "secondary"}, 60)
        yield primary, secondary
    finally:
        group.stop()
        shutil.rmtree(root, ignore_errors=True)


def _kill(keepers: list[subprocess.Popen[bytes]], pgdatas: list[Path]) -> None:
    """SIGKILL to the keepers' process groups (their postmasters are in them) and to every child
    of those postmasters: each child is a session of its own, and the monitor's health check worker
    does not notice its postmaster's death (it and the logger were left running). The keepers are
    stopped first, so that none starts a postmaster again meanwhile."""
    running = [k for k in keepers if k.poll() is None]
    for keeper in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(keeper.pid, signal.SIGSTOP)
    postmasters = set()
    for pgdata in pgdatas:
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmasters.add(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))
    doomed = list(postmasters)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # (pid (comm) state ppid ...: comm may hold spaces, the last ')' ends it)
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) in postmasters:
                doomed.append(int(stat.parent.name))
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for keeper in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(keeper.pid, signal.SIGKILL)
        keeper.wait()


def _wait_until_accepting(dsn: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with db.connect(f"{dsn} connect_timeout=2"):
                return
        except (db.Error, ConnectError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
