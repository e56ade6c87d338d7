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
from web_console import Console, token

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
    page = sign_in(browser, console, token(conn, "admin"))
    page.goto(console.url + "integrations?q=bulk")
    page.wait_for_selector("[data-bulk=disable]")
    messages: list[str] = []

    def confirm(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    page.click("[data-bulk=disable]")
    page.wait_for_selector("#flash:has-text('done for 40')")
    assert messages == ["Disable: 40 integration(s). Sure?"]
    assert (
        db.fetch_value(
            conn,
            "select count(*) from syncsched.organization_integrations where org_id like 'bulk%%' and not is_enabled",
        )
        == 40
    )
    assert db.fetch_value(conn, "select count(*) from syncsched.organization_integrations where is_enabled") == 3
    page.close()
