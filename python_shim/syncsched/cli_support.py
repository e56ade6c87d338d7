"""What the database commands of the CLI share: where the database is, a look before the command (who
the login is, whether syncsched is installed), database errors as one line, and output as tables or JSON."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from syncsched import db, localpg, queries
from syncsched.config import env_default, resolve_dsn
from syncsched.errors import ConfigError, SyncschedError
from syncsched.migrate import migrate
from syncsched.web.app import to_json


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (`syncsched: error: ...`) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"syncsched: error: {message} (see `{self.prog} --help`)\n")


@dataclass(frozen=True)
class Needs:
    """What a command needs of its database: the role it needs (named when a privilege is missing),
    whether syncsched must be installed, and where to look without a DSN: `embedded` (the cluster of
    --dir, started for the command and stopped again), `preview` (the cluster of --dir when it runs,
    else a throwaway one), or nowhere (None)."""

    role: str
    installed: bool = True
    fallback: str | None = "embedded"


@dataclass(frozen=True)
class Login:
    """Who a command runs as, from the look before it."""

    where: str
    role: str
    superuser: bool
    memberships: list[str]

    def describe(self) -> str:
        if self.superuser:
            return f'role "{self.role}" (a superuser)'
        member = ", ".join(self.memberships) if self.memberships else "no syncsched role"
        return f'role "{self.role}" (member of {member})'


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high."""

    def parse(text: str) -> int:
        if not text.strip().isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to {high}")
        return int(text)

    return parse


def add_dsn(parser: argparse.ArgumentParser, fallback: str) -> None:
    parser.add_argument("--dsn", help=f"the database (default: $SYNCSCHED_DSN, then $DATABASE_URL, then {fallback})")


def add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        default=env_default("DIR", str(localpg.DEFAULT_DIR)),
        help=f"the embedded cluster's folder ($SYNCSCHED_DIR, default {localpg.DEFAULT_DIR})",
    )


def add_database(parser: argparse.ArgumentParser, needs: Needs) -> None:
    """--dsn and --dir, and what the command needs of the database (looked at before it runs)."""
    add_dsn(
        parser,
        "the embedded cluster of --dir when it runs, else a throwaway one"
        if needs.fallback == "preview"
        else "the embedded cluster of --dir",
    )
    add_dir(parser)
    parser.set_defaults(needs=needs, prog=parser.prog)


def one_line(text: str) -> str:
    return " ".join(text.split())


def explain(exc: db.Error, login: Login, needs: Needs, command: str) -> str:
    """A database error as one line: the engine's message and hint, the role for a missing privilege,
    `syncsched migrate` for a missing part of syncsched."""
    message = one_line(db.error_message(exc)).removeprefix("syncsched: ")
    state = db.sqlstate(exc)
    if state == "42501":
        return f"{message}: {login.describe()}; `{command}` needs {needs.role}"
    if state in ("3F000", "42P01", "42883") and "syncsched" in message:
        return f"{message} in {login.where}: its syncsched is older than this command: run `syncsched migrate` first"
    hint = db.hint(exc)
    return f"{message} (hint: {one_line(hint)})" if hint else message


def _configured_dsn(args: argparse.Namespace) -> str | None:
    try:
        return resolve_dsn(args.dsn)
    except ConfigError:
        return None


@contextlib.contextmanager
def _embedded(directory: str) -> Iterator[str]:
    """The cluster of --dir, started for the command and stopped again when it was not running."""
    cluster = localpg.persistent(Path(directory))
    if not cluster.initialized():
        raise ConfigError(
            f"no database given (--dsn, $SYNCSCHED_DSN, $DATABASE_URL) and no embedded cluster in {cluster.root}: "
            "pass one, or run `make demo` (or `syncsched db start`) first"
        )
    was_running = cluster.is_running()
    try:
        yield cluster.start()
    finally:
        if not was_running:
            cluster.stop()


@contextlib.contextmanager
def _preview(directory: str) -> Iterator[str]:
    """The cluster of --dir when it runs with syncsched installed (no start-up), else a throwaway one."""
    cluster = localpg.persistent(Path(directory))
    if cluster.is_running():
        dsn = cluster.start()  # reads the port of the running server
        with db.connect(dsn, application_name="syncsched") as conn:
            installed = (db.fetch_one(conn, queries.CLI_PREFLIGHT) or {}).get("installed")
        if installed:
            yield dsn
            return
    with localpg.throwaway() as throwaway:
        migrate(throwaway.dsn(), require_pg_cron=False)
        yield throwaway.dsn()


@contextlib.contextmanager
def located(args: argparse.Namespace, needs: Needs) -> Iterator[str]:
    """The DSN of the command: --dsn, $SYNCSCHED_DSN, $DATABASE_URL, else its fallback."""
    dsn = _configured_dsn(args)
    if dsn is not None or needs.fallback is None:
        yield dsn if dsn is not None else resolve_dsn(args.dsn)
    elif needs.fallback == "preview":
        with _preview(args.dir) as found:
            yield found
    else:
        with _embedded(args.dir) as found:
            yield found


def look(dsn: str, needs: Needs) -> Login:
    """Who the DSN logs in as; refuses a database without syncsched when the command needs it."""
    where = db.describe_dsn(dsn)
    with db.connect(dsn, application_name="syncsched") as conn:
        row = db.fetch_one(conn, queries.CLI_PREFLIGHT) or {}
    login = Login(where, str(row.get("role_name")), bool(row.get("superuser")), list(row.get("memberships") or []))
    if needs.installed and not row.get("installed"):
        raise SyncschedError(f"syncsched is not installed in {where}: run `syncsched migrate` first")
    if needs.installed and not row.get("usable"):
        raise SyncschedError(f"{login.describe()} may not use the schema syncsched in {where}: grant it {needs.role}")
    return login


@contextlib.contextmanager
def database(args: argparse.Namespace, needs: Needs, command: str) -> Iterator[str]:
    """The command's database, looked at first; a database error in the command becomes one line."""
    with located(args, needs) as dsn:
        login = look(dsn, needs)
        try:
            yield dsn
        except db.Error as exc:
            raise SyncschedError(explain(exc, login, needs, command)) from None


def url(dsn: str) -> str:
    """A libpq DSN as a postgresql:// URL (its password left out)."""
    params = db.parse_dsn(dsn)
    user = quote(params.get("user") or "", safe="")
    host = params.get("host") or "localhost"
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user + '@' if user else ''}{host}{port}/{quote(params.get('dbname') or '', safe='')}"


# --- output -------------------------------------------------------------------------------


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(f"syncsched: warning: {message}", file=sys.stderr, flush=True)


def print_json(value: Any) -> None:
    """The same JSON as the HTTP API's: times in ISO 8601, intervals in seconds."""
    say(to_json(value))


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        return duration(value)
    text = to_json(value) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def duration(value: timedelta) -> str:
    """An interval in its largest whole unit: 15 minutes, 2 hours, 90 seconds, 1.5 seconds."""
    seconds = value.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def when(at: datetime) -> str:
    """An instant in UTC, to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def table(rows: Sequence[dict[str, object]], title: str) -> str:
    if not rows:
        return f"{title}: none"
    columns = list(rows[0])
    cells = [[cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def of_total(count: int, total: int, offset: int = 0) -> str:
    """'20 of 105', '21-40 of 105' (a page further on), '3 of 3'."""
    if offset and count:
        return f"{offset + 1}-{offset + count} of {total}"
    return f"{count} of {total}"
