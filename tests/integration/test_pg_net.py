"""The pg_net transport: runs of pg_net types sent and collected by the database itself.

The tests that need pg_net run on a PostgreSQL of their own with pg_net preloaded for the database
`syncsched` (pg_net's worker serves one database), and are skipped, with the reason, where pg_net is
not installed (it is not in Debian's packages). net_step() stands in for the tick and the collector
job here: the tests call it instead of waiting for pg_cron's minute."""

from __future__ import annotations

import json
import os
import resource
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from endpoint import Endpoint, Reply, Request
from harness import schedule_due, statuses, wait_for
from syncsched import db, localpg
from syncsched.migrate import migrate
from syncsched.testing import TestServer

DBNAME = "syncsched"  # the database pg_net's worker serves
TEMPLATE = "syncsched_net_template"
NET_SETTINGS = {"shared_preload_libraries": "'pg_cron,pg_net'", "pg_net.database_name": f"'{DBNAME}'"}
TO_PG_NET = "update syncsched.integration_types set transport = 'pg_net'"
# endpoints just used: no warm-up holds the first claim's runs (state only the tests write)
WARM = "update syncsched.endpoint_health set last_used_at = now()"


def test_the_pg_net_transport_is_refused_where_pg_net_is_absent(conn: db.Connection) -> None:
    """The suite's own server has no pg_net in this database (and no pg_net preloaded for it)."""
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        db.execute(conn, TO_PG_NET + " where integration_type = 'xledger'")
    message = str(raised.value).splitlines()[0]
    assert message.startswith("syncsched: integration type xledger: transport pg_net: "), message
    assert "pg_net" in message.split("transport pg_net: ", 1)[1], message
    assert db.fetch_value(conn, "select syncsched.net_step()") == {"collected": 0, "sent": 0, "health_checks": 0}


# --- with pg_net -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net_server(syncsched_server: TestServer) -> Iterator[localpg.LocalCluster]:
    """A PostgreSQL with pg_net preloaded for `syncsched`, and a migrated template database."""
    with db.connect(syncsched_server.admin_dsn) as admin:
        available = db.fetch_value(admin, "select count(*) from pg_available_extensions where name = 'pg_net'")
    if not available or syncsched_server.cluster is None:
        pytest.skip("pg_net is not installed on this machine (not in Debian's packages): the pg_net tests need it")
    # pg_net opens a connection per request in a batch: more than the default 1,024 files
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        with localpg.throwaway(extra_settings=NET_SETTINGS) as cluster:
            with db.connect(cluster.dsn("postgres")) as admin:
                db.create_database(admin, TEMPLATE)
            migrate(cluster.dsn(TEMPLATE), require_pg_cron=False)  # (pg_cron lives in `syncsched`)
            with db.connect(cluster.dsn(TEMPLATE)) as conn:
                db.execute(conn, "create extension pg_net")
            yield cluster
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def net(net_server: localpg.LocalCluster) -> Iterator[db.Connection]:
    """A fresh `syncsched` database (from the template) that pg_net's worker serves, its types
    sending through pg_net to the endpoint the test sets, retries after 100 ms."""
    with db.connect(net_server.dsn("postgres")) as admin:
        db.execute(admin, f"drop database if exists {DBNAME} with (force)")
        db.execute(admin, f"create database {DBNAME} template {TEMPLATE}")
    with db.connect(net_server.dsn()) as conn:
        db.execute(conn, "select net.worker_restart()")
        db.execute(conn, "select net.wait_until_running()")
        db.execute(conn, "select syncsched.set_setting('retry_backoff_base', '100 milliseconds')")
        db.execute(conn, "select syncsched.set_setting('allowed_private_hosts', '127.0.0.1')")
        db.execute(conn, "select syncsched.set_setting('allowed_insecure_hosts', '127.0.0.1')")
        yield conn


def use_pg_net(conn: db.Connection, endpoint: Endpoint, **columns: Any) -> None:
    """Every type sent through pg_net to the endpoint; no secret unless `auth_secret_env` names one."""
    columns = {"auth_secret_env": None, **columns}
    sets = "".join(f", {name} = %({name})s" for name in columns)
    db.execute(
        conn,
        "update syncsched.integration_types set transport = 'pg_net',"
        f" endpoint_url = %(url)s || '/' || integration_type{sets}",
        {"url": endpoint.url, **columns},
    )


