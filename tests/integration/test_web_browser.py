"""The console in a real browser: Debian's Chromium, headless, driven by Playwright (no browser of
Playwright's own is downloaded), against `syncsched web` as a real process, a real worker and a
real local endpoint."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from endpoint import Endpoint, Reply
from harness import WorkerProcess, point_types_at
from syncsched import db
from web_console import Console, paused_types, token

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "tests" / "bench" / "results"
# as the machine's own probe runs it: no sandbox as root, and nothing of Google's reached for
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def seed(conn: db.Connection) -> None:
    db.execute(
        conn,
        """
        insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule,
            interval_minutes, timezone)
        values ('acme', 'ledger', 'xledger', '0 2 1 * *', null, 'Europe/Oslo'),
            ('acme', 'crm', 'dynamics', null, 15, 'UTC'),
            ('beta', 'ledger', 'bufdir', '30 6 * * 1-5', null, 'America/New_York')
        """,
    )
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)"
        " select 'bulk' || g, 'i', 'xledger', 60 from generate_series(1, 40) as g",
    )


def history(conn: db.Connection) -> None:
    """Twelve hours of finished runs of the seeded integrations (written as the superuser), so that the
    screenshots show the charts and the sparklines."""
    db.execute(
        conn,
        """
        insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
            trigger, status, attempt, max_attempts, enqueued_at, started_at, finished_at, worker_id, http_status, error)
        select o.org_id, o.integration_id, o.integration_type, at, o.org_id || '/' || o.integration_id || '/' || g,
            'schedule', (case when g %% 7 = 0 then 'failed' else 'completed' end)::syncsched.run_status, 1, 1, at, at,
            at + interval '3 seconds', 'worker-1', case when g %% 7 = 0 then 502 else 200 end,
            case when g %% 7 = 0 then 'HTTP 502' end
        from syncsched.organization_integrations as o
        cross join generate_series(1, 24) as g
        cross join lateral (select now() - g * interval '29 minutes' - length(o.org_id) * interval '1 minute') as t (at)
        where o.org_id in ('acme', 'beta')
        """,
    )
    db.execute(
        conn,
        "insert into syncsched.sync_run_attempts (run_id, scheduled_for, attempt, org_id, outcome, worker_id,"
        " started_at, finished_at, http_status, error) select run_id, scheduled_for, 1, org_id, status::text,"
        " worker_id, started_at, finished_at, http_status, error"
        " from syncsched.sync_run_log",
    )


def sign_in(browser: Any, console: Console, secret: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(console.url + "integrations")
    page.fill("#token", secret)
    page.click("button[type=submit]")
    page.wait_for_selector("#integrations")
    return page


def test_overview_search_detail_and_fire_times_across_a_dst_change(
    browser: Any, console: Console, conn: db.Connection
) -> None:
    seed(conn)
    history(conn)
    page = sign_in(browser, console, token(conn, "admin"))
    assert "Showing 25 of 43" in page.inner_text("#showing")
    page.fill("#q", "acm")
    page.press("#q", "Enter")
    page.wait_for_url("**q=acm**")
    rows = page.inner_text("#integrations tbody")
    assert "acme/ledger" in rows and "acme/crm" in rows and "beta/" not in rows and "bulk" not in rows
    page.click("#integrations a:has-text('acme/ledger')")
    page.wait_for_url("**/integrations/acme/ledger")
    page.wait_for_selector("#next-runs")
    next_runs = page.inner_text("#next-runs")
    # monthly at 02:00 Oslo time: 01:00 UTC in winter, 00:00 UTC in summer, the change marked
    assert "01:00 UTC" in next_runs and "00:00 UTC" in next_runs and "offset changes" in next_runs
    assert next_runs.count("02:00 (UTC") == 10
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-integration.png"), full_page=True)
    page.goto(console.url)
    page.wait_for_selector("#pending")
    page.screenshot(path=str(SCREENSHOTS / "console-overview.png"), full_page=True)
    page.close()


def test_the_form_validates_the_cron_as_you_type_and_creates(
    browser: Any, console: Console, conn: db.Connection
) -> None:
    page = sign_in(browser, console, token(conn, "admin"))
    page.click("#new-integration")
    page.wait_for_selector("#integration-form")
    page.fill("#org_id", "gamma")
    page.fill("#integration_id", "payroll")
    page.fill("#integration_type", "xledger")
    page.fill("#cron", "99 2 * * *")
    page.wait_for_selector("#preview.error")
    assert "minute: 99 is out of range 0-59" in page.inner_text("#preview")
    page.fill("#cron", "0 2 * * *")
    page.fill("#timezone", "Europe/Oslo")
    page.wait_for_selector("#preview:has-text('Next:')")
    assert "01:00 UTC" in page.inner_text("#preview")
    page.click("#save")
    page.wait_for_url("**/integrations/gamma/payroll")
    created = db.fetch_one(
        conn, "select cron_schedule, timezone from syncsched.organization_integrations where org_id = 'gamma'"
    )
    assert created == {"cron_schedule": "0 2 * * *", "timezone": "Europe/Oslo"}
    page.close()


def test_run_now_appears_and_completes_without_a_reload(
    browser: Any, console: Console, conn: db.Connection, syncsched_dsn: str, tmp_path: Path
) -> None:
    seed(conn)
    # The endpoint answers after 4 s: the completion comes well after run_now's own NOTIFY and the
    # refresh that follows the click, so only the database's word about the completion can show it.
    with Endpoint(lambda _request, _n: Reply(delay=4.0)) as endpoint:
        point_types_at(conn, endpoint)
        worker = WorkerProcess(syncsched_dsn, tmp_path / "worker.log")
        try:
            page = sign_in(browser, console, token(conn, "admin"))
            page.goto(console.url + "integrations/acme/crm")
            page.wait_for_selector("#run-now")
            loads = []
            page.on("load", lambda _page: loads.append(1))
            page.click("#run-now")
            page.wait_for_selector("#runs tbody td.status-running", timeout=30_000)
            page.wait_for_selector("#runs tbody td.status-completed", timeout=30_000)
            assert loads == [], "the page was reloaded"
            # the event stream delivered it (the 15 s fallback poll starts only when the stream fails)
            assert page.evaluate("document.body.dataset.live") == "events"
            assert "completed" in page.evaluate("document.body.dataset.heard").split()
            assert len(endpoint.requests) == 1
            # the attempt's chip says how long it took and which worker made it
            worker_id = db.fetch_value(conn, "select worker_id from syncsched.sync_run_attempts")
            chip = page.inner_text("#runs tbody .attempt.outcome-completed")
            assert chip.startswith("#1 completed 200 · ") and chip.endswith(f" s · {worker_id}"), chip
        finally:
            worker.stop()
        page.close()


def test_a_tenant_and_a_reader_see_what_their_role_allows(browser: Any, console: Console, conn: db.Connection) -> None:
    seed(conn)
    tenant = sign_in(browser, console, token(conn, "tenant", "beta"))
    html = tenant.content()
    assert "beta/ledger" in html and "acme/" not in html and "bulk1/" not in html
    tenant.goto(console.url + "integrations/acme/ledger")
    assert "no integration acme/ledger" in tenant.inner_text("main")
    tenant.close()
    reader = sign_in(browser, console, token(conn, "reader"))
    reader.goto(console.url + "integrations/acme/ledger")
    reader.wait_for_selector("#next-runs")
    assert reader.query_selector("#run-now") is None and reader.query_selector("[data-action]") is None
    reader.goto(console.url + "settings")
    assert reader.query_selector("form.setting") is None
    reader.close()


def test_a_bulk_action_says_how_many_and_does_that_many(browser: Any, console: Console, conn: db.Connection) -> None:
    seed(conn)
    for n in range(1, 11):  # pending runs of ten of them
        db.execute(conn, "select syncsched.run_now(%s, 'i')", (f"bulk{n}",))
    page = sign_in(browser, console, token(conn, "admin"))
    page.goto(console.url + "integrations?q=bulk")
    page.wait_for_selector("[data-bulk=disable]")
    messages: list[str] = []

    def confirm(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    page.click("[data-bulk=cancel]")
    page.wait_for_selector("#flash:has-text('done for 40 integration(s) (10 run(s) cancelled)')")
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'cancelled'") == 10
    page.click("[data-bulk=disable]")
    page.wait_for_selector("#flash:has-text('Disable: done for 40')")
    assert messages == ["Cancel pending runs: 40 integration(s). Sure?", "Disable: 40 integration(s). Sure?"]
    assert (
        db.fetch_value(
            conn,
            "select count(*) from syncsched.organization_integrations where org_id like 'bulk%%' and not is_enabled",
        )
        == 40
    )
    assert db.fetch_value(conn, "select count(*) from syncsched.organization_integrations where is_enabled") == 3
    page.close()


def test_pause_from_the_endpoints_page_and_see_what_is_held_and_why(
    browser: Any, console: Console, conn: db.Connection
) -> None:
    seed(conn)
    db.execute(conn, "select syncsched.run_now('acme', 'ledger')")  # an xledger run, pending
    page = sign_in(browser, console, token(conn, "admin"))
    page.goto(console.url + "endpoints")
    page.click("tr[data-type=xledger] [data-what=pause-dispatch]")
    page.wait_for_selector("tr[data-type=xledger] td.paused:has-text('dispatch')")
    assert "dispatch paused: 1 held" in page.inner_text("tr[data-type=xledger] td.held")
    page.click("tr[data-type=dynamics] [data-what=pause-scheduling]")
    page.wait_for_selector("tr[data-type=dynamics] td.paused:has-text('scheduling')")
    assert page.query_selector("tr[data-type=dynamics] [data-what=resume-scheduling]") is not None
    assert paused_types(conn) == {"dynamics": "scheduling", "xledger": "dispatch"}
    # the overview says what is paused and held, and charts the runs by status and by type
    page.goto(console.url)
    page.wait_for_selector("#pauses")
    assert "2 type(s)" in page.inner_text("#pauses") and "xledger: dispatch" in page.inner_text("#pauses")
    assert "1" in page.inner_text("#held .big") and "xledger: dispatch paused: 1 held" in page.inner_text("#held")
    assert page.query_selector("#chart-by-status rect[data-series=pending]") is not None
    assert page.query_selector("#chart-by-integration_type rect[data-series=xledger]") is not None
    # and the integration why its run waits
    page.goto(console.url + "integrations/acme/ledger")
    assert page.inner_text("#held-reason") == "its pending run waits: dispatch paused"
    page.close()
