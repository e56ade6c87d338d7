"""syncsched on a Citus coordinator (coordinator mode, docs/citus.md): a coordinator and two workers
on loopback, Citus and pg_cron preloaded, syncsched's tables local to the coordinator.

Skipped, with the reason, where Citus is not installed (it is not in Debian's packages)."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import run_syncsched
from endpoint import Endpoint, Reply, Request
from harness import (
    CITUS_SETTINGS,
    WorkerProcess,
    citus_database,
    claim_concurrently,
    most_at_once,
    point_types_at,
    set_next_run,
    statuses,
    wait_for,
)
from syncsched import db, localpg
from syncsched.migrate import migrate
from syncsched.resources import plpgsql_files
from syncsched.testing import TestServer
from web_console import console_login, start_console, token


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


# Distributed mode (#17): `syncsched migrate --citus-distribute` installs syncsched with Citus' DDL
# propagation (every object on every node), lets its roles log in on the workers (Citus connects as
# the statement's role) and distributes the per-tenant tables by org_id, colocated, the shared ones
# as reference tables. These tests hold the schema to it (org_id in every key, tenant policies
# without subqueries, foreign keys Citus accepts) and the engine to one shard per locking statement.
DISTRIBUTED = {"organization_integrations", "schedule_state", "sync_run_log", "sync_run_attempts", "shard_outbox"}


@pytest.fixture(scope="module")
def distributed(syncsched_server: TestServer) -> Iterator[list[str]]:
    """syncsched in distributed mode on a cluster of its own: the DSNs of the coordinator and the workers."""
    with citus_nodes(syncsched_server) as cluster:
        migrate(citus_database(cluster), citus_distribute=True)
        yield [node.dsn() for node in cluster]


def test_migrate_again_keeps_distributed_mode_and_its_code_on_every_node(distributed: list[str]) -> None:
    """Before: 'cannot insert multiple commands into a prepared statement' (a trigger of a distributed
    table among the statements of a file), 'triggers are not supported on reference tables'."""
    again = migrate(distributed[0])
    assert again.applied == [] and len(again.code_files) == len(plpgsql_files())
    code = (
        "select count(*) || ' owned by ' || string_agg(distinct pg_get_userbyid(p.proowner), ', ')"
        " from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace where n.nspname = 'syncsched'"
    )
    with db.connect(distributed[0]) as conn:
        on_coordinator = db.fetch_value(conn, code)
        assert on_coordinator.endswith(" owned by syncsched_owner")
        assert on_workers(conn, code) == [on_coordinator] * 2
        # the integrations' foreign key, dropped and added again around the distribution, kept its comment
        assert db.fetch_value(
            conn,
            "select obj_description(oid, 'pg_constraint') from pg_constraint"
            " where conname = 'organization_integrations_type_fkey'",
        ) == ("The type must exist; renaming a type renames it here.")


def refused(dsn: str) -> str:
    """`migrate --citus-distribute`'s one line on stderr, having exited with 2."""
    proc = run_syncsched("migrate", "--citus-distribute", "--dsn", dsn, env={"SYNCSCHED_DSN": ""})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


def test_distributed_mode_is_refused_in_one_line_without_citus(empty_dsn: str) -> None:
    assert refused(empty_dsn).startswith("syncsched: error: --citus-distribute needs the citus extension")


def test_distributed_mode_is_refused_in_one_line_over_coordinator_mode(coordinator: localpg.LocalCluster) -> None:
    migrate(coordinator.dsn())
    assert refused(coordinator.dsn()).startswith("syncsched: error: syncsched is installed here in coordinator mode")


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


# (many rows at once, as the triggers would write them, which they bypass: faster than the API's one by one)
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


def audit_actions(conn: db.Connection, org: str) -> list[str]:
    return [
        r["action"]
        for r in db.fetch_all(
            conn, "select action from syncsched.audit_log where org_id = %s order by audit_id", (org,)
        )
    ]


