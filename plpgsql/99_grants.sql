-- Privileges on the code: PUBLIC gets nothing; each role gets the functions it needs.
-- Kept in one file so that the privilege matrix can be read in one place.

revoke all on all functions in schema syncsched from public;
revoke all on all procedures in schema syncsched from public;

-- syncsched_reader: the views.
grant select on syncsched.schedule_overview, syncsched.recent_runs, syncsched.alerts_open to syncsched_reader;

-- syncsched_admin: configuration, previews, the tick and its installation: every function,
-- the internal helpers included (the SECURITY INVOKER API functions call them).
grant execute on all functions in schema syncsched to syncsched_admin;
grant execute on procedure syncsched.tick(timestamptz) to syncsched_admin;

-- syncsched_worker: the run functions only (no table privileges at all).
revoke execute on function
syncsched.claim_runs(text, integer, interval),
syncsched.heartbeat(text, bigint[], uuid[], interval),
syncsched.complete_runs(bigint[], uuid[], integer[], text[]),
syncsched.complete_run(bigint, uuid, integer, text),
syncsched.fail_run(bigint, uuid, text, integer, boolean, interval),
syncsched.release_run(bigint, uuid),
syncsched.claim_health_checks(text, integer),
syncsched.record_health_check(text, boolean, integer, text, integer),
syncsched.record_warmup(text, boolean, integer, text),
syncsched.claim_prewarm(interval),
syncsched.claim_alert_deliveries(integer),
syncsched.record_alert_delivery(bigint, boolean, text)
from syncsched_admin;
grant execute on function
syncsched.setting(text),
syncsched.claim_runs(text, integer, interval),
syncsched.heartbeat(text, bigint[], uuid[], interval),
syncsched.complete_runs(bigint[], uuid[], integer[], text[]),
syncsched.complete_run(bigint, uuid, integer, text),
syncsched.fail_run(bigint, uuid, text, integer, boolean, interval),
syncsched.release_run(bigint, uuid),
syncsched.queue_depth(),
syncsched.worker_config(),
syncsched.claim_health_checks(text, integer),
syncsched.next_health_check_at(),
syncsched.record_health_check(text, boolean, integer, text, integer),
syncsched.record_warmup(text, boolean, integer, text),
syncsched.claim_prewarm(interval),
syncsched.check_scheduler(timestamptz, timestamptz),
syncsched.claim_alert_deliveries(integer),
syncsched.record_alert_delivery(bigint, boolean, text)
to syncsched_worker;

-- syncsched_tenant (optional; row-level security scopes it to the organization of
-- set_config('syncsched.org_id', ...)): configure its own integrations, preview schedules.
-- These API functions are SECURITY INVOKER, so the row-level security applies to them; the
-- internal helpers they call are pure computation or invoker lookups, granted with them.
grant execute on function
syncsched.upsert_integration(text, text, text, text, integer, text, jsonb, boolean, syncsched.misfire_policy, integer),
syncsched.set_schedule(text, text, text, text),
syncsched.set_interval(text, text, integer),
syncsched.enable_integration(text, text),
syncsched.disable_integration(text, text),
syncsched.next_runs(text, text, integer, timestamptz),
syncsched.cron_validate(text),
syncsched.cron_parse(text),
syncsched.cron_next(text, timestamptz, text),
syncsched.cron_next_spec(syncsched.cron_spec, timestamptz, text),
syncsched.cron_matches(text, timestamptz, text),
syncsched.timezone_validate(text)
to syncsched_tenant;
do $tenant_helpers$
declare
    v_helper regprocedure;
begin
    for v_helper in
        select p.oid::regprocedure
        from pg_catalog.pg_proc as p
        where p.pronamespace = 'syncsched'::regnamespace and p.proname ~ '^_' and not p.prosecdef
            and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype
    loop
        execute format('grant execute on function %s to syncsched_tenant', v_helper);
    end loop;
end
$tenant_helpers$;
