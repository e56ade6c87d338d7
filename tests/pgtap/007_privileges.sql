-- The privilege matrix: every role against every table (select, insert, update, delete), view and
-- function, each compared as a whole so that a grant too many or too few fails.
-- (cron.schedule and LISTEN need the pg_cron database: tests/integration/test_security.py.)
begin;
select plan(25);

create function pg_temp.table_privileges(p_role text) returns text[]
language sql as $$
    select coalesce(array_agg(c.relname || ':' || lower(v.privilege) order by c.relname, v.privilege), '{}')
    from pg_class as c
    cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) as v (privilege)
    where c.relnamespace = 'syncsched'::regnamespace and c.relkind in ('r', 'p', 'v') and not c.relispartition
        and has_table_privilege(p_role, c.oid, v.privilege)
$$;
create function pg_temp.executable(p_role text, p_definer_only boolean default false) returns text[]
language sql as $$
    select coalesce(array_agg(distinct p.proname::text order by p.proname::text), '{}')
    from pg_proc as p
    where p.pronamespace = 'syncsched'::regnamespace and has_function_privilege(p_role, p.oid, 'EXECUTE')
        and (p.prosecdef or not p_definer_only)
$$;
create function pg_temp.not_executable(p_role text) returns text[]
language sql as $$
    select coalesce(array_agg(distinct p.proname::text order by p.proname::text), '{}')
    from pg_proc as p
    where p.pronamespace = 'syncsched'::regnamespace and not has_function_privilege(p_role, p.oid, 'EXECUTE')
$$;

-- PUBLIC
select ok(not has_schema_privilege('public', 'syncsched', 'USAGE'), 'PUBLIC: no usage on the schema');
select is(pg_temp.table_privileges('public'), '{}', 'PUBLIC: no table or view');
select is(pg_temp.executable('public'), '{}', 'PUBLIC: no function');

-- syncsched_admin: configures (three tables), reads everything, runs the tick; not the worker's functions
select is(pg_temp.table_privileges('syncsched_admin'), array[
    'alert_kinds:select', 'alerts_open:select', 'audit_log:select', 'dispatch_state:select', 'endpoint_health:select',
    'endpoint_overview:select', 'integration_types:delete', 'integration_types:insert', 'integration_types:select', 'integration_types:update',
    'organization_integrations:delete', 'organization_integrations:insert', 'organization_integrations:select',
    'organization_integrations:update', 'recent_runs:select', 'request_ledger:select', 'run_attempts:select', 'run_log_state:select',
    'schedule_overview:select', 'schedule_state:select', 'scheduler_alerts:select', 'scheduler_ticks:select', 'setting_values:select',
    'settings:select',
    'sync_run_attempts:select', 'sync_run_log:select'
], 'admin: writes integrations and types; reads every table and view; writes state, runs and settings only through functions');
select ok(has_column_privilege('syncsched_admin', 'syncsched.settings', 'value', 'UPDATE')
    and not has_column_privilege('syncsched_admin', 'syncsched.settings', 'type', 'UPDATE')
    and not has_column_privilege('syncsched_admin', 'syncsched.settings', 'default_value', 'UPDATE'),
    'admin: a setting''s value may be updated (the settings trigger checks it), its type, default and range not');
select is(pg_temp.not_executable('syncsched_admin'), array[
    '_add_run_log_partition', '_alert', '_alert_open', '_audit', '_audit_integrations_changed',
    '_audit_integrations_created', '_audit_integrations_deleted', '_audit_setting_writes', '_claim_health_checks',
    '_claim_runs', '_claim_type', '_derive_schedule_state', '_drop_run_log_partition', '_end_attempts', '_endpoints',
    '_health_changed', '_health_from_runs', '_integration_after_disable', '_integration_before_delete',
    '_integration_before_write', '_integration_type_after_endpoint_change', '_integration_type_after_insert',
    '_integration_type_transport_check', '_net_collect', '_net_dispatch', '_net_health_answers', '_net_health_checks',
    '_net_outcome', '_net_responses', '_net_secret', '_net_send', '_net_sent', '_net_stalled', '_net_unsent',
    '_net_warmup_answers', '_net_warmups', '_possible_duplicates', '_prune_batch', '_raise_alerts',
    '_raise_live_from', '_rate_limited', '_reset_endpoint_health', '_resolve_alerts', '_run_log_after_delete',
    '_runs_failed', '_runs_live_from', '_schedule_batch', '_set_pause', '_settings_before_write', '_stale_write',
    'claim_alert_deliveries', 'claim_health_checks', 'claim_prewarm', 'claim_runs', 'complete_and_claim',
    'complete_run', 'complete_runs', 'fail_run', 'heartbeat', 'record_alert_delivery', 'record_health_check',
    'record_warmup', 'release_run'
], 'admin: every function but the owner''s internal SECURITY DEFINER helpers and triggers, and the worker''s run, health and delivery functions');
select is(array(select p.proname::text from pg_proc as p
    where p.pronamespace = 'syncsched'::regnamespace and p.proname ~ '^_' and p.prosecdef
        and (has_function_privilege('syncsched_admin', p.oid, 'EXECUTE')
             or has_function_privilege('syncsched_tenant', p.oid, 'EXECUTE')
             or has_function_privilege('syncsched_worker', p.oid, 'EXECUTE'))), '{}'::text[],
    'no role but the owner may execute an internal SECURITY DEFINER helper (forge or resolve alerts, flip health)');
