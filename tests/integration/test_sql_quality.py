"""The SQL side, checked inside the database: plpgsql_check on every function, pgTAP files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from syncsched import db, queries

PGTAP_DIR = Path(__file__).resolve().parents[1] / "pgtap"


def test_plpgsql_check_finds_no_error(conn: db.Connection) -> None:
    problems = []
    routines = db.fetch_all(conn, queries.SYNCSCHED_FUNCTIONS)
    assert routines, "no PL/pgSQL function found"
    for routine in routines:
        for issue in db.fetch_all(conn, queries.PLPGSQL_CHECK_ROUTINE, (routine["signature"],)):
            if issue["level"] == "error":
                problems.append(f"{routine['signature']}: {issue['message']} (line {issue['lineno']})")
    for trigger in db.fetch_all(conn, queries.SYNCSCHED_TRIGGERS):
        for issue in db.fetch_all(
            conn,
            queries.PLPGSQL_CHECK_FUNCTION,
            (trigger["signature"], trigger["relation"], trigger["old_table"], trigger["new_table"]),
        ):
            if issue["level"] == "error":
                problems.append(f"{trigger['signature']}: {issue['message']} (line {issue['lineno']})")
    assert problems == []


def test_pgtap_files_pass(syncsched_dsn: str) -> None:
    files = sorted(str(p) for p in PGTAP_DIR.glob("*.sql"))
    assert files
    params = db.parse_dsn(syncsched_dsn)
    proc = subprocess.run(
        [
            "pg_prove",
            "--failures",
            "--host",
            params["host"],
            "--port",
            str(params["port"]),
            "--username",
            params["user"],
            "--dbname",
            params["dbname"],
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
