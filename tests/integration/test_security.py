"""Least privilege, search_path attacks and tenant isolation, against a real PostgreSQL as real roles."""

from __future__ import annotations

import psycopg
import pytest

from harness import a_minute_ago, connect_as, login_role, set_next_run
from syncsched import db
from syncsched.testing import TestServer


def test_no_role_of_ours_can_schedule_pg_cron_jobs(syncsched_server: TestServer) -> None:
    if syncsched_server.cluster is None:
        pytest.skip("needs the local cluster, whose pg_cron lives in its 'syncsched' database")
    syncsched_server.migrated_template()  # the roles are cluster-wide: created by the first migration
    dsn = syncsched_server.cluster.dsn()
    with db.connect(dsn) as conn:
        for role in ("syncsched_worker", "syncsched_reader", "syncsched_tenant", "syncsched_admin"):
            with (
                login_role(conn, role) as login,
                connect_as(dsn, login) as as_role,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                db.execute(as_role, "select cron.schedule('x', '* * * * *', 'select 1')")
        assert db.fetch_value(conn, "select count(*) from cron.job where jobname = 'x'") == 0


LOOKALIKES = """
create schema {schema} authorization {role};
create table {schema}.calls (what text);
grant insert on {schema}.calls to public;
create function {schema}.spy(p_what text) returns void language sql as
    $$ insert into {schema}.calls values (p_what) $$;
create function {schema}.now() returns timestamptz language plpgsql as
    $$ begin perform {schema}.spy('now'); return pg_catalog.now(); end $$;
create function {schema}.left(text, integer) returns text language plpgsql as
    $$ begin perform {schema}.spy('left'); return pg_catalog.left($1, $2); end $$;
create function {schema}.length(text) returns integer language plpgsql as
    $$ begin perform {schema}.spy('length'); return pg_catalog.length($1); end $$;
create function {schema}.format(text, variadic text[]) returns text language plpgsql as
    $$ begin perform {schema}.spy('format'); return pg_catalog.format($1, variadic $2); end $$;
create function {schema}.gen_random_uuid() returns uuid language plpgsql as
    $$ begin perform {schema}.spy('gen_random_uuid'); return pg_catalog.gen_random_uuid(); end $$;
create function {schema}.pg_notify(text, text) returns void language plpgsql as
    $$ begin perform {schema}.spy('pg_notify'); perform pg_catalog.pg_notify($1, $2); end $$;
create function {schema}.jsonb_build_object(text, text) returns jsonb language plpgsql as
    $$ begin perform {schema}.spy('jsonb_build_object'); return pg_catalog.jsonb_build_object($1, $2); end $$;
create function {schema}.text_eq(text, text) returns boolean language plpgsql as
    $$ begin perform {schema}.spy('= text'); return $1 operator(pg_catalog.=) $2; end $$;
create operator {schema}.= (leftarg = text, rightarg = text, function = {schema}.text_eq);
create function {schema}.jsonb_get(jsonb, text) returns text language plpgsql as
    $$ begin perform {schema}.spy('->>'); return $1 operator(pg_catalog.->>) $2; end $$;
create operator {schema}.->> (leftarg = jsonb, rightarg = text, function = {schema}.jsonb_get);
create function {schema}.ts_plus(timestamptz, interval) returns timestamptz language plpgsql as
    $$ begin perform {schema}.spy('+ interval'); return $1 operator(pg_catalog.+) $2; end $$;
create operator {schema}.+ (leftarg = timestamptz, rightarg = interval, function = {schema}.ts_plus);
"""


def test_look_alike_functions_and_operators_early_on_the_search_path_are_never_called(
    syncsched_dsn: str, conn: db.Connection
) -> None:
    with login_role(conn, "syncsched_admin", "syncsched_worker") as mallory:
        schema = f"{mallory}_s"
        db.execute(conn, f"grant create on database {db.parse_dsn(syncsched_dsn)['dbname']} to {mallory}")
        with connect_as(syncsched_dsn, mallory) as evil:
            db.execute_script(evil, LOOKALIKES.format(schema=schema, role=mallory))
            # the spies work: called through the search_path, they record
            db.execute(evil, f"set search_path = {schema}, pg_catalog, syncsched")
            db.fetch_value(evil, "select now()")
            assert db.fetch_value(evil, f"select count(*) from {schema}.calls") == 1
            db.execute(evil, f"truncate {schema}.calls")
            # the whole API, as the attacker with the look-alikes first on its search_path
            for statement in (
                "select syncsched.upsert_integration('acme', 'ledger', 'xledger', '*/5 * * * *', null, 'Europe/Oslo')",
                "select syncsched.set_schedule('acme', 'ledger', '0 2 * * *', 'Europe/Oslo')",
                "select syncsched.set_interval('acme', 'ledger', 15)",
                "select syncsched.cron_validate('0 2 * * FUN')",
                "select syncsched.timezone_validate('Mars/Olympus')",
                "select * from syncsched.next_runs('0 2 * * *', 'Europe/Oslo', 3)",
                "select syncsched.cron_next('0 2 * * *', now(), 'Europe/Oslo')",
                "select syncsched.run_now('acme', 'ledger')",
                "select syncsched.complete_run(run_id, lease_token, 200, 'ok') from syncsched.claim_runs('mallory', 5)",
                None,  # a superuser makes the integration due: the tick then has work
                "select syncsched.run_scheduled_jobs(now())",
                "call syncsched.tick()",
                "select * from syncsched.claim_runs('mallory', 5)",
                "select syncsched.fail_run(run_id, lease_token, 'HTTP 500', 500, true)"
                " from syncsched.claim_runs('mallory', 5)",
                "select syncsched.check_scheduler()",
                "select syncsched.check_staleness('2100-01-01')",
                "select * from syncsched.schedule_overview",
                "select syncsched.disable_integration('acme', 'ledger')",
            ):
                if statement is None:
                    set_next_run(conn, a_minute_ago())
                    continue
                db.execute(evil, f"set search_path = {schema}, pg_catalog, syncsched")
                db.fetch_all(evil, statement.replace("now()", "pg_catalog.now()"))
            db.execute(evil, "reset search_path")
            assert db.fetch_all(evil, f"select what from {schema}.calls") == [], "a look-alike was called"
            assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log") >= 2, "the API did not run"


def test_a_tenant_sees_changes_and_deletes_none_of_another_organizations_rows(
    syncsched_dsn: str, conn: db.Connection
) -> None:
    for org in ("org-a", "org-b"):
        db.execute(conn, "select syncsched.upsert_integration(%s, 'ledger', 'xledger', '0 2 * * *')", (org,))
        db.execute(conn, "select syncsched.run_now(%s, 'ledger')", (org,))
        db.execute(conn, "select syncsched._alert('failing', %s, 'ledger', 'xledger', '{}')", (org,))
    with login_role(conn, "syncsched_tenant") as app, connect_as(syncsched_dsn, app) as tenant:
        db.execute(tenant, "select set_config('syncsched.org_id', 'org-a', false)")
        for table in ("organization_integrations", "sync_run_log", "scheduler_alerts"):
            orgs = db.fetch_all(tenant, f"select distinct org_id from syncsched.{table}")
            assert orgs == [{"org_id": "org-a"}], table
        # changes and deletes reach its own rows only
        assert db.execute(tenant, "update syncsched.organization_integrations set payload = '{\"x\": 1}'") == 1
        assert db.execute(tenant, "delete from syncsched.organization_integrations where org_id = 'org-b'") == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # row-level security: not its organization
            db.execute(
                tenant,
                "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
                " cron_schedule) values ('org-b', 'sneaky', 'xledger', '0 3 * * *')",
            )
        with pytest.raises(psycopg.errors.NoDataFound):  # not even a hint that it exists
            db.execute(tenant, "select syncsched.set_schedule('org-b', 'ledger', '*/5 * * * *')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the run functions see past RLS: not granted
            db.execute(tenant, "select syncsched.run_now('org-b', 'ledger')")
        assert db.fetch_value(tenant, "select syncsched.set_interval('org-a', 'ledger', 30)") is not None
        with pytest.raises(psycopg.errors.ObjectInUse):  # its own, but with runs: their history stays
            db.execute(tenant, "delete from syncsched.organization_integrations")
        db.execute(
            tenant,
            "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
            " cron_schedule) values ('org-a', 'spare', 'xledger', '0 3 * * *')",
        )
        assert db.execute(tenant, "delete from syncsched.organization_integrations where integration_id = 'spare'") == 1
        # without an organization, nothing at all
        db.execute(tenant, "select set_config('syncsched.org_id', '', false)")
        assert db.fetch_value(tenant, "select count(*) from syncsched.sync_run_log") == 0
    b = db.fetch_one(
        conn, "select cron_schedule, payload from syncsched.organization_integrations where org_id = 'org-b'"
    )
    assert b == {"cron_schedule": "0 2 * * *", "payload": {}}, "org-b's row was changed"
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where org_id = 'org-b'") == 1
    org_a = "select integration_id from syncsched.organization_integrations where org_id = 'org-a'"
    assert db.fetch_all(conn, org_a) == [{"integration_id": "ledger"}]
