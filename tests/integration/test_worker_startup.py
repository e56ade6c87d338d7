"""`syncsched worker` before it works: impossible flags, a database out of reach, not migrated, or a
role that may not run a worker. Each ends in one line and exit code 2, or is retried one line a try."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from conftest import run_syncsched
from endpoint import Endpoint, Reply
from harness import WorkerProcess, login_role, point_types_at, schedule_due, statuses, wait_for
from syncsched import db
from syncsched.localpg import free_port

# a log line of the text format, and nothing else: no continuation lines, no psycopg_pool warnings
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) syncsched\.worker: \S.*$")
RETRY_LINE = re.compile(r"cannot connect to 127\.0\.0\.1:\d+/nowhere: .*Connection refused; retrying in \d+\.\d s")


def nobody_listens() -> str:
    """A DSN of a port nobody listens on."""
    return f"host=127.0.0.1 port={free_port()} user=postgres dbname=nowhere"


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("syncsched: error: "), stderr
    return lines[0].removeprefix("syncsched: error: ")


@pytest.mark.parametrize(
    ("flags", "env", "error"),
    [
        (["--poll-interval", "0"], {}, "--poll-interval must be a duration from 100ms to 1h"),
        (["--poll-interval=-1s"], {}, "--poll-interval must be a duration from 100ms to 1h"),
        (["--poll-interval", "soon"], {}, "--poll-interval must be a duration from 100ms to 1h"),
        ([], {"SYNCSCHED_POLL_INTERVAL": "0s"}, "--poll-interval must be a duration from 100ms to 1h"),
        (["--concurrency", "0"], {}, "--concurrency must be a whole number from 1 to 10000, not '0'"),
        (["--concurrency", "2.5"], {}, "--concurrency must be a whole number from 1 to 10000, not '2.5'"),
        (["--concurrency", "10001"], {}, "--concurrency must be a whole number from 1 to 10000"),
        (["--lease", "4s"], {}, "--lease must be a duration from 5s to 24h (for example 5s, 250ms, 1m), not '4s'"),
        (["--lease", "forever"], {}, "--lease must be a duration from 5s to 24h"),
        (["--lease", "2d"], {}, "--lease must be a duration from 5s to 24h"),
        (["--grace=-5s"], {}, "--grace must be a duration from 0s to 24h"),
        (["--metrics-port", "0"], {}, "--metrics-port must be a whole number from 1 to 65535, not '0'"),
        (["--metrics-port", "70000"], {}, "--metrics-port must be a whole number from 1 to 65535"),
        (["--metrics-port", "http"], {}, "--metrics-port must be a whole number from 1 to 65535"),
        (["--exit-on-unreachable", "0"], {}, "--exit-on-unreachable must be a duration from 1s to 24h"),
        ([], {"SYNCSCHED_EXIT_ON_UNREACHABLE": "never"}, "--exit-on-unreachable must be a duration from 1s to 24h"),
        (["--worker-id", "w" * 201], {}, "--worker-id must be at most 200 characters, not 201"),
        ([], {"SYNCSCHED_LOG_FORMAT": "xml"}, "--log-format must be text or json, not 'xml'"),
        (["--processes", "0"], {}, "--processes must be a whole number from 1 to 64, not '0'"),
        ([], {"SYNCSCHED_PROCESSES": "65"}, "--processes must be a whole number from 1 to 64, not '65'"),
        (["--processes", "3", "--concurrency", "2"], {}, "--processes 3 needs --concurrency of at least 3"),
        (
            ["--processes", "2", "--concurrency", "2", "--metrics-port", "65535"],
            {},
            "--metrics-port 65535 leaves no room for 2 processes (ports up to 65535)",
        ),
        (["--processes", "2", "--worker-id", "w" * 199], {}, "--worker-id must be at most 198 characters, not 199"),
    ],
)
def test_an_impossible_value_is_refused_at_start(flags: list[str], env: dict[str, str], error: str) -> None:
    # a worker that took the value would wait for this database for ever: the timeout fails the test
    proc = run_syncsched("worker", "--dsn", nobody_listens(), *flags, env=env, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert one_error_line(proc.stderr).startswith(error)
    assert proc.stdout == ""


def test_a_dsn_that_cannot_be_parsed_is_refused_at_start() -> None:
    proc = run_syncsched("worker", "--dsn", "host=127.0.0.1 port", timeout=30)
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith("invalid DSN: ")


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_an_unreachable_database_is_one_line_a_try_until_exit_on_unreachable(how: str) -> None:
    dsn = nobody_listens()
    if how == "flag":
        proc = run_syncsched("worker", "--dsn", dsn, "--exit-on-unreachable", "4s", timeout=60)
    else:
        proc = run_syncsched("worker", "--dsn", dsn, env={"SYNCSCHED_EXIT_ON_UNREACHABLE": "4"}, timeout=60)
    assert proc.returncode == 2, proc.stderr
    *log_lines, last = proc.stderr.strip().splitlines()
    port = db.parse_dsn(dsn)["port"]
    assert last.startswith(
        f"syncsched: error: database 127.0.0.1:{port}/nowhere unreachable for 4 s, giving up (--exit-on-unreachable 4s)"
    ), last
    # 0.5 + 1 + 2 s of backoff, then the rest of the 4 s: a line per try, each a single line
    assert len(log_lines) >= 4, proc.stderr
    assert all(LOG_LINE.match(line) and RETRY_LINE.search(line) for line in log_lines), proc.stderr


def test_by_default_an_unreachable_database_is_retried_until_the_worker_is_stopped(tmp_path: Path) -> None:
    worker = WorkerProcess(nobody_listens(), tmp_path / "worker.log")
    try:
        # 0.5, 1, 2, 4 s of backoff: five tries, and it is still there
        wait_for(lambda: len(RETRY_LINE.findall(worker.output())) >= 5, 30, "five tries")
        assert worker.proc.poll() is None
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        worker.stop()
    lines = worker.output().strip().splitlines()
    assert all(LOG_LINE.match(line) for line in lines), worker.output()
    assert "(unreachable for " in worker.output()
    assert lines[-1].endswith("stopped")


def test_an_unmigrated_database_says_run_migrate(empty_dsn: str) -> None:
    # the old worker waited for the schema for ever: the timeout fails the test
    proc = run_syncsched("worker", "--dsn", empty_dsn, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert one_error_line(proc.stderr).endswith("has no syncsched schema: run `syncsched migrate` first")


def test_a_schema_older_than_the_worker_says_run_migrate(syncsched_dsn: str, conn: db.Connection) -> None:
    db.execute(conn, "drop function syncsched.endpoint_states()")  # as a database migrated by an older release
    proc = run_syncsched("worker", "--dsn", syncsched_dsn, timeout=60)
    assert proc.returncode == 2, proc.stderr
    error = one_error_line(proc.stderr)
    assert error.endswith(
        "lacks syncsched.endpoint_states (a schema older than this worker): run `syncsched migrate` first"
    )


def test_a_wrong_database_name_is_refused_at_once(syncsched_dsn: str) -> None:
    proc = run_syncsched("worker", "--dsn", db.with_database(syncsched_dsn, "no_such_database"), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert 'database "no_such_database" does not exist' in one_error_line(proc.stderr)


@pytest.mark.parametrize(
    ("member_of", "lacks"),
    [
        ((), "no USAGE on schema syncsched, no EXECUTE on syncsched.check_scheduler, syncsched.claim_alert_deliveries"),
        (("syncsched_admin",), "no EXECUTE on syncsched.claim_alert_deliveries, syncsched.claim_health_checks"),
        (("syncsched_reader",), "no EXECUTE on syncsched.check_scheduler, syncsched.claim_alert_deliveries"),
    ],
)
def test_a_role_that_is_not_a_worker_is_told_what_it_lacks(
    syncsched_dsn: str, conn: db.Connection, member_of: tuple[str, ...], lacks: str
) -> None:
    with login_role(conn, *member_of) as role:
        proc = run_syncsched("worker", "--dsn", f"{syncsched_dsn} user={role}", timeout=60)
    assert proc.returncode == 2, proc.stderr
    error = one_error_line(proc.stderr)
    assert error.startswith(f"role {role} may not run a worker: {lacks}"), error
    assert error.endswith(f"(grant syncsched_worker to {role})")


def test_a_member_of_syncsched_worker_runs(syncsched_dsn: str, conn: db.Connection, tmp_path: Path) -> None:
    with Endpoint() as endpoint, login_role(conn, "syncsched_worker") as role:
        point_types_at(conn, endpoint)
        schedule_due(conn)
        worker = WorkerProcess(f"{syncsched_dsn} user={role}", tmp_path / "worker.log")
        try:
            wait_for(lambda: statuses(conn) == ["completed"], 20, "the run")
        finally:
            worker.stop()


@pytest.mark.slow
def test_exit_on_unreachable_also_ends_a_worker_whose_database_goes_away(tmp_path: Path) -> None:
    from syncsched import localpg
    from syncsched.migrate import migrate

    with localpg.throwaway() as cluster:
        migrate(cluster.dsn(), require_pg_cron=False)
        worker = WorkerProcess(cluster.dsn(), tmp_path / "worker.log", "--exit-on-unreachable", "3s")
        try:
            wait_for(lambda: "listening on syncsched_runs" in worker.output(), 30, "the worker to listen")
            cluster.stop()
            assert worker.wait(timeout=60) == 2
        finally:
            worker.stop()
    lines = worker.output().strip().splitlines()
    assert "LISTEN connection lost: " in worker.output()
    assert lines[-1].startswith(f"syncsched: error: database {db.describe_dsn(cluster.dsn())} unreachable for 3 s")
    # one line each: no continuation lines (psycopg's own, or libpq's multi-line messages)
    assert not [line for line in lines if line[:1].isspace()], worker.output()


def _backends(conn: db.Connection, worker_id: str) -> list[str]:
    return [
        r["application_name"]
        for r in db.fetch_all(
            conn,
            "select application_name from pg_stat_activity where application_name like %s order by 1",
            (f"syncsched worker {worker_id}/%",),
        )
    ]


def _children(pid: int) -> list[int]:
    return [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid)
    ]


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGTERM to every process", "SIGKILL"])
def test_processes_share_the_work_and_stop_as_one(
    syncsched_dsn: str, conn: db.Connection, tmp_path: Path, stop: str
) -> None:
    """--processes 2: two worker processes (ids <id>/1 and <id>/2) claim from the same log within
    --concurrency between them; SIGTERM to the supervisor drains both, and so does SIGTERM to every
    process at once (a service manager's control group, Ctrl-C's process group: the supervisor's
    forwarded request must not count as a second one, "exit now"); a supervisor killed outright
    leaves no process behind (its pipe closes: they drain and stop)."""
    with Endpoint(lambda _request, _n: Reply(delay=0.2)) as endpoint:
        point_types_at(conn, endpoint)
        schedule_due(conn, 40)
        worker = WorkerProcess(
            syncsched_dsn, tmp_path / "worker.log", "--processes", "2", "--concurrency", "4", "--worker-id", "pair"
        )
        try:
            wait_for(lambda: statuses(conn) == ["completed"] * 40, 60, "every run")
            assert len(_backends(conn, "pair")) >= 4, "each process: a pool and a LISTEN connection"
            if stop == "SIGTERM to every process":
                for child in _children(worker.proc.pid):
                    os.kill(child, signal.SIGTERM)
            worker.signal(getattr(signal, stop.split()[0]))
            code = worker.wait(timeout=30)
            wait_for(lambda: not _backends(conn, "pair"), 30, "both processes to stop")
        finally:
            worker.stop()
    if stop != "SIGKILL":
        assert code == 0, worker.output()
        assert "exiting now" not in worker.output()
        assert "worker pair/1 stopped" in worker.output() and "worker pair/2 stopped" in worker.output()
    by = db.fetch_all(conn, "select worker_id, count(*) from syncsched.sync_run_log group by 1 order by 1")
    assert [row["worker_id"] for row in by] == ["pair/1", "pair/2"], by
    assert endpoint.max_active <= 4, "--concurrency holds across the processes"
    assert "starting 2 worker processes, concurrency 4 in all" in worker.output()