def step_until(conn: db.Connection, done: Any, timeout: float, what: str) -> None:
    """net_step() every 0.2 s (the collector job's work) until done() holds."""

    def stepped() -> Any:
        db.fetch_value(conn, "select syncsched.net_step()")
        time.sleep(0.2)
        return done()

    wait_for(stepped, timeout, what)


def runs(conn: db.Connection) -> list[dict[str, Any]]:
    return db.fetch_all(conn, "select * from syncsched.sync_run_log order by run_id")


def attempts(conn: db.Connection) -> list[dict[str, Any]]:
    return db.fetch_all(conn, "select * from syncsched.sync_run_attempts order by run_id, attempt")


def wait_answered(conn: db.Connection, request_id: int) -> None:
    """Until pg_net has stored the response to the request (nothing has read it yet)."""
    answered = "select count(*) from net._http_response where id = %s"
    wait_for(lambda: db.fetch_value(conn, answered, (request_id,)) == 1, 10, "its response stored")


def test_a_due_run_is_sent_through_pg_net_with_the_workers_body_and_headers(net: db.Connection) -> None:
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint, auth_secret_env="XLEDGER_TOKEN")
        db.execute(net, "select syncsched.set_net_secret('XLEDGER_TOKEN', 'Bearer s3cret-token')")
        schedule_due(net, count=1, integration_type="xledger")
        db.execute(net, "call syncsched.tick()")  # warms the endpoint up (the next step sends the run)
        step_until(net, lambda: endpoint.requests, 10, "the request")
        step_until(net, lambda: statuses(net) == ["completed"], 10, "the run completed")
        run = runs(net)[0]
        request = endpoint.requests[0]
    assert request.path == "/xledger"
    assert request.headers["Idempotency-Key"] == run["idempotency_key"]
    assert request.headers["Authorization"] == "Bearer s3cret-token"
    assert request.headers["Content-Type"] == "application/json"
    # pg_net's own, once (a second User-Agent header is a 400 at strict servers, aiohttp's among them)
    assert request.headers["User-Agent"].startswith("pg_net/")
    assert request.body == {
        "run_id": run["run_id"],
        "org_id": run["org_id"],
        "integration_id": run["integration_id"],
        "integration_type": "xledger",
        "scheduled_for": run["scheduled_for"].isoformat(),
        "attempt": 1,
        "idempotency_key": run["idempotency_key"],
        "payload": run["payload"],
    }
    assert (run["http_status"], run["response_excerpt"], run["worker_id"]) == (200, '{"ok": true}', "pg_net")
    [attempt] = attempts(net)
    assert attempt["outcome"] == "completed" and attempt["net_request_id"] is not None
    assert db.fetch_value(net, "select count(*) from net._http_response") == 0, "a collected response is removed"


def test_the_worker_never_claims_a_pg_net_run_and_pg_net_never_sends_a_worker_run(net: db.Connection) -> None:
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, "update syncsched.integration_types set transport = 'worker' where integration_type = 'bufdir'")
        schedule_due(net, count=2, integration_type="xledger")
        schedule_due(net, count=2, integration_type="bufdir", integration_id="bufdir")
        claimed = db.fetch_all(net, "select integration_type from syncsched.claim_runs('w1', 10)")
        assert [c["integration_type"] for c in claimed] == ["bufdir", "bufdir"]
        step_until(net, lambda: len(endpoint.requests) == 2, 10, "the two pg_net runs")
    assert {r.path for r in endpoint.requests} == {"/xledger"}


def test_a_500_is_retried_until_max_attempts_then_failed(net: db.Connection) -> None:
    with Endpoint(lambda _r, _n: Reply(status=500, body='{"error": "down"}')) as endpoint:
        use_pg_net(net, endpoint)
        schedule_due(net, count=1, integration_type="xledger", max_attempts=3)
        step_until(net, lambda: statuses(net) == ["failed"], 20, "the run failed")
        keys = {r.headers["Idempotency-Key"] for r in endpoint.requests}
    assert len(endpoint.requests) == 3 and len(keys) == 1
    assert [(a["outcome"], a["http_status"]) for a in attempts(net)] == [("failed", 500)] * 3
    assert runs(net)[0]["error"] == 'HTTP 500: {"error": "down"}'