def test_the_api_and_plain_sql_configure_integrations_on_the_shards_and_each_change_is_audited(
    distributed: list[str],
) -> None:
    """Before: 'function syncsched._config_problem(organization_integrations_102036) does not exist' (the
    schedule trigger on a shard), and deleting runs failed there ('unrecognized RTE kind: 7')."""
    org = "cfg-a"
    with db.connect(distributed[0]) as conn:
        db.execute(
            conn,
            "select syncsched.create_integration(%s, 'i1', 'xledger', '0 2 * * *', p_timezone => 'europe/oslo')",
            (org,),
        )
        created = db.fetch_one(
            conn,
            "select o.timezone, s.next_run_at from syncsched.organization_integrations as o"
            " join syncsched.schedule_state as s on s.org_id = o.org_id and s.id = o.id where o.org_id = %s",
            (org,),
        )
        assert created is not None and created["timezone"] == "Europe/Oslo" and created["next_run_at"] is not None
        with pytest.raises(psycopg.errors.InvalidParameterValue) as bad:
            db.execute(conn, "select syncsched.set_schedule(%s, 'i1', '61 * * * *')", (org,))
        assert (
            str(bad.value).splitlines()[0].startswith(f"syncsched: integration {org}/i1 has an invalid cron schedule")
        )
        db.execute(conn, "select syncsched._alert('invalid_schedule', %s, 'i1', null, '{}')", (org,))
        db.execute(conn, "select syncsched.set_schedule(%s, 'i1', '*/15 * * * *')", (org,))
        db.execute(conn, "select syncsched.alter_integration(%s, 'i1', p_payload => '{\"company\": 7}')", (org,))
        db.execute(conn, "select syncsched.run_now(%s, 'i1')", (org,))
        assert db.fetch_value(conn, "select syncsched.disable_integration(%s, 'i1')", (org,)) == 1
        assert db.fetch_value(conn, "select syncsched.enable_integration(%s, 'i1')", (org,)) is not None
        db.execute(conn, "select syncsched.upsert_integration(%s, 'i1', 'xledger', p_interval_minutes => 30)", (org,))
        # plain SQL too: checked and derived on the shard
        db.execute(
            conn, "update syncsched.organization_integrations set interval_minutes = 20 where org_id = %s", (org,)
        )
        state = db.fetch_one(
            conn,
            "select o.payload, o.is_enabled, s.next_run_at from syncsched.organization_integrations as o"
            " join syncsched.schedule_state as s on s.org_id = o.org_id and s.id = o.id where o.org_id = %s",
            (org,),
        )
        assert state is not None and state["payload"] == {} and state["is_enabled"]
        assert state["next_run_at"].timestamp() % 1200 == 0
        assert (
            db.fetch_value(conn, "select status::text from syncsched.sync_run_log where org_id = %s", (org,))
            == "cancelled"
        )
        # the history deleted with its attempts (their statement trigger, on the shards)
        run = db.fetch_one(conn, "select run_id, scheduled_for from syncsched.sync_run_log where org_id = %s", (org,))
        assert run is not None
        db.execute(
            conn,
            "insert into syncsched.sync_run_attempts (run_id, scheduled_for, org_id, attempt, outcome, started_at,"
            " finished_at) values (%s, %s, %s, 1, 'failed', now(), now())",
            (run["run_id"], run["scheduled_for"], org),
        )
        deleted = db.fetch_value(
            conn, "select syncsched.delete_integration(%s, 'i1', p_delete_history => true)", (org,)
        )
        assert deleted == {"deleted": True, "runs_deleted": 1, "cancelled": 0}
        left = db.fetch_value(
            conn,
            "select (select count(*) from syncsched.sync_run_attempts where org_id = %(o)s)"
            " + (select count(*) from syncsched.schedule_state where org_id = %(o)s)",
            {"o": org},
        )
        assert left == 0
        # the shards' entries reach the coordinator on its tick: every change recorded, the alert over
        assert audit_actions(conn, org) == ["run_now", "delete_integration"]
        db.execute(conn, "call syncsched.tick()")
        assert Counter(audit_actions(conn, org)) == {
            "integration_created": 1,
            "integration_changed": 6,
            "run_now": 1,
            "integration_deleted": 1,
            "delete_integration": 1,
        }
        # each entry as the coordinator's triggers write it (only the fields that changed)
        assert (
            db.fetch_value(
                conn,
                "select count(*) from syncsched.audit_log where org_id = %s and action = 'integration_changed'"
                " and detail = %s",
                (org, Jsonb({"payload": [{}, {"company": 7}]})),
            )
            == 1
        )
        assert (
            db.fetch_value(
                conn, "select count(*) from syncsched.scheduler_alerts where org_id = %s and is_open", (org,)
            )
            == 0
        )
        assert db.fetch_value(conn, "select count(*) from syncsched.shard_outbox") == 0


