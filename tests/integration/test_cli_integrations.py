"""`syncsched integrations ...` as a user runs it, against a real database: each action is a call of the SQL
API, and what it prints (text or --json) is what the database then holds."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from conftest import run_syncsched
from syncsched import db

NO_DSN = {"SYNCSCHED_DSN": "", "DATABASE_URL": ""}


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_syncsched("integrations", *args, "--dsn", dsn, env=NO_DSN)


def ok(dsn: str, *args: str) -> str:
    proc = cli(dsn, *args)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


def as_json(dsn: str, *args: str) -> Any:
    return json.loads(ok(dsn, *args, "--json"))


def refused(dsn: str, *args: str) -> str:
    proc = cli(dsn, *args)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    (line,) = proc.stderr.splitlines()
    assert line.startswith("syncsched: error: ") and "Traceback" not in proc.stderr
    return line.removeprefix("syncsched: error: ")


def stored(conn: db.Connection, org_id: str, integration_id: str) -> dict[str, Any]:
    row = db.fetch_one(
        conn,
        "select integration_type, cron_schedule, interval_minutes, timezone, payload, is_enabled,"
        " misfire_policy::text, misfire_grace, max_attempts from syncsched.organization_integrations"
        " where org_id = %s and integration_id = %s",
        (org_id, integration_id),
    )
    assert row is not None
    return row


def attempts(conn: db.Connection, run_id: int, *outcomes: tuple[str, int]) -> None:
    """Attempts of a pending run through the worker's own functions: failed ones retried, the last one final."""
    for n, (outcome, http_status) in enumerate(outcomes):
        (claim,) = db.fetch_all(conn, "select run_id, lease_token from syncsched.claim_runs(%s, 1)", (f"w{n + 1}",))
        assert claim["run_id"] == run_id
        if outcome == "completed":
            db.execute(
                conn,
                "select syncsched.complete_run(%s, %s, %s, null, %s)",
                (run_id, claim["lease_token"], http_status, f"w{n + 1}"),
            )
        else:
            db.execute(
                conn,
                "select syncsched.fail_run(%s, %s, %s, %s, %s, interval '0 seconds', %s)",
                (run_id, claim["lease_token"], f"HTTP {http_status}", http_status, n + 1 < len(outcomes), f"w{n + 1}"),
            )
            # the retry backoff is random: the test (a superuser) makes the retry due now
            db.execute(conn, "update syncsched.sync_run_log set not_before = now() where run_id = %s", (run_id,))


@pytest.fixture
def many(syncsched_dsn: str, conn: db.Connection) -> str:
    """25 integrations: org01..org25/ledger, org21-25 of type dynamics, org01-05 disabled, org10 with a run."""
    db.execute(
        conn,
        """
        select syncsched.create_integration(format('org%%s', lpad(g::text, 2, '0')), 'ledger',
            case when g > 20 then 'dynamics' else 'xledger' end, p_interval_minutes => 60, p_is_enabled => g > 5)
        from generate_series(1, 25) as g
        """,
    )
    db.execute(conn, "select syncsched.run_now('org10', 'ledger')")
    return syncsched_dsn


def test_list_filters_and_pages_and_says_how_many_there_are(many: str) -> None:
    page = ok(many, "list")
    assert page.splitlines()[-1] == "showing 20 of 25 (next page: --offset 20)"
    assert "org01/ledger" in page and "org20/ledger" in page and "org21/ledger" not in page
    last = ok(many, "list", "--offset", "20")
    assert last.splitlines()[-1] == "showing 21-25 of 25"
    assert "org21/ledger" in last and "org20/ledger" not in last

    def listed(*filters: str) -> tuple[list[str], int]:
        found = as_json(many, "list", *filters)
        return [f"{r['org_id']}/{r['integration_id']}" for r in found["items"]], found["total"]

    assert listed("--type", "dynamics") == ([f"org{n}/ledger" for n in range(21, 26)], 5)
    assert listed("--disabled") == ([f"org0{n}/ledger" for n in range(1, 6)], 5)
    assert listed("--enabled", "--limit", "3") == (["org06/ledger", "org07/ledger", "org08/ledger"], 20)
    assert listed("--org", "org10") == (["org10/ledger"], 1)
    assert listed("--status", "pending") == (["org10/ledger"], 1)
    assert listed("--status", "never", "--type", "dynamics", "--limit", "2") == (["org21/ledger", "org22/ledger"], 5)
    assert listed("--status", "failed") == ([], 0)
    assert "Integrations: none" in ok(many, "list", "--org", "nobody")


