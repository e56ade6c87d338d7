-- The schema of migration 0001: tables, columns, constraints, indexes, roles, grants.
begin;
select plan(59);

select has_schema('syncsched');
select tables_are('syncsched', array[
    'settings', 'integration_types', 'organization_integrations', 'schedule_state', 'sync_run_log',
    'sync_run_attempts', 'scheduler_ticks', 'scheduler_alerts', 'alert_kinds', 'endpoint_health', 'dispatch_state',
    'audit_log', 'web_tokens', 'request_ledger', 'run_log_state', 'net_secrets', 'net_requests', 'shard_outbox',
    -- the run log's first partitions (the tick makes the monthly ones)
    'sync_run_log_p_initial', 'sync_run_log_default', 'sync_run_attempts_p_initial', 'sync_run_attempts_default'
]);
select enum_has_labels('syncsched', 'run_status',
    array['pending', 'running', 'completed', 'failed', 'cancelled']);
select enum_has_labels('syncsched', 'misfire_policy', array['run_once', 'catch_up', 'skip']);

-- organization_integrations
select col_is_pk('syncsched', 'organization_integrations', array['org_id', 'integration_id'], 'col_is_pk syncsched, organization_integrations, array[org_id, integration_id]');
select col_is_unique('syncsched', 'organization_integrations', array['id', 'org_id'], 'col_is_unique syncsched, organization_integrations, array[id, org_id]');
select col_is_fk('syncsched', 'organization_integrations', 'integration_type', 'col_is_fk syncsched, organization_integrations, integration_type');
select col_default_is('syncsched', 'organization_integrations', 'timezone', 'UTC', 'col_default_is syncsched, organization_integrations, timezone, UTC');
select col_default_is('syncsched', 'organization_integrations', 'misfire_policy', 'run_once', 'col_default_is syncsched, organization_integrations, misfire_policy, run_once');
select col_type_is('syncsched', 'schedule_state', 'next_run_at', 'timestamp with time zone',
    'next_run_at is a timestamptz');
select hasnt_column('syncsched', 'organization_integrations', 'next_run_at',
    'derived state is not in the configuration table');
select col_is_null('syncsched', 'organization_integrations', 'cron_schedule', 'col_is_null syncsched, organization_integrations, cron_schedule');
select col_is_null('syncsched', 'organization_integrations', 'interval_minutes', 'col_is_null syncsched, organization_integrations, interval_minutes');
select has_check('syncsched', 'organization_integrations', 'has_check syncsched, organization_integrations');
select has_index('syncsched', 'schedule_state', 'schedule_state_next_run_at_idx',
    'next_run_at', 'next_run_at is indexed');
select is(
    (select pg_get_expr(i.indpred, i.indrelid) from pg_index i
     where i.indexrelid = 'syncsched.schedule_state_next_run_at_idx'::regclass),
    '(next_run_at IS NOT NULL)',
    'the next_run_at index is partial: scheduled, enabled rows only (the others have none)');
select throws_ok(
    $$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
      cron_schedule, interval_minutes) values ('o', 'i', 'xledger', '0 2 * * *', 60)$$,
    '22023', null, 'cron and interval at once are refused');

-- sync_run_log
-- org_id in every key of the per-tenant tables: the keys Citus enforces per shard (docs/citus.md)
select col_is_pk('syncsched', 'sync_run_log', array['run_id', 'scheduled_for', 'org_id'], 'col_is_pk syncsched, sync_run_log, array[run_id, scheduled_for, org_id]');
select col_is_unique('syncsched', 'sync_run_log', array['idempotency_key', 'scheduled_for', 'org_id'], 'col_is_unique syncsched, sync_run_log, array[idempotency_key, scheduled_for, org_id]');
select col_is_pk('syncsched', 'sync_run_attempts', array['run_id', 'scheduled_for', 'attempt', 'org_id'], 'col_is_pk syncsched, sync_run_attempts, array[run_id, scheduled_for, attempt, org_id]');
select col_is_pk('syncsched', 'schedule_state', array['id', 'org_id'], 'col_is_pk syncsched, schedule_state, array[id, org_id]');
select col_type_is('syncsched', 'sync_run_log', 'status', 'syncsched.run_status', 'col_type_is syncsched, sync_run_log, status, syncsched.run_status');
select col_default_is('syncsched', 'sync_run_log', 'status', 'pending', 'col_default_is syncsched, sync_run_log, status, pending');
select col_type_is('syncsched', 'sync_run_log', 'lease_token', 'uuid', 'col_type_is syncsched, sync_run_log, lease_token, uuid');
select col_isnt_fk('syncsched', 'sync_run_log', array['org_id', 'integration_id'],
    'a run names its integration without a foreign key (its triggers keep the name true, test_engine_core)');
select has_index('syncsched', 'sync_run_log', 'sync_run_log_pending_org_idx', array['integration_type', 'org_id', 'not_before', 'run_id'], 'the claim index: type, org, not_before, run_id');
select has_index('syncsched', 'sync_run_log', 'sync_run_log_running_idx', 'lease_expires_at', 'has_index syncsched, sync_run_log, sync_run_log_running_idx, lease_expires_at');
select is(
    (select pg_get_expr(i.indpred, i.indrelid) from pg_index i
     where i.indexrelid = 'syncsched.sync_run_log_pending_org_idx'::regclass),
    '(status = ''pending''::syncsched.run_status)', 'the claim index holds pending runs only');
select has_index('syncsched', 'sync_run_log', 'sync_run_log_integration_idx', 'has_index syncsched, sync_run_log, sync_run_log_integration_idx');

