"""`syncsched migrate`: yoyo migrations, then every plpgsql/ file, under one advisory lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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


def _session_settings(dsn: str) -> dict[str, str]:
    """The settings of migrate's sessions: on a database with Citus, DDL that stays on the coordinator."""
    with db.connect(dsn, application_name="syncsched migrate") as conn:
        citus = db.fetch_value(conn, queries.EXTENSION_INSTALLED, ("citus",))
    return COORDINATOR_LOCAL if citus else {}


def migrate(dsn: str, *, require_pg_cron: bool = True, progress: Progress = _quiet) -> MigrateResult:
    """Bring the database to the current schema and code. Safe to run concurrently and again."""
    result = MigrateResult()
    settings = _session_settings(dsn)
    with db.connect(dsn, application_name="syncsched migrate", settings=settings) as conn:
        check_server(conn, require_pg_cron=require_pg_cron)
        with db.session_advisory_lock(conn, queries.MIGRATE_LOCK):
            result.applied = db.yoyo_apply(dsn, sql_dir("migrations"), settings=settings)
            for migration_id in result.applied:
                progress(f"applied migration {migration_id}")
            with db.transaction(conn):
                # Code belongs to the NOLOGIN owner role, like the tables.
                db.execute(conn, queries.SET_OWNER_ROLE)
                for path in plpgsql_files():
                    db.execute_script(conn, path.read_text(encoding="utf-8"))
                    result.code_files.append(path.name)
            progress(f"applied {len(result.code_files)} plpgsql/ files")
    return result


def rollback_all(dsn: str, *, progress: Progress = _quiet) -> list[str]:
    """Drop the code, then roll back every migration: back to an empty schema."""
    settings = _session_settings(dsn)
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
