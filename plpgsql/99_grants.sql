-- Privileges on the code: PUBLIC gets nothing; each role gets the functions it needs.
-- Kept in one file so that the privilege matrix can be read in one place. The rule for the
-- internal helpers (names starting with _): those that are SECURITY DEFINER write or read past
-- row-level security and belong to the owner alone; the others are computation (cron, time
-- zones, checks) or lookups under the caller's own rights, called by the SECURITY INVOKER API
-- functions and the views, and go with them to the admin, tenant and reader roles.

revoke all on all functions in schema syncsched
from public, syncsched_admin, syncsched_worker, syncsched_reader, syncsched_tenant, syncsched_web;
revoke all on all procedures in schema syncsched
from public, syncsched_admin, syncsched_worker, syncsched_reader, syncsched_tenant, syncsched_web;

-- syncsched_reader: the views (everything `syncsched status` reads), and the previews.
grant select on
syncsched.schedule_overview, syncsched.recent_runs, syncsched.run_attempts, syncsched.alerts_open,
syncsched.endpoint_overview, syncsched.setting_values
to syncsched_reader;
-- syncsched_tenant: the views that read with the caller's rights (row-level security applies).
grant select on syncsched.alerts_open to syncsched_tenant;

do $grants$
declare
    v_function record;
    -- the worker's run, health and delivery functions: not for the admin
    c_worker_only constant text[] := array[
        'claim_runs', 'heartbeat', 'complete_runs', 'complete_run', 'complete_and_claim', 'fail_run', 'release_run',
        'claim_health_checks', 'record_health_check', 'record_warmup', 'claim_prewarm',
        'claim_alert_deliveries', 'record_alert_delivery'
    ];
    -- what the worker calls, nothing else (it has no table privileges at all)
    c_worker constant text[] := c_worker_only || array[
        'queue_depth', 'next_claim_at', 'worker_config', 'next_health_check_at', 'check_scheduler', 'endpoint_states',
        -- leases are reaped on the workers' cadence (and the tick's), not in every claim
        'reap_expired_runs'
    ];
    -- the previews: computation only
    c_preview constant text[] := array[
        'next_runs', 'cron_validate', 'cron_parse', 'cron_resolve', 'cron_next', 'cron_next_spec', 'cron_matches',
        'timezone_validate'
    ];
    -- the tenant's configuration and preview API (SECURITY INVOKER: row-level security applies)
    c_tenant constant text[] := c_preview || array[
        'create_integration', 'alter_integration', 'upsert_integration', 'set_schedule', 'set_interval',
        'enable_integration', 'disable_integration', 'integration_next_runs'
    ];
    -- the reader: the previews (the console's and the CLI's: schedule_problem tells the gap a schedule
    -- may have), and queue_depth (endpoint_overview calls it)
    c_reader constant text[] := c_preview || array['integration_next_runs', 'queue_depth', 'schedule_problem'];
    -- the console's own login: opening a session, nothing else (it acts under the session's role)
    c_web constant text[] := array['web_session'];
begin
    for v_function in
        select p.oid::regprocedure as signature, p.proname::text as name, p.prosecdef as definer,
            p.proname ~ '^_' as internal
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'syncsched'::regnamespace and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype
    loop
        if v_function.internal then
            if not v_function.definer then
                execute format('grant execute on function %s to syncsched_admin, syncsched_tenant, syncsched_reader',
                    v_function.signature);
            end if;
            continue;
        end if;
        if v_function.name = any(c_worker) then
            execute format('grant execute on function %s to syncsched_worker', v_function.signature);
        end if;
        if not v_function.name = any(c_worker_only) then
            execute format('grant execute on function %s to syncsched_admin', v_function.signature);
        end if;
        if v_function.name = any(c_tenant) then
            execute format('grant execute on function %s to syncsched_tenant', v_function.signature);
        end if;
        if v_function.name = any(c_reader) then
            execute format('grant execute on function %s to syncsched_reader', v_function.signature);
        end if;
        if v_function.name = any(c_web) then
            execute format('grant execute on function %s to syncsched_web', v_function.signature);
        end if;
    end loop;
end
$grants$;

-- the tick: the admin runs it (pg_cron runs it as the role that scheduled it)
grant execute on procedure syncsched.tick(timestamptz) to syncsched_admin;
