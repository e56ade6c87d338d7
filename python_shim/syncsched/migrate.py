"""`syncsched migrate`: yoyo migrations, then every plpgsql/ file, under one advisory lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlparse

from syncsched import db, queries
from syncsched.errors import PrerequisiteError
from syncsched.resources import plpgsql_files, sql_dir

MIN_SERVER_VERSION = 140000

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class MigrateResult:
    applied: list[str] = field(default_factory=list)
    code_files: list[str] = field(default_factory=list)


def check_server(conn: db.Connection, *, require_pg_cron: bool) -> None:
    version = int(db.fetch_value(conn, queries.SERVER_VERSION))
    if version < MIN_SERVER_VERSION:
        raise PrerequisiteError(f"PostgreSQL {version // 10000} is too old: syncsched needs 14 or newer")
    if require_pg_cron and not db.fetch_value(conn, queries.EXTENSION_AVAILABLE, ("pg_cron",)):
        raise PrerequisiteError(
            "pg_cron is not installed on this server (Debian: apt-get install "
            "postgresql-15-cron, then shared_preload_libraries = 'pg_cron'); "
            "pass --without-pg-cron to migrate anyway and drive the tick with `syncsched tick`"
        )
    preloaded = str(db.fetch_value(conn, queries.PRELOADED_LIBRARIES) or "")
    if require_pg_cron and "pg_cron" not in preloaded.replace(" ", "").split(","):
        raise PrerequisiteError(
            "pg_cron is installed but not loaded: add it to shared_preload_libraries and "
            "restart the server, or pass --without-pg-cron"
        )


# On a Citus coordinator, syncsched's objects stay on the coordinator (docs/citus.md): Citus would
# otherwise send each CREATE FUNCTION to the workers, connecting as the role that runs it, the
# NOLOGIN owner.
COORDINATOR_LOCAL = {"citus.enable_ddl_propagation": "off"}
# Distributed mode: every object on every node (Citus' DDL propagation, as by default), and the
# triggers of the distributed tables run on their shards.
DISTRIBUTED = {"citus.enable_unsafe_triggers": "on"}


@dataclass
class _Citus:
    """What migrate finds of Citus in the database."""

    installed: bool = False
    distributed: bool = False  # syncsched's tables distributed already
    workers: int = 0
    syncsched_installed: bool = False


def _citus(dsn: str) -> _Citus:
    with db.connect(dsn, application_name="syncsched migrate") as conn:
        if not db.fetch_value(conn, queries.EXTENSION_INSTALLED, ("citus",)):
            return _Citus()
        return _Citus(
            installed=True,
            distributed=bool(db.fetch_value(conn, queries.SYNCSCHED_DISTRIBUTED)),
            workers=int(db.fetch_value(conn, queries.CITUS_WORKERS)),
            syncsched_installed=bool(db.fetch_value(conn, queries.SCHEMA_EXISTS)),
        )


def _session_settings(citus: _Citus, *, distributing: bool) -> dict[str, str]:
    """The settings of migrate's sessions: on a database with Citus, DDL that stays on the coordinator
    (coordinator mode) or goes to every node (distributed mode)."""
    if distributing:
        return DISTRIBUTED
    return COORDINATOR_LOCAL if citus.installed else {}


def _check_distributable(citus: _Citus) -> None:
    if not citus.installed:
        raise PrerequisiteError(
            "--citus-distribute needs the citus extension in this database (create extension citus on the "
            "coordinator and each worker, then add the workers with citus_add_node)"
        )
    if citus.workers == 0:
        raise PrerequisiteError("--citus-distribute needs Citus workers: add them with citus_add_node() first")
    if citus.syncsched_installed and not citus.distributed:
        raise PrerequisiteError(
            "syncsched is installed here in coordinator mode, its objects on the coordinator only: distributed "
            "mode is installed in a database without syncsched (docs/citus.md)"
        )


def migrate(
    dsn: str, *, require_pg_cron: bool = True, citus_distribute: bool = False, progress: Progress = _quiet
) -> MigrateResult:
    """Bring the database to the current schema and code. Safe to run concurrently and again.
    citus_distribute: install in Citus' distributed mode (docs/citus.md); a database in that mode is
    migrated in it whether or not it is asked."""
    result = MigrateResult()
    citus = _citus(dsn)
    if citus_distribute:
        _check_distributable(citus)
    distributing = citus_distribute or citus.distributed
    settings = _session_settings(citus, distributing=distributing)
    with db.connect(dsn, application_name="syncsched migrate", settings=settings) as conn:
        check_server(conn, require_pg_cron=require_pg_cron)
        with db.session_advisory_lock(conn, queries.MIGRATE_LOCK):
            result.applied = db.yoyo_apply(dsn, sql_dir("migrations"), settings=settings)
            for migration_id in result.applied:
                progress(f"applied migration {migration_id}")
            if distributing:
                # (before the code: its owner creates it on the workers too)
                db.execute_script(conn, queries.CITUS_ROLES_LOG_IN)
            result.code_files = _apply_code(conn, one_by_one=distributing)
            progress(f"applied {len(result.code_files)} plpgsql/ files")
            if citus_distribute and not citus.distributed:
                _distribute(conn)
                # and the code again: Citus created on the workers only the functions whose argument
                # types were there, and the tables' row types reached them with the distribution
                _apply_code(conn, one_by_one=True)
                progress(
                    f"distributed syncsched's tables over {citus.workers} Citus worker(s): each run costs"
                    " more than in coordinator mode, and the pg_net transport is not supported (docs/citus.md)"
                )
    return result


def _apply_code(conn: db.Connection, *, one_by_one: bool) -> list[str]:
    """Every plpgsql/ file, in one transaction; the names of the files."""
    applied = []
    with db.transaction(conn):
        # Code belongs to the NOLOGIN owner role, like the tables.
        db.execute(conn, queries.SET_OWNER_ROLE)
        for path in plpgsql_files():
            _run_file(conn, path.read_text(encoding="utf-8"), one_by_one=one_by_one)
            applied.append(path.name)
    return applied


def _run_file(conn: db.Connection, text: str, *, one_by_one: bool) -> None:
    """A file in one round trip, or (distributed mode) statement by statement: Citus refuses a
    trigger on a distributed table among several commands ('cannot insert multiple commands into a
    prepared statement')."""
    if not one_by_one:
        db.execute_script(conn, text)
        return
    for statement in sqlparse.split(text):
        if sqlparse.format(statement, strip_comments=True).strip():
            db.execute_script(conn, statement)


def _distribute(conn: db.Connection) -> None:
    comment = db.fetch_value(conn, queries.TYPE_FKEY_COMMENT)
    for statement in queries.CITUS_DISTRIBUTE:
        db.execute(conn, statement)
    if comment is not None:
        db.execute(conn, db.fetch_value(conn, queries.COMMENT_TYPE_FKEY, (comment,)))


def rollback_all(dsn: str, *, progress: Progress = _quiet) -> list[str]:
    """Drop the code, then roll back every migration: back to an empty schema."""
    citus = _citus(dsn)
    settings = _session_settings(citus, distributing=citus.distributed)
    with (
        db.connect(dsn, application_name="syncsched migrate", settings=settings) as conn,
        db.session_advisory_lock(conn, queries.MIGRATE_LOCK),
    ):
        if db.fetch_value(conn, queries.SCHEMA_EXISTS):
            with db.transaction(conn):
                db.execute_script(conn, queries.DROP_CODE)
            progress("dropped functions, procedures and views")
        rolled_back = db.yoyo_rollback_all(dsn, sql_dir("migrations"), settings=settings)
        for migration_id in rolled_back:
            progress(f"rolled back migration {migration_id}")
    return rolled_back
