"""Shared fixtures. The server and fresh databases come from the syncsched.testing plugin."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import WorkerProcess
from syncsched import db
from syncsched.testing import TestServer
from web_console import Console, start_console

REPO = Path(__file__).resolve().parents[1]
_names = itertools.count()


@pytest.fixture
def conn(syncsched_dsn: str) -> Iterator[db.Connection]:
    """An autocommit connection to a fresh migrated database."""
    with db.connect(syncsched_dsn) as connection:
        yield connection


@pytest.fixture
def empty_dsn(syncsched_server: TestServer) -> Iterator[str]:
    """A fresh database with nothing of syncsched in it."""
    name = f"syncsched_empty_{os.getpid()}_{next(_names)}"
    dsn = syncsched_server.create_database(name)
    try:
        yield dsn
    finally:
        syncsched_server.drop_database(name)


def pg_tool(server: TestServer, tool: str) -> str:
    """Path of a PostgreSQL client binary matching the server's version where known."""
    if server.cluster is not None:
        return str(server.cluster.bindir / tool)
    return tool


def run_syncsched(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed `syncsched` command, as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(Path(sys.executable).parent / "syncsched"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def workers(syncsched_dsn: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(syncsched_dsn, tmp_path / f"worker{len(started)}.log", *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def console(syncsched_dsn: str, tmp_path: Path) -> Iterator[Console]:
    """`syncsched web` as a real process on a free port, against a fresh migrated database."""
    running = start_console(syncsched_dsn, tmp_path / "web.log")
    yield running
    running.stop()