def test_a_429_holds_the_run_for_its_retry_after(net: db.Connection) -> None:
    replies = [Reply(status=429, headers={"Retry-After": "3"}), Reply()]
    with Endpoint(lambda _r, n: replies[min(n, 1)]) as endpoint:
        use_pg_net(net, endpoint)
        schedule_due(net, count=1, integration_type="xledger")
        step_until(net, lambda: len(endpoint.requests) == 1 and statuses(net) == ["pending"], 10, "the 429 recorded")
        step_until(net, lambda: statuses(net) == ["completed"], 15, "the run completed")
        first, second = endpoint.requests
    assert second.started - first.finished >= 3.0
    assert db.fetch_value(net, "select count(*) from syncsched.alerts_open where kind = 'rate_limited'") == 1


def test_a_timeout_is_retried(net: db.Connection) -> None:
    replies = [Reply(delay=2.0), Reply()]
    with Endpoint(lambda _r, n: replies[min(n, 1)]) as endpoint:
        use_pg_net(net, endpoint, timeout_ms=500)
        schedule_due(net, count=1, integration_type="xledger")
        step_until(net, lambda: statuses(net) == ["completed"], 20, "the run completed on its second attempt")
    first = attempts(net)[0]
    assert (first["outcome"], first["error"]) == ("failed", "timeout after 500 ms")
    assert len(attempts(net)) == 2


def test_a_response_that_never_comes_is_recovered_after_the_lease_with_the_same_key(net: db.Connection) -> None:
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, WARM)  # one step sends
        db.execute(net, "select syncsched.set_setting('net_lease', '10 seconds')")
        schedule_due(net, count=1, integration_type="xledger")
        db.execute(net, "select syncsched.net_step()")
        theirs = "from net._http_response where id = (select net_request_id from syncsched.sync_run_log)"
        wait_for(lambda: db.fetch_value(net, "select count(*) " + theirs) == 1, 10, "the response stored")
        # a crash: pg_net's tables are unlogged; the response is gone before anyone read it
        db.execute(net, "delete " + theirs)
        db.execute(net, "select syncsched.net_step()")
        assert statuses(net) == ["running"]
        assert db.fetch_value(net, "select syncsched.reap_expired_runs(now() + interval '11 seconds')") == 1
        db.execute(net, "update syncsched.sync_run_log set not_before = now()")
        step_until(net, lambda: statuses(net) == ["completed"], 10, "the run completed on its second attempt")
        keys = [r.headers["Idempotency-Key"] for r in endpoint.requests]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert [a["outcome"] for a in attempts(net)] == ["lost", "completed"]


def test_a_request_id_kept_from_before_a_crash_takes_no_response_of_a_new_request(net: db.Connection) -> None:
    """pg_net's queue, responses and id sequence are unlogged: after a crash (or on a promoted
    standby) it numbers its requests from 1 again, while a run in flight at the crash keeps its id.
    Before, the response to a new request with that id completed both runs: one never called."""
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, WARM)
        db.execute(net, "select syncsched.set_setting('net_batch', '1')")
        schedule_due(net, count=2, integration_type="xledger")
        db.execute(net, "select syncsched.net_step()")  # the first run sent
        sent = "select run_id, net_request_id from syncsched.sync_run_log where net_request_id > 0"
        (first,) = db.fetch_all(net, sent)
        wait_answered(net, first["net_request_id"])
        # the crash: unlogged tables empty, pg_net's ids from the first run's again
        db.execute(net, "delete from net._http_response")
        db.execute(net, "truncate syncsched.net_requests")
        db.execute(net, "select setval('net.http_request_queue_id_seq', %s, false)", (first["net_request_id"],))
        db.execute(net, "select syncsched.net_step()")  # the second run sent, with the first one's id
        second = db.fetch_value(net, "select run_id from syncsched.sync_run_log where run_id <> %s", (first["run_id"],))
        assert (
            db.fetch_value(net, "select net_request_id from syncsched.sync_run_log where run_id = %s", (second,))
            == first["net_request_id"]
        ), "the test proves nothing: the ids differ"
        status = "select status from syncsched.sync_run_log where run_id = %s"
        step_until(net, lambda: db.fetch_value(net, status, (second,)) == "completed", 10, "the second run completed")
    assert db.fetch_value(net, status, (first["run_id"],)) == "running", "its lease, not a stranger's response, ends it"
    assert len(endpoint.requests) == 2


