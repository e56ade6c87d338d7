"""`syncsched migrate`: idempotent, safe concurrently, reversible, clear errors."""

from __future__ import annotations

import subprocess
import threading

from conftest import pg_tool, run_syncsched
from syncsched import db, localpg
from syncsched.migrate import migrate, rollback_all
from syncsched.resources import sql_dir
from syncsched.testing import TestServer

ALL_MIGRATIONS = sorted(
    p.name.removesuffix(".sql") for p in sql_dir("migrations").glob("*.sql") if not p.name.endswith(".rollback.sql")
)


def schema_dump(server: TestServer, dsn: str) -> str:
    params = db.parse_dsn(dsn)
    out = subprocess.run(
        [
            pg_tool(server, "pg_dump"),
            "--schema-only",
            "-h",
            params["host"],
            "-p",
            str(params["port"]),
            "-U",
            params["user"],
            params["dbname"],
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # \restrict lines carry a random key per dump
    return "\n".join(line for line in out.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def test_migrate_twice_is_a_no_op(syncsched_server: TestServer, empty_dsn: str) -> None:
    first = migrate(empty_dsn)
    assert first.applied == ALL_MIGRATIONS
    before = schema_dump(syncsched_server, empty_dsn)
    second = migrate(empty_dsn)
    assert second.applied == []
    assert second.code_files == first.code_files
    assert schema_dump(syncsched_server, empty_dsn) == before


def test_two_concurrent_migrates_both_succeed(empty_dsn: str) -> None:
    errors: list[BaseException] = []
    results = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            results.append(migrate(empty_dsn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(len(r.applied) for r in results) == [0, len(ALL_MIGRATIONS)]
    with db.connect(empty_dsn) as conn:
        assert db.fetch_value(conn, "select count(*) from syncsched.integration_types") == 3


def test_rollback_all_then_migrate_gives_the_same_schema(syncsched_server: TestServer, empty_dsn: str) -> None:
    empty = schema_dump(syncsched_server, empty_dsn)
    migrate(empty_dsn)
    migrated = schema_dump(syncsched_server, empty_dsn)
    assert rollback_all(empty_dsn) == ALL_MIGRATIONS[::-1]
    after_rollback = schema_dump(syncsched_server, empty_dsn)
    assert "syncsched" not in after_rollback.replace("_yoyo", "")
    assert after_rollback != empty  # yoyo's own bookkeeping tables remain
    migrate(empty_dsn)
    assert schema_dump(syncsched_server, empty_dsn) == migrated


def test_objects_belong_to_the_nologin_owner(conn: db.Connection) -> None:
    owners = db.fetch_all(
        conn,
        """
        select distinct pg_get_userbyid(c.relowner) as owner from pg_class c
        where c.relnamespace = 'syncsched'::regnamespace
        union
        select distinct pg_get_userbyid(p.proowner) from pg_proc p
        where p.pronamespace = 'syncsched'::regnamespace
    """,
    )
    assert owners == [{"owner": "syncsched_owner"}]
    assert db.fetch_value(conn, "select rolcanlogin from pg_roles where rolname = 'syncsched_owner'") is False


def test_bad_dsn_is_one_line_and_exit_code_2() -> None:
    proc = run_syncsched("migrate", "--dsn", "this is not a dsn")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("syncsched: error: invalid DSN")
    assert "Traceback" not in proc.stderr


def test_unreachable_server_is_one_line_and_exit_code_2() -> None:
    proc = run_syncsched("migrate", "--dsn", "host=127.0.0.1 port=1 dbname=x connect_timeout=3")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "cannot connect to 127.0.0.1:1/x" in proc.stderr


def test_missing_dsn_names_the_variables() -> None:
    proc = run_syncsched("migrate", env={"SYNCSCHED_DSN": "", "DATABASE_URL": ""})
    assert proc.returncode == 2
    assert "SYNCSCHED_DSN" in proc.stderr and "DATABASE_URL" in proc.stderr


def test_dsn_from_environment(empty_dsn: str) -> None:
    proc = run_syncsched("migrate", env={"SYNCSCHED_DSN": "", "DATABASE_URL": empty_dsn})
    assert proc.returncode == 0, proc.stderr
    assert f"{len(ALL_MIGRATIONS)} migration(s) applied" in proc.stdout
    proc = run_syncsched("migrate", env={"SYNCSCHED_DSN": empty_dsn})
    assert "schema already current" in proc.stdout


def test_pg_cron_not_preloaded_is_a_clear_error() -> None:
    with localpg.throwaway(extra_settings={"shared_preload_libraries": "''"}) as cluster:
        proc = run_syncsched("migrate", "--dsn", cluster.dsn("postgres"))
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "shared_preload_libraries" in proc.stderr
        proc = run_syncsched("migrate", "--without-pg-cron", "--dsn", cluster.dsn("postgres"))
        assert proc.returncode == 0, proc.stderr
