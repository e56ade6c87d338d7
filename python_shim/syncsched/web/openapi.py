"""The OpenAPI 3.1 document of /api/v1, built from the route table: one place for what the API is."""

from __future__ import annotations

import re
from typing import Any, Protocol

from syncsched import __version__


class RouteSpec(Protocol):
    method: str
    path: str
    summary: str
    response: str
    query: list[str]
    body: str | None
    action: bool
    public: bool
    statuses: tuple[int, ...]


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


TIME = _nullable("string", format="date-time")
TEXT = _nullable("string")
INT = _nullable("integer")
SECONDS = _nullable("number", description="seconds")

INTEGRATION = {
    "type": "object",
    "required": ["org_id", "integration_id", "integration_type", "timezone", "is_enabled"],
    "properties": {
        "id": {"type": "integer"},
        "org_id": {"type": "string"},
        "integration_id": {"type": "string"},
        "integration_type": {"type": "string"},
        "cron_schedule": TEXT,
        "interval_minutes": INT,
        "timezone": {"type": "string"},
        "is_enabled": {"type": "boolean"},
        "misfire_policy": {"type": "string", "enum": ["run_once", "catch_up", "skip"]},
        "misfire_grace": SECONDS,
        "payload": {"type": "object"},
        "max_attempts": INT,
        "max_staleness": SECONDS,
        "next_run_at": TIME,
        "problem": TEXT,
        "stale_check_at": TIME,
        "created_at": TIME,
        "updated_at": TIME,
        "recent_statuses": {"type": "array", "items": {"type": "string"}},
    },
}
RUN = {
    "type": "object",
    "required": ["run_id", "org_id", "integration_id", "status", "attempt"],
    "properties": {
        "run_id": {"type": "integer"},
        "org_id": {"type": "string"},
        "integration_id": {"type": "string"},
        "integration_type": {"type": "string"},
        "trigger": {"type": "string", "enum": ["schedule", "manual", "catch_up"]},
        "status": {"type": "string", "enum": ["pending", "running", "completed", "failed", "cancelled"]},
        "scheduled_for": TIME,
        "enqueued_at": TIME,
        "not_before": TIME,
        "started_at": TIME,
        "finished_at": TIME,
        "attempt": {"type": "integer", "description": "number of the current or last attempt, from 1; 0 = never"},
        "max_attempts": {"type": "integer"},
        "worker_id": TEXT,
        "http_status": INT,
        "error": TEXT,
    },
}
ATTEMPT = {
    "type": "object",
    "required": ["attempt", "outcome"],
    "properties": {
        "attempt": {"type": "integer"},
        "outcome": {"type": "string", "enum": ["completed", "failed", "lost", "released"]},
        "worker_id": TEXT,
        "started_at": TIME,
        "finished_at": TIME,
        "duration": SECONDS,
        "duration_ms": _nullable("number"),
        "http_status": INT,
        "error": TEXT,
        "response_excerpt": TEXT,
    },
}
ALERT = {
    "type": "object",
    "required": ["alert_id", "kind", "at"],
    "properties": {
        "alert_id": {"type": "integer"},
        "kind": {"type": "string"},
        "severity": {"type": "string", "enum": ["warning", "danger"]},
        "alert_key": {"type": "string"},
        "org_id": TEXT,
        "integration_id": TEXT,
        "integration_type": TEXT,
        "detail": {"type": "object"},
        "at": TIME,
        "resolved_at": TIME,
        "acknowledged_at": TIME,
        "acknowledged_by": TEXT,
    },
}
ENDPOINT = {
    "type": "object",
    "required": ["integration_type", "endpoint_url"],
    "properties": {
        "integration_type": {"type": "string"},
        "endpoint_url": {"type": "string"},
        "health_url": TEXT,
        "max_concurrency": {"type": "integer"},
        "timeout_ms": {"type": "integer"},
        "status": TEXT,
        "mode": TEXT,
        "consecutive_failures": INT,
        "last_check_at": TIME,
        "next_check_at": TIME,
        "last_success_at": TIME,
        "last_used_at": TIME,
        "last_error": TEXT,
        "circuit_open": {"type": "boolean"},
        "pending": {"type": "integer"},
        "running": {"type": "integer"},
        "held": {"type": "integer", "description": "pending runs no claim hands out now"},
        "held_reasons": {"type": "array", "items": {"type": "string"}},
        "paused": {**TEXT, "description": "what is paused for the type: scheduling, dispatch (globally too)"},
        "scheduling_paused": {"type": "boolean", "description": "paused for this type itself"},
        "dispatch_paused": {"type": "boolean", "description": "paused for this type itself"},
    },
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "sqlstate": TEXT,
                "hint": TEXT,
            },
        }
    },
}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "next_cursor": TEXT,
        },
    }


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": schema}}}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Integration": INTEGRATION,
    "Run": RUN,
    "Attempt": ATTEMPT,
    "Alert": ALERT,
    "Error": ERROR,
    "IntegrationPage": {
        **_page("Integration"),
        "properties": {
            **_page("Integration")["properties"],
            "total": {"type": "integer", "description": "matching integrations, counted up to 10,000"},
            "total_capped": {"type": "boolean"},
        },
    },
    "RunPage": _page("Run"),
    "AlertPage": _page("Alert"),
    "RunDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Run"},
            {
                "type": "object",
                "required": ["attempts"],
                "properties": {
                    "idempotency_key": {"type": "string"},
                    "drift": SECONDS,
                    "response_excerpt": TEXT,
                    "payload": {"type": "object"},
                    "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
                },
            },
        ]
    },
    "RunsOf": _items(
        {
            "allOf": [
                {"$ref": "#/components/schemas/Run"},
                {
                    "type": "object",
                    "properties": {"attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}}},
                },
            ]
        }
    ),
    "NextRuns": _items(
        {
            "type": "object",
            "required": ["at", "local_time", "utc_offset", "offset_changed"],
            "properties": {
                "at": {"type": "string", "format": "date-time"},
                "local_time": {"type": "string"},
                "utc_offset": {"type": "number", "description": "seconds east of UTC"},
                "offset_changed": {
                    "type": "boolean",
                    "description": "the zone's offset changed since the previous one",
                },
            },
        }
    ),
    "Preview": {
        "type": "object",
        "required": ["problem", "next"],
        "properties": {
            "problem": TEXT,
            "resolved": {**TEXT, "description": "what H resolves to for org/integration (given both)"},
            "next": {"type": "array", "items": {"type": "string", "format": "date-time"}},
        },
    },
    "Endpoints": {
        "type": "object",
        "required": ["items", "paused"],
        "properties": {
            "items": {"type": "array", "items": ENDPOINT},
            "paused": {
                "type": ["object", "null"],
                "description": "what is paused for every type (null for a tenant)",
                "properties": {"scheduling": {"type": "boolean"}, "dispatch": {"type": "boolean"}},
            },
        },
    },
    "Settings": _items(
        {
            "type": "object",
            "required": ["key", "type", "value", "default_value"],
            "properties": {
                "key": {"type": "string"},
                "type": {"type": "string"},
                "value": {"type": "string"},
                "default_value": {"type": "string"},
                "min_value": TEXT,
                "max_value": TEXT,
                "description": {"type": "string"},
                "updated_at": TIME,
            },
        }
    ),
    "Health": {
        "type": "object",
        "required": ["status", "database", "live"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {"type": "boolean"},
            "live": {"type": "boolean"},
        },
    },
    "TickResult": {
        "type": "object",
        "properties": {
            "due": {"type": "integer"},
            "triggered": {"type": "integer"},
            "skipped_running": {"type": "integer"},
            "invalid": {"type": "integer"},
            "duration_ms": _nullable("number"),
        },
    },
    "ActionResult": {"type": "object", "required": ["result"], "properties": {"result": {}}},
    "BulkResult": {
        "type": "object",
        "required": ["action", "count"],
        "properties": {
            "action": {"type": "string"},
            "count": {"type": "integer", "description": "integrations acted on"},
            "runs": {"type": "integer", "description": "cancel: the pending runs cancelled"},
        },
    },
    "OpenAPI": {"type": "object", "required": ["openapi", "paths"]},
    "IntegrationCreate": {
        "type": "object",
        "required": ["org_id", "integration_id", "integration_type"],
        "properties": {
            "org_id": {"type": "string"},
            "integration_id": {"type": "string"},
            "integration_type": {"type": "string"},
            "cron_schedule": TEXT,
            "interval_minutes": INT,
            "timezone": {"type": "string"},
            "payload": {"type": "object"},
            "is_enabled": {"type": "boolean"},
            "misfire_policy": {"type": "string"},
            "misfire_grace": {"type": "string", "description": "an interval, such as '15 minutes'"},
            "max_attempts": INT,
            "max_staleness": _nullable("string"),
        },
    },
    "IntegrationChange": {
        "type": "object",
        "description": "Any fields of IntegrationCreate but the ids; omitted fields keep their value.",
        "properties": {"reset": {"type": "array", "items": {"type": "string"}}},
    },
    "Bulk": {
        "type": "object",
        "required": ["action", "expected_count"],
        "properties": {
            "action": {"type": "string", "enum": ["disable", "enable", "run", "cancel"]},
            "expected_count": {"type": "integer", "minimum": 0, "maximum": 10000},
            "filters": {"type": "object"},
        },
    },
    "SettingChange": {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}},
    "Pause": {"type": "object", "properties": {"integration_type": TEXT}},
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "q": {"description": "a prefix of the organization or integration id"},
    "org": {"description": "one organization"},
    "integration": {"description": "one integration id"},
    "type": {"description": "one integration type"},
    "enabled": {"schema": {"type": "boolean"}},
    "status": {"description": "integrations: failing, stale or invalid; runs: a run status"},
    "health": {
        "schema": {"type": "string", "enum": ["healthy", "unhealthy", "unknown"]},
        "description": "the health of the endpoint of the integration's type",
    },
    "sort": {
        "schema": {"type": "string", "enum": ["org", "next_run", "outcome"]},
        "description": "org (default); next_run: soonest first, then those with none; outcome: failing first",
    },
    "since": {"schema": {"type": "string", "format": "date-time"}, "description": "enqueued at or after"},
    "until": {"schema": {"type": "string", "format": "date-time"}, "description": "enqueued before"},
    "cursor": {"description": "next_cursor of the previous page"},
    "limit": {"schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    "count": {"schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    "force": {"schema": {"type": "boolean"}},
    "delete_history": {"schema": {"type": "boolean"}},
    "state": {"schema": {"type": "string", "enum": ["open", "all"]}},
    "kind": {"description": "one alert kind"},
    "cron": {"description": "a cron expression"},
    "timezone": {"description": "an IANA time zone"},
}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = re.findall(r"\{(\w+)(?::[^}]*)?\}", path)
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def _ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def document(routes: list[Any], prefix: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for spec in routes:
        route: RouteSpec = spec
        ok = 201 if 201 in route.statuses else 200
        responses: dict[str, Any] = {str(ok): {"description": "done", "content": _ref(route.response)}}
        errors = (
            {*route.statuses, 422} | ({401, 403} if not route.public else set()) | ({403} if route.action else set())
        )
        for status in sorted(errors - {ok}):
            responses[str(status)] = {"description": "error", "content": _ref("Error")}
        if "{" in route.path:
            responses.setdefault("404", {"description": "not found", "content": _ref("Error")})
        if route.action and not route.public:
            responses.setdefault("409", {"description": "refused", "content": _ref("Error")})
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{_openapi_path(route.path).strip('/').replace('/', '_')}",
            "parameters": _path_parameters(route.path)
            + [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, **PARAMETERS[name]}
                for name in route.query
            ],
            "responses": responses,
        }
        if route.body:
            operation["requestBody"] = {"required": True, "content": _ref(route.body)}
        if route.public:
            operation["security"] = []
        paths.setdefault(prefix + _openapi_path(route.path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "syncsched",
            "version": __version__,
            "description": "Schedules, runs, alerts and endpoints of syncsched. Every request runs under the"
            " database role its token maps to.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }
