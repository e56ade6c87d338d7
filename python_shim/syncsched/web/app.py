"""The console application: configuration, the database pool, sessions, security headers, errors."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from syncsched import db
from syncsched.web.auth import SESSION_TTL, Session, Sessions
from syncsched.web.data import Data, Refused
from syncsched.web.live import Hub

log = logging.getLogger("syncsched.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The engine's errors as HTTP: its own SQLSTATE and message travel in the JSON body.
STATUS_OF_SQLSTATE = {
    "22023": 422,  # invalid_parameter_value: bad input, named by the engine
    "23502": 422,  # not_null_violation
    "22P02": 422,  # invalid_text_representation
    "23514": 422,  # check_violation
    "54000": 422,  # program_limit_exceeded (a payload too large)
    "P0002": 404,  # no_data_found
    "55000": 409,  # object_not_in_prerequisite_state: refused for a disabled integration (run_now, retry_run)
    "55006": 409,  # object_in_use: refused while a run is live (run_now) or running (delete_integration)
    "42710": 409,  # duplicate_object
    "23505": 409,  # unique_violation
    "42501": 403,  # insufficient_privilege: the role may not
    "22004": 422,  # null_value_not_allowed (raised by the API for a missing argument)
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class WebConfig:
    dsn: str
    host: str = "127.0.0.1"
    port: int = 8080
    base_path: str = "/"  # where `syncsched web` serves it; embedded, where it is mounted decides
    read_only: bool = False
    tick_secret: str | None = None  # POST /api/v1/tick is refused (503) without one
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # signs CSRF tokens
    pool_size: int = 5
    session_ttl: float = SESSION_TTL  # a revoked token works at most this many seconds more

    @property
    def base(self) -> str:
        """The base path, with one slash at each end."""
        return "/" + self.base_path.strip("/") + "/" if self.base_path.strip("/") else "/"


CONFIG = web.AppKey("config", WebConfig)
SESSIONS = web.AppKey("sessions", Sessions)
DATA = web.AppKey("data", Data)
HUB = web.AppKey("hub", Hub)


def to_json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, datetime | date):
            return item.isoformat()
        if isinstance(item, timedelta):
            return item.total_seconds()
        if isinstance(item, Decimal):
            return float(item)
        return str(item)

    return json.dumps(value, default=default)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=to_json(body), status=status, content_type="application/json")


def error_body(status: int, message: str, sqlstate: str | None = None, hint: str | None = None) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, "sqlstate": sqlstate, "hint": hint}}


def session_of(request: web.Request) -> Session:
    session: Session | None = request.get("session")
    if session is None:
        raise web.HTTPUnauthorized()
    return session


ROOT_ROUTE = "root"  # the overview's route: its path is where the console is mounted


def root_of(request: web.Request) -> str:
    """The console's root path as it is served: "/", or the prefix it is mounted under (aiohttp's
    add_subapp prefixes the routes, which are registered relative). Links, redirects, the cookie's
    path and the API's paths all start here."""
    return str(request.app.router[ROOT_ROUTE].canonical)


def is_api(request: web.Request) -> bool:
    return request.path.startswith(root_of(request) + "api/")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Database errors as the engine said them: JSON for the API, a page for the console."""
    try:
        return await handler(request)
    except Refused as exc:
        status, message, sqlstate, hint = exc.status, str(exc), None, None
    except db.Error as exc:
        sqlstate = db.sqlstate(exc)
        status = STATUS_OF_SQLSTATE.get(sqlstate or "", 500)
        message, hint = db.error_message(exc), db.hint(exc)
        if status == 500:
            log.error("database error on %s %s: %s", request.method, request.path, message)
    if is_api(request):
        return json_response(error_body(status, message, sqlstate, hint), status)
    from syncsched.web.pages import render_error  # the pages import this module

    return render_error(request, status, message, hint)


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    request["session"] = await request.app[SESSIONS].from_request(request)
    return await handler(request)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    mounted = str(app.router[ROOT_ROUTE].canonical)
    if config.base != "/" and config.base != mounted:
        raise ValueError(f"the console is mounted at {mounted} but its base_path is {config.base}: make them one")
    async with db.async_pool(config.dsn, size=config.pool_size, application_name="syncsched web") as pool:
        app[SESSIONS] = Sessions(pool, config.secret, config.session_ttl)
        app[DATA] = Data(pool)
        hub = Hub(config.dsn, pool)
        app[HUB] = hub
        hub.start()
        try:
            yield
        finally:
            await hub.stop()


async def _close_streams(app: web.Application) -> None:
    # open pages' event streams would keep a graceful shutdown waiting for its whole timeout
    if HUB in app:
        app[HUB].close_streams()


def create_app(config: WebConfig) -> web.Application:
    """The console with its routes relative to its root: serve it as it is (`serve`), or mount it in
    another aiohttp application with `parent.add_subapp(prefix, create_app(config))`."""
    from syncsched.web import api, pages

    app = web.Application(middlewares=[security_headers, errors, sessions])
    app.on_shutdown.append(_close_streams)
    app[CONFIG] = config
    app.cleanup_ctx.append(_resources)
    api.add_routes(app, "/api/v1")
    pages.add_routes(app)
    return app


def serve_app(config: WebConfig) -> web.Application:
    """The application `syncsched web` serves: the console at config.base (mounted there, with a
    redirect from the base without its slash), or at the root."""
    console = create_app(config)
    if config.base == "/":
        return console
    root = web.Application()
    root.router.add_get(config.base.rstrip("/"), _to_base)  # before the mount, which would take it
    root.add_subapp(config.base, console)
    return root


async def _to_base(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(request.path + "/")