def test_types_and_settings_change_every_copy_and_are_audited_once(distributed: list[str]) -> None:
    """The triggers of the reference tables fire on each node's copy. Before: a new type deadlocked
    (its health row written to every node from each copy), 'relation "syncsched.audit_log" does not
    exist' (set_setting: the audit trigger on a worker's copy)."""
    with db.connect(distributed[0]) as conn:
        db.execute(
            conn,
            "insert into syncsched.integration_types (integration_type, endpoint_url) values ('cfgtype', 'http://127.0.0.1:9/a')",
        )
        db.execute(
            conn,
            "update syncsched.endpoint_health set status = 'unhealthy', next_check_at = 'infinity'"
            " where integration_type = 'cfgtype'",
        )
        db.execute(
            conn,
            "update syncsched.integration_types set endpoint_url = 'http://127.0.0.1:9/b'"
            " where integration_type = 'cfgtype'",
        )
        db.execute(conn, "select syncsched.set_setting('default_max_attempts', '4')")
        copies = db.fetch_all(
            conn,
            "select result from run_command_on_all_nodes($$select (select status || ' ' || (next_check_at <= now())"
            " from syncsched.endpoint_health where integration_type = 'cfgtype') || ' '"
            " || (select count(*) from syncsched.dispatch_state where integration_type = 'cfgtype') || ' '"
            " || (select value from syncsched.settings where key = 'default_max_attempts')$$)",
        )
        assert [c["result"] for c in copies] == ["unknown true 1 4"] * 3
        audited = db.fetch_all(
            conn,
            "select action from syncsched.audit_log where integration_type = 'cfgtype'"
            " or detail ->> 'key' = 'default_max_attempts' order by audit_id",
        )
        assert [a["action"] for a in audited] == ["endpoint_changed", "setting_changed"]
        db.execute(conn, "select syncsched.set_endpoint_mode('cfgtype', 'passive')")
        with pytest.raises(psycopg.errors.InvalidParameterValue) as pg_net:
            db.execute(
                conn, "update syncsched.integration_types set transport = 'pg_net' where integration_type = 'cfgtype'"
            )
        assert str(pg_net.value).splitlines()[0] == (
            "syncsched: integration type cfgtype: transport pg_net: not supported in distributed mode (Citus):"
            " use the worker transport (docs/citus.md)"
        )
        db.execute(conn, "select syncsched.reset_setting('default_max_attempts')")
        db.execute(conn, "delete from syncsched.integration_types where integration_type = 'cfgtype'")


def test_the_operators_views_and_retention_work_on_the_shards(distributed: list[str]) -> None:
    """Before: 'complex joins are only supported when all distributed tables are co-located and joined on
    their distribution columns' (schedule_overview, queue_depth, so `syncsched status` and `integrations
    show`), 'could not create distributed plan' (prune_run_log)."""
    with db.connect(distributed[0]) as conn:
        for org in ("ops-a", "ops-b", "ops-c"):
            db.execute(conn, "select syncsched.create_integration(%s, 'i1', 'dynamics', '0 2 * * *')", (org,))
            db.execute(conn, "select syncsched.run_now(%s, 'i1')", (org,))
        db.execute(conn, "select syncsched.pause_dispatch('dynamics')")
        overview = db.fetch_all(
            conn,
            "select org_id, last_status::text, held_reason, next_run_at is not null as scheduled"
            " from syncsched.schedule_overview where org_id like 'ops-%%' order by org_id",
        )
        assert overview == [
            {"org_id": org, "last_status": "pending", "held_reason": "dispatch paused", "scheduled": True}
            for org in ("ops-a", "ops-b", "ops-c")
        ]
        depth = db.fetch_one(conn, "select * from syncsched.queue_depth() where integration_type = 'dynamics'")
        assert depth is not None and (depth["pending"], depth["running"], depth["held"]) == (3, 0, 3)
        env = {"SYNCSCHED_DSN": distributed[0]}
        for command in (["status"], ["integrations", "show", "ops-a/i1"], ["integrations", "history", "ops-b/i1"]):
            proc = run_syncsched(*command, env=env)
            assert proc.returncode == 0, (command, proc.stderr)
        db.execute(conn, "select syncsched.resume_dispatch('dynamics')")
        # retention: each integration's last run kept, the others deleted with their attempts
        for org in ("ops-a", "ops-b", "ops-c"):
            db.execute(conn, "select syncsched.run_now(%s, 'i1', p_force => true)", (org,))
        db.execute(
            conn,
            "update syncsched.sync_run_log set status = 'completed', finished_at = now() - interval '400 days'"
            " where org_id like 'ops-%%'",
        )
        db.execute(
            conn,
            "insert into syncsched.sync_run_attempts (run_id, scheduled_for, org_id, attempt, outcome, started_at,"
            " finished_at) select run_id, scheduled_for, org_id, 1, 'completed', now(), now()"
            " from syncsched.sync_run_log where org_id like 'ops-%%'",
        )
        pruned = db.fetch_value(
            conn, "select syncsched.prune_run_log(interval '1 day', p_keep_per_integration => 1, p_batch_size => 2)"
        )
        assert pruned["runs"] == 3
        left = db.fetch_one(
            conn,
            "select (select count(*) from syncsched.sync_run_log where org_id like 'ops-%%') as runs,"
            " (select count(*) from syncsched.sync_run_attempts where org_id like 'ops-%%') as attempts",
        )
        assert left == {"runs": 3, "attempts": 3}


