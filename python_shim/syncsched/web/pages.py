"""The console's pages: server-rendered HTML (Jinja2, autoescaped), one script and one stylesheet of
our own, live by server-sent events. Every read is a query under the session's role; every button
calls the HTTP API, which calls one engine function."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from syncsched import db
from syncsched.web import charts, words
from syncsched.web.app import CONFIG, DATA, HUB, ROOT_ROUTE, SESSIONS, root_of
from syncsched.web.auth import COOKIE, CSRF_FIELD, Session
from syncsched.web.data import Refused, optional_bool, optional_time, page_size

HERE = Path(__file__).parent
NONE = "\N{EN DASH}"  # what a table cell shows for no value
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else NONE


def _local(value: datetime | None, zone: str | None) -> str:
    return value.astimezone(_zone(zone)).strftime("%Y-%m-%d %H:%M %Z") if value else NONE


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _duration(value: timedelta | None) -> str:
    return _span(value.total_seconds()) if value is not None else NONE


def _milliseconds(value: float | None) -> str:
    """A duration given in milliseconds (an attempt's), as people read it."""
    if value is None:
        return NONE
    return f"{value:.0f} ms" if value < 1000 else _span(value / 1000) if value >= 10_000 else f"{value / 1000:.1f} s"


ENVIRONMENT.filters.update(utc=_utc, local=_local, ago=_ago, duration=_duration, milliseconds=_milliseconds)
ENVIRONMENT.globals.update(describe=words.describe, sparkline=charts.sparkline, urlencode=urlencode)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    config = request.app[CONFIG]
    session: Session | None = request.get("session")
    page = ENVIRONMENT.get_template(template)
    values = {
        "base": root_of(request),
        "session": session,
        "csrf": session.csrf if session else "",
        "can_act": session is not None and session.role != "reader" and not config.read_only,
        "read_only": config.read_only,
        "path": request.path,
        "query": dict(request.query),
        **context,
    }
    if request.headers.get("X-Fragment") == "1" and "content" in page.blocks:
        html = "".join(page.blocks["content"](page.new_context(values)))
    else:
        html = page.render(values)
    return web.Response(text=html, status=status, content_type="text/html", headers={"Cache-Control": "no-store"})


def render_error(request: web.Request, status: int, message: str, hint: str | None) -> web.Response:
    return render(request, "error.html", status=status, status_code=status, message=message, hint=hint)


def page(handler: Callable[[web.Request, Session], Awaitable[web.StreamResponse]]) -> Handler:
    """A page for a signed-in session; others go to the sign-in page."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session: Session | None = request.get("session")
        if session is None:
            raise web.HTTPSeeOther(root_of(request) + "login?" + urlencode({"next": request.path_qs}))
        return await handler(request, session)

    return guarded


# --- sign in and out -----------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", next=request.query.get("next", ""), failed=False)


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token", "")).strip()
    base = root_of(request)
    target = str(form.get("next") or "")
    if not target.startswith(base) or target.startswith("//"):
        target = base
    session = await request.app[SESSIONS].lookup(token, via_cookie=True) if token else None
    if session is None:
        return render(request, "login.html", status=401, next=target, failed=True)
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", path=base, secure=request.secure, max_age=86400 * 7
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session: Session | None = request.get("session")
    form = await request.post()
    if session is not None and not hmac.compare_digest(str(form.get(CSRF_FIELD, "")), session.csrf):
        raise web.HTTPForbidden(text="the CSRF token is missing or wrong")
    response = web.HTTPSeeOther(root_of(request) + "login")
    response.del_cookie(COOKIE, path=root_of(request))
    raise response


# --- the pages -----------------------------------------------------------------------------------


@page
async def overview(request: web.Request, session: Session) -> web.StreamResponse:
    data = request.app[DATA]
    summary = await data.overview(session)
    try:
        endpoints = await data.endpoints(session)
    except db.Error as exc:
        if db.sqlstate(exc) != "42501":
            raise
        endpoints = []  # a tenant does not see the endpoints: the overview goes on without them
    alerts = await data.open_alerts(session, None, 10)
    return render(
        request,
        "overview.html",
        summary=summary,
        endpoints=endpoints,
        pauses=await data.pauses(session),
        alerts=alerts,
        chart=charts.runs_chart(summary["runs_over_time"]),
        type_chart=charts.runs_chart(summary["runs_over_time"], by="integration_type"),
        now=datetime.now(UTC),
    )


@page
async def integrations(request: web.Request, session: Session) -> web.StreamResponse:
    query = request.query
    filters = {
        "q": query.get("q") or None,
        "org": query.get("org") or None,
        "type": query.get("type") or None,
        "enabled": optional_bool(query.get("enabled"), "enabled"),
        "status": query.get("status") or None,
        "health": query.get("health") or None,
    }
    sort = query.get("sort") or "org"
    result = await request.app[DATA].integrations(
        session, filters, query.get("cursor"), page_size(query.get("limit"), 25), sort
    )
    return render(request, "integrations.html", page=result, filters=filters, sort=sort)


@page
async def integration(request: web.Request, session: Session) -> web.StreamResponse:
    org_id, integration_id = request.match_info["org"], request.match_info["integration"]
    data = request.app[DATA]
    row = await data.integration(session, org_id, integration_id)
    if row is None:
        raise Refused(404, f"no integration {org_id}/{integration_id}")
    return render(
        request,
        "integration.html",
        item=row,
        next_runs=await data.next_runs(session, org_id, integration_id, 10),
        runs=await data.runs_of(session, org_id, integration_id, 20),
        alerts=await data.alerts_of(session, org_id, integration_id, 20),
        hold=await data.hold(session, org_id, integration_id),
    )


@page
async def integration_form(request: web.Request, session: Session) -> web.StreamResponse:
    item = None
    if "org" in request.match_info:
        item = await request.app[DATA].integration(
            session, request.match_info["org"], request.match_info["integration"]
        )
        if item is None:
            raise Refused(404, f"no integration {request.match_info['org']}/{request.match_info['integration']}")
    return render(request, "form.html", item=item)


@page
async def runs(request: web.Request, session: Session) -> web.StreamResponse:
    query = request.query
    filters = {
        "status": query.get("status") or None,
        "type": query.get("type") or None,
        "org": query.get("org") or None,
        "integration": query.get("integration") or None,
        "since": optional_time(query.get("since"), "since"),
        "until": optional_time(query.get("until"), "until"),
    }
    result = await request.app[DATA].runs(session, filters, query.get("cursor"), page_size(query.get("limit"), 50))
    return render(request, "runs.html", page=result, filters=filters)


@page
async def run(request: web.Request, session: Session) -> web.StreamResponse:
    value = request.match_info["run_id"]
    found = await request.app[DATA].run(session, int(value)) if value.isdigit() else None
    if found is None:
        raise Refused(404, f"no run {value}")
    return render(request, "run.html", run=found)


@page
async def alerts(request: web.Request, session: Session) -> web.StreamResponse:
    data = request.app[DATA]
    kind = request.query.get("kind") or None
    history = await data.alerts(session, kind, request.query.get("cursor"), 50)
    return render(request, "alerts.html", open=await data.open_alerts(session, kind, 100), history=history, kind=kind)


@page
async def endpoints(request: web.Request, session: Session) -> web.StreamResponse:
    data = request.app[DATA]
    return render(request, "endpoints.html", endpoints=await data.endpoints(session), pauses=await data.pauses(session))


@page
async def settings(request: web.Request, session: Session) -> web.StreamResponse:
    return render(request, "settings.html", settings=await request.app[DATA].settings(session))


@page
async def events(request: web.Request, session: Session) -> web.StreamResponse:
    return await request.app[HUB].stream(request)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/login", login_form)
    router.add_post("/login", login)
    router.add_post("/logout", logout)
    router.add_get("/", overview, name=ROOT_ROUTE)
    router.add_get("/integrations", integrations)
    router.add_get("/integrations/new", integration_form)
    router.add_get("/integrations/{org}/{integration}/edit", integration_form)
    router.add_get("/integrations/{org}/{integration}", integration)
    router.add_get("/runs", runs)
    router.add_get("/runs/{run_id}", run)
    router.add_get("/alerts", alerts)
    router.add_get("/endpoints", endpoints)
    router.add_get("/settings", settings)
    router.add_get("/events", events)
    router.add_static("/static/", HERE / "static", append_version=True)
