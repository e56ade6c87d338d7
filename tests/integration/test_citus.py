"""syncsched on a Citus coordinator (coordinator mode, docs/citus.md): a coordinator and two workers
on loopback, Citus and pg_cron preloaded, syncsched's tables local to the coordinator.

Skipped, with the reason, where Citus is not installed (it is not in Debian's packages)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from endpoint import Endpoint
from harness import WorkerProcess, point_types_at, set_next_run, statuses, wait_for
from syncsched import db, localpg
from syncsched.migrate import migrate
from syncsched.resources import plpgsql_files, sql_dir
from syncsched.testing import TestServer

CITUS_SETTINGS = {"shared_preload_libraries": "'citus,pg_cron'"}  # citus first


@contextmanager
def citus_nodes(server: TestServer) -> Iterator[list[localpg.LocalCluster]]:
    """A coordinator and two workers, Citus and pg_cron preloaded."""
    with db.connect(server.admin_dsn) as admin:
        available = db.fetch_value(admin, "select count(*) from pg_available_extensions where name = 'citus'")
    if not available:
        pytest.skip("Citus is not installed on this machine (not in Debian's packages): the Citus tests need it")
    with ExitStack() as stack:
        yield [stack.enter_context(localpg.throwaway(extra_settings=CITUS_SETTINGS)) for _ in range(3)]


@pytest.fixture(scope="module")
def nodes(syncsched_server: TestServer) -> Iterator[list[localpg.LocalCluster]]:
    with citus_nodes(syncsched_server) as cluster:
        yield cluster


def citus_database(nodes: list[localpg.LocalCluster], dbname: str | None = None) -> str:
    """Citus created in the database on each node (a new one if named), the workers added to it."""
    coordinator, *workers = nodes
    for node in nodes:
        if dbname:
            with db.connect(node.dsn("postgres")) as conn:
                db.execute(conn, f'create database "{dbname}"')
        with db.connect(node.dsn(dbname)) as conn:
            db.execute(conn, "create extension citus")
    with db.connect(coordinator.dsn(dbname)) as conn:
        db.execute(conn, "select citus_set_coordinator_host('127.0.0.1', %s)", (coordinator.port,))
        for worker in workers:
            db.execute(conn, "select citus_add_node('127.0.0.1', %s)", (worker.port,))
    return coordinator.dsn(dbname)


@pytest.fixture(scope="module")
def coordinator(nodes: list[localpg.LocalCluster]) -> localpg.LocalCluster:
    """The coordinator, Citus created in `syncsched` on each node, the workers added."""
    citus_database(nodes)
    return nodes[0]


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


# Distributed mode (#17) asks this of the schema: its per-tenant tables distributed by org_id and
# colocated, the shared ones reference tables. These tests hold the schema to it (org_id in every
# key, tenant policies without subqueries, foreign keys Citus accepts), on a database whose
# syncsched objects were created with Citus' DDL propagation on (by the superuser: Citus creates
# them on the workers as the role that runs the DDL, and syncsched's owner cannot log in).
DISTRIBUTE = [
    "set citus.enable_unsafe_triggers = on",
    # the integrations' foreign key to the types comes after: were the types a reference table
    # first, Citus would turn every table of that foreign-key graph into a local one of its own
    "alter table syncsched.organization_integrations drop constraint organization_integrations_type_fkey",
    "select create_distributed_table('syncsched.organization_integrations', 'org_id')",
    *(
        f"select create_distributed_table('syncsched.{table}', 'org_id',"
        " colocate_with => 'syncsched.organization_integrations')"
        for table in ("schedule_state", "sync_run_log", "sync_run_attempts")
    ),
    # (its insert trigger, which writes endpoint_health, would fire on the workers' copies)
    "alter table syncsched.integration_types disable trigger integration_types_health",
    *(
        f"select create_reference_table('syncsched.{table}')"
        for table in ("integration_types", "endpoint_health", "dispatch_state", "request_ledger", "settings")
    ),
    "alter table syncsched.integration_types enable trigger integration_types_health",
    "alter table syncsched.organization_integrations add constraint organization_integrations_type_fkey"
    " foreign key (integration_type) references syncsched.integration_types (integration_type) on update cascade",
]
DISTRIBUTED = {"organization_integrations", "schedule_state", "sync_run_log", "sync_run_attempts"}


@pytest.fixture(scope="module")
def distributed(syncsched_server: TestServer) -> Iterator[list[str]]:
    """syncsched on a cluster of its own (its roles made on every node), its tables distributed:
    the DSNs of the coordinator and the workers."""
    with citus_nodes(syncsched_server) as cluster:
        install_distributed(citus_database(cluster))
        for worker in cluster[1:]:
            # Citus reads and writes the shards as the statement's role (a SECURITY DEFINER function's
            # owner included): on the workers these roles log in
            with db.connect(worker.dsn()) as conn:
                db.execute(conn, "set citus.enable_ddl_propagation = off")
                for role in ("syncsched_owner", "syncsched_tenant", "syncsched_reader"):
                    db.execute(conn, f"alter role {role} login")
        yield [node.dsn() for node in cluster]


def install_distributed(dsn: str) -> str:
    db.yoyo_apply(dsn, sql_dir("migrations"))
    with db.connect(dsn) as conn:
        with db.transaction(conn):
            for path in plpgsql_files():
                db.execute_script(conn, path.read_text(encoding="utf-8"))
        for statement in DISTRIBUTE:
            db.execute(conn, statement)
    return dsn


def test_the_schema_distributes_by_org_id_colocated_with_the_shared_tables_as_reference_tables(
    distributed: list[str],
) -> None:
    """Before (0017's keys): 'Distributed relations cannot have UNIQUE, EXCLUDE, or PRIMARY KEY
    constraints that do not include the partition column', 'SET NULL, SET DEFAULT or CASCADE is not
    supported in ON UPDATE operation when distribution key included in the foreign constraint',
    'Subqueries are not supported in policies on distributed tables'."""
    with db.connect(distributed[0]) as conn:
        tables = db.fetch_all(
            conn,
            "select c.relname as name, p.partmethod as method, p.colocationid as colocation,"
            " column_to_column_name(p.logicalrelid, p.partkey) as column"
            " from pg_dist_partition as p join pg_class as c on c.oid = p.logicalrelid"
            " where c.relnamespace = 'syncsched'::regnamespace and not c.relispartition",
        )
        by_name = {t["name"]: t for t in tables}
        assert {n for n, t in by_name.items() if t["method"] == "h"} == DISTRIBUTED
        assert {by_name[n]["column"] for n in DISTRIBUTED} == {"org_id"}
        assert len({by_name[n]["colocation"] for n in DISTRIBUTED}) == 1, "colocated"
        assert {n for n, t in by_name.items() if t["method"] == "n"} >= {
            "integration_types",
            "endpoint_health",
            "dispatch_state",
            "request_ledger",
            "settings",
        }
        # the run log's partitions are distributed with it, and its keys hold across shards
        assert db.fetch_value(
            conn,
            "select count(*) from pg_dist_partition as p join pg_inherits as i on i.inhrelid = p.logicalrelid"
            " where i.inhparent = 'syncsched.sync_run_log'::regclass",
        ) == db.fetch_value(
            conn, "select count(*) from pg_inherits where inhparent = 'syncsched.sync_run_log'::regclass"
        )


# (the schedule triggers do not run on the shards yet: the rows are written as they would write them)
WITHOUT_TRIGGERS = ["set local citus.propagate_set_commands = 'local'", "set local session_replication_role = replica"]
TENANT_ROWS = [
    *WITHOUT_TRIGGERS,
    "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)"
    " select 'org' || o, 'i' || i, 'xledger', 60 from generate_series(1, 8) as o, generate_series(1, 3) as i",
    "insert into syncsched.schedule_state (id, org_id) select id, org_id from syncsched.organization_integrations",
    "insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,"
    " trigger, status, attempt, max_attempts, started_at, finished_at)"
    " select org_id, integration_id, integration_type, p, syncsched._period_key(org_id, integration_id, p),"
    " 'schedule', 'completed', 1, 3, p, p from syncsched.organization_integrations,"
    " generate_series(now() - interval '3 hours', now(), interval '1 hour') as p",
    "insert into syncsched.sync_run_attempts (run_id, scheduled_for, attempt, org_id, outcome, started_at,"
    " finished_at) select run_id, scheduled_for, 1, org_id, 'completed', started_at, finished_at"
    " from syncsched.sync_run_log",
]
TENANT_VIEW = """
select (select array_agg(distinct org_id) from syncsched.organization_integrations) as integrations,
    (select array_agg(distinct org_id) from syncsched.schedule_state) as states,
    (select array_agg(distinct org_id) from syncsched.sync_run_log) as runs,
    (select array_agg(distinct org_id) from syncsched.sync_run_attempts) as attempts,
    (select count(*) from syncsched.sync_run_log) as run_count
"""


def test_a_tenant_reads_the_rows_of_its_own_organization_on_the_shards_and_no_other(distributed: list[str]) -> None:
    """The console's tenant sessions (db.session_role) on distributed tables. Before: the organization
    set by set_config did not reach the shards, and a tenant saw none of its own rows."""
    with db.connect(distributed[0]) as conn:
        with db.transaction(conn):
            for statement in TENANT_ROWS:
                db.execute(conn, statement)
        # the organizations lie on shards of both workers
        assert (
            db.fetch_value(
                conn,
                "select count(distinct s.nodeport) from syncsched.organization_integrations as o"
                " join pg_dist_shard_placement as s on s.shardid = get_shard_id_for_distribution_column("
                "'syncsched.organization_integrations', o.org_id)",
            )
            == 2
        )
        for org in ("org1", "org2", "org7"):
            with db.transaction(conn):
                db.set_session_role(conn, "syncsched_tenant", org, "test")
                seen = db.fetch_one(conn, TENANT_VIEW)
            assert seen == {
                "integrations": [org],
                "states": [org],
                "runs": [org],
                "attempts": [org],
                "run_count": 12,
            }, org
        with db.transaction(conn):
            db.set_session_role(conn, "syncsched_reader")
            assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log") == 8 * 3 * 4


TICK_ROWS = [
    *WITHOUT_TRIGGERS,
    "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule,"
    " misfire_policy) select 'tick' || (g %% 20), 'i' || g, (array['xledger', 'dynamics', 'bufdir'])[1 + g %% 3],"
    " '* * * * *', 'catch_up' from generate_series(1, 1000) as g",
    "insert into syncsched.schedule_state (id, org_id, cron_spec, next_run_at, stale_check_at)"
    " select id, org_id, syncsched.cron_parse(cron_schedule), %(first)s, 'infinity'"
    " from syncsched.organization_integrations where org_id like 'tick%%'",
]


def test_eight_concurrent_ticks_make_exactly_one_run_per_period_on_the_shards(distributed: list[str]) -> None:
    """1,000 integrations of 20 organizations, four periods each due, eight ticks at once, each in
    batches of 100 as tick() runs them: one statement per shard group (05_citus.sql). Before: 'could
    not run distributed query with FOR UPDATE/SHARE commands'."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    now, first = minute + timedelta(seconds=5), minute - timedelta(minutes=3)
    with db.connect(distributed[0]) as conn, db.transaction(conn):
        for statement in TICK_ROWS:
            db.execute(conn, statement, {"first": first})
    barrier = threading.Barrier(8)

    def tick() -> int:
        triggered = 0
        with db.connect(distributed[0]) as conn:
            barrier.wait()
            while True:
                result = db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s, 100)", (now,))
                triggered += result["triggered"]
                if db.fetch_value(conn, "select syncsched._tick_done(%s, 100)", (Jsonb(result),)):
                    return triggered

    with ThreadPoolExecutor(8) as pool:
        triggered = list(pool.map(lambda _: tick(), range(8)))
    with db.connect(distributed[0]) as conn:
        runs = db.fetch_one(
            conn,
            "select count(*) as runs, count(distinct idempotency_key) as keys,"
            " count(distinct (org_id, integration_id, scheduled_for)) as periods, min(scheduled_for) as first,"
            " max(scheduled_for) as last from syncsched.sync_run_log where org_id like 'tick%%'",
        )
        advanced = db.fetch_all(
            conn,
            "select next_run_at, last_tick_at, count(*) from syncsched.schedule_state where org_id like 'tick%%'"
            " group by 1, 2",
        )
    assert runs == {"runs": 4000, "keys": 4000, "periods": 4000, "first": first, "last": minute}
    assert sum(triggered) == 4000 and sum(1 for t in triggered if t) >= 2, triggered
    assert advanced == [{"next_run_at": minute + timedelta(minutes=1), "last_tick_at": now, "count": 1000}]


