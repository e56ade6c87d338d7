"""`syncsched tick`, `syncsched cron` and `syncsched status`, run as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_syncsched
from harness import a_minute_ago, login_role, set_next_run
from syncsched import db, localpg
from syncsched.migrate import migrate, rollback_all
from syncsched.testing import TestServer

NO_DSN = {"SYNCSCHED_DSN": "", "DATABASE_URL": ""}


def test_tick_creates_the_due_runs(syncsched_dsn: str, conn: db.Connection) -> None:
    db.execute(conn, "select syncsched.upsert_integration('acme', 'ledger', 'xledger', p_interval_minutes => 60)")
    set_next_run(conn, a_minute_ago())
    proc = run_syncsched("tick", "--dsn", syncsched_dsn)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "tick: 1 run(s) created, 1 due, 0 skipped (overlap), 0 invalid"
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'pending'") == 1


def test_cron_previews_fire_times_in_the_zone(syncsched_dsn: str) -> None:
    proc = run_syncsched("cron", "0 2 L * *", "--tz", "Europe/Oslo", "--count", "2", "--dsn", syncsched_dsn)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.split("  (")[1].split()[2] == "02:00" for line in lines)


def test_cron_reports_an_invalid_expression_and_zone(syncsched_dsn: str) -> None:
    proc = run_syncsched("cron", "0 2 * * FUN", "--dsn", syncsched_dsn)
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'syncsched: invalid: day-of-week: unknown name "FUN"'
    proc = run_syncsched("cron", "0 2 * * *", "--tz", "Mars/Olympus_Mons", "--dsn", syncsched_dsn)
    assert proc.returncode == 2 and "Mars/Olympus_Mons" in proc.stderr


def test_cron_without_a_database_uses_a_throwaway_cluster(tmp_path: Path) -> None:
    proc = run_syncsched("cron", "@daily", "--count", "1", "--dir", str(tmp_path / "none"), env=NO_DSN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0].endswith("T00:00:00+00:00")


def test_status_as_tables_and_json(syncsched_dsn: str, conn: db.Connection) -> None:
    db.execute(conn, "select syncsched.upsert_integration('acme', 'ledger', 'xledger', '0 2 * * *')")
    db.execute(conn, "select syncsched.run_now('acme', 'ledger')")
    proc = run_syncsched("status", "--dsn", syncsched_dsn)
    assert proc.returncode == 0, proc.stderr
    for title in ("Schedules", "Recent runs", "Alerts (24 h): none", "Endpoint health"):
        assert title in proc.stdout
    assert "acme" in proc.stdout and "0 2 * * *" in proc.stdout
    proc = run_syncsched("status", "--json", "--dsn", syncsched_dsn)
    report = json.loads(proc.stdout)
    assert set(report) == {"schedules", "recent_runs", "open_alerts", "endpoints", "totals"}
    assert report["recent_runs"][0]["trigger"] == "manual"
    assert [e["integration_type"] for e in report["endpoints"]] == ["bufdir", "dynamics", "xledger"]


def test_status_without_a_database_or_an_embedded_cluster_says_what_to_do(tmp_path: Path) -> None:
    proc = run_syncsched("status", "--dir", str(tmp_path / "none"), env=NO_DSN)
    assert proc.returncode == 2
    assert "no embedded cluster" in proc.stderr and "make demo" in proc.stderr


def test_cron_after_an_instant_in_the_zone_or_with_its_offset(syncsched_dsn: str) -> None:
    def first(after: str) -> str:
        proc = run_syncsched("cron", "30 2 * * *", "--tz", "Europe/Oslo", "--count", "1", "--after", after,
                             "--dsn", syncsched_dsn)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()[0]

    assert first("2025-03-29 02:00") == "2025-03-29T01:30:00+00:00"  # 02:00 in Oslo: 02:30 the same night
    assert first("2025-03-29T02:00:00+00:00") == "2025-03-30T01:00:00+00:00"  # 03:00 in Oslo; then the DST gap
    proc = run_syncsched("cron", "@daily", "--after", "next tuesdayish", "--dsn", syncsched_dsn)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "next tuesdayish" in proc.stderr


def test_cron_warns_when_it_fires_more_often_than_min_schedule_interval(
    syncsched_dsn: str, conn: db.Connection
) -> None:
    proc = run_syncsched("cron", "*/2 * * * *", "--count", "1", "--dsn", syncsched_dsn)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 1
    assert proc.stderr.startswith("syncsched: warning: ") and proc.stderr.count("\n") == 1
    assert "2 minute(s) apart" in proc.stderr and "min_schedule_interval (5 minutes)" in proc.stderr
    db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '2 minutes')")
    proc = run_syncsched("cron", "*/2 * * * *", "--count", "1", "--dsn", syncsched_dsn)
    assert proc.returncode == 0 and proc.stderr == ""


def test_status_says_how_many_rows_it_left_out(syncsched_dsn: str, conn: db.Connection) -> None:
    db.execute(
        conn,
        "select syncsched.create_integration('org' || g, 'ledger', 'xledger', p_interval_minutes => 60)"
        " from generate_series(1, 25) as g",
    )
    proc = run_syncsched("status", "--limit", "20", "--dsn", syncsched_dsn)
    assert proc.returncode == 0, proc.stderr
    assert "Schedules (20 of 25 shown: --limit shows more)" in proc.stdout
    assert "Recent runs (24 h, and every run pending or running): none" in proc.stdout
    proc = run_syncsched("status", "--limit", "30", "--dsn", syncsched_dsn)
    assert "Schedules\n" in proc.stdout and "shown" not in proc.stdout
    report = json.loads(run_syncsched("status", "--json", "--limit", "20", "--dsn", syncsched_dsn).stdout)
    assert len(report["schedules"]) == 20
    assert report["totals"] == {"schedules": 25, "recent_runs": 0, "open_alerts": 0}


@pytest.fixture
def embedded() -> Iterator[Path]:
    """A folder for an embedded cluster the server user can reach (pytest's tmp_path is private to root)."""
    workdir = Path(tempfile.mkdtemp(prefix="syncsched-cli-"))
    os.chmod(workdir, 0o755)
    folder = workdir / ".syncsched"
    try:
        yield folder
    finally:
        localpg.persistent(folder).destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def test_without_a_dsn_the_commands_use_the_embedded_cluster_of_dir(embedded: Path) -> None:
    folder = str(embedded)
    started = run_syncsched("db", "start", "--dir", folder)
    assert started.returncode == 0, started.stderr
    url = run_syncsched("db", "url", "--dir", folder).stdout.strip()
    assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/syncsched")
    assert started.stdout.strip() == f"running: {url}"
    with db.connect(url) as conn:
        assert db.fetch_value(conn, "select current_database()") == "syncsched"
    assert run_syncsched("tick", "--dir", folder, env=NO_DSN).stderr.endswith("run `syncsched migrate` first\n")
    migrated = run_syncsched("migrate", "--dir", folder, env=NO_DSN)
    assert migrated.returncode == 0 and "migrated:" in migrated.stdout, migrated.stderr
    with db.connect(url) as conn:
        db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '1 minute')")
        db.execute(conn, "select syncsched.create_integration('acme', 'ledger', 'xledger', p_interval_minutes => 60)")
    ticked = run_syncsched("tick", "--dir", folder, env=NO_DSN)
    assert ticked.returncode == 0 and ticked.stdout.startswith("tick: "), ticked.stderr
    listed = run_syncsched("integrations", "list", "--dir", folder, env=NO_DSN)
    assert "acme/ledger" in listed.stdout, listed.stderr
    # cron reads the running cluster, not a throwaway one: its min_schedule_interval is 1 minute there
    previewed = run_syncsched("cron", "*/2 * * * *", "--count", "1", "--dir", folder, env=NO_DSN)
    assert previewed.returncode == 0 and previewed.stderr == "", previewed.stderr
    # a stopped cluster is started for the command and stopped again
    assert run_syncsched("db", "stop", "--dir", folder).stdout.strip() == "stopped"
    ticked = run_syncsched("tick", "--dir", folder, env=NO_DSN)
    assert ticked.returncode == 0, ticked.stderr
    assert not localpg.persistent(embedded).is_running()


