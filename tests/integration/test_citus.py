"""syncsched on a Citus coordinator (coordinator mode, docs/citus.md): a coordinator and two workers
on loopback, Citus and pg_cron preloaded, syncsched's tables local to the coordinator.

Skipped, with the reason, where Citus is not installed (it is not in Debian's packages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from endpoint import Endpoint
from harness import WorkerProcess, point_types_at, set_next_run, statuses, wait_for
from syncsched import db, localpg
from syncsched.migrate import migrate
from syncsched.testing import TestServer

CITUS_SETTINGS = {"shared_preload_libraries": "'citus,pg_cron'"}  # citus first


@pytest.fixture(scope="module")
def coordinator(syncsched_server: TestServer) -> Iterator[localpg.LocalCluster]:
    """A coordinator with two workers, Citus created in `syncsched` on each, the workers added."""
    with db.connect(syncsched_server.admin_dsn) as admin:
        available = db.fetch_value(admin, "select count(*) from pg_available_extensions where name = 'citus'")
    if not available:
        pytest.skip("Citus is not installed on this machine (not in Debian's packages): the Citus tests need it")
    with ExitStack() as stack:
        nodes = [stack.enter_context(localpg.throwaway(extra_settings=CITUS_SETTINGS)) for _ in range(3)]
        for node in nodes:
            with db.connect(node.dsn()) as conn:
                db.execute(conn, "create extension citus")
        coordinator, *workers = nodes
        with db.connect(coordinator.dsn()) as conn:
            db.execute(conn, "select citus_set_coordinator_host('127.0.0.1', %s)", (coordinator.port,))
            for worker in workers:
                db.execute(conn, "select citus_add_node('127.0.0.1', %s)", (worker.port,))
        yield coordinator


def on_workers(conn: db.Connection, query: str) -> list[str]:
    return [r["result"] for r in db.fetch_all(conn, "select result from run_command_on_workers(%s)", (query,))]


def test_migrate_installs_on_the_coordinator_with_workers_present_and_again_as_a_no_op(
    coordinator: localpg.LocalCluster,
) -> None:
    """Before: 'role "syncsched_owner" is not permitted to log in' (Citus sent each CREATE FUNCTION
    to the workers as the NOLOGIN owner)."""
    first = migrate(coordinator.dsn())
    assert first.applied, "nothing was migrated"
    assert migrate(coordinator.dsn()).applied == []
    with db.connect(coordinator.dsn()) as conn:
        assert db.fetch_value(conn, "select count(*) from pg_dist_node where noderole = 'primary'") == 3
        # coordinator-local: nothing of syncsched on the workers, no table in Citus' metadata
        assert on_workers(conn, "select count(*) from pg_namespace where nspname = 'syncsched'") == ["0", "0"]
        assert (
            db.fetch_value(
                conn,
                "select count(*) from pg_dist_partition where logicalrelid::regclass::text like 'syncsched.%%'",
            )
            == 0
        )


@pytest.mark.slow
def test_pg_cron_ticks_on_the_coordinator_and_a_worker_completes_the_runs(
    coordinator: localpg.LocalCluster, tmp_path: Path
) -> None:
    migrate(coordinator.dsn())
    with db.connect(coordinator.dsn()) as conn, Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '1 minute')")
        db.execute(
            conn,
            "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
            " cron_schedule) select 'org' || g, 'ledger', 'xledger', '* * * * *' from generate_series(1, 20) as g",
        )
        set_next_run(conn, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1))
        db.fetch_value(conn, "select syncsched.install_cron('* * * * *')")
        worker = WorkerProcess(coordinator.dsn(), tmp_path / "worker.log", "--worker-id", "citus-w1")
        try:
            wait_for(lambda: len(statuses(conn)) >= 20, 75, "pg_cron's tick on the coordinator")
            wait_for(lambda: set(statuses(conn)) == {"completed"}, 30, "the worker's completions")
        finally:
            worker.stop()
        assert len({r.body["idempotency_key"] for r in endpoint.requests}) == len(endpoint.requests) >= 20
        assert db.fetch_value(conn, "select count(*) from cron.job_run_details where status = 'succeeded'") >= 1
