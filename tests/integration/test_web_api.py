"""`syncsched web`'s HTTP API as a real process: roles, CSRF, errors, the tick endpoint, cursors, and
every endpoint's answers against its own OpenAPI document."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conftest import run_syncsched
from harness import set_next_run
from syncsched import db
from syncsched.testing import TestServer
from web_console import (
    TICK_SECRET,
    Console,
    console_login,
    load_at_scale,
    paused_types,
    start_console,
    start_embedded,
    token,
)


@pytest.fixture
def login_dsn(syncsched_dsn: str, conn: db.Connection) -> Iterator[str]:
    """The console's own login: NOINHERIT, a member of syncsched_web, not a superuser."""
    with console_login(conn, syncsched_dsn) as dsn:
        yield dsn


@pytest.fixture
def console(login_dsn: str, tmp_path: Path) -> Iterator[Console]:
    """`syncsched web` as a real process, connected as its own login."""
    running = start_console(login_dsn, tmp_path / "web.log")
    yield running
    running.stop()


def seed(conn: db.Connection) -> None:
    for org, integration, cron, zone in (
        ("acme", "ledger", "0 2 1 * *", "Europe/Oslo"),
        ("acme", "crm", "*/15 * * * *", "UTC"),
        ("beta", "ledger", "30 6 * * 1-5", "America/New_York"),
    ):
        db.execute(
            conn,
            "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule,"
            " timezone) values (%s, %s, 'xledger', %s, %s)",
            (org, integration, cron, zone),
        )


def test_a_tenant_sees_and_acts_on_its_own_organization_only(console: Console, conn: db.Connection) -> None:
    seed(conn)
    theirs = failed_run(conn, "acme", "ledger")
    ours = failed_run(conn, "beta", "ledger")
    db.execute(conn, "select syncsched._alert('drift', 'acme', 'crm', 'xledger', '{}')")
    db.execute(conn, "select syncsched._alert('drift', 'beta', 'ledger', 'xledger', '{}')")
    tenant = token(conn, "tenant", "beta")
    listed = console.call("GET", "api/v1/integrations", tenant)
    assert listed.status == 200 and {i["org_id"] for i in listed.body["items"]} == {"beta"}
    assert console.call("GET", "api/v1/integrations/acme/ledger", tenant).status == 404
    runs = console.call("GET", "api/v1/runs", tenant).body["items"]
    assert [r["run_id"] for r in runs] == [ours]
    assert console.call("GET", f"api/v1/runs/{theirs}", tenant).status == 404
    assert console.call("GET", f"api/v1/runs/{ours}", tenant).status == 200
    assert console.call("GET", "api/v1/integrations/acme/ledger/runs", tenant).body["items"] == []
    alerts = console.call("GET", "api/v1/alerts?state=all", tenant).body["items"]
    assert [a["alert_key"] for a in alerts] == ["drift:beta/ledger"]
    page = console.call("GET", "runs", cookie=tenant).body
    assert f'data-run="{ours}"' in page and f'data-run="{theirs}"' not in page and "acme/" not in page
    # its own integration: it may disable it (the engine's invoker API, under row-level security) ...
    assert console.call("POST", "api/v1/integrations/beta/ledger/disable", tenant).status == 200
    # ... but not another organization's, and not run one (run_now is not granted to tenants)
    refused = console.call("POST", "api/v1/integrations/acme/ledger/disable", tenant)
    assert refused.status == 404 and refused.body["error"]["sqlstate"] == "P0002"
    assert console.call("POST", "api/v1/integrations/beta/ledger/run", tenant).status == 403
    assert (
        db.fetch_value(
            conn,
            "select is_enabled from syncsched.organization_integrations where org_id = 'acme'"
            " and integration_id = 'ledger'",
        )
        is True
    )


def test_a_reader_sees_everything_and_may_do_nothing(console: Console, conn: db.Connection) -> None:
    seed(conn)
    reader = token(conn, "reader")
    assert len(console.call("GET", "api/v1/integrations", reader).body["items"]) == 3
    assert console.call("GET", "api/v1/endpoints", reader).status == 200
    assert console.call("GET", "api/v1/settings", reader).status == 200
    for method, path in (
        ("POST", "api/v1/integrations/acme/ledger/run"),
        ("POST", "api/v1/integrations/acme/ledger/disable"),
        ("PATCH", "api/v1/settings/catch_up_limit"),
    ):
        reply = console.call(method, path, reader, body={"value": "3"} if method == "PATCH" else None)
        assert reply.status == 403, (path, reply.body)
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log") == 0


def test_without_a_token_nothing_and_a_revoked_token_opens_nothing(console: Console, conn: db.Connection) -> None:
    seed(conn)
    assert console.call("GET", "api/v1/integrations").status == 401
    admin = token(conn, "admin")
    assert console.call("GET", "api/v1/integrations", "ssw_" + "0" * 64).status == 401
    assert console.call("GET", "api/v1/integrations", admin).status == 200
    page = console.call("GET", "integrations", cookie=None)
    assert page.status == 200 and "Sign in" in page.body  # redirected to the sign-in page


def test_a_browser_request_without_the_csrf_token_is_refused(console: Console, conn: db.Connection) -> None:
    seed(conn)
    admin = token(conn, "admin")
    refused = console.call("POST", "api/v1/integrations/acme/ledger/run", cookie=admin)
    assert refused.status == 403 and "CSRF" in refused.body["error"]["message"]
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log") == 0
    page = console.call("GET", "integrations/acme/ledger", cookie=admin)
    csrf = page.body.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    done = console.call("POST", "api/v1/integrations/acme/ledger/run", cookie=admin, headers={"X-CSRF-Token": csrf})
    assert done.status == 200, done.body
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log") == 1
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]


