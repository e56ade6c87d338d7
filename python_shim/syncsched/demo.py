"""`syncsched demo`: the whole system live on the embedded PostgreSQL with pg_cron.

It starts what is needed (the cluster of --dir, the pg_cron tick, the endpoint simulators, one
worker, the web console) and shows what happens. The real pg_cron tick drives everything: no
Python loop calls the tick. At the end (Ctrl-C, SIGTERM, SIGHUP or --duration) it stops every
process it started, whether or not it can still print; the data stays for `syncsched status`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from syncsched import db, localpg, queries
from syncsched.config import time_zone
from syncsched.errors import ConnectError
from syncsched.migrate import migrate

TYPES = ("xledger", "dynamics", "bufdir")
ZONES = ("Europe/Oslo", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC", "America/Sao_Paulo")
# (cron, interval minutes): every minute keeps the demo busy; the rest shows variety
SCHEDULES: tuple[tuple[str | None, int | None], ...] = (
    ("* * * * *", None),
    ("* * * * *", None),
    ("*/2 * * * *", None),
    ("*/5 * * * *", None),
    (None, 3),
    ("0 * * * *", None),
    ("30 2 * * *", None),
    ("0 9 * * 1-5", None),
)
# Changed for the demo, and said so on screen (the defaults: README, Settings).
DEMO_SETTINGS = {
    "min_schedule_interval": "1 minute",
    "warmup_after": "30 seconds",
    # the worker warms an idle endpoint up as soon as a run is due within a minute: at the start,
    # the simulated bufdir is cold, and the screen shows the cold start
    "prewarm_ahead": "1 minute",
    "retry_backoff_base": "2 seconds",
    "drift_alert_threshold": "2 minutes",
    # the simulators listen on 127.0.0.1 over http: allowed past the SSRF guard
    "allowed_private_hosts": "127.0.0.1",
    "allowed_insecure_hosts": "127.0.0.1",
}
HEALTH_CHECK_INTERVAL = "1 minute"
TOKEN_LABEL = "syncsched demo"  # the console token of a demo, revoked when it stops
WEB_PORT = 8080  # the console's usual port, when it is free
STATUS_COLOURS = {"completed": "green", "failed": "red", "running": "cyan", "pending": "yellow", "cancelled": "dim"}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PIPED_WIDTH = 160  # columns of the view when the output is not a terminal (rich would wrap at 80)


class Stop(Exception):
    """A signal asked the demo to stop."""


class Screen:
    """The demo's output. Once it cannot be written (a closed pipe, a hung-up terminal), it is lost: the
    demo stops, and stopping what it started never depends on being able to say so."""

    def __init__(self) -> None:
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(line_buffering=True)
        terminal = sys.stdout.isatty()
        width = None if terminal else int(os.environ.get("COLUMNS", "0") or 0) or PIPED_WIDTH
        self.console = _Console(self, width=width)
        self.lost = False

    @property
    def live(self) -> bool:
        return self.console.is_terminal and not self.lost

    def print(self, renderable: RenderableType) -> None:
        if self.lost:
            return
        try:
            self.console.print(renderable, highlight=False, soft_wrap=isinstance(renderable, str))
        except OSError as exc:
            if not self.gone(exc):
                raise

    def gone(self, exc: OSError) -> bool:
        """Whether `exc` says the output is gone (then it is lost)."""
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EIO:
            self.lose()
            return True
        return False

    def lose(self) -> None:
        self.lost = True
        self.console.quiet = True
        # later writes, and the interpreter's last flush at exit, go nowhere (stderr too when it went
        # down the same pipe: `syncsched demo 2>&1 | tee log`)
        streams = [sys.stdout] + ([sys.stderr] if _same_file(sys.stdout, sys.stderr) else [])
        with open(os.devnull, "w") as devnull:
            for stream in streams:
                with contextlib.suppress(OSError, ValueError):
                    os.dup2(devnull.fileno(), stream.fileno())


class _Console(Console):
    def __init__(self, screen: Screen, **options: Any) -> None:
        super().__init__(**options)
        self._screen = screen

    def on_broken_pipe(self) -> None:
        """Rich would exit (SystemExit): the demo stops instead, in order."""
        self._screen.lose()


def _same_file(a: IO[str], b: IO[str]) -> bool:
    try:
        one, other = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (OSError, ValueError):
        return False
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


# --- signals ----------------------------------------------------------------------------------


class StopSignals:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal went away) all stop the demo the same way,
    once: after the first, they are ignored, so that nothing interrupts the shutdown. A SIGINT ignored
    from the start (a background job of a script) stays ignored."""

    def __init__(self) -> None:
        self.deferring = False
        self.pending: str | None = None
        self._previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def __enter__(self) -> StopSignals:
        for signum, handler in self._previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.ignore()
        self.pending = signal.Signals(signum).name
        if not self.deferring:
            raise Stop(self.pending)

    def ignore(self) -> None:
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, signal.SIG_IGN)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A stop signal arriving in the block takes effect after it, not in the middle of it. (Not a
        blocked signal mask: children would inherit it, and a worker with SIGTERM blocked never stops.)"""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            raise Stop(self.pending)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]


@dataclass
class Demo:
    root: Path
    orgs: int = 50
    duration: float | None = None
    screen: Screen = field(default_factory=Screen)
    signals: StopSignals = field(default_factory=StopSignals)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    cluster: localpg.LocalCluster | None = None
    started_cluster: bool = False
    children: list[Child] = field(default_factory=list)
    integrations: int = 0
    console_url: str | None = None

    def say(self, message: str) -> None:
        self.screen.print(f"[bold]syncsched demo[/]: {message}")

    # --- set-up -------------------------------------------------------------------------------

    def seed(self, conn: db.Connection, endpoint_url: str) -> int:
        """Demo organizations with integrations of the three types, on varied crons and zones."""
        for key, value in DEMO_SETTINGS.items():
            db.execute(conn, queries.SET_SETTING, (key, value))
        db.execute(conn, queries.POINT_TYPES_AT, (endpoint_url, HEALTH_CHECK_INTERVAL))
        # a reused data folder: organizations of an earlier, larger demo stop running
        for row in db.fetch_all(conn, queries.DEMO_ORGANIZATIONS):
            if int(row["org_id"].removeprefix("org")) > self.orgs:
                db.execute(conn, queries.WEB_DISABLE, (row["org_id"], row["integration_id"]))
        rng = random.Random(42)  # the same demo every time
        count = 0
        for n in range(1, self.orgs + 1):
            for integration_type in rng.sample(TYPES, rng.randint(1, 3)):
                cron, minutes = rng.choice(SCHEDULES)
                payload = json.dumps({"company": 1000 + n, "export": integration_type})
                db.execute(
                    conn,
                    queries.UPSERT_INTEGRATION,
                    (
                        f"org{n:03d}",
                        f"{integration_type}-sync",
                        integration_type,
                        cron,
                        minutes,
                        rng.choice(ZONES),
                        payload,
                    ),
                )
                count += 1
        return count

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """A child in a session of its own (Ctrl-C reaches the demo, which stops it in order), logging
        to root/<name>.log. Recorded before a stop signal can interrupt, so that it is always stopped."""
        log = (self.root / f"{name}.log").open("ab")
        with self.signals.deferred():
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.children.append(Child(name, proc, log))
        return proc

    def start_console(self, conn: db.Connection, dsn: str) -> None:
        """`syncsched web` beside the worker, with an admin token made for this demo."""
        port = WEB_PORT if localpg.port_is_free(WEB_PORT) else localpg.free_port()
        url = f"http://127.0.0.1:{port}/"
        self.spawn("web", [_syncsched(), "web", "--dsn", dsn, "--host", "127.0.0.1", "--port", str(port)])
        _revoke_demo_tokens(conn)  # those of an earlier demo that did not stop cleanly
        token = db.fetch_value(conn, queries.CREATE_WEB_TOKEN, ("admin", None, TOKEN_LABEL))
        if not _answers(url + "api/v1/health", timeout=20):
            self.say(f"the web console did not start: see {self.root}/web.log")
            return
        self.console_url = url
        self.say(f"web console on {url} : sign in with the admin token {token} (shown once, revoked at the end)")

    # --- the view ------------------------------------------------------------------------------

    def frame(self, conn: db.Connection) -> Group:
        now = datetime.now(UTC)
        counts = self._counts(conn)
        elapsed = (now - self.started_at).total_seconds()
        left = f", {max(0, self.duration - elapsed):.0f} s left" if self.duration else ", Ctrl-C to stop"
        last_tick = counts.get("last_tick")
        first = counts.get("first_completed")
        assert self.cluster is not None
        header = (
            f"[bold]{self.orgs}[/] organizations, [bold]{self.integrations}[/] integrations."
            f" pg_cron ticks every minute: {counts.get('ticks', 0)} tick(s) so far"
            + (f", last at {last_tick:%H:%M:%S}" if last_tick else f", the first at {_next_minute(now):%H:%M:%S}")
            + (f". First run completed {(first - self.started_at).total_seconds():.0f} s after start" if first else "")
            + f". {elapsed:.0f} s{left}."
            + (f"\nWeb console: {self.console_url}" if self.console_url else "")
            + "\n[dim]Set for the demo: "
            + ", ".join(f"{k} = {v}" for k, v in DEMO_SETTINGS.items())
            + f". Logs: {self.root}/worker.log, simulator.log, web.log. Data: {self.cluster.home}[/]"
        )
        return Group(
            Panel(header, title="syncsched demo", border_style="blue"),
            Columns([self._runs_table(conn), self._health_table(conn), self._drift_table(conn)]),
            Columns([self._next_table(conn), self._alerts_table(conn)]),
            self._faults_table(conn, counts),
        )

    def _counts(self, conn: db.Connection) -> dict[str, Any]:
        return db.fetch_one(conn, queries.DEMO_COUNTS, {"since": self.started_at}) or {}

    def _runs_table(self, conn: db.Connection) -> Table:
        table = Table(title="Runs by type (this demo)")
        statuses = ["pending", "running", "completed", "failed", "cancelled"]
        table.add_column("type")
        for status in statuses:
            table.add_column(status, justify="right", style=STATUS_COLOURS[status])
        cells: dict[tuple[str, str], int] = {
            (r["integration_type"], r["status"]): r["n"]
            for r in db.fetch_all(conn, queries.DEMO_RUNS_BY_TYPE, (self.started_at,))
        }
        for integration_type in TYPES:
            table.add_row(integration_type, *(str(cells.get((integration_type, s), 0)) for s in statuses))
        return table

    def _health_table(self, conn: db.Connection) -> Table:
        table = Table(title="Endpoint health")
        for column in ("type", "status", "mode", "failures", "last check"):
            table.add_column(column)
        for r in db.fetch_all(conn, queries.DEMO_HEALTH):
            colour = {"healthy": "green", "unhealthy": "red"}.get(r["status"], "yellow")
            table.add_row(
                r["integration_type"],
                f"[{colour}]{r['status']}[/]",
                r["mode"],
                str(r["consecutive_failures"]),
                _clock(r["last_check_at"]),
            )
        return table

    def _drift_table(self, conn: db.Connection) -> Table:
        table = Table(title="Drift (start - scheduled)")
        for column in ("type", "runs", "avg s", "max s"):
            table.add_column(column, justify="right" if column != "type" else "left")
        for r in db.fetch_all(conn, queries.DEMO_DRIFT, (self.started_at,)):
            table.add_row(r["integration_type"], str(r["runs"]), str(r["avg_s"]), str(r["max_s"]))
        return table

    def _next_table(self, conn: db.Connection) -> Table:
        table = Table(title="Next scheduled runs")
        for column in ("integration", "schedule", "zone", "next (UTC)", "local"):
            table.add_column(column)
        for r in db.fetch_all(conn, queries.DEMO_NEXT_RUNS, (8,)):
            local = r["next_run_at"].astimezone(time_zone(r["timezone"]))
            table.add_row(r["integration"], r["schedule"], r["timezone"], _clock(r["next_run_at"]), f"{local:%H:%M}")
        return table

    def _alerts_table(self, conn: db.Connection) -> Table:
        table = Table(title="Open alerts (this demo)")
        for column in ("at", "kind", "about"):
            table.add_column(column)
        for r in db.fetch_all(conn, queries.DEMO_ALERTS, (self.started_at, 8)):
            table.add_row(_clock(r["at"]), r["kind"], r["alert_key"].split(":", 1)[1])
        return table

    def _faults_table(self, conn: db.Connection, counts: dict[str, Any]) -> Table:
        table = Table(title=f"Faults and what followed (this demo): {_fault_counts(counts)}")
        for column in ("at", "fault", "integration / type", "attempt", "error", "then"):
            table.add_column(column)
        faults = db.fetch_all(conn, queries.DEMO_FAULTS, {"since": self.started_at, "limit": 8})
        for r in sorted(faults, key=lambda fault: fault["at"], reverse=True):
            attempt = f"{r['attempt']}/{r['max_attempts']}" if r["attempt"] else ""
            colour = "yellow" if r["fault"] in ("HTTP 429", "cold start") else "red"
            table.add_row(
                _clock(r["at"]), f"[{colour}]{r['fault']}[/]", r["about"], attempt, _error(r), _what_followed(r)
            )
        return table

    def summary(self, conn: db.Connection) -> str:
        """One line for logs (when the output is not a terminal)."""
        totals: dict[str, int] = {}
        for r in db.fetch_all(conn, queries.DEMO_RUNS_BY_TYPE, (self.started_at,)):
            totals[r["status"]] = totals.get(r["status"], 0) + r["n"]
        counts = self._counts(conn)
        elapsed = (datetime.now(UTC) - self.started_at).total_seconds()
        runs = ", ".join(f"{status} {n}" for status, n in sorted(totals.items())) or "none yet"
        return f"{elapsed:4.0f} s: {counts.get('ticks', 0)} tick(s), runs: {runs}; faults: {_fault_counts(counts)}"


def _fault_counts(counts: dict[str, Any]) -> str:
    return (
        f"{counts.get('retries', 0)} retried, {counts.get('rate_limited', 0)} rate limited (429, Retry-After),"
        f" {counts.get('cold_starts', 0)} cold start(s), {counts.get('open_alerts', 0)} open alert(s)"
    )


def _error(row: dict[str, Any]) -> str:
    if row["fault"] == "cold start":
        return f"warm-up took {row['duration_ms'] / 1000:.1f} s" if row["duration_ms"] else (row["error"] or "")
    error: str = row["error"] or ""
    return error.removeprefix(f"{row['fault']}: ")[:60]


def _what_followed(row: dict[str, Any]) -> str:
    if row["fault"] == "cold start":
        return "runs waited for the warm-up"
    if row["next_started_at"] is not None:
        waited = (row["next_started_at"] - row["at"]).total_seconds()
        outcome = "running" if row["next_outcome"] == "running" else row["next_outcome"]
        return f"retried after {waited:.1f} s: {outcome}"
    if row["run_status"] == "pending":
        return f"retry at {_clock(row['not_before'])}"
    return f"run {row['run_status']}"


def _clock(value: datetime | None) -> str:
    return f"{value:%H:%M:%S}" if value else ""


def _next_minute(now: datetime) -> datetime:
    return datetime.fromtimestamp((int(now.timestamp()) // 60 + 1) * 60, UTC)


def _syncsched() -> str:
    return str(Path(sys.executable).parent / "syncsched")


def _answers(url: str, timeout: float) -> bool:
    """Whether `url` answers 200 within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def _revoke_demo_tokens(conn: db.Connection) -> None:
    for row in db.fetch_all(conn, queries.LIST_WEB_TOKENS):
        if row["label"] == TOKEN_LABEL and row["revoked_at"] is None:
            db.execute(conn, queries.REVOKE_WEB_TOKEN, (row["token_id"],))


# --- the run ----------------------------------------------------------------------------------


def run_demo(root: Path, orgs: int, duration: float | None) -> int:
    with StopSignals() as signals:
        demo = Demo(root=root.resolve(), orgs=orgs, duration=duration, signals=signals)
        try:
            _run(demo)
        except Stop:
            pass
        except OSError as exc:  # the output went away while the view was drawn: stop as for Ctrl-C
            if not demo.screen.gone(exc):
                raise
        finally:
            signals.ignore()
            _shut_down(demo)
    return 0


def _run(demo: Demo) -> None:
    demo.cluster = cluster = localpg.persistent(demo.root, notify=lambda _: None)  # said here
    where = str(demo.root)
    if cluster.relocated:
        where = f"{cluster.home}: the postgres user, which runs it, cannot reach {demo.root}"
    demo.started_cluster = not cluster.is_running()
    demo.say(f"starting PostgreSQL with pg_cron in {where} ...")
    dsn = cluster.start()
    migrate(dsn)
    port = localpg.free_port()
    endpoint_url = f"http://127.0.0.1:{port}"
    demo.spawn("simulator", [sys.executable, "-m", "syncsched.simulator", "--port", str(port)])
    with db.connect(dsn, application_name="syncsched demo") as conn:
        demo.integrations = demo.seed(conn, endpoint_url)
        demo.say(
            f"{demo.orgs} organizations with {demo.integrations} integrations; endpoints simulated on {endpoint_url}"
            " (log: simulator.log); min_schedule_interval lowered to 1 minute for the demo"
        )
        db.execute(conn, queries.INSTALL_CRON, ("* * * * *",))
        demo.say("the pg_cron tick is installed: every minute, CALL syncsched.tick()")
        demo.started_at = datetime.now(UTC)
        metrics_port = localpg.free_port()
        demo.spawn(
            "worker",
            [
                _syncsched(),
                "worker",
                "--dsn",
                dsn,
                "--concurrency",
                "10",
                "--grace",
                "5s",
                "--metrics-port",
                str(metrics_port),
            ],
        )
        demo.say(f"one worker started (metrics on http://127.0.0.1:{metrics_port}/metrics)")
        demo.start_console(conn, dsn)
        deadline = time.monotonic() + demo.duration if demo.duration else None
        if demo.screen.live:
            with Live(demo.frame(conn), console=demo.screen.console, auto_refresh=False, transient=False) as live:
                while not demo.screen.lost and (deadline is None or time.monotonic() < deadline):
                    time.sleep(1)
                    with demo.signals.deferred():  # a query is not cut short: Ctrl-C comes while it sleeps
                        live.update(demo.frame(conn), refresh=True)  # here, so that a write error reaches us
        else:
            while not demo.screen.lost and (deadline is None or time.monotonic() < deadline):
                time.sleep(min(10.0, max(0.0, deadline - time.monotonic())) if deadline else 10.0)
                with demo.signals.deferred():
                    demo.screen.print(demo.summary(conn))
            demo.screen.print(demo.frame(conn))


