"""`syncsched web` (serve the console and the API) and `syncsched web token create|list|revoke`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from typing import Any

from aiohttp import web

from syncsched import db, queries
from syncsched.config import configure_logging, env_default, resolve_dsn
from syncsched.errors import ConfigError, SyncschedError
from syncsched.web.app import WebConfig, serve_app
from syncsched.web.auth import CONSOLE_ROLE, SESSION_TTL

log = logging.getLogger("syncsched.web")


def add_parser(commands: Any) -> None:
    p_web = commands.add_parser(
        "web",
        help="the web console and HTTP API",
        description="Serve the web console and the HTTP API (/api/v1). Every request runs under the database role "
        "its token maps to: make tokens with `syncsched web token create`.",
    )
    p_web.add_argument(
        "--dsn", help="the database ($SYNCSCHED_DSN, else $DATABASE_URL); its role must be a member of syncsched_web"
    )
    p_web.add_argument(
        "--host",
        default=env_default("WEB_HOST", "127.0.0.1"),
        help="address to listen on ($SYNCSCHED_WEB_HOST, default 127.0.0.1)",
    )
    p_web.add_argument(
        "--port", default=env_default("WEB_PORT", "8080"), help="port to listen on ($SYNCSCHED_WEB_PORT, default 8080)"
    )
    p_web.add_argument(
        "--base-path",
        default=env_default("WEB_BASE_PATH", "/"),
        help="the path the console is served under ($SYNCSCHED_WEB_BASE_PATH, default /)",
    )
    p_web.add_argument(
        "--read-only",
        action="store_true",
        default=env_default("WEB_READ_ONLY", "") in ("1", "true"),
        help="refuse every action ($SYNCSCHED_WEB_READ_ONLY=true)",
    )
    p_web.add_argument(
        "--session-ttl",
        default=env_default("WEB_SESSION_TTL", str(SESSION_TTL)),
        help="seconds a token is trusted before the database is asked again: a revoked token works at most this"
        f" long ($SYNCSCHED_WEB_SESSION_TTL, default {SESSION_TTL:g})",
    )
    p_web.add_argument(
        "--log-format",
        default=env_default("LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="log lines as text or json ($SYNCSCHED_LOG_FORMAT, default text)",
    )
    p_web.set_defaults(func=serve)
    tokens = p_web.add_subparsers(dest="web_command", metavar="token")
    p_token = tokens.add_parser(
        "token",
        help="make, list and revoke console tokens",
        description="Console and API tokens: each maps to admin, reader, or a tenant of one "
        "organization. A token is printed once; only its hash is stored.",
    )
    actions = p_token.add_subparsers(dest="token_action", required=True, metavar="{create,list,revoke}")
    p_create = actions.add_parser(
        "create", help="make a token (printed once)", description="Make a token and print it once. Needs an admin DSN."
    )
    p_create.add_argument("--role", required=True, choices=["admin", "reader", "tenant"], help="what the token may do")
    p_create.add_argument("--org", help="the organization of a tenant token")
    p_create.add_argument("--label", help="what the token is for")
    p_create.add_argument("--dsn", help="the database ($SYNCSCHED_DSN, else $DATABASE_URL)")
    p_create.set_defaults(func=token_create)
    p_list = actions.add_parser("list", help="the tokens (never their values)", description="List the tokens.")
    p_list.add_argument("--json", action="store_true", help="as JSON")
    p_list.add_argument("--dsn", help="the database ($SYNCSCHED_DSN, else $DATABASE_URL)")
    p_list.set_defaults(func=token_list)
    p_revoke = actions.add_parser("revoke", help="revoke a token", description="Revoke a token by its number.")
    p_revoke.add_argument("token_id", help="the token's number (token list)")
    p_revoke.add_argument("--dsn", help="the database ($SYNCSCHED_DSN, else $DATABASE_URL)")
    p_revoke.set_defaults(func=token_revoke)


def config_from(args: argparse.Namespace) -> WebConfig:
    if not str(args.port).isdigit() or not 0 < int(args.port) < 65536:
        raise ConfigError(f"--port must be a port number, not {args.port!r}")
    try:
        session_ttl = float(args.session_ttl)
    except ValueError:
        session_ttl = -1.0
    if not 0 <= session_ttl <= 3600:
        raise ConfigError(f"--session-ttl must be 0 to 3600 seconds, not {args.session_ttl!r}")
    return WebConfig(
        dsn=resolve_dsn(args.dsn),
        session_ttl=session_ttl,
        host=args.host,
        port=int(args.port),
        base_path=args.base_path,
        read_only=bool(args.read_only),
        tick_secret=os.environ.get("SYNCSCHED_WEB_TICK_SECRET") or None,
    )


def serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    config = config_from(args)
    check_login(config.dsn)
    return asyncio.run(_serve(config))


def check_login(dsn: str) -> None:
    """Fail fast, in one line: the database has the console, and the login may act as syncsched_web."""
    not_installed = "syncsched's web console is not installed in this database: run `syncsched migrate` first"
    with db.connect(dsn, application_name="syncsched web") as conn:
        login = db.fetch_one(conn, queries.WEB_LOGIN)
        assert login is not None
        if not login["installed"]:
            raise ConfigError(not_installed)
        if not login["member"]:
            raise ConfigError(
                f"the login {login['login']} is not a member of syncsched_web: grant syncsched_web to {login['login']}"
            )
        with db.transaction(conn):
            db.set_session_role(conn, CONSOLE_ROLE)
            if not db.fetch_value(conn, queries.WEB_SCHEMA_READY):
                raise ConfigError(not_installed)


async def _serve(config: WebConfig) -> int:
    runner = web.AppRunner(serve_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    url = f"http://{config.host}:{config.port}{config.base}"
    print(f"console on {url}" + (" (read-only)" if config.read_only else ""), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()
    return 0


def _fetch(args: argparse.Namespace, query: str, params: tuple[Any, ...] = ()) -> list[db.Row]:
    """A token command's one statement; a refusal of the database is one line."""
    with db.connect(resolve_dsn(args.dsn), application_name="syncsched web token") as conn:
        try:
            return db.fetch_all(conn, query, params)
        except db.Error as exc:
            raise SyncschedError(db.error_message(exc)) from None


def token_create(args: argparse.Namespace) -> int:
    if args.role == "tenant" and not args.org:
        raise ConfigError("a tenant token needs --org")
    token = _fetch(args, queries.CREATE_WEB_TOKEN, (args.role, args.org, args.label))[0]["token"]
    print(token, flush=True)
    return 0


def token_list(args: argparse.Namespace) -> int:
    rows = _fetch(args, queries.LIST_WEB_TOKENS)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    for row in rows:
        state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "active"
        who = f"{row['role']}:{row['org_id']}" if row["org_id"] else row["role"]
        print(f"{row['token_id']:>5}  {who:<24} {state:<24} {row['label'] or ''}")
    return 0


def token_revoke(args: argparse.Namespace) -> int:
    if not str(args.token_id).isdigit():
        raise ConfigError(f"a token number is a whole number, not {args.token_id!r}")
    revoked = _fetch(args, queries.REVOKE_WEB_TOKEN, (int(args.token_id),))[0]["revoked"]
    print(f"token {args.token_id} " + ("revoked" if revoked else "was revoked already"), flush=True)
    return 0