def test_the_engines_errors_map_to_http_statuses(console: Console, conn: db.Connection) -> None:
    seed(conn)
    admin = token(conn, "admin")
    assert console.call("POST", "api/v1/integrations/acme/ledger/run", admin).status == 200
    busy = console.call("POST", "api/v1/integrations/acme/ledger/run", admin)
    assert busy.status == 409 and busy.body["error"]["sqlstate"] == "55006" and busy.body["error"]["hint"]
    bad = console.call("PATCH", "api/v1/settings/tick_batch_size", admin, body={"value": "-1"})
    assert bad.status == 422 and bad.body["error"]["sqlstate"] == "22023"
    assert "tick_batch_size" in bad.body["error"]["message"]
    assert console.call("GET", "api/v1/runs/999999", admin).status == 404
    assert console.call("GET", "api/v1/integrations?limit=9999", admin).status == 422


def failed_run(conn: db.Connection, org: str, integration: str) -> int:
    """A run of org/integration that failed after its last attempt (written as the superuser)."""
    run_id = int(db.fetch_value(conn, "select syncsched.run_now(%s, %s, true)", (org, integration)))
    db.execute(
        conn,
        "update syncsched.sync_run_log set status = 'failed', attempt = 1, max_attempts = 1, finished_at = now(),"
        " error = 'HTTP 500' where run_id = %s",
        (run_id,),
    )
    return run_id


def test_an_action_refused_for_the_state_of_its_integration_is_a_409(console: Console, conn: db.Connection) -> None:
    seed(conn)
    admin = token(conn, "admin")
    failed = failed_run(conn, "acme", "ledger")
    assert console.call("POST", "api/v1/integrations/acme/ledger/disable", admin).status == 200
    # run_now and retry_run refuse a disabled integration: object_not_in_prerequisite_state
    for path in ("api/v1/integrations/acme/ledger/run", f"api/v1/runs/{failed}/retry"):
        refused = console.call("POST", path, admin)
        assert refused.status == 409, (path, refused.body)
        assert refused.body["error"]["sqlstate"] == "55000" and "disabled" in refused.body["error"]["message"]
        assert "enable" in refused.body["error"]["hint"]
    # a bulk run now that meets the disabled one is refused whole, with the engine's word for it
    bulk = console.call(
        "POST",
        "api/v1/integrations/bulk",
        admin,
        body={"action": "run", "expected_count": 2, "filters": {"org": "acme"}},
    )
    assert bulk.status == 409, bulk.body
    assert bulk.body["error"]["sqlstate"] == "55000" and "acme/ledger" in bulk.body["error"]["message"]
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'pending'") == 0


def test_the_tick_endpoint_wants_its_secret(
    console: Console, login_dsn: str, conn: db.Connection, tmp_path: Path
) -> None:
    assert console.call("POST", "api/v1/tick").status == 401
    assert console.call("POST", "api/v1/tick", "wrong" + TICK_SECRET).status == 401
    ticked = console.call("POST", "api/v1/tick", TICK_SECRET)
    assert ticked.status == 200 and "triggered" in ticked.body
    assert db.fetch_value(conn, "select count(*) from syncsched.scheduler_ticks") >= 1
    without = start_console(login_dsn, tmp_path / "web2.log", tick_secret=None)
    try:
        assert without.call("POST", "api/v1/tick", TICK_SECRET).status == 503
    finally:
        without.stop()


