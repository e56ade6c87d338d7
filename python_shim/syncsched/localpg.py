"""An embedded PostgreSQL cluster with pg_cron: throwaway (tests) or persistent (`.syncsched/`).

PostgreSQL refuses to run as root, so as root every server binary runs as the `postgres` user
(runuser) and the data folder belongs to that user. When that user cannot reach the folder asked
for (a clone under /root), the server's files go to a folder of its own under its home directory,
named after the folder asked for, and the folder asked for records where (cluster.json).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncsched import db, queries
from syncsched.errors import PrerequisiteError, SyncschedError

DEFAULT_DIR = Path(".syncsched")
DEFAULT_DBNAME = "syncsched"
SUPERUSER = "postgres"
SERVER_USER_WHEN_ROOT = "postgres"
REQUIRED_LIBRARIES = ("pg_cron",)
DEBIAN_PACKAGES = "postgresql-15 postgresql-15-cron postgresql-15-pgtap postgresql-15-plpgsql-check"
STATE_FILE = "cluster.json"


def find_bindir() -> Path:
    """PostgreSQL's server binaries: SYNCSCHED_PG_BINDIR, Debian's newest, or pg_config's."""
    explicit = os.environ.get("SYNCSCHED_PG_BINDIR")
    candidates: list[Path] = [Path(explicit)] if explicit else []
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        candidates.append(Path(pg_ctl).parent)
    for candidate in candidates:
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    raise PrerequisiteError(
        "PostgreSQL server binaries not found (initdb, pg_ctl): run `make setup`, or install "
        f"{DEBIAN_PACKAGES}, or set SYNCSCHED_PG_BINDIR"
    )


def _check_libraries(bindir: Path) -> None:
    libdir = bindir.parent / "lib"
    if not libdir.is_dir():  # not a Debian-style layout: the server start will tell
        return
    for library in REQUIRED_LIBRARIES:
        if not (libdir / f"{library}.so").exists():
            raise PrerequisiteError(
                f"{library} is not installed for the PostgreSQL in {bindir.parent} "
                f"(Debian: apt-get install postgresql-{bindir.parent.name}-cron)"
            )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _to_stderr(message: str) -> None:
    print(f"syncsched: {message}", file=sys.stderr, flush=True)


