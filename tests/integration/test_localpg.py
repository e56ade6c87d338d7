"""The embedded cluster: starts, has pg_cron loaded, stops with no process left."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import run_syncsched
from syncsched import db, localpg


def server_processes(datadir: Path) -> list[str]:
    """Command lines of running processes that belong to the cluster in datadir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(datadir) in cmdline:
            found.append(cmdline)
    return found


def test_throwaway_cluster_has_pg_cron_and_leaves_nothing(tmp_path: Path) -> None:
    with localpg.throwaway() as cluster:
        pid = cluster.postmaster_pid()
        assert pid is not None
        with db.connect(cluster.dsn()) as conn:
            assert db.fetch_value(conn, "select current_setting('shared_preload_libraries')") == "pg_cron"
            assert db.fetch_value(conn, "select current_setting('cron.database_name')") == "syncsched"
            assert db.fetch_value(conn, "select extversion from pg_extension where extname = 'pg_cron'")
            assert db.fetch_value(conn, "select count(*) from cron.job") == 0
            assert db.fetch_value(conn, "select inet_server_addr()::text") == "127.0.0.1/32"
        root = cluster.root
        datadir = cluster.datadir.resolve()
        assert server_processes(datadir)
    assert not root.exists()
    assert server_processes(datadir) == []
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def test_db_commands_manage_a_persistent_cluster() -> None:
    # pytest's tmp_path is private to root; the server user must reach this folder.
    workdir = Path(tempfile.mkdtemp(prefix="syncsched-dbcmd-"))
    os.chmod(workdir, 0o755)
    folder = str(workdir / ".syncsched")
    try:
        started = run_syncsched("db", "start", "--dir", folder)
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("running: postgresql://postgres@127.0.0.1:")
        url = run_syncsched("db", "url", "--dir", folder).stdout.strip()
        assert url == started.stdout.removeprefix("running: ").strip()
        status = run_syncsched("db", "status", "--dir", folder)
        assert status.returncode == 0 and "running" in status.stdout
        with db.connect(url) as conn:
            assert db.fetch_value(conn, "select current_database()") == "syncsched"
        # start again: already running, same server
        again = run_syncsched("db", "start", "--dir", folder)
        assert again.stdout == started.stdout
        migrated = run_syncsched("migrate", "--dsn", url)
        assert migrated.returncode == 0, migrated.stderr
    finally:
        stopped = run_syncsched("db", "stop", "--dir", folder)
    assert stopped.stdout.strip() == "stopped"
    assert server_processes((workdir / ".syncsched" / "data").resolve()) == []
    status = run_syncsched("db", "status", "--dir", folder)
    assert status.returncode == 3 and "not running" in status.stdout
    url = run_syncsched("db", "url", "--dir", folder)
    assert url.returncode == 2 and "syncsched db start" in url.stderr
    # data kept: a restart finds the migrated schema
    try:
        restarted = run_syncsched("db", "start", "--dir", folder)
        dsn = restarted.stdout.removeprefix("running: ").strip()
        with db.connect(dsn) as conn:
            assert db.fetch_value(conn, "select count(*) from syncsched.integration_types") == 3
    finally:
        run_syncsched("db", "stop", "--dir", folder)
        shutil.rmtree(workdir, ignore_errors=True)


def owners(folder: Path) -> set[str]:
    return {pwd.getpwuid(p.lstat().st_uid).pw_name for p in [folder, *folder.rglob("*")]}