def test_cursor_paging_is_stable_while_rows_are_inserted(console: Console, conn: db.Connection) -> None:
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)"
        " select 'org' || lpad(g::text, 3, '0'), 'i', 'xledger', 60 from generate_series(1, 30) as g",
    )
    admin = token(conn, "admin")
    seen: list[str] = []
    cursor = ""
    while True:
        page = console.call("GET", f"api/v1/integrations?limit=7&cursor={cursor}", admin).body
        seen += [i["org_id"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
        # rows arrive before and after the reader's position meanwhile
        db.execute(
            conn,
            "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
            " interval_minutes) values (%s, 'i', 'xledger', 60), (%s, 'i', 'xledger', 60)",
            (f"aaa{len(seen)}", f"zzz{len(seen)}"),
        )
    originals = [f"org{g:03d}" for g in range(1, 31)]
    assert [o for o in seen if o.startswith("org")] == originals, "a row was skipped or seen twice"
    assert len(seen) == len(set(seen))


class OpenApi:
    """The console's own OpenAPI document, to validate requests and answers against."""

    def __init__(self, console: Console) -> None:
        self.document = console.call("GET", "api/v1/openapi.json").body
        self.registry = Registry().with_resource("root", Resource(contents=self.document, specification=DRAFT202012))

    def _validate(self, value: Any, content: dict[str, Any]) -> None:
        ref = content["application/json"]["schema"]["$ref"]
        jsonschema.validate(value, {"$ref": "root" + ref}, registry=self.registry)

    def check(self, method: str, path: str, reply: Any) -> None:
        operation = self.document["paths"][path][method]
        spec = operation["responses"].get(str(reply.status))
        assert spec is not None, f"{method} {path}: {reply.status} is not documented: {reply.body}"
        self._validate(reply.body, spec["content"])

    def check_request(self, method: str, path: str, body: Any) -> None:
        operation = self.document["paths"][path][method]
        if "requestBody" not in operation:
            assert body is None, f"{method} {path} takes no body"
            return
        self._validate(body, operation["requestBody"]["content"])


def concrete(path: str, values: tuple[str, ...]) -> str:
    """An OpenAPI path with its parameters filled in, in order, relative to the console's root."""
    for value in values:
        path = path[: path.index("{")] + value + path[path.index("}") + 1 :]
    return path.removeprefix("/")


def test_every_endpoint_answers_as_its_openapi_document_says(console: Console, conn: db.Connection) -> None:
    seed(conn)
    admin = token(conn, "admin")
    db.execute(conn, "select syncsched.run_now('acme', 'crm')")
    run_id = db.fetch_value(conn, "select max(run_id) from syncsched.sync_run_log")
    db.execute(conn, "select syncsched._alert('drift', 'acme', 'crm', 'xledger', '{}')")
    api = OpenApi(console)
    examples = {
        "/api/v1/integrations/{org}/{integration}": ("acme", "crm"),
        "/api/v1/integrations/{org}/{integration}/next-runs": ("acme", "ledger"),
        "/api/v1/integrations/{org}/{integration}/runs": ("acme", "crm"),
        "/api/v1/runs/{run_id}": (str(run_id),),
    }
    checked = 0
    for path, operations in api.document["paths"].items():
        if "get" not in operations or ("{" in path and path not in examples):
            continue
        query = "?cron=0+2+*+*+*&timezone=Europe/Oslo" if path.endswith("/preview") else ""
        api.check("get", path, console.call("GET", concrete(path, examples.get(path, ())) + query, admin))
        checked += 1
    assert checked >= 12
    # errors are documented and shaped too
    api.check("get", "/api/v1/runs/{run_id}", console.call("GET", "api/v1/runs/999999", admin))
    api.check(
        "post",
        "/api/v1/integrations/{org}/{integration}/run",
        console.call("POST", "api/v1/integrations/acme/crm/run", admin),
    )
    api.check("post", "/api/v1/tick", console.call("POST", "api/v1/tick", "wrong"))


def test_every_action_takes_and_answers_what_its_openapi_document_says(console: Console, conn: db.Connection) -> None:
    """Each action once, its request body valid by the document and its answer too, and what it did
    seen in the database: retry, cancel, pause and resume, check an endpoint, acknowledge, bulk cancel."""
    seed(conn)
    admin = token(conn, "admin")
    failed = str(failed_run(conn, "beta", "ledger"))
    pending = str(db.fetch_value(conn, "select syncsched.run_now('acme', 'crm')"))
    db.execute(conn, "select syncsched._alert('drift', 'acme', 'crm', 'xledger', '{}')")
    alert = str(db.fetch_value(conn, "select max(alert_id) from syncsched.scheduler_alerts"))
    api = OpenApi(console)
    new = ("gamma", "payroll")
    calls: list[tuple[str, str, tuple[str, ...], Any, str, int]] = [
        (
            "post",
            "/api/v1/integrations",
            (),
            {
                "org_id": "gamma",
                "integration_id": "payroll",
                "integration_type": "xledger",
                "cron_schedule": "0 2 * * *",
            },
            "",
            201,
        ),
        ("patch", "/api/v1/integrations/{org}/{integration}", new, {"timezone": "Europe/Oslo"}, "", 200),
        ("post", "/api/v1/integrations/{org}/{integration}/disable", new, None, "", 200),
        ("post", "/api/v1/integrations/{org}/{integration}/enable", new, None, "", 200),
        ("post", "/api/v1/integrations/{org}/{integration}/run", new, None, "", 200),
        ("post", "/api/v1/runs/{run_id}/cancel", (pending,), None, "", 200),
        ("post", "/api/v1/runs/{run_id}/retry", (failed,), None, "", 200),
        ("post", "/api/v1/alerts/{alert_id}/acknowledge", (alert,), None, "", 200),
        ("post", "/api/v1/endpoints/{integration_type}/check", ("xledger",), None, "", 200),
        ("patch", "/api/v1/settings/{key}", ("catch_up_limit",), {"value": "5"}, "", 200),
        ("post", "/api/v1/{what}/{action}", ("scheduling", "pause"), {"integration_type": "dynamics"}, "", 200),
        ("post", "/api/v1/{what}/{action}", ("dispatch", "pause"), {"integration_type": "xledger"}, "", 200),
        ("post", "/api/v1/{what}/{action}", ("dispatch", "pause"), {}, "", 200),
        ("post", "/api/v1/{what}/{action}", ("dispatch", "resume"), {}, "", 200),
        (
            "post",
            "/api/v1/integrations/bulk",
            (),
            {"action": "cancel", "expected_count": 1, "filters": {"org": "gamma"}},
            "",
            200,
        ),
        ("delete", "/api/v1/integrations/{org}/{integration}", ("acme", "ledger"), None, "", 200),
        ("post", "/api/v1/tick", (), None, "", 200),
    ]
    done = set()
    for method, path, values, body, query, status in calls:
        api.check_request(method, path, body)
        secret = TICK_SECRET if path.endswith("/tick") else admin
        reply = console.call(method.upper(), concrete(path, values) + query, secret, body=body)
        assert reply.status == status, (method, path, reply.body)
        api.check(method, path, reply)
        done.add((method, path))
    actions = {(m, p) for p, operations in api.document["paths"].items() for m in operations if m != "get"}
    assert actions == done, f"not exercised: {actions - done}"

    def run(run_id: str) -> db.Row | None:
        return db.fetch_one(
            conn, "select status::text, attempt from syncsched.sync_run_log where run_id = %s", (run_id,)
        )

    assert run(pending) == {"status": "cancelled", "attempt": 0}
    assert run(failed)["status"] in ("pending", "running")
    assert db.fetch_value(
        conn, "select acknowledged_by from syncsched.scheduler_alerts where alert_id = %s", (alert,)
    ).startswith("web token ")
    assert paused_types(conn) == {"dynamics": "scheduling", "xledger": "dispatch"}
    # the gamma run made by run now was cancelled by the bulk action; acme/ledger is gone
    assert (
        db.fetch_value(
            conn, "select count(*) from syncsched.sync_run_log where org_id = 'gamma' and status = 'cancelled'"
        )
        == 1
    )
    assert (
        db.fetch_value(
            conn,
            "select count(*) from syncsched.organization_integrations where org_id = 'acme'"
            " and integration_id = 'ledger'",
        )
        == 0
    )
    assert db.fetch_value(conn, "select value from syncsched.settings where key = 'catch_up_limit'") == "5"

    # what is paused and held is on the endpoints answer
    endpoints = console.call("GET", "api/v1/endpoints", admin).body
    assert endpoints["paused"] == {"scheduling": False, "dispatch": False}
    xledger = next(e for e in endpoints["items"] if e["integration_type"] == "xledger")
    assert xledger["paused"] == "dispatch" and xledger["dispatch_paused"] and xledger["held"] == xledger["pending"] >= 1
    assert xledger["held_reasons"] == [f"dispatch paused: {xledger['held']} held"]
    dynamics = next(e for e in endpoints["items"] if e["integration_type"] == "dynamics")
    assert dynamics["paused"] == "scheduling" and dynamics["scheduling_paused"] and dynamics["held"] == 0


def test_a_bulk_cancel_says_how_many_and_cancels_their_pending_runs(console: Console, conn: db.Connection) -> None:
    seed(conn)
    admin = token(conn, "admin")
    for org, integration in (("acme", "ledger"), ("acme", "crm"), ("beta", "ledger")):
        db.execute(conn, "select syncsched.run_now(%s, %s)", (org, integration))
    done_before = failed_run(conn, "acme", "crm")
    body = {"action": "cancel", "expected_count": 3, "filters": {"org": "acme"}}
    stale = console.call("POST", "api/v1/integrations/bulk", admin, body=body)
    assert stale.status == 409 and "has 2 integration(s) now, not 3" in stale.body["error"]["message"]
    reply = console.call("POST", "api/v1/integrations/bulk", admin, body={**body, "expected_count": 2})
    assert reply.status == 200 and reply.body == {"action": "cancel", "count": 2, "runs": 2}
    statuses = db.fetch_all(
        conn,
        "select org_id, status::text from syncsched.sync_run_log where run_id <> %s order by run_id",
        (done_before,),
    )
    assert statuses == [
        {"org_id": "acme", "status": "cancelled"},
        {"org_id": "acme", "status": "cancelled"},
        {"org_id": "beta", "status": "pending"},
    ]
    # what the console refuses before asking the database: one line, 422
    for wrong in ({**body, "expected_count": 10**6}, {**body, "expected_count": True}, {**body, "filters": "acme"}):
        refused = console.call("POST", "api/v1/integrations/bulk", admin, body=wrong)
        assert refused.status == 422, (wrong, refused.status, refused.body)


def all_pages(console: Console, query: str, bearer: str, limit: int = 2) -> list[str]:
    """org/integration of every row of every page of GET /integrations?query, followed by cursor."""
    seen: list[str] = []
    cursor = ""
    while True:
        page = console.call("GET", f"api/v1/integrations?{query}&limit={limit}&cursor={cursor}", bearer)
        assert page.status == 200, page.body
        seen += [f"{i['org_id']}/{i['integration_id']}" for i in page.body["items"]]
        if not page.body["next_cursor"]:
            return seen
        cursor = page.body["next_cursor"]


def test_the_integration_list_sorts_and_filters_by_health_on_the_server(console: Console, conn: db.Connection) -> None:
    seed(conn)
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes,"
        " is_enabled) values ('delta', 'hr', 'dynamics', 60, true), ('delta', 'off', 'bufdir', 60, false),"
        " ('zeta', 'crm', 'dynamics', 60, true)",
    )
    # next runs in a known order (state only the owner writes: set here as the superuser)
    for org, integration, minutes in (
        ("zeta", "crm", 1),
        ("beta", "ledger", 2),
        ("acme", "crm", 3),
        ("delta", "hr", 3),
        ("acme", "ledger", 4),
    ):
        set_next_run(
            conn,
            datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes),
            "o.org_id = %s and o.integration_id = %s",
            (org, integration),
        )
    for org, integration in (("zeta", "crm"), ("beta", "ledger")):
        db.execute(
            conn,
            "select syncsched._alert('failing', %s, %s, null, '{}')",
            (org, integration),
        )
    admin = token(conn, "admin")
    by_org = ["acme/crm", "acme/ledger", "beta/ledger", "delta/hr", "delta/off", "zeta/crm"]
    assert all_pages(console, "sort=org", admin) == by_org == all_pages(console, "", admin, limit=4)
    # soonest first, ties by id (acme/crm was made before delta/hr), then those without a next run
    assert all_pages(console, "sort=next_run", admin) == [
        "zeta/crm",
        "beta/ledger",
        "acme/crm",
        "delta/hr",
        "acme/ledger",
        "delta/off",
    ]
    assert all_pages(console, "sort=outcome", admin) == [
        "beta/ledger",
        "zeta/crm",
        "acme/crm",
        "acme/ledger",
        "delta/hr",
        "delta/off",
    ]
    assert all_pages(console, "sort=next_run&enabled=false", admin) == ["delta/off"]
    assert all_pages(console, "sort=outcome&type=dynamics", admin) == ["zeta/crm", "delta/hr"]
    # health: the health of the endpoint of the type
    db.execute(conn, "update syncsched.endpoint_health set status = 'unhealthy' where integration_type = 'dynamics'")
    assert all_pages(console, "health=unhealthy", admin) == ["delta/hr", "zeta/crm"]
    assert all_pages(console, "health=unhealthy&sort=outcome", admin) == ["zeta/crm", "delta/hr"]
    assert "delta/hr" not in all_pages(console, "health=unknown", admin)
    # a cursor of one sort is no cursor of another; an unknown sort is refused
    first = console.call("GET", "api/v1/integrations?sort=next_run&limit=1", admin).body["next_cursor"]
    assert console.call("GET", f"api/v1/integrations?sort=org&cursor={first}", admin).status == 422
    assert console.call("GET", "api/v1/integrations?sort=colour", admin).status == 422


