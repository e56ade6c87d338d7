"""`syncsched migrate`: idempotent, safe concurrently, reversible, clear errors."""

from __future__ import annotations

import difflib
import os
import subprocess
import threading

import pytest

from conftest import REPO, pg_tool, run_syncsched
from syncsched import db, localpg
from syncsched.migrate import migrate, rollback_all
from syncsched.resources import sql_dir
from syncsched.testing import TestServer

ALL_MIGRATIONS = sorted(
    p.name.removesuffix(".sql") for p in sql_dir("migrations").glob("*.sql") if not p.name.endswith(".rollback.sql")
)


def schema_dump(server: TestServer, dsn: str, *options: str) -> str:
    params = db.parse_dsn(dsn)
    out = subprocess.run(
        [
            pg_tool(server, "pg_dump"),
            "--schema-only",
            *options,
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


SCHEMA_FILE = REPO / "tests" / "schema.sql"


def committed_form(dump: str) -> str:
    """The schema dump without what changes from dump to dump: comments, SET lines, blank runs."""
    lines = [line for line in dump.splitlines() if not line.startswith(("--", "SET ", "SELECT pg_catalog.set_config"))]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def test_the_committed_schema_dump_is_what_the_migrations_make(syncsched_server: TestServer, empty_dsn: str) -> None:
    """tests/schema.sql is `pg_dump --schema-only` of a fresh migrate: a change to the schema or the code shows
    in review as a change of that file. `make schema` writes it anew."""
    migrate(empty_dsn)
    dump = committed_form(schema_dump(syncsched_server, empty_dsn, "--schema=syncsched"))
    if os.environ.get("SYNCSCHED_WRITE_SCHEMA") == "1":
        SCHEMA_FILE.write_text(dump)
        return
    committed = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
    diff = "".join(
        difflib.unified_diff(committed.splitlines(True), dump.splitlines(True), "tests/schema.sql", "migrate")
    )
    assert dump == committed, f"the schema differs from tests/schema.sql (run `make schema`):\n{diff[:6000]}"


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


def test_rolling_back_one_database_leaves_the_roles_of_another_intact(syncsched_dsn: str, empty_dsn: str) -> None:
    """Roles and their memberships are cluster-wide: a rollback in one database must not take
    the web role's memberships from another database still on this release."""
    membership = "select pg_has_role('syncsched_web', 'syncsched_admin', 'member')"
    migrate(empty_dsn)
    rollback_all(empty_dsn)
    with db.connect(syncsched_dsn) as other:
        assert db.fetch_value(other, membership) is True


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


# A database as the previous release left it (its migrations, up to 0007, and its plpgsql/ code,
# read from the git history): schedules with their derived columns, runs in every state with the
# attempt counts of that release, alerts, a garbled setting.
PREVIOUS_RELEASE = "0007.outbound_allowlists"
PREVIOUS_RELEASE_COMMIT = "ab33efd"


def previous_release_code() -> list[str]:
    """The plpgsql/ files of the previous release, in load order, from the repository's history."""
    listing = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", f"{PREVIOUS_RELEASE_COMMIT}:plpgsql"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        pytest.skip(f"the previous release's code is not in this checkout's history: {listing.stderr.strip()}")
    return [
        subprocess.run(
            ["git", "-C", str(REPO), "show", f"{PREVIOUS_RELEASE_COMMIT}:plpgsql/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name in sorted(listing.stdout.split())
    ]


PREVIOUS_RELEASE_DATA = """
insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule,
    interval_minutes, timezone, is_enabled, cron_spec, next_run_at, last_tick_at, stale_check_at)
values
    ('acme', 'nightly', 'xledger', '0 2 * * *', null, 'Europe/Oslo', true,
     '(1,4,4294967294,8190,127,t,t,t)', '2030-01-08 01:00Z', '2030-01-07 01:00:02Z', '2030-01-09 01:00Z'),
    ('acme', 'crm', 'dynamics', null, 15, 'UTC', true, null, '2030-01-07 10:15Z', null, '2030-01-07 10:30Z'),
    ('beta', 'off', 'bufdir', '0 3 * * *', null, 'UTC', false, '(1,8,4294967294,8190,127,t,t,t)', null, null, null);
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
    status, attempt, max_attempts, not_before, started_at, finished_at, worker_id, lease_token, lease_expires_at,
    http_status, error, response_excerpt)
values
    ('acme', 'crm', 'dynamics', '2030-01-07 10:00Z', 'acme/crm/2030-01-07T10:00Z', 'schedule', 'pending', 0, 5,
     '2030-01-07 10:00Z', null, null, null, null, null, null, null, null),
    ('acme', 'crm', 'dynamics', '2030-01-07 09:45Z', 'acme/crm/2030-01-07T09:45Z', 'schedule', 'running', 1, 5,
     '2030-01-07 09:46Z', '2030-01-07 09:47Z', null, 'w1', gen_random_uuid(), '2030-01-07 09:48Z', 500,
     'HTTP 500', null),
    ('acme', 'nightly', 'xledger', '2030-01-07 01:00Z', 'acme/nightly/2030-01-07T01:00Z', 'schedule', 'completed',
     0, 5, '2030-01-07 01:00Z', '2030-01-07 01:00:05Z', '2030-01-07 01:03Z', 'w2', gen_random_uuid(), null, 200,
     null, '{"exported": 1}'),
    ('acme', 'nightly', 'xledger', '2030-01-06 01:00Z', 'acme/nightly/2030-01-06T01:00Z', 'schedule', 'failed',
     3, 3, '2030-01-06 01:20Z', '2030-01-06 01:20Z', '2030-01-06 01:21Z', 'w2', gen_random_uuid(), null, 503,
     'HTTP 503', null);
insert into syncsched.scheduler_alerts (kind, alert_key, org_id, integration_id, detail, at)
values ('stale', 'stale:acme/nightly', 'acme', 'nightly', '{}', '2030-01-07 12:00Z'),
    ('drift', 'drift:acme/crm', 'acme', 'crm', '{}', '2030-01-07 10:01Z');
update syncsched.settings set value = 'maybe' where key = 'scheduler_paused';
update syncsched.settings set value = '10 minutes' where key = 'min_schedule_interval';
"""


def test_a_populated_database_of_the_previous_release_migrates_with_nothing_lost(empty_dsn: str) -> None:
    db.yoyo_apply(empty_dsn, sql_dir("migrations"), until=PREVIOUS_RELEASE)
    with db.connect(empty_dsn) as conn:
        with db.transaction(conn):
            db.execute(conn, "set local role syncsched_owner")
            for code in previous_release_code():
                db.execute_script(conn, code)
        db.execute_script(conn, PREVIOUS_RELEASE_DATA)
        assert db.fetch_value(conn, "select count(*) from pg_proc where pronamespace = 'syncsched'::regnamespace") > 50
        before = db.fetch_all(
            conn,
            "select o.org_id, o.integration_id, o.cron_spec::text, o.next_run_at, o.last_tick_at, o.stale_check_at"
            " from syncsched.organization_integrations as o order by 1, 2",
        )
        runs_before = db.fetch_all(
            conn, "select run_id, idempotency_key, status::text, not_before from syncsched.sync_run_log order by 1"
        )
    migrate(empty_dsn)
    with db.connect(empty_dsn) as conn:
        after = db.fetch_all(
            conn,
            "select o.org_id, o.integration_id, s.cron_spec::text, s.next_run_at, s.last_tick_at, s.stale_check_at"
            " from syncsched.organization_integrations as o join syncsched.schedule_state as s on s.id = o.id"
            " order by 1, 2",
        )
        assert after == before, "the schedules moved to schedule_state as they were"
        assert (
            db.fetch_all(
                conn, "select run_id, idempotency_key, status::text, not_before from syncsched.sync_run_log order by 1"
            )
            == runs_before
        ), "every run is kept, pending ones as they were"
        # attempt numbers are 1-based now: the completed run was on its first, the running one on its second
        assert db.fetch_all(conn, "select status::text, attempt from syncsched.sync_run_log order by run_id") == [
            {"status": "pending", "attempt": 0},
            {"status": "running", "attempt": 2},
            {"status": "completed", "attempt": 1},
            {"status": "failed", "attempt": 3},
        ]
        assert db.fetch_all(
            conn, "select attempt, outcome, http_status, error from syncsched.sync_run_attempts order by run_id"
        ) == [
            {"attempt": 1, "outcome": "completed", "http_status": 200, "error": None},
            {"attempt": 3, "outcome": "failed", "http_status": 503, "error": "HTTP 503"},
        ]
        # org_id in every key (0018): the attempts and the schedule states got their run's and integration's
        assert (
            db.fetch_all(
                conn,
                "select a.org_id, r.org_id as run_org_id from syncsched.sync_run_attempts as a"
                " left join syncsched.sync_run_log as r on (r.run_id, r.scheduled_for) = (a.run_id, a.scheduled_for)"
                " order by a.run_id",
            )
            == [{"org_id": "acme", "run_org_id": "acme"}] * 2
        )
        assert db.fetch_all(
            conn,
            "select o.org_id, s.org_id as state_org_id from syncsched.organization_integrations as o"
            " left join syncsched.schedule_state as s on s.id = o.id order by o.id",
        ) == [{"org_id": o, "state_org_id": o} for o in ("acme", "acme", "beta")]
        assert db.fetch_all(conn, "select kind, is_condition from syncsched.scheduler_alerts order by kind") == [
            {"kind": "drift", "is_condition": False},
            {"kind": "stale", "is_condition": True},
        ]
        assert db.fetch_value(conn, "select count(*) from syncsched.alerts_open where kind = 'stale'") == 1
        settings = {r["key"]: r["value"] for r in db.fetch_all(conn, "select key, value from syncsched.settings")}
        assert settings["scheduler_paused"] == "false", "an unusable value went back to its default"
        assert settings["min_schedule_interval"] == "10 minutes", "a good value stayed"
        # and the engine runs on it: the overdue 10:15 period of crm is held by its pending run
        result = db.fetch_value(conn, "select syncsched.run_scheduled_jobs('2030-01-08 01:00:05Z')")
        assert (result["due"], result["triggered"], result["skipped_running"]) == (2, 1, 1)