def _make_dirs(path: Path, mode: int) -> list[Path]:
    """Create `path` and its missing parents with `mode`; returns the folders created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
    for folder in missing:
        folder.mkdir(mode=mode)
        os.chmod(folder, mode)  # whatever the umask
    return missing


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LocalCluster:
    """One PostgreSQL cluster for the folder `root`: data in home/data, log in home/postgresql.log,
    where home is root unless the server's user cannot reach root (see the module's docstring)."""

    root: Path
    dbname: str = DEFAULT_DBNAME
    durable: bool = True
    max_connections: int = 100
    extra_settings: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    bindir: Path = field(default_factory=find_bindir)
    notify: Callable[[str], None] = _to_stderr
    home: Path = field(init=False)
    _created: list[Path] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.root.absolute()
        self.home = self._locate_home()

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def logfile(self) -> Path:
        return self.home / "postgresql.log"

    @property
    def statefile(self) -> Path:
        return self.root / STATE_FILE

    @property
    def relocated(self) -> bool:
        return self.home != self.root

    @property
    def _run_as(self) -> str | None:
        return SERVER_USER_WHEN_ROOT if os.geteuid() == 0 else None

    # --- where the server's files are ---------------------------------------

    def _locate_home(self) -> Path:
        """root, or the folder cluster.json names, or (for a new cluster) one the server user reaches."""
        if self._run_as is None or (self.root / "data" / "PG_VERSION").exists():
            return self.root
        recorded = self._read_state().get("home")
        if isinstance(recorded, str) and (Path(recorded) / "data" / "PG_VERSION").exists():
            return Path(recorded)
        nearest = next(p for p in (self.root, *self.root.parents) if p.exists())
        if self._run(["test", "-x", str(nearest)], check=False).returncode == 0:
            return self.root
        return self._home_of_server_user() / "syncsched" / _folder_name(self.root)

    def _home_of_server_user(self) -> Path:
        assert self._run_as is not None
        entry = pwd.getpwnam(self._run_as)
        home = Path(entry.pw_dir)
        if not home.is_dir() or home.stat().st_uid != entry.pw_uid:
            raise PrerequisiteError(
                f"the {self._run_as} user cannot reach {self.root} and has no home folder of its own: "
                "choose a folder it can reach (for example under /tmp) with --dir"
            )
        return home

    # --- process helpers ----------------------------------------------------

    def _command(self, args: Sequence[str]) -> list[str]:
        if self._run_as:
            return ["runuser", "-u", self._run_as, "--", *args]
        return list(args)

    def _run(self, args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self._command(args), capture_output=True, text=True, check=False, cwd="/")
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise SyncschedError(
                f"{Path(args[0]).name} failed: {detail[-1] if detail else proc.returncode} (log: {self.logfile})"
            )
        return proc

    def _pg_ctl(self, action: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bindir / "pg_ctl"), action, "-D", str(self.datadir), *args], check=check)

    def _give_to_server_user(self, *paths: Path) -> None:
        if not self._run_as:
            return
        entry = pwd.getpwnam(self._run_as)
        for path in paths:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # --- lifecycle ----------------------------------------------------------

    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb; what it creates is remembered, so that a failed first start leaves nothing behind."""
        _check_libraries(self.bindir)
        self._created += _make_dirs(self.root, 0o755)
        if self.relocated:
            made = _make_dirs(self.home, 0o700)
            self._created += made
            self._give_to_server_user(*made)
        if not self.datadir.exists():
            self._created += _make_dirs(self.datadir, 0o700)
        if not self.logfile.exists():
            self.logfile.touch()  # pg_ctl, running as the server user, appends to it
            self._created.append(self.logfile)
        self._give_to_server_user(self.datadir, self.logfile)
        args = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]
        if not self.durable:
            args.append("--no-sync")
        self._run(args)
        with (self.datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\ninclude_if_exists = 'syncsched.conf'\n")

    def _remove_created(self) -> None:
        """Undo a first start that failed: stop what may run, remove what it created."""
        with contextlib.suppress(SyncschedError, OSError):
            self.stop(mode="immediate")
        for path in self._created:  # outermost first: what is inside goes with it
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self._created.clear()

    def _write_settings(self, port: int) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": "''",
            "max_connections": str(self.max_connections),
            "shared_preload_libraries": "'pg_cron'",
            "cron.database_name": f"'{self.dbname}'",
            # Jobs run in background workers: no libpq connection, no password.
            "cron.use_background_workers": "on",
            "max_worker_processes": "32",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "timezone": "'UTC'",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(self.extra_settings)
        lines = [f"{key} = {value}" for key, value in settings.items()]
        conf = self.datadir / "syncsched.conf"
        conf.write_text("# written by syncsched.localpg at every start\n" + "\n".join(lines) + "\n")
        self._give_to_server_user(conf)

    def _read_state(self) -> dict[str, object]:
        try:
            state = json.loads(self.statefile.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _write_state(self) -> None:
        state: dict[str, object] = {"port": self.port, "dbname": self.dbname}
        if self.relocated:
            state["home"] = str(self.home)  # how `--dir` finds the cluster again
        self.statefile.write_text(json.dumps(state) + "\n")

    def is_running(self) -> bool:
        if not self.initialized():
            return False
        proc = self._pg_ctl("status", check=False)
        return proc.returncode == 0

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.datadir / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return int(first) if first.strip().isdigit() else None

    def start(self) -> str:
        """Start (initializing when needed) and return the DSN of the scheduler's database."""
        if self.initialized():
            return self._start()
        try:
            self.init()
            if self.relocated:
                self.notify(
                    f"the {self._run_as} user, which runs PostgreSQL, cannot reach {self.root}: "
                    f"the cluster is in {self.home} ({self.statefile} says so)"
                )
            return self._start()
        except BaseException:
            self._remove_created()
            raise

    def _start(self) -> str:
        if self.is_running():
            state_port = self._read_state().get("port")
            self.port = int(state_port) if isinstance(state_port, int) else self.port
            return self.dsn()
        state_port = self._read_state().get("port")
        if self.port is None and isinstance(state_port, int) and port_is_free(state_port):
            self.port = state_port
        for attempt in range(5):
            if self.port is None or attempt > 0:
                self.port = free_port()
            self._write_settings(self.port)
            proc = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile), check=False)
            if proc.returncode == 0:
                break
            if "could not bind" not in self._log_tail():
                raise SyncschedError(f"PostgreSQL did not start: {self._log_tail()}")
        else:
            raise SyncschedError(f"PostgreSQL did not start: {self._log_tail()}")
        self._write_state()
        self._prepare_database()
        self._created.clear()  # a cluster that started is the user's now
        return self.dsn()

    def _log_tail(self) -> str:
        try:
            lines = [line for line in self.logfile.read_text().splitlines() if line.strip()]
        except OSError:
            return "no log"
        return " | ".join(lines[-3:])

    def _prepare_database(self) -> None:
        with db.connect(self.dsn("postgres")) as conn:
            if db.fetch_value(conn, queries.IN_RECOVERY):
                return  # a standby: what its primary has, it has
            if not db.fetch_value(conn, queries.DATABASE_EXISTS, (self.dbname,)):
                db.create_database(conn, self.dbname)
        with db.connect(self.dsn()) as conn:
            if "pg_cron" in str(db.fetch_value(conn, queries.PRELOADED_LIBRARIES)):
                db.execute(conn, queries.CREATE_EXTENSION.format(name="pg_cron"))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and wait until no process of it is left."""
        if not self.initialized():
            return
        pid = self.postmaster_pid()
        if self.is_running():
            self._pg_ctl("stop", "-m", mode, "-w", "-t", "60", check=False)
        if pid is not None:
            deadline = time.monotonic() + 30
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def restart(self, mode: str = "fast") -> None:
        """pg_ctl restart, keeping the port (used by fault tests)."""
        self._pg_ctl("restart", "-m", mode, "-w", "-t", "60", "-l", str(self.logfile))

    def standby(self, root: Path) -> LocalCluster:
        """A streaming standby of this (running) cluster in `root`, started: pg_basebackup -R, the
        same settings (pg_cron preloaded: it waits on a standby and starts ticking on promotion)."""
        standby = LocalCluster(
            root=root,
            dbname=self.dbname,
            durable=True,
            max_connections=self.max_connections,
            # promoted, it has no standby of its own to wait for
            extra_settings={k: v for k, v in self.extra_settings.items() if k != "synchronous_standby_names"},
            bindir=self.bindir,
            notify=self.notify,
        )
        _make_dirs(standby.root, 0o755)
        if standby.relocated:
            standby._give_to_server_user(*_make_dirs(standby.home, 0o700))
        _make_dirs(standby.datadir, 0o700)  # empty: pg_basebackup fills it
        standby.logfile.touch()
        standby._give_to_server_user(standby.datadir, standby.logfile)
        self._run(
            [
                str(self.bindir / "pg_basebackup"),
                "-D",
                str(standby.datadir),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
            ]
        )
        standby.start()
        return standby

    def promote(self) -> None:
        """Make a standby the primary (pg_ctl promote, waiting until it accepts writes)."""
        self._pg_ctl("promote", "-w", "-t", "60")

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, dbname: str | None = None) -> str:
        if self.port is None:
            raise SyncschedError(f"the cluster in {self.root} is not running")
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname or self.dbname}"


def persistent(root: Path = DEFAULT_DIR, notify: Callable[[str], None] = _to_stderr) -> LocalCluster:
    """The cluster kept in `.syncsched/` (or `root`) of the working directory."""
    return LocalCluster(root=root.resolve(), notify=notify)


def _folder_name(root: Path) -> str:
    """A name of its own for the folder `root`: readable, and the same every time for the same path."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{root.parent.name}-{root.name.lstrip('.')}").strip("-.")
    return f"{readable or 'cluster'}-{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"


@contextlib.contextmanager
def throwaway(*, durable: bool = False, **kwargs: object) -> Iterator[LocalCluster]:
    """A cluster in a temporary folder, removed afterwards; fast (fsync off) unless durable."""
    root = Path(tempfile.mkdtemp(prefix="syncsched-pg-"))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root=root, durable=durable, **kwargs)  # type: ignore[arg-type]
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
