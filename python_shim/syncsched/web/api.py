"""The HTTP API under /api/v1: JSON, every action one engine function under the caller's role,
documented by the OpenAPI document it serves (built from the same route table)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from syncsched import db, queries
from syncsched.web import openapi
from syncsched.web.app import CONFIG, DATA, HUB, error_body, json_response, root_of, session_of
from syncsched.web.auth import CONSOLE_ROLE, Session, csrf_ok
from syncsched.web.data import (
    BULK_ACTIONS,
    BULK_LIMIT,
    INTEGRATION_FIELDS,
    Refused,
    optional_bool,
    optional_time,
    page_size,
)

Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    response: str  # a schema of openapi.SCHEMAS
    query: list[str] = field(default_factory=list)  # names of openapi.PARAMETERS
    body: str | None = None
    action: bool = False  # changes something: refused when read-only; CSRF for cookie sessions
    public: bool = False  # no token needed
    statuses: tuple[int, ...] = ()


ROUTES: list[Route] = []


def route(method: str, path: str, summary: str, response: str, **options: Any) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, path, handler, summary, response, **options))
        return handler

    return register


def _guard(spec: Route, handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.Response:
        if spec.action and request.app[CONFIG].read_only:  # every action, the tick included
            return json_response(error_body(403, "this console is read-only"), 403)
        if spec.public:
            return await handler(request)
        session: Session | None = request.get("session")
        if session is None:
            return json_response(error_body(401, "a token is needed: Authorization: Bearer <token>"), 401)
        if spec.action and not csrf_ok(session, request):
            return json_response(error_body(403, "the CSRF token is missing or wrong"), 403)
        return await handler(request)

    return guarded


def add_routes(app: web.Application, prefix: str) -> None:
    for spec in ROUTES:
        app.router.add_route(spec.method, prefix + spec.path, _guard(spec, spec.handler))


async def body_of(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (ValueError, json.JSONDecodeError):
        raise Refused(422, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(422, "the body must be a JSON object")
    return body


def _filters(request: web.Request, names: list[str]) -> dict[str, Any]:
    query = request.query
    filters: dict[str, Any] = {name: query.get(name) or None for name in names}
    if "enabled" in names:
        filters["enabled"] = optional_bool(query.get("enabled"), "enabled")
    for name in ("since", "until"):
        if name in names:
            filters[name] = optional_time(query.get(name), name)
    return filters


INTEGRATION_FILTERS = ["q", "org", "type", "enabled", "status", "health"]
RUN_FILTERS = ["status", "type", "org", "integration", "since", "until"]


def integration_fields(body: dict[str, Any], allow_reset: bool) -> dict[str, Any]:
    """The request's fields as the operator API's parameters (p_<name>); unknown names refused."""
    known = {name.removeprefix("p_") for name in INTEGRATION_FIELDS}
    unknown = set(body) - known - ({"reset"} if allow_reset else set()) - {"org_id", "integration_id"}
    if unknown:
        raise Refused(422, f"unknown field(s): {', '.join(sorted(unknown))}")
    fields = {f"p_{name}": body[name] for name in known if name in body}
    if "p_payload" in fields:
        fields["p_payload"] = json.dumps(fields["p_payload"])
    if allow_reset and "reset" in body:
        fields["p_reset"] = body["reset"]
    return fields


# --- health, schema, tick ------------------------------------------------------------------------


@route(
    "GET",
    "/health",
    "Liveness and readiness: the database answers and the live feed listens",
    "Health",
    public=True,
    statuses=(503,),
)
async def health(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    try:
        async with db.async_transaction_as(request.app[DATA].pool, CONSOLE_ROLE) as conn:
            rows = await db.async_fetch_conn(conn, queries.WEB_SCHEMA_READY)
        ready = bool(rows and rows[0]["ready"])
    except (db.Error, OSError):
        ready = False
    body = {"status": "ok" if ready else "unavailable", "database": ready, "live": hub.listening}
    return json_response(body, 200 if ready else 503)


@route("GET", "/openapi.json", "This document", "OpenAPI", public=True)
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(openapi.document(ROUTES, root_of(request) + "api/v1"))


@route(
    "POST",
    "/tick",
    "One tick, for hosts without pg_cron (Authorization: Bearer <tick secret>)",
    "TickResult",
    public=True,
    action=True,
    statuses=(401, 503),
)
async def tick(request: web.Request) -> web.Response:
    secret = request.app[CONFIG].tick_secret
    if not secret:
        return json_response(error_body(503, "no tick secret is configured (SYNCSCHED_WEB_TICK_SECRET)"), 503)
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), secret.encode()):
        return json_response(error_body(401, "wrong tick secret"), 401)
    return json_response(await request.app[DATA].tick() or {})


# --- integrations --------------------------------------------------------------------------------


@route(
    "GET",
    "/integrations",
    "Integrations, filtered, in pages (cursor)",
    "IntegrationPage",
    query=[*INTEGRATION_FILTERS, "sort", "cursor", "limit"],
)
async def list_integrations(request: web.Request) -> web.Response:
    page = await request.app[DATA].integrations(
        session_of(request),
        _filters(request, INTEGRATION_FILTERS),
        request.query.get("cursor"),
        page_size(request.query.get("limit")),
        request.query.get("sort") or "org",
    )
    return json_response(page)


@route(
    "POST",
    "/integrations",
    "Create an integration (syncsched.create_integration)",
    "Integration",
    body="IntegrationCreate",
    action=True,
    statuses=(201,),
)
async def create_integration(request: web.Request) -> web.Response:
    body = await body_of(request)
    org_id, integration_id = body.get("org_id"), body.get("integration_id")
    if not isinstance(org_id, str) or not isinstance(integration_id, str):
        raise Refused(422, "org_id and integration_id are needed")
    data = request.app[DATA]
    session = session_of(request)
    await data.create_integration(session, org_id, integration_id, integration_fields(body, allow_reset=False))
    return json_response(await data.integration(session, org_id, integration_id), 201)


async def _integration_or_404(request: web.Request) -> dict[str, Any]:
    row = await request.app[DATA].integration(
        session_of(request), request.match_info["org"], request.match_info["integration"]
    )
    if row is None:
        raise Refused(404, f"no integration {request.match_info['org']}/{request.match_info['integration']}")
    return row


@route("GET", "/integrations/{org}/{integration}", "One integration", "Integration")
async def get_integration(request: web.Request) -> web.Response:
    return json_response(await _integration_or_404(request))


@route(
    "PATCH",
    "/integrations/{org}/{integration}",
    "Change some fields; the others keep their value (syncsched.alter_integration)",
    "Integration",
    body="IntegrationChange",
    action=True,
)
async def alter_integration(request: web.Request) -> web.Response:
    org_id, integration_id = request.match_info["org"], request.match_info["integration"]
    data = request.app[DATA]
    session = session_of(request)
    await data.alter_integration(session, org_id, integration_id, integration_fields(await body_of(request), True))
    return json_response(await data.integration(session, org_id, integration_id))


@route(
    "DELETE",
    "/integrations/{org}/{integration}",
    "Delete an integration (syncsched.delete_integration; ?delete_history=true to delete its runs too)",
    "ActionResult",
    query=["delete_history"],
    action=True,
)
async def delete_integration(request: web.Request) -> web.Response:
    history = optional_bool(request.query.get("delete_history"), "delete_history") or False
    row = await request.app[DATA].act(
        session_of(request),
        queries.WEB_DELETE_INTEGRATION,
        (request.match_info["org"], request.match_info["integration"], history),
    )
    return json_response({"result": row})


@route("POST", "/integrations/{org}/{integration}/enable", "Enable", "ActionResult", action=True)
async def enable(request: web.Request) -> web.Response:
    row = await request.app[DATA].act(
        session_of(request), queries.WEB_ENABLE, (request.match_info["org"], request.match_info["integration"])
    )
    return json_response({"result": row})


@route(
    "POST",
    "/integrations/{org}/{integration}/disable",
    "Disable (pending runs are cancelled)",
    "ActionResult",
    action=True,
)
async def disable(request: web.Request) -> web.Response:
    row = await request.app[DATA].act(
        session_of(request), queries.WEB_DISABLE, (request.match_info["org"], request.match_info["integration"])
    )
    return json_response({"result": row})


@route(
    "POST",
    "/integrations/{org}/{integration}/run",
    "Run now (?force=true while a run is live)",
    "ActionResult",
    query=["force"],
    action=True,
)
async def run_now(request: web.Request) -> web.Response:
    force = optional_bool(request.query.get("force"), "force") or False
    row = await request.app[DATA].act(
        session_of(request), queries.WEB_RUN_NOW, (request.match_info["org"], request.match_info["integration"], force)
    )
    return json_response({"result": row})


@route(
    "GET",
    "/integrations/{org}/{integration}/next-runs",
    "The next fire times, UTC and local",
    "NextRuns",
    query=["count"],
)
async def next_runs(request: web.Request) -> web.Response:
    count = page_size(request.query.get("count"), default=10)
    rows = await request.app[DATA].next_runs(
        session_of(request), request.match_info["org"], request.match_info["integration"], count
    )
    return json_response({"items": rows})


@route(
    "GET",
    "/integrations/{org}/{integration}/runs",
    "The integration's last runs, each with its attempts",
    "RunsOf",
    query=["limit"],
)
async def runs_of(request: web.Request) -> web.Response:
    rows = await request.app[DATA].runs_of(
        session_of(request),
        request.match_info["org"],
        request.match_info["integration"],
        page_size(request.query.get("limit"), default=20),
    )
    return json_response({"items": rows})


@route(
    "POST",
    "/integrations/bulk",
    "One action on every integration a filter selects (cancel: on their pending runs), when it still selects as"
    " many as the caller saw",
    "BulkResult",
    body="Bulk",
    action=True,
    statuses=(409,),
)
async def bulk(request: web.Request) -> web.Response:
    body = await body_of(request)
    action = body.get("action")
    if action not in BULK_ACTIONS:
        raise Refused(422, f"action must be one of {', '.join(BULK_ACTIONS)}")
    expected = body.get("expected_count")
    if not isinstance(expected, int) or isinstance(expected, bool) or not 0 <= expected <= BULK_LIMIT:
        raise Refused(422, f"expected_count (how many the caller saw) is needed, at most {BULK_LIMIT:,}")
    given = body.get("filters", {})
    if not isinstance(given, dict):
        raise Refused(422, "filters must be an object")
    filters = {name: given.get(name) or None for name in INTEGRATION_FILTERS}
    filters["enabled"] = optional_bool(
        str(filters["enabled"]).lower() if filters["enabled"] is not None else None, "enabled"
    )
    done = await request.app[DATA].bulk(session_of(request), filters, str(action), expected)
    return json_response({"action": action, **done})


@route(
    "GET",
    "/preview",
    "Check a cron expression and zone; the next fire times when valid (H resolved for org/integration)",
    "Preview",
    query=["cron", "timezone", "org", "integration"],
)
async def preview(request: web.Request) -> web.Response:
    org, integration = request.query.get("org", ""), request.query.get("integration", "")
    result = await request.app[DATA].preview(
        session_of(request),
        request.query.get("cron", ""),
        request.query.get("timezone") or "UTC",
        f"{org}/{integration}" if org and integration else None,
    )
    return json_response(result)


# --- runs ----------------------------------------------------------------------------------------


@route(
    "GET",
    "/runs",
    "Runs, newest first, filtered, in pages (cursor)",
    "RunPage",
    query=[*RUN_FILTERS, "cursor", "limit"],
)
async def list_runs(request: web.Request) -> web.Response:
    page = await request.app[DATA].runs(
        session_of(request),
        _filters(request, RUN_FILTERS),
        request.query.get("cursor"),
        page_size(request.query.get("limit")),
    )
    return json_response(page)


def _run_id(request: web.Request) -> int:
    value = request.match_info["run_id"]
    if not value.isdigit():
        raise Refused(404, f"no run {value}")
    return int(value)


@route("GET", "/runs/{run_id}", "One run with every attempt", "RunDetail")
async def get_run(request: web.Request) -> web.Response:
    run = await request.app[DATA].run(session_of(request), _run_id(request))
    if run is None:
        raise Refused(404, f"no run {request.match_info['run_id']}")
    return json_response(run)


@route(
    "POST",
    "/runs/{run_id}/retry",
    "Retry a failed run (same idempotency key, the attempts go on)",
    "ActionResult",
    action=True,
)
async def retry_run(request: web.Request) -> web.Response:
    row = await request.app[DATA].act(session_of(request), queries.WEB_RETRY_RUN, (_run_id(request),))
    return json_response({"result": row})


@route("POST", "/runs/{run_id}/cancel", "Cancel a pending run", "ActionResult", action=True)
async def cancel_run(request: web.Request) -> web.Response:
    row = await request.app[DATA].act(session_of(request), queries.WEB_CANCEL_RUN, (_run_id(request),))
    return json_response({"result": row})


# --- alerts, endpoints, settings, pauses ---------------------------------------------------------


@route(
    "GET",
    "/alerts",
    "Open alerts (state=open), or every alert newest first in pages (state=all)",
    "AlertPage",
    query=["state", "kind", "cursor", "limit"],
)
async def list_alerts(request: web.Request) -> web.Response:
    data, session = request.app[DATA], session_of(request)
    kind = request.query.get("kind") or None
    limit = page_size(request.query.get("limit"))
    if request.query.get("state", "open") == "open":
        return json_response({"items": await data.open_alerts(session, kind, limit), "next_cursor": None})
    return json_response(await data.alerts(session, kind, request.query.get("cursor"), limit))


@route("POST", "/alerts/{alert_id}/acknowledge", "Acknowledge an alert", "ActionResult", action=True)
async def acknowledge(request: web.Request) -> web.Response:
    value = request.match_info["alert_id"]
    if not value.isdigit():
        raise Refused(404, f"no alert {value}")
    session = session_of(request)
    row = await request.app[DATA].act(session, queries.WEB_ACKNOWLEDGE, (int(value), session.label))
    return json_response({"result": row})


@route(
    "GET",
    "/endpoints",
    "Endpoint health per integration type, circuit state, runs pending, running and held (and why), what is paused",
    "Endpoints",
)
async def endpoints(request: web.Request) -> web.Response:
    data, session = request.app[DATA], session_of(request)
    return json_response({"items": await data.endpoints(session), "paused": await data.pauses(session)})


@route(
    "POST",
    "/endpoints/{integration_type}/check",
    "Check an endpoint now (its health starts over as unknown)",
    "ActionResult",
    action=True,
)
async def check_endpoint(request: web.Request) -> web.Response:
    row = await request.app[DATA].act(
        session_of(request), queries.WEB_CHECK_ENDPOINT, (request.match_info["integration_type"],)
    )
    return json_response({"result": row})


@route("GET", "/settings", "Every setting with its type, default and range", "Settings")
async def settings(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[DATA].settings(session_of(request))})


@route(
    "PATCH",
    "/settings/{key}",
    "Change a setting (checked against its type and range)",
    "ActionResult",
    body="SettingChange",
    action=True,
)
async def set_setting(request: web.Request) -> web.Response:
    body = await body_of(request)
    if not isinstance(body.get("value"), str):
        raise Refused(422, "value (a string) is needed")
    row = await request.app[DATA].act(
        session_of(request), queries.WEB_SET_SETTING, (request.match_info["key"], body["value"])
    )
    return json_response({"result": row})


@route(
    "POST",
    "/{what:scheduling|dispatch}/{action:pause|resume}",
    "Pause or resume run creation (scheduling) or claims (dispatch), for one integration type or all",
    "ActionResult",
    body="Pause",
    action=True,
)
async def pause(request: web.Request) -> web.Response:
    body = await body_of(request)
    integration_type = body.get("integration_type")
    if integration_type is not None and not isinstance(integration_type, str):
        raise Refused(422, "integration_type must be a string, or absent for all")
    query = queries.WEB_PAUSE.format(action=request.match_info["action"], what=request.match_info["what"])
    row = await request.app[DATA].act(session_of(request), query, (integration_type,))
    return json_response({"result": row})
