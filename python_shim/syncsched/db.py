"""Database access: the only module that imports psycopg (and drives yoyo's psycopg backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from syncsched import queries
from syncsched.errors import ConnectError

Connection = psycopg.Connection[Any]
AsyncConnection = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
# Seconds between a LISTEN connection's tries at most: a restarted server or a new primary is found
# within a couple of seconds of accepting connections.
MAX_RECONNECT_DELAY = 2.0
Error = psycopg.Error

# Client-side liveness: a half-open TCP connection is noticed within ~30 s.
_KEEPALIVE = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}


def parse_dsn(dsn: str) -> dict[str, Any]:
    """The DSN's parameters; a one-line ConnectError when it cannot be parsed."""
    try:
        return conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConnectError(f"invalid DSN: {_first_line(exc)}") from None


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a DSN, never its password."""
    params = parse_dsn(dsn)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"


def server_of(conn: Connection | AsyncConnection) -> str:
    """host:port of the server a connection reached (of a multi-host DSN's hosts, the one it chose)."""
    return f"{conn.info.host}:{conn.info.port}"


def with_database(dsn: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    params = parse_dsn(dsn)
    params["dbname"] = dbname
    return conninfo.make_conninfo(**params)


def connect(
    dsn: str,
    *,
    autocommit: bool = True,
    application_name: str = "syncsched",
    settings: Mapping[str, str] | None = None,
) -> Connection:
    """A connection with keepalives, `settings` set for its session; failures become one-line
    ConnectErrors. (Settings by SET, not in the DSN's `options`: an explicit `options` would drop
    PGOPTIONS and a service file's, and PgBouncer refuses or ignores it.)"""
    try:
        conn = psycopg.connect(_conninfo(dsn, application_name), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise ConnectError(f"cannot connect to {describe_dsn(dsn)}: {_first_line(exc)}") from None
    for name, value in (settings or {}).items():
        conn.execute("select set_config(%s, %s, false)", (name, value))
    if not autocommit:
        conn.commit()
    return conn


def _conninfo(dsn: str, application_name: str) -> str:
    params = parse_dsn(dsn)
    options = {**_KEEPALIVE, "application_name": application_name, "connect_timeout": "10"}
    for key, value in options.items():
        params.setdefault(key, value)
    return conninfo.make_conninfo(**params)


async def async_connect(dsn: str, *, application_name: str = "syncsched") -> AsyncConnection:
    """An autocommit asyncio connection with keepalives; failures become ConnectErrors."""
    try:
        return await psycopg.AsyncConnection.connect(_conninfo(dsn, application_name), autocommit=True)
    except psycopg.OperationalError as exc:
        raise ConnectError(f"cannot connect to {describe_dsn(dsn)}: {_first_line(exc)}") from None


class Pool:
    """A pool of autocommit connections for claims and status writes, which can be renewed at once.

    psycopg_pool retries a lost connection with a growing back-off: after a minute without a
    server (a failover) its next try may be a minute away, and every caller waits for it. Whoever
    knows that the server is back (the worker's LISTEN connection) renews the pool instead."""

    def __init__(self, conninfo_: str, size: int, wait: float) -> None:
        self._conninfo = conninfo_
        self._size = size
        self._wait = wait
        self._pool = self._new()

    def _new(self) -> AsyncConnectionPool[Any]:
        return AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._size,
            open=False,
            kwargs={"autocommit": True},
            reconnect_timeout=3600,
            timeout=self._wait,
        )

    def connection(self, timeout: float | None = None) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._pool.connection(timeout)

    async def open(self) -> None:
        await self._pool.open()

    async def renew(self) -> None:
        """A new pool from now on; the old one closes (whoever waits for it fails at once and retries)."""
        old, self._pool = self._pool, self._new()
        await self._pool.open()
        await old.close(timeout=1.0)

    async def close(self) -> None:
        await self._pool.close()


@asynccontextmanager
async def async_pool(dsn: str, *, size: int, application_name: str, wait: float = 30.0) -> AsyncIterator[Pool]:
    """A pool of autocommit connections; `wait`: seconds a caller waits for a connection before an error."""
    pool = Pool(_conninfo(dsn, application_name), size, wait)
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


async def async_fetch_all(pool: Pool, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall() if cur.description else []


def session_role(role: str, org_id: str | None = None, actor: str | None = None) -> list[sql.Composed]:
    """The statements that put a transaction under `role`, its organization and actor, each sent on its
    own (SET_SESSION_SETTINGS, SET_SESSION_ROLE)."""
    return [
        sql.SQL(queries.SET_SESSION_SETTINGS).format(org_id=sql.Literal(org_id or ""), actor=sql.Literal(actor or "")),
        sql.SQL(queries.SET_SESSION_ROLE).format(role=sql.Literal(role)),
    ]


def set_session_role(conn: Connection, role: str, org_id: str | None = None, actor: str | None = None) -> None:
    """In the transaction open on `conn`: see session_role."""
    for statement in session_role(role, org_id, actor):
        conn.execute(statement, prepare=False)


@asynccontextmanager
async def async_transaction_as(
    pool: Pool, role: str, org_id: str | None = None, actor: str | None = None
) -> AsyncIterator[AsyncConnection]:
    """A transaction under `role` (and, for a tenant, its organization): what the login itself may do
    does not matter for the statements run here; the role's grants and row-level security do.
    `actor` is who the audit trail names (syncsched.actor)."""
    async with pool.connection() as conn, conn.transaction():
        for statement in session_role(role, org_id, actor):
            await conn.execute(statement, prepare=False)
        yield conn


async def async_call_as(pool: Pool, role: str, statement: str, query: str) -> list[Row]:
    """`statement` (a procedure that commits, such as tick()) outside any transaction block, as `role`;
    then `query`'s rows. The connection goes back to the pool as itself."""
    async with pool.connection() as conn:
        await conn.execute(queries.SET_ROLE, (role,))
        try:
            await conn.execute(statement)
            return await async_fetch_conn(conn, query)
        finally:
            await conn.execute(queries.RESET_ROLE)


async def async_fetch_conn(conn: AsyncConnection, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall() if cur.description else []


def sqlstate(exc: psycopg.Error) -> str | None:
    """The SQLSTATE of a database error."""
    return exc.sqlstate


def hint(exc: psycopg.Error) -> str | None:
    return exc.diag.message_hint


async def listen(conn: AsyncConnection, channel: str) -> None:
    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))


async def notifications(conn: AsyncConnection, timeout: float) -> AsyncIterator[tuple[str, str]]:
    """(channel, payload) of the NOTIFYs on this connection, for up to `timeout` seconds."""
    async for notify in conn.notifies(timeout=timeout):
        yield notify.channel, notify.payload


async def ping(conn: AsyncConnection) -> None:
    await conn.execute("select 1")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return exc.__class__.__name__
    return lines[0].removeprefix("connection failed: ")


# What a server says when it answers a connection with a definite no: retrying cannot help.
_REFUSALS = (
    "does not exist",  # database or role
    "authentication failed",
    "no pg_hba.conf entry",
    "not permitted to log in",
    "permission denied for database",
    "no password supplied",
)


def refused(exc: ConnectError) -> bool:
    """Whether a failed connection was refused for good (unknown database or role, bad credentials,
    not allowed in) rather than for now (nothing listening, timeout, starting up, too many clients)."""
    text = str(exc)
    return any(refusal in text for refusal in _REFUSALS)


def one_line(exc: BaseException) -> str:
    """A database or connection error as one line (libpq's messages have several)."""
    if isinstance(exc, psycopg.Error):
        return error_message(exc)
    return _first_line(exc)


def error_message(exc: psycopg.Error) -> str:
    """The server's primary message of a database error (no context lines)."""
    diag = exc.diag
    return diag.message_primary or _first_line(exc)


def fetch_all(conn: Connection, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else []


def fetch_one(conn: Connection, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
    rows = fetch_all(conn, query, params)
    return rows[0] if rows else None


def fetch_value(conn: Connection, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    with conn.cursor() as cur:
        cur.execute(query, params)
        row = cur.fetchone()
        return row[0] if row else None


def execute(conn: Connection, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.rowcount


def execute_script(conn: Connection, script: str) -> None:
    """Run a file of several statements (simple query protocol: no parameters)."""
    conn.execute(script.encode())


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    with conn.transaction():
        yield conn


@contextmanager
def session_advisory_lock(conn: Connection, key: tuple[int, int]) -> Iterator[None]:
    """Hold a session-level advisory lock for the duration of the block."""
    execute(conn, queries.ADVISORY_LOCK, key)
    try:
        yield
    finally:
        if not conn.closed:
            execute(conn, queries.ADVISORY_UNLOCK, key)


def create_database(conn: Connection, name: str, template: str | None = None) -> None:
    if template:
        stmt = sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
    else:
        stmt = sql.SQL("create database {}").format(sql.Identifier(name))
    conn.execute(stmt)


def drop_database(conn: Connection, name: str) -> None:
    conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _yoyo_backend(dsn: str, settings: Mapping[str, str] | None) -> Any:
    """yoyo's psycopg 3 backend, connected with our DSN (libpq string or URL) as it is."""

    class Backend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        # yoyo probes by failing: CREATE TABLE of an existing lock table, DROP TABLE of a rolled-back one.
        # Each failure is an ERROR in the server's log at every migrate; PostgreSQL needs neither probe.
        create_lock_table_sql = PostgresqlPsycopgBackend.create_lock_table_sql.replace(
            "CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1
        )

        def connect(self, dburi: Any) -> Connection:
            return connect(dsn, application_name="syncsched migrate", settings=settings)

        def _check_transactional_ddl(self) -> bool:
            return True  # PostgreSQL's DDL is transactional

    backend = Backend(parse_uri("postgresql+psycopg://syncsched/"), "_yoyo_migration")
    backend.init_database()
    return backend


def yoyo_apply(
    dsn: str, migrations_dir: Path, until: str | None = None, settings: Mapping[str, str] | None = None
) -> list[str]:
    """Apply pending yoyo migrations (up to and including `until`); returns the ids applied."""
    backend = _yoyo_backend(dsn, settings)
    try:
        migrations = read_migrations(str(migrations_dir))
        if until is not None:
            migrations = migrations.filter(lambda m: m.id <= until)
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def yoyo_rollback_all(dsn: str, migrations_dir: Path, settings: Mapping[str, str] | None = None) -> list[str]:
    """Roll back every applied yoyo migration, newest first; returns the ids."""
    backend = _yoyo_backend(dsn, settings)
    try:
        migrations = read_migrations(str(migrations_dir))
        with backend.lock():
            applied = backend.to_rollback(migrations)
            backend.rollback_migrations(applied)
        return [m.id for m in applied]
    finally:
        backend.connection.close()
