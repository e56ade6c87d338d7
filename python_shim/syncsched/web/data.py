"""What the console reads and does, each under the session's role: the SQL text lives in `queries`,
every action is one call of an engine function, and the database's grants and row-level security
decide what a role sees and may do."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncsched import db, queries
from syncsched.web import words
from syncsched.web.auth import Session

PAGE_MAX = 200
COUNT_CAP = 10_000  # totals above this are shown as "10,000+"

# The operator API's parameters (see syncsched.create_integration and alter_integration).
INTEGRATION_FIELDS = [
    "p_integration_type",
    "p_cron_schedule",
    "p_interval_minutes",
    "p_timezone",
    "p_payload",
    "p_is_enabled",
    "p_misfire_policy",
    "p_misfire_grace",
    "p_max_attempts",
    "p_max_staleness",
]


# The most integrations one bulk action takes on (it is one transaction).
BULK_LIMIT = 10_000

# What a bulk action calls for each integration (cancel: for each of their pending runs).
BULK_ACTIONS = {
    "disable": queries.WEB_DISABLE,
    "enable": queries.WEB_ENABLE,
    "run": queries.WEB_RUN_NOW,
    "cancel": queries.WEB_CANCEL_PENDING_OF,
}


class Refused(Exception):
    """An action the console refuses before asking the database (read-only console, bad input)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise Refused(422, "the cursor is not one this API gave out") from None
    if not isinstance(values, list) or len(values) != size:
        raise Refused(422, "the cursor is not one this API gave out")
    return values


def page_size(value: str | None, default: int = 50) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= PAGE_MAX:
        raise Refused(422, f"limit must be a whole number from 1 to {PAGE_MAX}")
    return int(value)


def optional_bool(value: str | None, name: str) -> bool | None:
    if value in (None, ""):
        return None
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise Refused(422, f"{name} must be true or false")