def _stop_child(child: Child, timeout: float) -> None:
    if child.proc.poll() is None:
        child.proc.send_signal(signal.SIGTERM)
        try:
            child.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait()
    child.log.close()


def _shut_down(demo: Demo) -> None:
    """Stop what the demo started, worker first (it drains while the endpoints still answer), then
    remove the pg_cron tick (a frozen state to inspect) and stop the cluster if the demo started it.
    Nothing here depends on the output: it may be gone."""
    by_name = {child.name: child for child in demo.children}
    if "worker" in by_name:
        _stop_child(by_name.pop("worker"), timeout=15)
    for child in by_name.values():
        _stop_child(child, timeout=10)
    cluster = demo.cluster
    if cluster is None:
        return
    if cluster.port is not None and cluster.is_running():
        try:
            with db.connect(cluster.dsn(), application_name="syncsched demo") as conn:
                db.execute(conn, queries.UNINSTALL_CRON)
                _revoke_demo_tokens(conn)
        except (db.Error, ConnectError) as exc:
            demo.say(f"the pg_cron tick was not removed: {exc}")
    if demo.started_cluster:
        cluster.stop()
    where = "" if demo.root == localpg.DEFAULT_DIR.resolve() else f" --dir {demo.root}"
    demo.say(f"stopped; the data stays in {cluster.home}: see it with `syncsched status{where}`")