def test_show_has_the_configuration_the_next_fire_times_and_the_runs_with_their_attempts(
    syncsched_dsn: str, conn: db.Connection
) -> None:
    db.execute(
        conn,
        "select syncsched.create_integration('acme', 'ledger', 'xledger', '0 2 * * *', p_timezone => 'Europe/Oslo',"
        " p_payload => '{\"company\": 1042}', p_max_attempts => 3)",
    )
    run_id = db.fetch_value(conn, "select syncsched.run_now('acme', 'ledger')")
    attempts(conn, run_id, ("failed", 500), ("completed", 200))
    text = ok(syncsched_dsn, "show", "acme/ledger")
    assert text.startswith("acme/ledger (xledger, id ")
    for fact in ("0 2 * * * (Europe/Oslo)", '{"company": 1042}', "run_once (grace 15 minutes)", "max attempts"):
        assert fact in text
    fire_times = text.split("Next 5 fire times (Europe/Oslo, and UTC)\n")[1].split("\n\n")[0].splitlines()
    assert len(fire_times) == 5
    for line in fire_times:  # 02:00 in Oslo, 01:00 or 00:00 in UTC
        local, utc = line.split("  ")[1:3]
        assert local.split()[2] == "02:00" and utc.endswith(("01:00:00Z", "00:00:00Z")), line
    runs = text.split("Last runs, newest period first\n")[1].splitlines()
    assert runs[0].startswith(f"  run {run_id}  completed  (manual, period ") and "attempt 2 of 3  http 200" in runs[0]
    assert runs[1].split()[:3] == ["#1", "failed", "w1"] and "http 500  HTTP 500" in runs[1]
    assert runs[2].split()[:3] == ["#2", "completed", "w2"] and "http 200" in runs[2]

    shown = as_json(syncsched_dsn, "show", "acme/ledger", "--count", "2", "--runs", "1")
    assert shown["integration"]["payload"] == {"company": 1042}
    assert shown["integration"]["misfire_grace"] == 900.0
    assert [r["local_time"][11:16] for r in shown["next_runs"]] == ["02:00", "02:00"]
    (run,) = shown["runs"]
    assert [(a["attempt"], a["outcome"], a["http_status"]) for a in run["attempts"]] == [
        (1, "failed", 500),
        (2, "completed", 200),
    ]
    assert refused(syncsched_dsn, "show", "acme/nothing") == "no integration acme/nothing"


def test_add_passes_the_flags_given_and_set_changes_only_those(syncsched_dsn: str, conn: db.Connection) -> None:
    created = as_json(
        syncsched_dsn,
        "add", "acme/ledger", "--type", "xledger", "--cron", "0 2 * * *", "--tz", "europe/oslo",
        "--payload", '{"company": 1042}', "--disabled", "--misfire-grace", "5 minutes",
    )  # fmt: skip
    assert created["timezone"] == "Europe/Oslo" and created["is_enabled"] is False
    before = stored(conn, "acme", "ledger")
    assert before["misfire_policy"] == "run_once" and before["max_attempts"] is None  # the function's defaults
    assert ok(syncsched_dsn, "set", "acme/ledger", "--cron", "30 2 * * *").strip() == (
        "changed acme/ledger: no next run (disabled)"
    )
    after = stored(conn, "acme", "ledger")
    assert after == {**before, "cron_schedule": "30 2 * * *"}  # still disabled, payload and zone kept
    ok(syncsched_dsn, "set", "acme/ledger", "--every", "60", "--reset", "payload", "--reset", "misfire_grace")
    after = stored(conn, "acme", "ledger")
    assert (after["cron_schedule"], after["interval_minutes"], after["payload"]) == (None, 60, {})
    assert after["misfire_grace"].total_seconds() == 900 and after["timezone"] == "Europe/Oslo"
    text = ok(syncsched_dsn, "add", "acme/crm", "--type", "dynamics", "--every", "15")
    assert text.startswith("created acme/crm: next run ")

    assert (
        refused(syncsched_dsn, "set", "acme/ledger")
        == "nothing to change: give the flags of the fields to change (see --help)"
    )
    assert refused(syncsched_dsn, "set", "acme/nothing", "--every", "30").startswith("no integration acme/nothing")
    message = refused(syncsched_dsn, "add", "acme/x", "--type", "nope", "--every", "60")
    assert 'unknown integration type "nope"' in message and "(hint: valid types: bufdir, dynamics, xledger" in message
    message = refused(syncsched_dsn, "add", "acme/y", "--type", "xledger", "--every", "60", "--payload", "[1]")
    assert message.startswith("integration acme/y payload must be a JSON object") and "(hint: " in message
    message = refused(syncsched_dsn, "add", "acme/crm", "--type", "dynamics", "--every", "30")
    assert "acme/crm exists already" in message and "alter_integration" in message