def optional_time(value: str | None, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    assert value is not None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(422, f"{name} must be an ISO 8601 timestamp") from None


def integration_query(
    filters: dict[str, Any], sort: str, cursor: str | None, limit: int, health_types: list[str] | None = None
) -> tuple[str, str, dict[str, Any]]:
    """The page query of the integration list (and its count) with its parameters: the filters, a
    search as a LIKE prefix (its wildcards escaped), the types of the health filter (WEB_TYPES_OF_HEALTH),
    the sort and the cursor's position in it."""
    if sort not in queries.WEB_INTEGRATION_SORTS:
        raise Refused(422, f"sort must be one of {', '.join(queries.WEB_INTEGRATION_SORTS)}")
    selection = queries.web_selection(filters["status"])
    position = decode_cursor(cursor, 6) or [sort, 0, "-infinity", -1, "", ""]
    phases = len(queries.web_sort_phases(selection, sort))
    if position[0] != sort or not isinstance(position[1], int) or not 0 <= position[1] < phases:
        raise Refused(422, "the cursor is not one this API gave out (for this sort)")
    phase = position[1]
    if sort == "next_run" and filters["enabled"] is False:
        phase = 1  # a disabled integration has no next run: straight to those without one
    prefix = (filters["q"] or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params = {
        **filters,
        "q_like": prefix + "%",
        "health_types": health_types,
        "after_at": position[2] if phase == position[1] else "-infinity",
        "after_id": position[3] if phase == position[1] else -1,
        "after_org": position[4] if phase == position[1] else "",
        "after_integration": position[5] if phase == position[1] else "",
        "limit": limit,
        "count_cap": COUNT_CAP + 1,
    }
    return queries.web_integrations(selection, sort, phase), queries.web_integrations_count(selection), params


async def health_types(conn: db.AsyncConnection, filters: dict[str, Any]) -> list[str] | None:
    """The types of the health filter, or None without one."""
    if not filters.get("health"):
        return None
    return list((await db.async_fetch_conn(conn, queries.WEB_TYPES_OF_HEALTH, (filters["health"],)))[0]["types"])


def integration_cursor(sort: str, row: dict[str, Any]) -> str:
    """Where the next page starts: after this row, in its phase of the sort."""
    at = row["sort_at"].isoformat() if row["sort_at"] is not None else "-infinity"
    return encode_cursor([sort, row["sort_phase"], at, row["sort_id"], row["org_id"], row["integration_id"]])


@dataclass
class Data:
    pool: db.Pool

    async def read(self, session: Session, query: str, params: Any = ()) -> list[db.Row]:
        async with db.async_transaction_as(self.pool, session.db_role, session.org_id, session.label) as conn:
            return await db.async_fetch_conn(conn, query, params)

    async def one(self, session: Session, query: str, params: Any = ()) -> db.Row | None:
        rows = await self.read(session, query, params)
        return rows[0] if rows else None

    # --- integrations ----------------------------------------------------------------------

    async def integrations(
        self, session: Session, filters: dict[str, Any], cursor: str | None, limit: int, sort: str = "org"
    ) -> dict[str, Any]:
        async with db.async_transaction_as(self.pool, session.db_role, session.org_id, session.label) as conn:
            types = await health_types(conn, filters)
            page, count, params = integration_query(filters, sort, cursor, limit + 1, types)
            rows = await db.async_fetch_conn(conn, page, params)
            total = (await db.async_fetch_conn(conn, count, params))[0]["n"]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = integration_cursor(sort, rows[-1]) if more and rows else None
        for row in rows:
            for key in ("sort_phase", "sort_at", "sort_id"):
                del row[key]
        return {
            "items": rows,
            "total": min(total, COUNT_CAP),
            "total_capped": total > COUNT_CAP,
            "next_cursor": next_cursor,
        }

    async def integration(self, session: Session, org_id: str, integration_id: str) -> db.Row | None:
        return await self.one(session, queries.WEB_INTEGRATION, (org_id, integration_id))

    async def next_runs(self, session: Session, org_id: str, integration_id: str, count: int = 10) -> list[db.Row]:
        return await self.read(session, queries.WEB_NEXT_RUNS, (org_id, integration_id, count))

    async def runs_of(self, session: Session, org_id: str, integration_id: str, limit: int = 20) -> list[db.Row]:
        return await self.read(session, queries.WEB_RUNS_OF, (org_id, integration_id, limit))

    async def alerts_of(self, session: Session, org_id: str, integration_id: str, limit: int = 20) -> list[db.Row]:
        return await self.read(
            session, queries.WEB_ALERTS_OF, {"org": org_id, "integration": integration_id, "limit": limit}
        )

    async def preview(
        self, session: Session, cron: str, zone: str, seed: str | None = None, count: int = 5
    ) -> dict[str, Any]:
        """The engine's check of a schedule and its next fire times; `seed` (org/integration) resolves H."""
        async with db.async_transaction_as(self.pool, session.db_role, session.org_id, session.label) as conn:
            params = {"cron": cron, "tz": zone, "seed": seed, "count": count}
            checked = (await db.async_fetch_conn(conn, queries.WEB_PREVIEW, params))[0]
            problem = checked["problem"] or checked["zone_problem"]
            runs = [] if problem else await db.async_fetch_conn(conn, queries.WEB_PREVIEW_RUNS, params)
        return {"problem": problem, "resolved": checked["resolved"], "next": [r["at"] for r in runs]}

    # --- runs ------------------------------------------------------------------------------

    async def runs(self, session: Session, filters: dict[str, Any], cursor: str | None, limit: int) -> dict[str, Any]:
        before = decode_cursor(cursor, 1) or [2**62]
        rows = await self.read(session, queries.WEB_RUNS, {**filters, "before": before[0], "limit": limit + 1})
        more = len(rows) > limit
        rows = rows[:limit]
        return {"items": rows, "next_cursor": encode_cursor([rows[-1]["run_id"]]) if more and rows else None}

    async def run(self, session: Session, run_id: int) -> dict[str, Any] | None:
        async with db.async_transaction_as(self.pool, session.db_role, session.org_id, session.label) as conn:
            rows = await db.async_fetch_conn(conn, queries.WEB_RUN, (run_id,))
            if not rows:
                return None
            attempts = await db.async_fetch_conn(conn, queries.WEB_RUN_ATTEMPTS, (run_id,))
        return {**rows[0], "attempts": attempts}

    # --- alerts, endpoints, settings, overview ---------------------------------------------

    async def open_alerts(self, session: Session, kind: str | None, limit: int = 100) -> list[db.Row]:
        return await self.read(session, queries.WEB_OPEN_ALERTS, {"kind": kind, "limit": limit})

    async def alerts(self, session: Session, kind: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
        before = decode_cursor(cursor, 1) or [2**62]
        rows = await self.read(session, queries.WEB_ALERTS, {"kind": kind, "before": before[0], "limit": limit + 1})
        more = len(rows) > limit
        rows = rows[:limit]
        return {"items": rows, "next_cursor": encode_cursor([rows[-1]["alert_id"]]) if more and rows else None}

    async def endpoints(self, session: Session) -> list[db.Row]:
        rows = await self.read(session, queries.WEB_ENDPOINTS)
        return [{**row, "held_reasons": words.held_reasons(row)} for row in rows]

    async def pauses(self, session: Session) -> db.Row | None:
        """What is paused for every type; None for a role that may not know (a tenant)."""
        return await self.optional(session, queries.WEB_PAUSES)

    async def hold(self, session: Session, org_id: str, integration_id: str) -> db.Row | None:
        """What is paused for an integration and why its pending run waits; None for a tenant."""
        return await self.optional(session, queries.WEB_INTEGRATION_HOLD, (org_id, integration_id))

    async def settings(self, session: Session) -> list[db.Row]:
        return await self.read(session, queries.WEB_SETTINGS)

    async def overview(self, session: Session) -> dict[str, Any]:
        async with db.async_transaction_as(self.pool, session.db_role, session.org_id, session.label) as conn:
            summary = (await db.async_fetch_conn(conn, queries.WEB_OVERVIEW))[0]
            over_time = await db.async_fetch_conn(conn, queries.WEB_RUNS_OVER_TIME)
            workers = await db.async_fetch_conn(conn, queries.WEB_WORKERS)
        seen: dict[str, db.Row] = {}
        for row in workers:
            known = seen.get(row["worker_id"])
            if known is None or (row["last_seen"] and known["last_seen"] and row["last_seen"] > known["last_seen"]):
                seen[row["worker_id"]] = row
        return {
            **summary,
            "ticks": await self.optional(session, queries.WEB_TICK_HEALTH),
            "runs_over_time": over_time,  # by status and type: the charts sum either way
            "workers": sorted(seen.values(), key=lambda r: r["worker_id"]),
        }

    async def optional(self, session: Session, query: str, params: Any = ()) -> db.Row | None:
        """A row the role may not be allowed to read: None then (a tenant's overview has no tick health)."""
        try:
            return await self.one(session, query, params)
        except db.Error as exc:
            if db.sqlstate(exc) == "42501":
                return None
            raise

    # --- actions ---------------------------------------------------------------------------

    async def act(self, session: Session, query: str, params: Any = ()) -> db.Row | None:
        return await self.one(session, query, params)

    async def bulk(self, session: Session, filters: dict[str, Any], action: str, expected: int) -> dict[str, Any]:
        """`action` (BULK_ACTIONS) on every integration the filters select, all in one transaction, when
        the filters still select as many as the caller saw (else nothing is done)."""
        async with db.async_transaction_as(self.pool, session.db_role, session.org_id, session.label) as conn:
            page, _count, params = integration_query(
                filters, "org", None, expected + 1, await health_types(conn, filters)
            )
            rows = await db.async_fetch_conn(conn, page, params)
            if len(rows) != expected:
                raise Refused(409, f"the selection has {len(rows)} integration(s) now, not {expected}: look again")
            if action == "cancel":  # their pending runs, one cancel_run each
                selected = {"orgs": [r["org_id"] for r in rows], "integrations": [r["integration_id"] for r in rows]}
                cancelled = await db.async_fetch_conn(conn, queries.WEB_CANCEL_PENDING_OF, selected)
                return {"count": len(rows), "runs": sum(1 for r in cancelled if r["cancelled"])}
            for row in rows:
                ids = (row["org_id"], row["integration_id"])
                await db.async_fetch_conn(conn, BULK_ACTIONS[action], (*ids, False) if action == "run" else ids)
        return {"count": len(rows)}

    async def tick(self) -> db.Row | None:
        """One tick as the admin role (tick() commits between its batches, so it runs on its own)."""
        rows = await db.async_call_as(self.pool, "syncsched_admin", queries.WEB_TICK, queries.WEB_LAST_TICK)
        return rows[0] if rows else None

    async def create_integration(
        self, session: Session, org_id: str, integration_id: str, fields: dict[str, Any]
    ) -> db.Row | None:
        names = ["p_org_id", "p_integration_id", *[n for n in INTEGRATION_FIELDS if n in fields]]
        params = {"p_org_id": org_id, "p_integration_id": integration_id, **fields}
        return await self.act(session, queries.named_call(queries.WEB_CREATE_INTEGRATION, names), params)

    async def alter_integration(
        self, session: Session, org_id: str, integration_id: str, fields: dict[str, Any]
    ) -> db.Row | None:
        names = ["p_org_id", "p_integration_id", *[n for n in [*INTEGRATION_FIELDS, "p_reset"] if n in fields]]
        params = {"p_org_id": org_id, "p_integration_id": integration_id, **fields}
        return await self.act(session, queries.named_call(queries.WEB_ALTER_INTEGRATION, names), params)