def test_the_staleness_check_runs_on_the_shards(distributed: list[str]) -> None:
    """Before: 'could not run distributed query with FOR UPDATE/SHARE commands', then 'cannot perform a
    lateral outer join when a distributed subquery references complex subqueries, CTEs or local tables'."""
    with db.connect(distributed[0]) as conn:
        with db.transaction(conn):
            for statement in WITHOUT_TRIGGERS:
                db.execute(conn, statement)
            db.execute(
                conn,
                "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
                " interval_minutes) select 'stale' || (g %% 10), 'i' || g, 'bufdir', 60"
                " from generate_series(1, 100) as g",
            )
            # a day without a success, looked at a minute ago
            db.execute(
                conn,
                "insert into syncsched.schedule_state (id, org_id, next_run_at, stale_check_at, derived_at)"
                " select id, org_id, now() + interval '1 hour', now() - interval '1 minute', now() - interval '1 day'"
                " from syncsched.organization_integrations where org_id like 'stale%%'",
            )
        # its limit holds for all the shard groups together, and the rest waits for the next call
        assert db.fetch_value(conn, "select syncsched.check_staleness(now(), 30)") == 30
        assert db.fetch_value(conn, "select syncsched.check_staleness(now())") == 70
        assert (
            db.fetch_value(
                conn,
                "select count(distinct org_id) from syncsched.alerts_open"
                " where kind = 'stale' and org_id like 'stale%%'",
            )
            == 10
        )
        assert db.fetch_value(conn, "select syncsched.check_staleness(now())") == 0, "looked at again next period"