def test_a_folder_the_server_user_cannot_reach_gets_its_cluster_where_it_can(tmp_path: Path) -> None:
    """As root from a clone under /root: the server runs as postgres, which cannot enter the folder."""
    if os.geteuid() != 0:
        pytest.skip("only as root does the server run as another user")
    project = tmp_path / "private" / "project"  # pytest's tmp_path is mode 700: postgres cannot enter it
    project.mkdir(parents=True)
    os.chmod(tmp_path, 0o700)
    folder = project / ".syncsched"
    cluster = localpg.persistent(folder)
    try:
        started = run_syncsched("db", "start", "--dir", str(folder))
        assert started.returncode == 0, started.stderr
        assert cluster.relocated and cluster.home.is_relative_to(pwd.getpwnam("postgres").pw_dir)
        assert str(cluster.home) in started.stderr and "cannot reach" in started.stderr  # says where
        assert str(cluster.datadir) in run_syncsched("db", "status", "--dir", str(folder)).stdout
        dsn = run_syncsched("db", "url", "--dir", str(folder)).stdout.strip()
        assert run_syncsched("migrate", "--dsn", dsn).returncode == 0
        assert run_syncsched("db", "stop", "--dir", str(folder)).stdout.strip() == "stopped"
        assert server_processes(cluster.datadir) == []
        # found again by --dir: `syncsched status` starts it for the look, and stops it again
        status = run_syncsched("status", "--dir", str(folder), env={"SYNCSCHED_DSN": "", "DATABASE_URL": ""})
        assert status.returncode == 0, status.stderr
        assert "Schedules" in status.stdout
        assert server_processes(cluster.datadir) == []
        # the project's folder holds no file of the postgres user
        assert owners(project) == {"root"}
    finally:
        cluster.destroy()
    assert not cluster.home.exists()


def test_a_first_start_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    # a PostgreSQL whose initdb fails, where the server user can run it
    bindir = Path(tempfile.mkdtemp(prefix="syncsched-badpg-")) / "bin"
    bindir.mkdir()
    os.chmod(bindir.parent, 0o755)
    for tool, script in {"initdb": "echo 'initdb: could not create directory' >&2; exit 1", "pg_ctl": "exit 3"}.items():
        (bindir / tool).write_text(f"#!/bin/sh\n{script}\n")
        os.chmod(bindir / tool, 0o755)
    reachable = Path(tempfile.mkdtemp(prefix="syncsched-fail-"))
    os.chmod(reachable, 0o755)
    os.chmod(tmp_path, 0o700)
    folders = [reachable / "a" / ".syncsched", tmp_path / "b" / ".syncsched"]  # the second one unreachable as root
    homes = [localpg.LocalCluster(root=folder, bindir=bindir).home for folder in folders]
    try:
        for folder, home in zip(folders, homes, strict=True):
            failed = run_syncsched("db", "start", "--dir", str(folder), env={"SYNCSCHED_PG_BINDIR": str(bindir)})
            assert failed.returncode == 2 and "initdb failed" in failed.stderr, failed.stderr
            assert not folder.parent.exists() and not home.exists()
    finally:
        shutil.rmtree(bindir.parent, ignore_errors=True)
        shutil.rmtree(reachable, ignore_errors=True)


def test_wheel_ships_the_sql_and_builds_without_warnings(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(repo)],
        check=True,
        capture_output=True,
        text=True,
    )
    # `make setup` builds the same way: no deprecation wall (license), no "package would be ignored" (web data)
    assert "BuildBackendWarning" not in built.stderr, built.stderr
    import zipfile

    (wheel,) = tmp_path.glob("syncsched-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("migrations", "plpgsql", "sql"):
        shipped = {n for n in names if n.startswith(f"syncsched/{folder}/") and n.endswith(".sql")}
        on_disk = {f"syncsched/{folder}/{p.name}" for p in (repo / folder).glob("*.sql")}
        assert on_disk <= shipped, folder
    assert "syncsched/Dockerfile" in names
    assert "syncsched/web/templates/layout.html" in names and "syncsched/web/static/console.js" in names


def test_migrating_twice_leaves_no_error_in_the_server_log() -> None:
    """yoyo probes by failing (CREATE TABLE yoyo_lock again, DROP TABLE of a rolled-back table): a DBA
    reading the log after a migrate must not find errors that are not errors."""
    with localpg.throwaway() as cluster:
        first = run_syncsched("migrate", "--dsn", cluster.dsn())
        again = run_syncsched("migrate", "--dsn", cluster.dsn())
        assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
        assert "schema already current" in again.stdout
        errors = [line for line in cluster.logfile.read_text().splitlines() if "ERROR" in line]
    assert errors == []
