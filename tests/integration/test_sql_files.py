"""Every file of sql/ runs cleanly with psql, so the files people copy cannot rot."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from syncsched import db

SQL_FILES = sorted((Path(__file__).resolve().parents[2] / "sql").rglob("*.sql"))


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_sql_file_runs_with_psql(syncsched_dsn: str, path: Path) -> None:
    proc = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", syncsched_dsn, "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ERROR" not in proc.stderr


def test_example_integration_types_take_effect(syncsched_dsn: str) -> None:
    path = next(p for p in SQL_FILES if p.name == "integration_types.sql")
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", syncsched_dsn, "-f", str(path)],
        capture_output=True,
        check=True,
    )
    with db.connect(syncsched_dsn) as conn:
        assert (
            db.fetch_value(
                conn,
                "select endpoint_url from syncsched.integration_types where integration_type = 'xledger'",
            )
            == "https://sync.example.com/xledger"
        )