REAP_ROWS = [
    *WITHOUT_TRIGGERS,
    "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)"
    " select 'reap' || (g %% 12), 'i' || g, 'dynamics', 60 from generate_series(1, 60) as g",
    # each one's run, running on a worker that stopped renewing its lease; every other one on its last attempt
    "insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,"
    " trigger, status, attempt, max_attempts, started_at, worker_id, lease_token, lease_expires_at)"
    " select org_id, integration_id, integration_type, now() - interval '10 minutes',"
    " syncsched._period_key(org_id, integration_id, now() - interval '10 minutes'), 'schedule', 'running', 1,"
    " 1 + id %% 2, now() - interval '9 minutes', 'gone', gen_random_uuid(), now() - interval '1 minute'"
    " from syncsched.organization_integrations where org_id like 'reap%%'",
]


def test_the_reaper_takes_back_expired_leases_on_the_shards(distributed: list[str]) -> None:
    """Before: 'could not run distributed query with FOR UPDATE/SHARE commands', then (one by one)
    'non-IMMUTABLE functions are not allowed in CASE or COALESCE statements', 'relation
    "syncsched.run_log_state" does not exist' (on a worker), 'invalid input syntax for type bigint:
    "PGCOPY"' and 'Possibly this is caused by the use of parameters in SQL functions'."""
    with db.connect(distributed[0]) as conn:
        with db.transaction(conn):
            for statement in REAP_ROWS:
                db.execute(conn, statement)
        assert db.fetch_value(conn, "select syncsched.reap_expired_runs()") == 60
        assert db.fetch_all(
            conn,
            "select r.status::text, r.attempt, count(*), count(a.run_id) as lost"
            " from syncsched.sync_run_log as r left join syncsched.sync_run_attempts as a"
            " on (a.run_id, a.scheduled_for, a.org_id) = (r.run_id, r.scheduled_for, r.org_id) and a.outcome = 'lost'"
            " where r.org_id like 'reap%%' group by 1, 2 order by 1",
        ) == [
            {"status": "failed", "attempt": 1, "count": 30, "lost": 30},
            {"status": "pending", "attempt": 1, "count": 30, "lost": 30},
        ]
        assert (
            db.fetch_value(
                conn, "select count(*) from syncsched.alerts_open where kind = 'failing' and org_id like 'reap%%'"
            )
            == 30
        )
        assert db.fetch_value(conn, "select syncsched.reap_expired_runs()") == 0