def test_install_cron_schedules_the_tick_and_uninstall_cron_removes_it(syncsched_server: TestServer) -> None:
    if syncsched_server.cluster is None:
        pytest.skip("needs the local cluster, whose pg_cron lives in its 'syncsched' database")
    dsn = syncsched_server.cluster.dsn()
    migrate(dsn)
    try:
        proc = run_syncsched("install-cron", "--schedule", "*/2 * * * *", "--dsn", dsn)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0].startswith("pg_cron jobs")
        prune = ["syncsched_prune", "17", "3", "*", "*", "*", "select", "syncsched.prune_run_log()", "syncsched"]
        assert lines[3].split()[1:-1] == prune and lines[3].split()[-1] == "postgres"
        assert lines[4].split()[1:7] == ["syncsched_tick", "*/2", "*", "*", "*", "*"]
        assert "CALL syncsched.tick()" in lines[4]
        again = json.loads(run_syncsched("install-cron", "--json", "--dsn", dsn).stdout)
        assert [(j["jobname"], j["schedule"]) for j in again] == [
            ("syncsched_prune", "17 3 * * *"),
            ("syncsched_tick", "* * * * *"),
        ]
        with db.connect(dsn) as conn:
            assert db.fetch_value(conn, "select count(*) from cron.job") == 2  # changed, not added
        proc = run_syncsched("install-cron", "--schedule", "every minute", "--dsn", dsn)
        assert proc.returncode == 2 and proc.stderr.startswith('syncsched: error: invalid tick schedule "every minute"')
        assert proc.stderr.count("\n") == 1
        removed = run_syncsched("uninstall-cron", "--dsn", dsn)
        assert removed.stdout.strip() == "removed 2 pg_cron job(s) of this role", removed.stderr
        with db.connect(dsn) as conn:
            assert db.fetch_value(conn, "select count(*) from cron.job") == 0
            # an admin that no superuser let use pg_cron is told what it lacks
            with login_role(conn, "syncsched_admin") as admin:
                proc = run_syncsched("install-cron", "--dsn", f"{dsn} user={admin}")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f'syncsched: error: permission denied for schema cron: role "{admin}"')
        assert proc.stderr.strip().endswith("needs syncsched_admin and, granted by a superuser, usage on schema cron")
    finally:
        rollback_all(dsn)