def test_the_console_answers_every_page_of_its_api_from_the_shards(distributed: list[str], tmp_path: Path) -> None:
    """`syncsched web` on a distributed install: every GET of its API answers 200 to an admin. Before:
    500s from 'complex joins are only supported when all distributed tables are co-located ...' (an
    integration joined to its state by id alone, an overview counting running runs per row), 'direct
    joins between distributed and local tables are not supported' (sorted by outcome), and a 403,
    'permission denied to set role "syncsched_admin"' (the endpoints page: Citus sent the console's
    role to the connections it opened as the owner of queue_depth)."""
    with db.connect(distributed[0]) as conn, console_login(conn, distributed[0]) as login:
        db.execute(conn, "select syncsched.create_integration('web-a', 'i1', 'xledger', '*/15 * * * *')")
        run_id = db.fetch_value(conn, "select syncsched.run_now('web-a', 'i1')")
        admin = token(conn, "admin")
        console = start_console(login, tmp_path / "web.log")
        try:
            document = console.call("GET", "api/v1/openapi.json").body
            examples = {"{org}": "web-a", "{integration}": "i1", "{run_id}": str(run_id)}
            answers = {}
            for path, operations in document["paths"].items():
                if "get" not in operations:
                    continue
                for name, value in examples.items():
                    path = path.replace(name, value)
                query = "?cron=0+2+*+*+*&timezone=Europe/Oslo" if path.endswith("/preview") else ""
                answers[path] = console.call("GET", path.removeprefix("/") + query, admin).status
            for sort in ("next_run", "outcome"):
                answers[f"sorted by {sort}"] = console.call("GET", f"api/v1/integrations?sort={sort}", admin).status
        finally:
            console.stop()
    assert len(answers) >= 14 and {p: s for p, s in answers.items() if s != 200} == {}


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


def runs_of(orgs: str, count: int) -> str:
    """A statement that adds `count` ready runs of 'orgs%%' (bypassing triggers: WITHOUT_TRIGGERS first), their
    organizations' integrations with them; each organization's runs of the three types."""
    return (
        "with runs as (select 'org-' || %(tag)s || (g %% " + orgs + ") as org_id, 'i' || g as integration_id,"
        " (array['xledger', 'dynamics', 'bufdir'])[1 + g %% 3] as integration_type from generate_series(1, "
        + str(count)
        + ") as g), integrations as (insert into syncsched.organization_integrations (org_id, integration_id,"
        " integration_type, interval_minutes) select org_id, integration_id, integration_type, 60 from runs)"
        " insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for,"
        " idempotency_key, trigger, max_attempts) select org_id, integration_id, integration_type,"
        " now() - interval '1 minute', syncsched._period_key(org_id, integration_id, now() - interval '1 minute'),"
        " 'manual', 3 from runs"
    )


def statuses_of(conn: db.Connection, orgs: str) -> list[str]:
    return [
        r["status"]
        for r in db.fetch_all(
            conn, "select status::text from syncsched.sync_run_log where org_id like %s order by 1", (orgs,)
        )
    ]


def without_other_runs(conn: db.Connection, *settings: str) -> None:
    """The runs of the tests before gone (they share the database), type settings as given."""
    with db.transaction(conn):
        for statement in WITHOUT_TRIGGERS:
            db.execute(conn, statement)
        for setting in settings:  # (first: Citus writes no reference table after a statement over shards)
            db.execute(conn, setting)
        db.execute(conn, "delete from syncsched.sync_run_attempts")
        db.execute(conn, "delete from syncsched.sync_run_log")