def test_the_consoles_reads_plan_neither_jit_nor_parallel_workers(conn: db.Connection) -> None:
    """Under row-level security the planner guesses half the run log for a status: with the costs of a
    big database (here: the thresholds at 0) the console's reads must still not compile or fork."""
    from syncsched import queries

    seed(conn)
    reads = [
        queries.WEB_OVERVIEW,
        queries.WEB_WORKERS,
        queries.WEB_ENDPOINTS,
        queries.WEB_TICK_HEALTH,
        queries.WEB_RUNS_OVER_TIME,
    ]
    with db.transaction(conn):
        db.set_session_role(conn, "syncsched_admin", actor="test")
        for setting in (
            "jit_above_cost",
            "parallel_setup_cost",
            "parallel_tuple_cost",
            "min_parallel_index_scan_size",
            "min_parallel_table_scan_size",
        ):
            db.execute(conn, "select set_config(%s, '0', true)", (setting,))
        for query in reads:
            plan = db.fetch_value(conn, "explain (analyze, format json) " + query)[0]
            assert "JIT" not in plan and "Gather" not in json.dumps(plan), query


def test_the_consoles_lists_keep_a_plan_for_their_values_when_prepared(conn: db.Connection) -> None:
    """psycopg prepares a statement run five times on a connection; PostgreSQL then may choose one
    generic plan for every value, which cannot use the index an optional filter needs."""
    from syncsched.web.data import integration_query

    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)"
        " select 'org' || g, 'i', 'xledger', 60 from generate_series(1, 2000) as g",
    )
    db.execute(conn, "analyze")
    filters = {"q": "org12", "org": None, "type": None, "enabled": None, "status": None, "health": None}
    page, count, params = integration_query(filters, "org", None, 26)
    with db.transaction(conn):
        db.set_session_role(conn, "syncsched_admin", actor="test")
        for _ in range(12):
            for query in (page, count):
                conn.execute(query, params, prepare=True)
        plans = db.fetch_all(conn, "select generic_plans, custom_plans from pg_prepared_statements")
    assert plans and all(p["generic_plans"] == 0 and p["custom_plans"] >= 12 for p in plans), plans