def test_a_url_pg_net_refuses_fails_its_types_runs_and_the_step_goes_on(net: db.Connection) -> None:
    """pg_net's libcurl refuses a URL the guard lets through ('Bad IPv6 address'): before, every
    step failed on it, and no run of any type was collected or sent."""
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, WARM)
        db.execute(net, "select syncsched.set_endpoint_mode('dynamics', 'passive')")  # (no health check)
        db.execute(
            net,
            "update syncsched.integration_types set endpoint_url = 'https://user:p\"w@[1:2:3]/x'"
            " where integration_type = 'dynamics'",
        )
        schedule_due(net, count=2, integration_type="xledger")
        schedule_due(net, count=2, integration_type="dynamics", integration_id="erp")
        result = db.fetch_value(net, "select syncsched.net_step()")
        step_until(net, lambda: "running" not in statuses(net), 10, "every run final")
        final = {(r["integration_type"], r["status"], r["error"]) for r in runs(net)}
    assert result["sent"] == 2
    assert final == {
        ("xledger", "completed", None),
        ("dynamics", "failed", "pg_net refused the request: invalid URL (the URL): Bad IPv6 address"),
    }
    assert len(endpoint.requests) == 2
    assert not any('p"w' in (r["error"] or "") for r in runs(net)), "the password reached the run log"


def test_a_warm_up_pg_net_refuses_is_one_cold_start_and_the_runs_go(net: db.Connection) -> None:
    """Before, each claimed run of the cold type tried the warm-up again: five runs, five alerts."""
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, "select syncsched.set_endpoint_mode('xledger', 'passive')")  # (no health check)
        db.execute(net, "update syncsched.integration_types set health_url = 'https://[1:2:3]/h'")
        schedule_due(net, count=5, integration_type="xledger")
        step_until(net, lambda: statuses(net) == ["completed"] * 5, 10, "the runs completed, unwarmed")
        alerts = db.fetch_all(net, "select detail from syncsched.scheduler_alerts where kind = 'cold_start'")
    assert [a["detail"]["error"] for a in alerts] == [
        "pg_net refused the request: invalid URL (the URL): Bad IPv6 address"
    ]


def test_a_late_pg_net_response_is_not_taken_by_a_workers_attempt(net: db.Connection) -> None:
    """A type moved back to the worker transport while a pg_net request was out; the run reaped,
    claimed by a worker (attempt 2), reaped again: the pg_net response is attempt 1's. Before, it
    completed the run, recorded on the worker's attempt."""
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, WARM)
        schedule_due(net, count=1, integration_type="xledger")
        db.execute(net, "select syncsched.net_step()")
        request = db.fetch_value(net, "select net_request_id from syncsched.sync_run_log")
        wait_answered(net, request)
        db.execute(
            net, "update syncsched.integration_types set transport = 'worker' where integration_type = 'xledger'"
        )
        reap = "select syncsched.reap_expired_runs(now() + interval '1 hour')"
        assert db.fetch_value(net, reap) == 1
        db.execute(net, "update syncsched.sync_run_log set not_before = now()")
        (claimed,) = db.fetch_all(net, "select attempt from syncsched.claim_runs('w1', 1)")
        assert claimed["attempt"] == 2
        assert db.fetch_value(net, reap) == 1  # the worker lost its lease too
        db.execute(net, "select syncsched.net_step()")  # (other types are still pg_net's: it runs)
        run = runs(net)[0]
    assert (run["status"], run["attempt"]) == ("pending", 2), "a response of attempt 1 was taken by attempt 2"


def test_200_runs_at_a_cap_of_5_never_have_more_than_5_in_flight(net: db.Connection) -> None:
    with Endpoint(lambda _r, _n: Reply(delay=0.2)) as endpoint:
        use_pg_net(net, endpoint, max_concurrency=5)
        schedule_due(net, count=200, integration_type="xledger")
        step_until(net, lambda: statuses(net) == ["completed"] * 200, 240, "200 runs completed")
    assert len(endpoint.requests) == 200
    assert endpoint.max_active <= 5


def test_refused_urls_fail_at_once_and_nothing_is_queued(net: db.Connection) -> None:
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"169\.254\.169\.254 is not a public address"):
            db.execute(net, "update syncsched.integration_types set endpoint_url = 'https://169.254.169.254/x'")
        schedule_due(net, count=1, integration_type="xledger")
        # the allowance withdrawn after the type was set up: refused at dispatch (passive mode: no
        # health check, whose refusal would hold the runs behind an open circuit instead)
        db.execute(net, "select syncsched.set_endpoint_mode('xledger', 'passive')")
        db.execute(net, "select syncsched.set_setting('allowed_private_hosts', '')")
        db.execute(net, "select syncsched.net_step()")
        run = runs(net)[0]
    assert (run["status"], run["error"]) == (
        "failed",
        "refused: 127.0.0.1 is not a public address (allowed_private_hosts)",
    )
    assert endpoint.requests == []
    assert db.fetch_value(net, "select count(*) from net.http_request_queue") == 0


def test_the_secret_appears_in_no_table_notify_or_log(net: db.Connection, net_server: localpg.LocalCluster) -> None:
    secret = f"Bearer canary-{secrets.token_hex(16)}"
    token = secret.split()[1]

    def echo(request: Request, n: int) -> Reply:
        seen = request.headers.get("Authorization", "")
        return Reply(status=[200, 500, 404][n % 3], body=json.dumps({"you_sent": seen, "token": seen.split()[-1]}))

    notifications: list[str] = []
    stop = threading.Event()
    listening = threading.Event()

    def listen() -> None:
        with db.connect(net_server.dsn()) as listener:
            for channel in ("syncsched_runs", "syncsched_alerts", "syncsched_run_events"):
                listener.execute(f"listen {channel}")
            listening.set()
            while not stop.is_set():
                notifications.extend(n.payload for n in listener.notifies(timeout=0.5))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    listening.wait(10)
    try:
        with Endpoint(echo) as endpoint:
            use_pg_net(net, endpoint, auth_secret_env="XLEDGER_TOKEN")
            db.execute(net, "select syncsched.set_net_secret('XLEDGER_TOKEN', %s)", (secret,))
            schedule_due(net, count=6, integration_type="xledger", max_attempts=2)
            step_until(net, lambda: not {"pending", "running"} & set(statuses(net)), 30, "every run final")
    finally:
        stop.set()
        thread.join(5)
    assert any(r.headers.get("Authorization") == secret for r in endpoint.requests), "the secret was not sent"
    tables = [
        r["t"]
        for r in db.fetch_all(
            net,
            "select c.oid::regclass::text as t from pg_class c where c.relnamespace in"
            " ('syncsched'::regnamespace, 'net'::regnamespace) and c.relkind in ('r', 'p')"
            " and c.oid <> 'syncsched.net_secrets'::regclass",
        )
    ]
    dump = "\n".join(
        db.fetch_value(net, f"select coalesce(string_agg(x::text, E'\\n'), '') from {table} as x") for table in tables
    )
    assert "[redacted]" in dump, "the echoed secret did not reach the excerpts: the test proves nothing"
    for place, text in {
        "tables": dump,
        "notify": "\n".join(notifications),
        "PostgreSQL log": net_server.logfile.read_text(errors="replace"),
    }.items():
        assert token not in text, f"the secret is in the {place}"


PUBLIC_URLS = [
    "https://example.com/sync",
    "https://93.184.216.34/sync",
    "https://[2606:2800:220:1:248:1893:25c8:1946]/sync",
    "https://8.8.8.8:8443/x?y=1",
    "https://[2002:808:808::1]/",  # 6to4 of a public address
    "https://[::ffff:8.8.8.8]/",
    "http://127.0.0.1:8080/",  # allowed below: private and insecure
]