def test_install_cron_where_pg_cron_is_not_says_what_to_run_there(syncsched_dsn: str) -> None:
    proc = run_syncsched("install-cron", "--dsn", syncsched_dsn)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    database = db.parse_dsn(syncsched_dsn)["dbname"]
    assert proc.stderr.startswith(f"syncsched: error: pg_cron is not installed in database {database} (hint: ")
    assert (
        f"select cron.schedule_in_database('syncsched_tick', '* * * * *', 'CALL syncsched.tick()', '{database}')"
        in (proc.stderr)
    )
    assert (
        run_syncsched("uninstall-cron", "--dsn", syncsched_dsn).stdout.strip()
        == "removed 0 pg_cron job(s) of this role"
    )


def test_cron_resolves_h_for_the_seed_it_is_given(syncsched_dsn: str) -> None:
    proc = run_syncsched("cron", "H 2 * * *", "--seed", "acme/ledger", "--count", "1", "--dsn", syncsched_dsn)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "resolves to: 9 2 * * *"
    assert proc.stdout.splitlines()[1].startswith(tuple(f"20{y}" for y in range(26, 99)))
    assert ":09:00+00:00" in proc.stdout.splitlines()[1]
    unseeded = run_syncsched("cron", "H 2 * * *", "--dsn", syncsched_dsn)
    assert unseeded.returncode == 2 and unseeded.stderr == (
        "syncsched: error: H resolves per integration: pass --seed ORG/INTEGRATION\n"
    )
