"""Helpers of the console tests: `syncsched web` as a real process, tokens, and plain HTTP calls."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncsched import db

SYNCSCHED = str(Path(sys.executable).parent / "syncsched")
TICK_SECRET = "test-tick-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(conn: db.Connection, role: str, org: str | None = None) -> str:
    return str(db.fetch_value(conn, "select syncsched.create_web_token(%s, %s, 'test')", (role, org)))


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
    ) -> Reply:
        request = urllib.request.Request(self.url + path.lstrip("/"), method=method)
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
        try:
            with urllib.request.urlopen(request, data, timeout=30) as response:
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

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_console(dsn: str, log: Path, *args: str, tick_secret: str | None = TICK_SECRET) -> Console:
    port = free_port()
    env = {**os.environ}
    env.pop("SYNCSCHED_WEB_TICK_SECRET", None)
    if tick_secret:
        env["SYNCSCHED_WEB_TICK_SECRET"] = tick_secret
    out = log.open("w")
    proc = subprocess.Popen(
        [SYNCSCHED, "web", "--dsn", dsn, "--port", str(port), *args], stdout=out, stderr=subprocess.STDOUT, env=env
    )
    base = next((a.split("=", 1)[1] for a in args if a.startswith("--base-path=")), "/").strip("/")
    url = f"http://127.0.0.1:{port}/" + (base + "/" if base else "")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"syncsched web exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url + "api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return Console(url, proc, log)
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"syncsched web did not come up: {log.read_text()}")