def test_the_databases_url_guard_agrees_with_the_workers(conn: db.Connection) -> None:
    """_url_refusal (pg_net's guard, before anything is queued) refuses what the worker's guard
    refuses by the URL alone, and lets through what it lets through. (Names are the difference:
    the worker also refuses a name that resolves to a private address; the database cannot resolve.)"""
    from test_outbound import HOSTILE

    from syncsched.invoker import Guard, Refused

    db.execute(conn, "select syncsched.set_setting('allowed_private_hosts', '127.0.0.2, 127.0.0.1')")
    db.execute(conn, "select syncsched.set_setting('allowed_insecure_hosts', '127.0.0.1')")
    guard = Guard.from_lists(private="127.0.0.2,127.0.0.1", insecure="127.0.0.1")
    hostile = [url.format(p=9) for url in HOSTILE if "127.0.0.1" not in url]
    hostile += ["https://0x7f000001/", "ftp://x/", "https://[2002:7f00:1::1]/", "https://[2002::1]/"]
    for url in hostile + PUBLIC_URLS:
        refusal = db.fetch_value(conn, "select syncsched._url_refusal(%s)", (url,))
        try:
            guard.check_url(url)
            worker = None
        except Refused as exc:
            worker = str(exc)
        if url == "https://localhost:9/":
            assert worker is None and refusal is not None, "the worker refuses localhost when it resolves it"
            continue
        assert (refusal is None) == (worker is None), (url, refusal, worker)
    assert all(db.fetch_value(conn, "select syncsched._url_refusal(%s)", (u,)) for u in hostile)


# What libcurl reads otherwise than PostgreSQL's inet does (it reached 127.0.0.1 or ::1 from each, or
# failed the whole step on the URL): the worker resolves them and refuses what they reach.
CURL_READS_OTHERWISE = [
    "https://0177.0.0.1/",  # octal: 127.0.0.1
    "https://012.0.0.1/",  # 10.0.0.1
    "https://[::1%25lo]/",  # zone ids
    "https://[::ffff:169.254.169.254%25eth0]/",
    "https://%31%32%37.0.0.1/",  # %-escaped host
    "https://a@b@127.0.0.1/",  # a second @
    "https://example.com:99999/",  # no such port
    "https://exa mple.com/",
    "https://example.com/a b",
    "https://[::1/0]/",
]


def test_urls_libcurl_reads_otherwise_are_refused_without_repeating_them(conn: db.Connection) -> None:
    for url in CURL_READS_OTHERWISE:
        refusal = db.fetch_value(conn, "select syncsched._url_refusal(%s)", (url,))
        assert refusal is not None, url
    # (a URL may carry user:password@: no refusal repeats it)
    refusal = db.fetch_value(conn, "select syncsched._url_refusal('https://user:hunter2@/x')")
    assert refusal == "refused: the URL has no host"


def open_alerts(conn: db.Connection, kind: str) -> list[dict[str, Any]]:
    return db.fetch_all(conn, "select * from syncsched.alerts_open where kind = %s", (kind,))


def test_a_pg_net_worker_that_stops_sending_is_alerted_and_its_runs_go_out_when_it_is_back(
    net: db.Connection,
) -> None:
    worker_pid = wait_for(
        lambda: db.fetch_value(
            net, "select pid from pg_stat_activity where backend_type like 'pg_net %%' and datname = current_database()"
        ),
        10,
        "pg_net's worker connected to the database",
    )
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, "select syncsched.set_endpoint_mode('xledger', 'passive')")
        db.execute(net, "select syncsched.set_setting('net_stalled_after', '5 seconds')")
        db.execute(net, WARM)  # one step sends
        schedule_due(net, count=1, integration_type="xledger")
        os.kill(worker_pid, signal.SIGSTOP)
        try:
            db.execute(net, "select syncsched.net_step()")
            time.sleep(6)
            db.execute(net, "select syncsched.net_step()")
            [alert] = open_alerts(net, "pg_net_stalled")
            assert "pg_net's worker is not sending" in alert["detail"]["problem"]
            assert endpoint.requests == []
        finally:
            os.kill(worker_pid, signal.SIGCONT)
        step_until(net, lambda: statuses(net) == ["completed"], 10, "the run completed once pg_net sends again")
    db.execute(net, "select syncsched.net_step()")  # the next step finds the queue moving
    assert open_alerts(net, "pg_net_stalled") == []