BIG_TABLES = {"organization_integrations", "schedule_state", "sync_run_log", "sync_run_attempts", "scheduler_alerts"}


def read_rows(node: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(node type, relation, rows it read) of every scan of a big table in an EXPLAIN ANALYZE plan."""
    found = []
    if node.get("Relation Name") in BIG_TABLES and "Scan" in node["Node Type"]:
        read = node["Actual Rows"] * node.get("Actual Loops", 1) + node.get("Rows Removed by Filter", 0)
        found.append((node["Node Type"], node["Relation Name"], read))
    for child in node.get("Plans", []):
        found += read_rows(child)
    return found


@pytest.mark.slow
def test_the_consoles_queries_read_through_indexes_at_a_million(conn: db.Connection) -> None:
    from syncsched import queries
    from syncsched.web.data import encode_cursor, integration_query

    load_at_scale(conn, 1_000_000, 1_000_000)
    db.execute(conn, "update syncsched.endpoint_health set status = 'unhealthy' where integration_type = 'bufdir'")
    none = {"q": None, "org": None, "type": None, "enabled": None, "status": None, "health": None}
    runs_none = {"status": None, "type": None, "org": None, "integration": None, "since": None, "until": None}
    at = db.fetch_value(conn, "select (now() + interval '700 minutes')::text")

    def listing(sort: str = "org", cursor: list[Any] | None = None, **filters: Any) -> tuple[str, dict[str, Any]]:
        types = None
        if filters.get("health"):
            types = db.fetch_value(conn, queries.WEB_TYPES_OF_HEALTH, (filters["health"],))
        position = encode_cursor(cursor) if cursor else None
        page, _count, params = integration_query({**none, **filters}, sort, position, 26, types)
        return page, params

    cases: list[tuple[str, str, Any]] = [
        ("integrations", *listing()),
        ("integrations by search", *listing(q="org12345")),
        ("integrations of an org", *listing(org="org777")),
        ("integrations of a type", *listing(cursor=["org", 0, "-infinity", -1, "org5", "i0"], type="bufdir")),
        ("disabled integrations", *listing(enabled=False)),
        ("failing integrations", *listing(status="failing")),
        ("invalid integrations", *listing(status="invalid")),
        ("integrations with an unhealthy endpoint", *listing(health="unhealthy")),
        ("integrations with a healthy endpoint (none)", *listing(health="healthy")),
        ("by next run", *listing("next_run")),
        ("by next run, page 2", *listing("next_run", ["next_run", 0, at, 500_000, "", ""])),
        ("by next run, those without", *listing("next_run", ["next_run", 1, "-infinity", -1, "org5", "i0"])),
        ("by next run, of an org", *listing("next_run", org="org777")),
        ("by next run, by search", *listing("next_run", q="org12345")),
        ("by next run, disabled", *listing("next_run", enabled=False)),
        ("by next run, of a type", *listing("next_run", type="dynamics")),
        ("failing first", *listing("outcome")),
        ("failing first, the others", *listing("outcome", ["outcome", 1, "-infinity", -1, "org5", "i0"])),
        ("failing first, of a type", *listing("outcome", type="xledger")),
        ("integration count", integration_query(none, "org", None, 26)[1], listing()[1]),
        ("one integration", queries.WEB_INTEGRATION, ("org4242", "i0")),
        ("why its run waits", queries.WEB_INTEGRATION_HOLD, ("org4242", "i0")),
        ("what is paused", queries.WEB_PAUSES, ()),
        ("its runs", queries.WEB_RUNS_OF, ("org4242", "i0", 20)),
        ("its alerts", queries.WEB_ALERTS_OF, {"org": "org4242", "integration": "i0", "limit": 20}),
        ("runs", queries.WEB_RUNS, {**runs_none, "before": 2**62, "limit": 51}),
        ("failed runs", queries.WEB_RUNS, {**runs_none, "status": "failed", "before": 2**62, "limit": 51}),
        ("runs of an org", queries.WEB_RUNS, {**runs_none, "org": "org4242", "before": 2**62, "limit": 51}),
        ("runs of a type", queries.WEB_RUNS, {**runs_none, "type": "dynamics", "before": 2**62, "limit": 51}),
        ("one run", queries.WEB_RUN, (500_000,)),
        ("its attempts", queries.WEB_RUN_ATTEMPTS, (500_000,)),
        ("open alerts", queries.WEB_OPEN_ALERTS, {"kind": None, "limit": 100}),
        ("alert history", queries.WEB_ALERTS, {"kind": None, "before": 2**62, "limit": 51}),
        ("endpoints", queries.WEB_ENDPOINTS, ()),
        ("overview", queries.WEB_OVERVIEW, ()),
        ("tick health", queries.WEB_TICK_HEALTH, ()),
        ("workers", queries.WEB_WORKERS, ()),
    ]
    heavy = []
    for name, query, params in cases:
        plan = db.fetch_value(conn, "explain (analyze, format json) " + query, params)
        for node_type, relation, read in read_rows(plan[0]["Plan"]):
            if read > 20_000:  # a scan of a small table is the planner's right; of a big one, bounded
                heavy.append(f"{name}: {node_type} on {relation} read {read:.0f} rows")
    assert heavy == [], "\n".join(heavy)


# --- where it is served: --base-path, mounted in another application, read-only --------------------


def assert_served_under(console: Console, root: str, admin: str) -> None:
    """Pages, static files, the sign-in redirect and its cookie, and the API's JSON errors, all under
    `root`, and nothing under the root doubled."""
    assert console.url.endswith(root)
    away = console.call("GET", "integrations?q=a", follow=False)
    location = urllib.parse.urlsplit(away.headers["Location"])
    assert away.status == 303 and location.path == f"{root}login"
    assert urllib.parse.parse_qs(location.query) == {"next": [f"{root}integrations?q=a"]}
    login = console.call("GET", "login")
    assert login.status == 200 and f'href="{root}static/console.css"' in login.body
    assert f'src="{root}static/console.js"' in login.body and f'<meta name="base" content="{root}">' in login.body
    style = console.call("GET", "static/console.css")
    assert style.status == 200 and style.headers["Content-Type"].startswith("text/css")
    signed_in = console.call("POST", "login", form={"token": admin, "next": f"{root}integrations"}, follow=False)
    assert signed_in.status == 303 and signed_in.headers["Location"] == f"{root}integrations"
    assert f"Path={root}" in signed_in.headers["Set-Cookie"]
    page = console.call("GET", "integrations", cookie=admin)
    assert page.status == 200 and f'href="{root}integrations/acme/ledger"' in page.body
    assert f'action="{root}logout"' in page.body
    detail = console.call("GET", "integrations/acme/ledger", cookie=admin)
    assert f'data-action="{root}api/v1/integrations/acme/ledger/run"' in detail.body
    # the API: JSON, its errors JSON, its document naming the paths as they are served
    assert console.call("GET", "api/v1/integrations", admin).body["items"][0]["org_id"] == "acme"
    for path, bearer, status in (("api/v1/integrations", None, 401), ("api/v1/runs/999999", admin, 404)):
        reply = console.call("GET", path, bearer)
        assert reply.status == status and reply.body["error"]["status"] == status, (path, reply.body)
    refused = console.call("POST", "api/v1/integrations/acme/ledger/run", cookie=admin)
    assert refused.status == 403 and "CSRF" in refused.body["error"]["message"]
    document = console.call("GET", "api/v1/openapi.json").body
    assert f"{root}api/v1/integrations" in document["paths"]
    assert console.call("GET", root.rstrip("/") + root + "login").status == 404  # not doubled


def test_the_console_is_served_under_its_base_path(login_dsn: str, conn: db.Connection, tmp_path: Path) -> None:
    seed(conn)
    admin = token(conn, "admin")
    console = start_console(login_dsn, tmp_path / "web.log", "--base-path=/ops/console")
    try:
        assert_served_under(console, "/ops/console/", admin)
        bare = console.call("GET", "/ops/console", follow=False)
        assert bare.status == 308 and bare.headers["Location"] == "/ops/console/"
        assert console.call("GET", "/login").status == 404
    finally:
        console.stop()


@pytest.mark.parametrize("base_path", ["/syncsched/", "/"])
def test_the_console_mounted_in_another_aiohttp_application(
    login_dsn: str, conn: db.Connection, tmp_path: Path, base_path: str
) -> None:
    """As the README says: parent.add_subapp("/syncsched/", create_app(WebConfig(dsn=..., base_path=...))),
    with base_path the same prefix or left out."""
    seed(conn)
    admin = token(conn, "admin")
    console = start_embedded(login_dsn, tmp_path / "embedded.log", "/syncsched/", base_path)
    try:
        assert console.call("GET", "/").body == "the host application"
        assert_served_under(console, "/syncsched/", admin)
    finally:
        console.stop()


def test_a_base_path_that_is_not_where_the_console_is_mounted_is_refused(login_dsn: str, tmp_path: Path) -> None:
    log = tmp_path / "embedded.log"
    with pytest.raises(AssertionError, match="mounted at /syncsched/ but its base_path is /other/"):
        start_embedded(login_dsn, log, "/syncsched/", "/other/")


def test_a_read_only_console_refuses_every_action(login_dsn: str, conn: db.Connection, tmp_path: Path) -> None:
    seed(conn)
    admin = token(conn, "admin")
    failed = failed_run(conn, "beta", "ledger")
    before = db.fetch_value(conn, "select count(*) from syncsched.audit_log")
    console = start_console(login_dsn, tmp_path / "web.log", "--read-only")
    try:
        document = console.call("GET", "api/v1/openapi.json").body
        examples = {
            "{org}": "acme",
            "{integration}": "ledger",
            "{run_id}": str(failed),
            "{alert_id}": "1",
            "{integration_type}": "xledger",
            "{key}": "catch_up_limit",
            "{what}": "dispatch",
            "{action}": "pause",
        }
        actions = 0
        for path, operations in document["paths"].items():
            for method in operations.keys() - {"get"}:
                concrete = path.removeprefix("/")
                for name, value in examples.items():
                    concrete = concrete.replace(name, value)
                body = {"value": "3"} if "settings" in path else {}
                secret = TICK_SECRET if path.endswith("/tick") else admin
                reply = console.call(method.upper(), concrete, secret, body=body)
                assert reply.status == 403 and "read-only" in reply.body["error"]["message"], (method, path, reply)
                actions += 1
        assert actions >= 14
        # the pages offer no action
        page = console.call("GET", "integrations/acme/ledger", cookie=admin).body
        assert "read-only console" in page and "data-action" not in page and 'id="run-now"' not in page
        assert "data-bulk" not in console.call("GET", "integrations", cookie=admin).body
    finally:
        console.stop()
    assert db.fetch_value(conn, "select count(*) from syncsched.audit_log") == before
    assert db.fetch_value(conn, "select count(*) from syncsched.scheduler_ticks") == 0


def test_a_login_that_is_not_the_consoles_is_refused_in_one_line(
    syncsched_dsn: str, conn: db.Connection, login_dsn: str
) -> None:
    # a login that may read syncsched (so that it gets past the CLI's look at it), but is no console
    stranger = login_dsn.replace("syncsched_test_console_", "syncsched_test_stranger_")
    name = db.parse_dsn(stranger)["user"]
    db.execute(conn, f"create role {name} login in role syncsched_reader")
    try:
        done = run_syncsched("web", "--dsn", stranger, "--port", "1")
    finally:
        db.execute(conn, f"drop role {name}")
    assert done.returncode == 2
    assert (
        done.stderr
        == f"syncsched: error: the login {name} is not a member of syncsched_web: grant syncsched_web to {name}\n"
    )


# --- tokens and the audit trail --------------------------------------------------------------------


def cli_token(dsn: str, *args: str) -> str:
    made = run_syncsched("web", "token", "create", *args, "--dsn", dsn)
    assert made.returncode == 0 and made.stderr == "", made.stderr
    assert made.stdout.startswith("ssw_") and made.stdout.count("\n") == 1
    return made.stdout.strip()


def test_tokens_are_made_listed_and_revoked_by_the_cli_and_a_revoked_one_stops_working(
    syncsched_dsn: str, login_dsn: str, conn: db.Connection, tmp_path: Path
) -> None:
    seed(conn)
    admin = cli_token(syncsched_dsn, "--role", "admin", "--label", "ops laptop")
    tenant = cli_token(syncsched_dsn, "--role", "tenant", "--org", "beta")
    listed = run_syncsched("web", "token", "list", "--json", "--dsn", syncsched_dsn)
    assert listed.returncode == 0
    rows = {row["label"]: row for row in json.loads(listed.stdout)}
    assert rows["ops laptop"]["role"] == "admin" and rows["ops laptop"]["revoked_at"] is None
    assert rows[None]["role"] == "tenant" and rows[None]["org_id"] == "beta"
    table = run_syncsched("web", "token", "list", "--dsn", syncsched_dsn).stdout
    assert "ops laptop" in table and "tenant:beta" in table and table.count("active") == 2
    assert admin not in listed.stdout + table and tenant not in listed.stdout + table
    # bad input: one line, exit 2
    for args, message in (
        (("create", "--role", "tenant"), "a tenant token needs --org"),
        (("revoke", "x"), "a token number is a whole number, not 'x'"),
        (("revoke", "999"), "syncsched: no token 999"),
        (("create", "--role", "reader", "--org", "beta"), "only a tenant token names an organization"),
    ):
        refused = run_syncsched("web", "token", *args, "--dsn", syncsched_dsn)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith("syncsched: error: ") and message in refused.stderr

    console = start_console(login_dsn, tmp_path / "web.log", "--session-ttl=1")
    try:
        assert console.call("GET", "api/v1/integrations", admin).status == 200
        assert {i["org_id"] for i in console.call("GET", "api/v1/integrations", tenant).body["items"]} == {"beta"}
        number = str(rows["ops laptop"]["token_id"])
        revoked = run_syncsched("web", "token", "revoke", number, "--dsn", syncsched_dsn)
        assert revoked.returncode == 0 and revoked.stdout == f"token {number} revoked\n"
        again = run_syncsched("web", "token", "revoke", number, "--dsn", syncsched_dsn)
        assert again.stdout == f"token {number} was revoked already\n"
        time.sleep(1.2)  # the session TTL: the database is asked again after it
        assert console.call("GET", "api/v1/integrations", admin).status == 401
        assert console.call("GET", "integrations", cookie=admin, follow=False).status == 303
        assert console.call("GET", "api/v1/integrations", tenant).status == 200
    finally:
        console.stop()
    assert admin not in console.log.read_text() and tenant not in console.log.read_text()
    listed = json.loads(run_syncsched("web", "token", "list", "--json", "--dsn", syncsched_dsn).stdout)
    assert [row["revoked_at"] is not None for row in listed] == [True, False]


# What plpgsql/80_web.sql's web_session needs to give the console the token's label (asked of its
# owner): until it does, this test installs it in its own database to prove the console uses it.
def test_an_action_through_the_console_is_audited_on_behalf_of_its_token(
    syncsched_dsn: str, login_dsn: str, conn: db.Connection, tmp_path: Path
) -> None:
    seed(conn)
    admin = cli_token(syncsched_dsn, "--role", "admin", "--label", "ops laptop")
    tenant = cli_token(syncsched_dsn, "--role", "tenant", "--org", "beta")
    numbers = {row["label"]: row["token_id"] for row in db.fetch_all(conn, "select * from syncsched.list_web_tokens()")}
    console = start_console(login_dsn, tmp_path / "web.log")
    try:
        assert console.call("POST", "api/v1/integrations/acme/ledger/run", admin).status == 200
        assert console.call("PATCH", "api/v1/settings/catch_up_limit", admin, body={"value": "7"}).status == 200
        assert console.call("POST", "api/v1/integrations/beta/ledger/disable", tenant).status == 200
    finally:
        console.stop()
    entries = db.fetch_all(conn, "select actor, on_behalf_of, action from syncsched.audit_log order by audit_id")
    login = db.parse_dsn(login_dsn)["user"]
    by_admin = f'web token {numbers["ops laptop"]} "ops laptop" (admin)'
    by_tenant = f"web token {numbers[None]} (tenant:beta)"
    assert [e for e in entries if e["action"] != "integration_created"] == [
        {"actor": login, "on_behalf_of": by_admin, "action": "run_now"},
        {"actor": login, "on_behalf_of": by_admin, "action": "setting_changed"},
        {"actor": login, "on_behalf_of": by_tenant, "action": "integration_changed"},
    ]


def test_the_preview_resolves_h_for_the_integration_named(console: Console, conn: db.Connection) -> None:
    admin = token(conn, "admin")
    named = console.call("GET", "api/v1/preview?cron=H+2+*+*+*&timezone=UTC&org=acme&integration=ledger", admin)
    assert named.status == 200 and named.body["problem"] is None
    assert named.body["resolved"] == db.fetch_value(conn, "select syncsched.cron_resolve('H 2 * * *', 'acme/ledger')")
    assert len(named.body["next"]) == 5
    unnamed = console.call("GET", "api/v1/preview?cron=H+2+*+*+*&timezone=UTC", admin)
    assert unnamed.body == {"problem": None, "resolved": None, "next": []}, "valid, but no seed to resolve it with"
    bad = console.call("GET", "api/v1/preview?cron=H(0-99)+2+*+*+*&timezone=UTC", admin)
    assert bad.body["problem"] == 'minute: "H(0-99)": H(a-b) needs 0 <= a <= b <= 59'


def test_a_token_never_reaches_the_server(
    syncsched_server: TestServer, syncsched_dsn: str, conn: db.Connection, login_dsn: str, tmp_path: Path
) -> None:
    """The console looks a token up by its hash: with every statement logged, the server's log has none
    of the tokens it was sent, the tick's secret included."""
    if syncsched_server.cluster is None:
        pytest.skip("the server's log is not at hand (an external server)")
    admin = token(conn, "admin")
    database = db.parse_dsn(syncsched_dsn)["dbname"]
    db.execute(conn, f"alter database {database} set log_statement = 'all'")
    try:
        console = start_console(login_dsn, tmp_path / "web.log")
        try:
            assert console.call("GET", "api/v1/integrations", admin).status == 200
            assert console.call("GET", "api/v1/integrations", "ssw_" + "0" * 64).status == 401
            assert console.call("POST", "api/v1/tick", TICK_SECRET).status == 200
        finally:
            console.stop()
        logged = syncsched_server.cluster.logfile.read_text(errors="replace")
        assert "web_session" in logged, "nothing was logged: the test proves nothing"
        for secret in (admin, "ssw_" + "0" * 64, TICK_SECRET):
            assert secret not in logged
    finally:
        db.execute(conn, f"alter database {database} reset log_statement")


def test_sigterm_stops_the_console_at_once_with_pages_listening(console: Console, conn: db.Connection) -> None:
    """Open pages' event streams end when the console stops: a graceful shutdown does not wait its whole
    timeout (a minute) for them."""
    admin = token(conn, "admin")
    request = urllib.request.Request(console.url + "events", headers={"Authorization": f"Bearer {admin}"})
    with urllib.request.urlopen(request, timeout=10) as stream:
        assert stream.readline() == b"retry: 5000\n"
        console.proc.terminate()
        assert console.proc.wait(timeout=8) == 0, "the console waited for its open streams"
        stream.read()  # the stream was ended by the console, not cut
