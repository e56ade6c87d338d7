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


def test_the_readme_settings_table_is_the_databases(conn: db.Connection) -> None:
    """Every setting, its type, default and range, as the README documents them."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Settings (`syncsched.settings`)", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`"):
            key, kind, default, bounds = cells[0].strip("`"), cells[1], cells[2], cells[3]
            documented[key] = (kind, "" if default == "(empty)" else default.strip("`"), bounds)
    actual = {
        r["key"]: (
            r["type"],
            r["default_value"],
            f"{r['min_value']} \N{EN DASH} {r['max_value']}" if r["min_value"] else "",
        )
        for r in db.fetch_all(conn, "select key, type, default_value, min_value, max_value from syncsched.settings")
    }
    assert documented == actual
