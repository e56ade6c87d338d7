"""Helpers of the console tests: `syncsched web` as a real process, tokens, and plain HTTP calls."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncsched import db

SYNCSCHED = str(Path(sys.executable).parent / "syncsched")
TICK_SECRET = "test-tick-secret-0123456789"
_logins = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def console_login(conn: db.Connection, dsn: str) -> Iterator[str]:
    """A DSN of a throwaway login as the README makes the console's: a member of syncsched_web, and
    NOINHERIT, so that it has no right of its own but those it SETs a role for."""
    name = f"syncsched_test_console_{os.getpid()}_{next(_logins)}"
    db.execute(conn, f"create role {name} login noinherit in role syncsched_web")
    try:
        yield db.with_database(dsn, db.parse_dsn(dsn)["dbname"]) + f" user={name}"
    finally:
        db.execute(conn, f"drop owned by {name} cascade")
        db.execute(conn, f"drop role {name}")


def token(conn: db.Connection, role: str, org: str | None = None) -> str:
    return str(db.fetch_value(conn, "select syncsched.create_web_token(%s, %s, 'test')", (role, org)))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the redirect itself is the answer


def paused_types(conn: db.Connection) -> dict[str, str]:
    """What is paused for each type on its own (dispatch_state), e.g. {"xledger": "dispatch"}."""
    rows = db.fetch_all(
        conn, "select integration_type, scheduling_paused, dispatch_paused from syncsched.dispatch_state order by 1"
    )
    paused = {
        row["integration_type"]: ", ".join(what for what in ("scheduling", "dispatch") if row[f"{what}_paused"])
        for row in rows
    }
    return {name: what for name, what in paused.items() if what}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Console:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def call(
        self,
        method: str,
        path: str,
        bearer: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        cookie: str | None = None,
        form: dict[str, str] | None = None,
        follow: bool = True,
    ) -> Reply:
        """`path` relative to the console's root, or absolute ("/...") on its server."""
        url = self.server + path if path.startswith("/") else self.url + path
        request = urllib.request.Request(url, method=method)
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        if cookie:
            request.add_header("Cookie", f"syncsched_token={cookie}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, data, timeout=30) as response:
                raw = response.read()
                status, reply_headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            raw, status, reply_headers = error.read(), error.code, dict(error.headers)
        text = raw.decode()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return Reply(status, parsed, reply_headers)

    @property
    def server(self) -> str:
        """scheme://host:port of the console's server, without its path."""
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_console(dsn: str, log: Path, *args: str, tick_secret: str | None = TICK_SECRET) -> Console:
    """`syncsched web` with `args` on a free port."""
    port = free_port()
    base = next((a.split("=", 1)[1] for a in args if a.startswith("--base-path=")), "/").strip("/")
    command = [SYNCSCHED, "web", "--dsn", dsn, "--port", str(port), *args]
    return _started(command, f"http://127.0.0.1:{port}/" + (base + "/" if base else ""), log, tick_secret)


# A host application of its own with the console mounted at a prefix, as the README shows.
EMBEDDED = """
import sys
from aiohttp import web
from syncsched.web import WebConfig, create_app

dsn, port, prefix, base_path = sys.argv[1:5]


async def home(request: web.Request) -> web.Response:
    return web.Response(text="the host application")


parent = web.Application()
parent.router.add_get("/", home)
parent.add_subapp(prefix, create_app(WebConfig(dsn=dsn, base_path=base_path)))
web.run_app(parent, host="127.0.0.1", port=int(port), print=None)
"""


def start_embedded(dsn: str, log: Path, prefix: str, base_path: str = "/") -> Console:
    """The console mounted with `add_subapp(prefix, ...)` in another aiohttp application."""
    port = free_port()
    command = [sys.executable, "-c", EMBEDDED, dsn, str(port), prefix, base_path]
    return _started(command, f"http://127.0.0.1:{port}{prefix}", log, None)


def _started(command: list[str], url: str, log: Path, tick_secret: str | None) -> Console:
    """`command` started, once `url` answers its health check."""
    env = {**os.environ}
    env.pop("SYNCSCHED_WEB_TICK_SECRET", None)
    if tick_secret:
        env["SYNCSCHED_WEB_TICK_SECRET"] = tick_secret
    out = log.open("w")
    proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the console exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url + "api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return Console(url, proc, log)
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the console did not come up: {log.read_text()}")


def load_at_scale(conn: db.Connection, integrations: int, runs: int) -> None:
    """`integrations` integrations and `runs` runs, set-based (the triggers' per-row work bypassed, the
    state they would derive written directly), and analyzed."""
    db.execute(conn, "set session_replication_role = replica")
    db.execute(
        conn,
        """
        insert into syncsched.organization_integrations (id, org_id, integration_id, integration_type,
            cron_schedule, interval_minutes, timezone, is_enabled)
        overriding system value
        select g, 'org' || g, 'i' || (g %% 3), (array['xledger', 'dynamics', 'bufdir'])[1 + g %% 3],
            case when g %% 2 = 0 then '0 2 * * *' end, case when g %% 2 = 1 then 60 end,
            (array['UTC', 'Europe/Oslo', 'America/New_York'])[1 + g %% 3], g %% 10 <> 0
        from generate_series(1, %s) as g
        """,
        (integrations,),
    )
    db.execute(
        conn,
        "insert into syncsched.schedule_state (id, org_id, cron_spec, next_run_at, derived_at)"
        " select o.id, o.org_id, case when o.cron_schedule is not null then syncsched.cron_parse('0 2 * * *') end,"
        " case when o.is_enabled then now() + (o.id %% 1440) * interval '1 minute' end, now()"
        " from syncsched.organization_integrations as o",
    )
    db.execute(
        conn,
        """
        insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
            trigger, status, attempt, max_attempts, enqueued_at, started_at, finished_at, worker_id, http_status,
            error)
        select 'org' || o, 'i' || (o %% 3), (array['xledger', 'dynamics', 'bufdir'])[1 + o %% 3],
            now() - g * interval '1 minute', 'k' || g, 'schedule',
            (case when g %% 50 = 0 then 'failed' else 'completed' end)::syncsched.run_status, 1, 3,
            now() - g * interval '1 minute', now() - g * interval '1 minute',
            now() - g * interval '1 minute' + interval '2 seconds',
            'w' || g %% 7, case when g %% 50 = 0 then 500 else 200 end, case when g %% 50 = 0 then 'HTTP 500' end
        from (select g, 1 + (g::bigint * 7919) %% %s as o from generate_series(1, %s) as g) as s
        """,
        (integrations, runs),
    )
    db.execute(
        conn,
        "insert into syncsched.scheduler_alerts (kind, alert_key, org_id, integration_id, detail, at, is_condition)"
        " select 'failing', 'failing:org' || g || '/i' || (g %% 3), 'org' || g, 'i' || (g %% 3), '{}', now(), true"
        " from generate_series(1, 500) as g",
    )
    db.execute(conn, "set session_replication_role = origin")
    db.execute(conn, "vacuum analyze")
