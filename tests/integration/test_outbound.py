"""What leaves the worker: the SSRF guard against hostile endpoint URLs (a canary listener must see
no connection at all), and the endpoint secret, which must appear nowhere but in its header."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from endpoint import Endpoint, Reply, Request
from harness import WorkerProcess, schedule_due, statuses, wait_for
from syncsched import db
from syncsched.testing import TestServer


class Canary:
    """Listens on every IPv4 and IPv6 address of the machine and counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self._sockets = []
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("0.0.0.0", 0))
        self.port = v4.getsockname()[1]
        self._sockets.append(v4)
        try:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::", self.port))
            self._sockets.append(v6)
        except OSError:
            pass  # no IPv6 here: the IPv6 URLs cannot connect anywhere either
        for sock in self._sockets:
            sock.listen(16)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


HOSTILE = [
    "http://127.0.0.1:{p}/",  # plain http, host not allowed
    "https://127.0.0.1:{p}/",
    "https://localhost:{p}/",
    "https://[::1]:{p}/",
    "https://0x7f000001:{p}/",
    "https://2130706433:{p}/",
    "https://127.1:{p}/",
    "https://017700000001:{p}/",
    "https://0.0.0.0:{p}/",
    "https://[::]:{p}/",
    "https://[::ffff:127.0.0.1]:{p}/",
    "https://[::ffff:7f00:1]:{p}/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1:{p}/",
    "https://192.168.1.1:{p}/",
    "https://172.16.0.1:{p}/",
    "https://100.64.0.1:{p}/",
    "https://[fd00::1]:{p}/",
    "https://[fe80::1]:{p}/",
]


def test_hostile_endpoint_urls_are_refused_and_the_canary_sees_no_connection(
    conn: db.Connection, canary: Canary, syncsched_dsn: str, tmp_path: Path
) -> None:
    hostile = [url.format(p=canary.port) for url in HOSTILE]
    assert len(hostile) >= 15
    # an allowed endpoint (127.0.0.2 is listed for this worker) that redirects to the canary
    redirect = Reply(status=302, headers={"Location": f"http://127.0.0.1:{canary.port}/"})
    with Endpoint(lambda _r, _n: redirect, host="127.0.0.2") as redirector:
        types = [(f"hostile_{n:02d}", url) for n, url in enumerate(hostile)] + [("redirector", redirector.url)]
        for name, url in types:
            db.execute(
                conn,
                "insert into syncsched.integration_types (integration_type, endpoint_url, health_check_interval)"
                " values (%s, %s, '1 second')",
                (name, url),
            )
            schedule_due(conn, integration_type=name, integration_id=name, max_attempts=1)
        # the alert webhook, pointed at the canary too
        db.execute(
            conn,
            "update syncsched.settings set value = %s where key = 'alert_webhook_url'",
            (f"https://127.0.0.1:{canary.port}/hook",),
        )
        only = {"SYNCSCHED_ALLOWED_PRIVATE_HOSTS": "127.0.0.2", "SYNCSCHED_ALLOWED_INSECURE_HOSTS": "127.0.0.2"}
        worker = WorkerProcess(syncsched_dsn, tmp_path / "worker.log", "--concurrency", "30", env=only)

        def settled() -> bool:
            # each run refused, or held by the circuit breaker after its type's refused health check
            rows = db.fetch_all(
                conn,
                "select r.status::text, h.status as health from syncsched.sync_run_log as r"
                " join syncsched.endpoint_health as h using (integration_type)",
            )
            checked = db.fetch_value(
                conn,
                "select count(*) from syncsched.endpoint_health"
                " where integration_type like 'hostile%%' and last_error like 'refused%%'",
            )
            return checked == len(hostile) and all(
                r["status"] == "failed" or (r["status"] == "pending" and r["health"] == "unhealthy") for r in rows
            )

        try:
            wait_for(settled, 60, "every run refused or held")
            wait_for(
                lambda: db.fetch_value(
                    conn,
                    "select count(*) from syncsched.scheduler_alerts where delivery_attempts > 0",
                ),
                40,
                "the webhook to be tried",
            )
        finally:
            worker.stop()
        for row in db.fetch_all(
            conn,
            "select integration_type, attempt, error from syncsched.sync_run_log where status = 'failed'"
            " and integration_type <> 'redirector'",
        ):
            assert row["error"].startswith("refused") and row["attempt"] == 1, row
        redirected = db.fetch_one(
            conn, "select http_status from syncsched.sync_run_log where integration_type = 'redirector'"
        )
        assert redirected == {"http_status": 302}, "the redirect was followed"
        assert len(redirector.requests) == 1
    assert canary.connections == 0


def test_the_endpoint_secret_appears_in_no_table_notify_log_or_error(
    syncsched_server: TestServer, syncsched_dsn: str, conn: db.Connection, tmp_path: Path
) -> None:
    secret = f"Bearer canary-{secrets.token_hex(16)}"
    token = secret.split()[1]

    def echo(request: Request, n: int) -> Reply:
        seen = request.headers.get("Authorization", "")
        status = [200, 500, 404, 200][n % 4]
        return Reply(status=status, body=json.dumps({"you_sent": seen, "token": seen.split()[-1]}))

    notifications: list[str] = []
    listening = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with db.connect(syncsched_dsn) as listener:
            listener.execute("listen syncsched_runs")
            listener.execute("listen syncsched_alerts")
            listening.set()
            while not stop.is_set():
                notifications.extend(n.payload for n in listener.notifies(timeout=0.5))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    listening.wait(10)
    with Endpoint(echo) as endpoint:
        db.execute(
            conn, "update syncsched.integration_types set endpoint_url = %s || '/' || integration_type", (endpoint.url,)
        )
        db.execute(conn, "update syncsched.settings set value = '100 milliseconds' where key = 'retry_backoff_base'")
        schedule_due(conn, count=3, max_attempts=3)
        worker = WorkerProcess(syncsched_dsn, tmp_path / "worker.log", env={"SYNCSCHED_XLEDGER_TOKEN": secret})
        try:
            wait_for(
                lambda: sorted(set(statuses(conn))) in (["completed", "failed"], ["failed", "completed"]),
                30,
                "completed and failed runs",
            )
            wait_for(lambda: "pending" not in statuses(conn) and "running" not in statuses(conn), 30, "final states")
        finally:
            worker.stop()
            stop.set()
            thread.join(5)
        assert any(r.headers.get("Authorization") == secret for r in endpoint.requests), "the secret was not sent"
    # every row of every table, as text
    tables = [
        r["t"]
        for r in db.fetch_all(
            conn,
            "select c.oid::regclass::text as t from pg_class c where c.relnamespace = 'syncsched'::regnamespace"
            " and c.relkind = 'r'",
        )
    ]
    dump = "\n".join(
        db.fetch_value(conn, f"select coalesce(string_agg(x::text, E'\\n'), '') from {table} as x") for table in tables
    )
    assert "[redacted]" in dump, "the echoed secret did not reach the excerpts: the test proves nothing"
    places = {"tables": dump, "notify": "\n".join(notifications), "worker log": worker.output()}
    if syncsched_server.cluster is not None:
        places["PostgreSQL log"] = syncsched_server.cluster.logfile.read_text(errors="replace")
    for place, text in places.items():
        assert token not in text, f"the secret is in the {place}"