def test_pg_net_serving_another_database_is_alerted(net: db.Connection, net_server: localpg.LocalCluster) -> None:
    """pg_net.database_name is read when a session starts: each check in a new session, as the
    tick's and the collector job's are."""

    def step() -> dict[str, Any]:
        with db.connect(net_server.dsn()) as session:
            return dict(db.fetch_value(session, "select syncsched.net_step()"))

    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        schedule_due(net, count=1, integration_type="xledger")
        try:
            db.execute(net, "alter system set pg_net.database_name = 'postgres'")
            db.execute(net, "select pg_reload_conf()")
            time.sleep(0.5)
            assert step()["sent"] == 0
            [alert] = open_alerts(net, "pg_net_stalled")
            assert "pg_net's worker serves database postgres, not syncsched" in alert["detail"]["problem"]
        finally:
            db.execute(net, "alter system reset pg_net.database_name")
            db.execute(net, "select pg_reload_conf()")
        time.sleep(0.5)
        wait_for(lambda: step()["sent"] == 1, 10, "the run sent")
        step_until(net, lambda: statuses(net) == ["completed"], 10, "the run completed")
    assert open_alerts(net, "pg_net_stalled") == []


def test_grants_pg_net_lacks_are_named_in_pg_net_stalled_and_the_runs_wait(net: db.Connection) -> None:
    """Where pg_net's grants to PUBLIC were narrowed (Supabase grants it to its own roles). Before,
    every step failed on 'permission denied', the alert it would raise rolled back with it."""
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, WARM)
        schedule_due(net, count=2, integration_type="xledger")
        db.execute(net, "revoke all on net.http_request_queue from public")
        try:
            db.fetch_value(net, "select syncsched.net_step()")
            [alert] = open_alerts(net, "pg_net_stalled")
            waiting = statuses(net)
        finally:
            db.execute(net, "grant all on net.http_request_queue to public")
        step_until(net, lambda: statuses(net) == ["completed"] * 2, 10, "the runs sent once granted")
    assert alert["detail"]["problem"] == (
        "the role syncsched_owner cannot use pg_net: grant select, insert on net.http_request_queue to syncsched_owner"
    )
    assert waiting == ["pending", "pending"]
    assert open_alerts(net, "pg_net_stalled") == []


def test_a_cold_endpoint_is_warmed_up_with_a_get_before_its_first_call(net: db.Connection) -> None:
    """The runs wait for the warm-up's answer; a failing warm-up is a cold_start, and they go after it."""
    with Endpoint(health=lambda _r, _n: Reply(status=503, body="", delay=2.0)) as endpoint:
        use_pg_net(net, endpoint)
        db.execute(net, "select syncsched.set_endpoint_mode('xledger', 'passive')")  # no health check
        schedule_due(net, count=3, integration_type="xledger")
        assert db.fetch_value(net, "select syncsched.net_step()")["sent"] == 0, "sent before the warm-up"
        step_until(net, lambda: statuses(net) == ["completed"] * 3, 20, "the runs completed after the warm-up")
        [warmup] = endpoint.probes
        first_call = min(r.started for r in endpoint.requests)
    assert warmup.path == "/xledger"
    assert first_call >= warmup.finished, "a run was sent before its endpoint answered the warm-up"
    [alert] = open_alerts(net, "cold_start")
    assert (alert["integration_type"], alert["detail"]["error"]) == ("xledger", "HTTP 503")


def test_without_a_worker_the_pg_net_step_raises_scheduler_silent(net: db.Connection) -> None:
    """The syncsched_net job runs when the tick does not: its step watches for a silent scheduler."""
    with Endpoint() as endpoint:
        use_pg_net(net, endpoint)
        db.execute(
            net,
            "insert into syncsched.scheduler_ticks (at, started_at, finished_at)"
            " values (now() - interval '10 minutes', now() - interval '10 minutes', now() - interval '10 minutes')",
        )
        db.execute(net, "select syncsched.net_step()")
    [alert] = open_alerts(net, "scheduler_silent")
    assert alert["detail"]["silent_for_seconds"] >= 600