def test_claims_on_the_shards_hold_max_concurrency_across_the_cluster(distributed: list[str]) -> None:
    """Six sessions claim at once, their runs on shards of both workers. Before: 'could not create
    distributed plan' (claim_runs), then 'could not run distributed query with FOR UPDATE/SHARE
    commands'. The type's claims take turns on its dispatch_state row, locked by a write: a row lock
    of a reference table is taken on the coordinator's copy alone and let go before the workers
    commit, and the next claim would count running runs that are not committed there yet."""
    with db.connect(distributed[0]) as conn:
        without_other_runs(
            conn,
            "update syncsched.integration_types set max_concurrency = case integration_type when 'xledger' then 37"
            " else 5 end",
        )
        with db.transaction(conn):
            for statement in WITHOUT_TRIGGERS:
                db.execute(conn, statement)
            db.execute(conn, runs_of("20", 1500), {"tag": "cap"})
        got = claim_concurrently(distributed[0], sessions=6, per_claim=10, rounds=8)
        claimed = [run_id for ids in got for run_id in ids]
        assert len(claimed) == len(set(claimed)), "a run was handed to two claims"
        running = db.fetch_all(
            conn,
            "select integration_type, count(*) from syncsched.sync_run_log where status = 'running'"
            " group by 1 order by 1",
        )
        assert running == [
            {"integration_type": "bufdir", "count": 5},
            {"integration_type": "dynamics", "count": 5},
            {"integration_type": "xledger", "count": 37},
        ]
        assert len(claimed) == 47


@pytest.mark.slow
def test_three_workers_complete_every_run_on_the_shards_and_a_killed_ones_run_within_a_lease(
    distributed: list[str], tmp_path: Path
) -> None:
    """A worker is killed during its call; three others complete every run, one call per run (the
    killed one's twice), within each type's max_concurrency across all of them."""

    def behaviour(_request: Request, n: int) -> Reply:
        return Reply(delay=60.0 if n == 0 else 0.2)  # the first call: the doomed worker's

    dsn = distributed[0]
    with db.connect(dsn) as conn, Endpoint(behaviour) as endpoint:
        without_other_runs(conn, "update syncsched.integration_types set max_concurrency = 4")
        with db.transaction(conn):
            for statement in WITHOUT_TRIGGERS:
                db.execute(conn, statement)
            point_types_at(conn, endpoint)
            db.execute(conn, runs_of("1", 1), {"tag": "doomed"})
        doomed = WorkerProcess(dsn, tmp_path / "doomed.log", "--worker-id", "doomed", "--lease", "5s")
        try:
            wait_for(lambda: endpoint.requests, 30, "the doomed worker's call")
            doomed.signal(signal.SIGKILL)
            doomed.wait(timeout=10)
        finally:
            doomed.stop()
        # (its last heartbeat's lease: nobody renews it now)
        expires = db.fetch_value(
            conn, "select lease_expires_at from syncsched.sync_run_log where org_id = 'org-doomed0'"
        )
        with db.transaction(conn):
            for statement in WITHOUT_TRIGGERS:
                db.execute(conn, statement)
            db.execute(conn, runs_of("20", 60), {"tag": "many"})
        workers = [
            WorkerProcess(dsn, tmp_path / f"w{n}.log", "--worker-id", f"w{n}", "--lease", "5s", "--concurrency", "8")
            for n in range(3)
        ]
        try:
            wait_for(lambda: statuses_of(conn, "org-doomed0") == ["completed"], 180, "the killed worker's run")
            # taken back by the workers' reaper (each poll, 1 s) once its lease expired: within a lease
            reaped_after = db.fetch_value(
                conn,
                "select extract(epoch from finished_at - %s) from syncsched.sync_run_attempts"
                " where org_id = 'org-doomed0' and outcome = 'lost'",
                (expires,),
            )
            wait_for(lambda: statuses_of(conn, "org-many%") == ["completed"] * 60, 90, "every run to complete")
            taken_over = db.fetch_one(
                conn,
                "select r.attempt, array_agg(a.outcome::text order by a.attempt) as outcomes"
                " from syncsched.sync_run_log as r join syncsched.sync_run_attempts as a"
                " on (a.run_id, a.org_id) = (r.run_id, r.org_id) where r.org_id = 'org-doomed0' group by r.attempt",
            )
        finally:
            for worker in workers:
                worker.stop()
        requests = list(endpoint.requests)
    assert taken_over["attempt"] == 2 and taken_over["outcomes"] == ["lost", "completed"], taken_over
    keys = [r.headers["Idempotency-Key"] for r in requests]
    assert len(keys) == 62 and len(set(keys)) == 61, "one call per run, the killed worker's run twice"
    by_worker = {n: sum(1 for r in requests if f"(w{n})" in r.headers["User-Agent"]) for n in range(3)}
    assert sum(by_worker.values()) == 61, by_worker  # every call but the killed one's first
    for path in ("/xledger", "/dynamics", "/bufdir"):
        assert most_at_once(r for r in requests if r.path == path and r.body["org_id"] != "org-doomed0") <= 4, path
    assert 0 <= reaped_after < 5, reaped_after