-- other tables
select col_is_pk('syncsched', 'scheduler_ticks', 'tick_id', 'col_is_pk syncsched, scheduler_ticks, tick_id');
select has_column('syncsched', 'scheduler_ticks', 'lateness', 'has_column syncsched, scheduler_ticks, lateness');
select col_is_pk('syncsched', 'scheduler_alerts', 'alert_id', 'col_is_pk syncsched, scheduler_alerts, alert_id');
select col_is_pk('syncsched', 'endpoint_health', 'integration_type', 'col_is_pk syncsched, endpoint_health, integration_type');
select col_is_pk('syncsched', 'settings', 'key', 'col_is_pk syncsched, settings, key');

-- seeds and documented defaults
select set_eq('select integration_type from syncsched.integration_types',
    array['xledger', 'dynamics', 'bufdir'], 'the three integration types are seeded');
select set_eq('select integration_type from syncsched.endpoint_health',
    array['xledger', 'dynamics', 'bufdir'], 'each type has a health row');
select is(syncsched.setting('running_skip_window')::interval, interval '30 minutes');
select is(syncsched.setting('drift_alert_threshold')::interval, interval '5 minutes');
select is(syncsched.setting('min_schedule_interval')::interval, interval '5 minutes');
select is(syncsched.setting('lease')::interval, interval '60 seconds');
select is(syncsched.setting('default_max_attempts')::int, 5);
select is(syncsched.setting('retention')::interval, interval '90 days');
select throws_ok($$select syncsched.setting('no_such_key')$$, '22023');

-- every table, view, column, index, constraint and trigger is documented (a partition, its
-- indexes and constraints by those of its table)
select is(
    array(
        select 'table ' || c.relname
        from pg_class as c
        where c.relnamespace = 'syncsched'::regnamespace and c.relkind in ('r', 'p', 'v') and not c.relispartition
            and obj_description(c.oid, 'pg_class') is null
        union all
        select 'column ' || c.relname || '.' || a.attname
        from pg_attribute as a
        join pg_class as c on c.oid = a.attrelid
        where c.relnamespace = 'syncsched'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
            and a.attnum > 0 and not a.attisdropped and col_description(c.oid, a.attnum) is null
        union all
        -- an index behind a constraint is documented by the constraint
        select 'index ' || i.relname
        from pg_index as x
        join pg_class as i on i.oid = x.indexrelid
        where i.relnamespace = 'syncsched'::regnamespace and obj_description(i.oid, 'pg_class') is null
            and not i.relispartition and not exists (select from pg_constraint as k where k.conindid = i.oid)
        union all
        select 'constraint ' || k.conname
        from pg_constraint as k
        join pg_class as c on c.oid = k.conrelid
        where c.relnamespace = 'syncsched'::regnamespace and obj_description(k.oid, 'pg_constraint') is null
            and not c.relispartition
        union all
        select 'trigger ' || t.tgname
        from pg_trigger as t
        join pg_class as c on c.oid = t.tgrelid
        where c.relnamespace = 'syncsched'::regnamespace and not t.tgisinternal
            and obj_description(t.oid, 'pg_trigger') is null
        order by 1
    ),
    '{}'::text[], 'every table, view, column, index, constraint and trigger has a COMMENT');

-- roles and grants
select has_role('syncsched_owner');
select has_role('syncsched_admin');
select has_role('syncsched_worker');
select has_role('syncsched_reader');
select is((select rolcanlogin from pg_roles where rolname = 'syncsched_owner'), false,
    'the owner role cannot log in');
select schema_privs_are('syncsched', 'public', array[]::text[], 'PUBLIC has nothing on the schema');
select schema_privs_are('syncsched', 'syncsched_worker', array['USAGE'], 'schema_privs_are syncsched, syncsched_worker, array[USAGE]');
select schema_privs_are('syncsched', 'syncsched_reader', array['USAGE'], 'schema_privs_are syncsched, syncsched_reader, array[USAGE]');
select table_privs_are('syncsched', 'sync_run_log', 'syncsched_worker', array[]::text[],
    'the worker cannot touch the run log directly');
select table_privs_are('syncsched', 'organization_integrations', 'syncsched_worker', array[]::text[], 'table_privs_are syncsched, organization_integrations, syncsched_worker, array[]::text[]');
select table_privs_are('syncsched', 'settings', 'syncsched_worker', array[]::text[], 'table_privs_are syncsched, settings, syncsched_worker, array[]::text[]');
select table_privs_are('syncsched', 'sync_run_log', 'public', array[]::text[], 'table_privs_are syncsched, sync_run_log, public, array[]::text[]');
select table_privs_are('syncsched', 'organization_integrations', 'syncsched_admin',
    array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'the admin configures integrations');
select table_privs_are('syncsched', 'sync_run_log', 'syncsched_admin', array['SELECT'], 'table_privs_are syncsched, sync_run_log, syncsched_admin, array[SELECT]');
select is(
    (select count(*)::int from pg_class c
     where c.relnamespace = 'syncsched'::regnamespace and c.relkind = 'r'
       and (has_table_privilege('syncsched_worker', c.oid, 'INSERT')
            or has_table_privilege('syncsched_worker', c.oid, 'UPDATE')
            or has_table_privilege('syncsched_worker', c.oid, 'DELETE')
            or has_table_privilege('syncsched_worker', c.oid, 'SELECT'))),
    0, 'the worker role has no privilege on any table');

select * from finish();
rollback;