select ok(has_function_privilege('syncsched_admin', 'syncsched.tick(timestamptz)', 'EXECUTE'), 'admin: runs the tick');

-- syncsched_worker: the run functions, nothing else
select ok(has_schema_privilege('syncsched_worker', 'syncsched', 'USAGE'), 'worker: usage on the schema');
select is(pg_temp.table_privileges('syncsched_worker'), '{}', 'worker: no table or view at all');
select is(pg_temp.executable('syncsched_worker'), array[
    'check_scheduler', 'claim_alert_deliveries', 'claim_health_checks', 'claim_prewarm', 'claim_runs',
    'complete_and_claim', 'complete_run', 'complete_runs', 'endpoint_states', 'fail_run', 'heartbeat',
    'next_claim_at', 'next_health_check_at', 'queue_depth', 'reap_expired_runs', 'record_alert_delivery',
    'record_health_check', 'record_warmup', 'release_run', 'worker_config'
], 'worker: the run, health and alert functions only (its settings come from worker_config)');
select ok(not has_function_privilege('syncsched_worker', 'syncsched.tick(timestamptz)', 'EXECUTE'),
    'worker: not the tick');

-- syncsched_reader: the views (what `syncsched status` reads) and the previews
select is(pg_temp.table_privileges('syncsched_reader'),
    array['alert_kinds:select', 'alerts_open:select', 'dispatch_state:select', 'endpoint_health:select',
          'endpoint_overview:select', 'integration_types:select', 'organization_integrations:select',
          'recent_runs:select', 'request_ledger:select', 'run_attempts:select', 'run_log_state:select',
          'schedule_overview:select', 'schedule_state:select',
          'scheduler_alerts:select', 'scheduler_ticks:select', 'setting_values:select', 'sync_run_attempts:select',
          'sync_run_log:select'],
    'reader: reads every table and view (row-level security still applies) but settings, through setting_values (url values kept secret); writes none');
select is(array(select x from unnest(pg_temp.executable('syncsched_reader')) as x where x !~ '^_'), array[
    'cron_matches', 'cron_next', 'cron_next_spec', 'cron_parse', 'cron_resolve', 'cron_validate', 'integration_next_runs',
    'next_runs', 'queue_depth', 'schedule_problem', 'timezone_validate'
], 'reader: the previews (the console''s and the CLI''s, schedule_problem too), and queue_depth (endpoint_overview calls it)');
select is(pg_temp.executable('syncsched_reader', true), array['queue_depth'],
    'reader: no SECURITY DEFINER function but queue_depth (counts of runs per type)');
-- syncsched_web: the console's own login opens sessions; it acts only under the session's role
select is(pg_temp.table_privileges('syncsched_web'), '{}', 'web: no table or view of its own');
select is(pg_temp.executable('syncsched_web'), array['web_session'], 'web: web_session only');
select ok((select not rolinherit from pg_roles where rolname = 'syncsched_web')
    and pg_has_role('syncsched_web', 'syncsched_admin', 'member')
    and not pg_has_role('syncsched_web', 'syncsched_admin', 'usage'),
    'web: NOINHERIT member of the roles it maps tokens to: their rights only after SET ROLE');

-- syncsched_tenant: its organization's rows (row-level security), configuration and previews
select is(pg_temp.table_privileges('syncsched_tenant'), array[
    'alert_kinds:select', 'alerts_open:select', 'organization_integrations:delete', 'organization_integrations:insert',
    'organization_integrations:select', 'organization_integrations:update', 'run_log_state:select',
    'schedule_state:select', 'scheduler_alerts:select', 'sync_run_attempts:select', 'sync_run_log:select'
], 'tenant: integrations, and reading their state, runs, attempts and alerts (all under row-level security); of the views, alerts_open only (it reads with the caller''s rights)');
select is(pg_temp.executable('syncsched_tenant', true), '{}',
    'tenant: no SECURITY DEFINER function (those would see past row-level security)');
select is(array(select x from unnest(pg_temp.executable('syncsched_tenant')) as x where x !~ '^_'), array[
    'alter_integration', 'create_integration', 'cron_matches', 'cron_next', 'cron_next_spec', 'cron_parse',
    'cron_resolve', 'cron_validate', 'disable_integration', 'enable_integration', 'integration_next_runs', 'next_runs',
    'set_interval', 'set_schedule', 'timezone_validate', 'upsert_integration'
], 'tenant: the configuration and preview API');
select is(
    array(select c.relname || case when c.relforcerowsecurity then ' (forced)' else '' end
          from pg_class as c
          where c.relnamespace = 'syncsched'::regnamespace and c.relkind in ('r', 'p') and c.relrowsecurity order by 1),
    array['organization_integrations (forced)', 'schedule_state', 'scheduler_alerts (forced)', 'sync_run_attempts',
          'sync_run_log'],
    'RLS on integrations, runs and alerts; forced but on the run log (its owner path needs its indexes)');

-- a webhook URL is a secret: the reader (and the console) see only that it is set
select syncsched.set_setting('alert_webhook_url', 'https://hooks.example.com/services/T0/B0/s3cr3t');
set local role syncsched_reader;
select is((select value from syncsched.setting_values where key = 'alert_webhook_url'), '(set)',
    'reader: a url setting only as (set)');
select is((select value from syncsched.setting_values where key = 'min_schedule_interval'), '5 minutes',
    'reader: the other settings as they are');
select throws_ok($$select value from syncsched.settings$$, '42501', null, 'reader: not the settings table itself');
reset role;

select * from finish();
rollback;
