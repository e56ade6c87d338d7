"""Helpers of the worker tests: a `syncsched worker` as a real process, and the database states they set up."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from endpoint import Endpoint, Request
from syncsched import db, localpg

SYNCSCHED = str(Path(sys.executable).parent / "syncsched")


# The test endpoints listen on 127.0.0.1 over http: the SSRF guard lets this worker call them.
TEST_HOSTS = {"SYNCSCHED_ALLOWED_PRIVATE_HOSTS": "127.0.0.1", "SYNCSCHED_ALLOWED_INSECURE_HOSTS": "127.0.0.1"}


class WorkerProcess:
    def __init__(self, dsn: str, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [SYNCSCHED, "worker", "--dsn", dsn, "--poll-interval", "1s", *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **TEST_HOSTS, **(env or {})},
        )

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text()


def point_types_at(conn: db.Connection, endpoint: Endpoint) -> None:
    db.execute(
        conn, "update syncsched.integration_types set endpoint_url = %s || '/' || integration_type", (endpoint.url,)
    )


def set_next_run(conn: db.Connection, at: Any, where: str = "true", params: tuple[Any, ...] = ()) -> None:
    """Move the next period of the integrations `where` selects to `at`: schedule state the roles of
    syncsched cannot write, only a superuser (the tests) can."""
    db.execute(
        conn,
        "update syncsched.schedule_state set next_run_at = %s, last_tick_at = null where id in"
        f" (select o.id from syncsched.organization_integrations as o where {where})",
        (at, *params),
    )


def a_minute_ago() -> datetime:
    """When an hourly integration is made due: a minute ago, but not before the hour (its periods
    fall on the hour, and one passed since would make the minute-old period a missed one)."""
    now = datetime.now(UTC)
    return max(now - timedelta(minutes=1), now.replace(minute=0, second=0, microsecond=0))


def schedule_due(
    conn: db.Connection,
    count: int = 1,
    integration_type: str = "xledger",
    max_attempts: int = 3,
    integration_id: str = "ledger",
) -> None:
    """`count` integrations due now (org1..orgN / integration_id), turned into pending runs by a tick."""
    db.execute(
        conn,
        """
        insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
            interval_minutes, max_attempts, payload)
        select 'org' || g, %s, %s, 60, %s, jsonb_build_object('n', g) from generate_series(1, %s) as g
    """,
        (integration_id, integration_type, max_attempts, count),
    )
    set_next_run(conn, a_minute_ago(), "o.integration_id = %s", (integration_id,))
    result = db.fetch_value(conn, "select syncsched.run_scheduled_jobs()")
    assert result["triggered"] == count


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def listen_backends(conn: db.Connection) -> list[int]:
    """Server pids of the workers' LISTEN connections."""
    rows = db.fetch_all(
        conn,
        """
        select pid from pg_stat_activity
        where application_name like 'syncsched worker%%' and query ilike 'listen%%'
    """,
    )
    return [row["pid"] for row in rows]


def statuses(conn: db.Connection) -> list[str]:
    return [r["status"] for r in db.fetch_all(conn, "select status::text from syncsched.sync_run_log order by run_id")]


_role_names = itertools.count()


@contextmanager
def login_role(conn: db.Connection, *member_of: str) -> Iterator[str]:
    """A throwaway login role (roles are cluster-wide), member of the given roles."""
    name = f"syncsched_test_login_{os.getpid()}_{next(_role_names)}"
    db.execute(conn, f"create role {name} login")
    for role in member_of:
        db.execute(conn, f"grant {role} to {name}")
    try:
        yield name
    finally:
        db.execute(conn, f"drop owned by {name} cascade")
        db.execute(conn, f"drop role {name}")


def connect_as(dsn: str, role: str) -> db.Connection:
    return db.connect(db.with_database(dsn, db.parse_dsn(dsn)["dbname"]) + f" user={role}")


def most_at_once(requests: Iterable[Request]) -> int:
    """The most requests the endpoint was answering at the same time."""
    requests = list(requests)
    events = sorted(
        [(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests],
        key=lambda event: (event[0], event[1]),  # a request that ended frees its place first
    )
    active = peak = 0
    for _, step in events:
        active += step
        peak = max(peak, active)
    return peak


def claim_concurrently(dsn: str, sessions: int, per_claim: int, rounds: int) -> list[list[int]]:
    """`sessions` connections claim `rounds` times each, started together; the run ids each got."""
    got: list[list[int]] = [[] for _ in range(sessions)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(sessions)

    def session(n: int) -> None:
        try:
            with db.connect(dsn) as conn:
                barrier.wait()
                for _ in range(rounds):
                    rows = db.fetch_all(conn, "select run_id from syncsched.claim_runs(%s, %s)", (f"w{n}", per_claim))
                    got[n] += [r["run_id"] for r in rows]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [], errors
    return got


CITUS_SETTINGS = {"shared_preload_libraries": "'citus,pg_cron'"}  # citus first


def citus_database(nodes: list[localpg.LocalCluster], dbname: str | None = None) -> str:
    """Citus created in the database on each node (a new one if named), the workers added to it."""
    coordinator, *workers = nodes
    for node in nodes:
        if dbname:
            with db.connect(node.dsn("postgres")) as conn:
                db.execute(conn, f'create database "{dbname}"')
        with db.connect(node.dsn(dbname)) as conn:
            db.execute(conn, "create extension citus")
    with db.connect(coordinator.dsn(dbname)) as conn:
        db.execute(conn, "select citus_set_coordinator_host('127.0.0.1', %s)", (coordinator.port,))
        for worker in workers:
            db.execute(conn, "select citus_add_node('127.0.0.1', %s)", (worker.port,))
    return coordinator.dsn(dbname)