def test_enable_disable_run_and_delete(syncsched_dsn: str, conn: db.Connection) -> None:
    ok(syncsched_dsn, "add", "acme/ledger", "--type", "xledger", "--every", "60")
    queued = as_json(syncsched_dsn, "run", "acme/ledger")
    assert set(queued) == {"org_id", "integration_id", "run_id"}
    message = refused(syncsched_dsn, "run", "acme/ledger")
    assert f"already has run {queued['run_id']} pending or running" in message and "(hint: pass p_force" in message
    assert ok(syncsched_dsn, "disable", "acme/ledger").strip() == "acme/ledger: disabled, 1 pending run(s) cancelled"
    assert stored(conn, "acme", "ledger")["is_enabled"] is False
    message = refused(syncsched_dsn, "run", "acme/ledger")
    assert "acme/ledger is disabled" in message and "(hint: enable it" in message
    forced = ok(syncsched_dsn, "run", "acme/ledger", "--force")
    assert forced.startswith("acme/ledger: run ") and forced.strip().endswith(" queued")
    enabled = as_json(syncsched_dsn, "enable", "acme/ledger")
    assert enabled["enabled"] is True and enabled["next_run_at"] is not None

    message = refused(syncsched_dsn, "delete", "acme/ledger")
    assert "has 2 run(s) of history" in message and "p_delete_history => true" in message
    deleted = as_json(syncsched_dsn, "delete", "acme/ledger", "--with-history")
    assert deleted == {"org_id": "acme", "integration_id": "ledger", "deleted": True, "runs_deleted": 2, "cancelled": 1}
    assert db.fetch_value(conn, "select count(*) from syncsched.organization_integrations") == 0
    ok(syncsched_dsn, "add", "acme/crm", "--type", "dynamics", "--every", "15")
    assert ok(syncsched_dsn, "delete", "acme/crm").strip() == (
        "acme/crm: deleted (0 run(s) of history deleted, 0 pending cancelled)"
    )


def test_history_lists_runs_and_attempts_with_filters(syncsched_dsn: str, conn: db.Connection) -> None:
    ok(syncsched_dsn, "add", "acme/ledger", "--type", "xledger", "--every", "60", "--max-attempts", "2")
    first = db.fetch_value(conn, "select syncsched.run_now('acme', 'ledger')")
    attempts(conn, first, ("failed", 500), ("failed", 503))
    second = db.fetch_value(conn, "select syncsched.run_now('acme', 'ledger')")
    attempts(conn, second, ("completed", 200))
    third = db.fetch_value(conn, "select syncsched.run_now('acme', 'ledger')")

    def history(*filters: str) -> list[int]:
        return [r["run_id"] for r in as_json(syncsched_dsn, "history", "acme/ledger", *filters)]

    assert history() == [third, second, first]
    assert history("--status", "failed") == [first]
    assert history("--limit", "2") == [third, second]
    assert history("--since", "1h") == [third, second, first]
    assert history("--since", "2999-01-01T00:00:00Z") == []
    (failed,) = as_json(syncsched_dsn, "history", "acme/ledger", "--status", "failed")
    assert [(a["attempt"], a["worker_id"], a["http_status"]) for a in failed["attempts"]] == [
        (1, "w1", 500),
        (2, "w2", 503),
    ]
    text = ok(syncsched_dsn, "history", "acme/ledger")
    assert text.splitlines()[0] == "Runs of acme/ledger, newest period first"
    assert f"  run {first}  failed  (manual, period " in text and "#2 failed  w2  " in text
    assert ok(syncsched_dsn, "history", "acme/ledger", "--status", "cancelled").strip() == (
        "Runs of acme/ledger, newest period first: none"
    )
    assert "invalid input syntax for type timestamp" in refused(
        syncsched_dsn, "history", "acme/ledger", "--since", "then"
    )
    assert refused(syncsched_dsn, "history", "acme/nothing") == "no integration acme/nothing"
