"""`syncsched tick`, `syncsched cron` and `syncsched status`, run as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import run_syncsched
from harness import set_next_run
from syncsched import db


def test_tick_creates_the_due_runs(syncsched_dsn: str, conn: db.Connection) -> None:
    db.execute(conn, "select syncsched.upsert_integration('acme', 'ledger', 'xledger', p_interval_minutes => 60)")
    set_next_run(conn, datetime.now(UTC) - timedelta(minutes=1))
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


def test_cron_without_a_database_uses_a_throwaway_cluster() -> None:
    proc = run_syncsched("cron", "@daily", "--count", "1", env={"SYNCSCHED_DSN": "", "DATABASE_URL": ""})
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
    assert set(report) == {"schedules", "recent_runs", "open_alerts", "endpoints"}
    assert report["recent_runs"][0]["trigger"] == "manual"
    assert [e["integration_type"] for e in report["endpoints"]] == ["bufdir", "dynamics", "xledger"]


def test_status_without_a_database_or_an_embedded_cluster_says_what_to_do(tmp_path: Path) -> None:
    proc = run_syncsched("status", "--dir", str(tmp_path / "none"), env={"SYNCSCHED_DSN": "", "DATABASE_URL": ""})
    assert proc.returncode == 2
    assert "no embedded cluster" in proc.stderr and "make demo" in proc.stderr
