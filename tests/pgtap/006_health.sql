-- Endpoint health, the circuit breaker, warm-up, stale and silent-scheduler alerts, webhook delivery.
begin;
select plan(56);

insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)
values ('a', 'i1', 'xledger', 60), ('a', 'i2', 'dynamics', 60);
create function pg_temp.add_run(p_org text, p_integration text, p_type text) returns bigint
language sql as $$
    insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
        trigger, max_attempts)
    values (p_org, p_integration, p_type, now(), p_org || '/' || p_integration || '/' || gen_random_uuid(),
        'schedule', 5)
    returning run_id
$$;
create function pg_temp.alerts(p_kind text) returns integer
language sql as $$ select count(*)::integer from syncsched.scheduler_alerts where kind = p_kind $$;

-- active checks: claimed once, for types in use only
select set_eq($$select integration_type from syncsched.claim_health_checks('w1')$$, array['dynamics', 'xledger'],
    'the types in use are due for a first check (bufdir has no integration: never pinged)');
select is((select count(*)::int from syncsched.claim_health_checks('w2')), 0,
    'a claimed check is not handed to another worker');
select is(syncsched.record_health_check('xledger', true, 204, null, 12), 'healthy', 'a good check: healthy');
select ok((select next_check_at between now() + interval '14 minutes' and now() + interval '16 minutes'
    from syncsched.endpoint_health where integration_type = 'xledger'), '... next check after the interval (15 min)');
select is(syncsched.record_health_check('xledger', false, 503, 'HTTP 503', 12), 'unhealthy', 'a failed check');
select is(pg_temp.alerts('endpoint_unhealthy'), 1, '... raises endpoint_unhealthy');
select ok((select next_check_at between now() + interval '29 minutes' and now() + interval '31 minutes'
    from syncsched.endpoint_health where integration_type = 'xledger'), '... next check after interval * 2');
select is(syncsched.record_health_check('xledger', false, null, 'timeout', 10000), 'unhealthy', 'failing again');
select ok((select next_check_at between now() + interval '59 minutes' and now() + interval '61 minutes'
    from syncsched.endpoint_health where integration_type = 'xledger'), '... interval * 4');
select is(pg_temp.alerts('endpoint_unhealthy'), 1, '... without a second alert');
update syncsched.endpoint_health set consecutive_failures = 9 where integration_type = 'xledger';
select syncsched.record_health_check('xledger', false, null, 'timeout', 10000);
select ok((select next_check_at between now() + interval '239 minutes' and now() + interval '241 minutes'
    from syncsched.endpoint_health where integration_type = 'xledger'), 'the backoff is capped at 4 hours');

-- the circuit breaker
select pg_temp.add_run('a', 'i1', 'xledger');
select pg_temp.add_run('a', 'i2', 'dynamics');
select is(array(select integration_type from syncsched.claim_runs('w1', 10)), array['dynamics'],
    'an unhealthy type''s runs are not claimed while another type''s are');
select results_eq($$select status::text, attempt from syncsched.sync_run_log where integration_type = 'xledger'$$,
    $$values ('pending', 0)$$, '... they wait, spending no attempt');
select is(syncsched.record_health_check('xledger', true, 200, null, 5), 'healthy', 'the endpoint recovers');
select is(pg_temp.alerts('endpoint_recovered'), 1, '... endpoint_recovered');
select is((select count(*)::int from syncsched.scheduler_alerts where kind = 'endpoint_unhealthy' and resolved_at is null),
    0, '... resolves endpoint_unhealthy');
select is(array(select integration_type from syncsched.claim_runs('w1', 10)), array['xledger'],
    '... and its held runs are claimed');

-- warm-up: the first claim after idling says so, once
delete from syncsched.sync_run_log;
update syncsched.endpoint_health set last_used_at = now() - interval '11 minutes';
select pg_temp.add_run('a', 'i1', 'xledger');
select pg_temp.add_run('a', 'i1', 'xledger');
select is(array(select warmup from syncsched.claim_runs('w1', 1)), array[true],
    'the first run after 11 idle minutes asks for a warm-up');
select is(array(select warmup from syncsched.claim_runs('w1', 1)), array[false], 'the next one does not');
select is(syncsched.record_warmup('xledger', true, 6000), true, 'a 6 s warm-up is a cold start');
select is(syncsched.record_warmup('xledger', true, 300), false, 'a 300 ms one is not');
select is(syncsched.record_warmup('xledger', false, 20, 'connection refused'), true, 'a failed one is');
select is(pg_temp.alerts('cold_start'), 2, '... two cold_start alerts');

-- pre-warming the endpoints of upcoming runs
update syncsched.endpoint_health set last_used_at = now() - interval '1 hour';
update syncsched.schedule_state set next_run_at = case
    when id = (select id from syncsched.organization_integrations where integration_id = 'i2')
        then now() + interval '20 seconds'
    else now() + interval '1 hour'  -- whatever minute the test runs in
end;
select is(array(select integration_id from syncsched.upcoming_runs(interval '1 minute')), array['i2'],
    'upcoming_runs: the integrations due within the minute');
select is(array(select integration_type from syncsched.claim_prewarm(interval '30 seconds')), array['dynamics'],
    'claim_prewarm hands out the idle endpoint of the run coming in 20 s');
select is((select count(*)::int from syncsched.claim_prewarm(interval '30 seconds')), 0, '... once');

-- passive mode: run outcomes decide
delete from syncsched.sync_run_log;
select syncsched.set_endpoint_mode('dynamics', 'passive');
select pg_temp.add_run('a', 'i2', 'dynamics');
create temporary table claimed as select * from syncsched.claim_runs('w1', 1);
create function pg_temp.fail_and_reclaim() returns void language plpgsql as $$
begin
    perform syncsched.fail_run((select run_id from claimed), (select lease_token from claimed), 'HTTP 500', 500, true);
    update syncsched.sync_run_log set not_before = now();
    truncate claimed;
    insert into claimed select * from syncsched.claim_runs('w1', 1);
end
$$;
select pg_temp.fail_and_reclaim();
select pg_temp.fail_and_reclaim();
select is((select status from syncsched.endpoint_health where integration_type = 'dynamics'), 'unknown',
    'passive: two failed attempts are not enough');
select pg_temp.fail_and_reclaim();
select is((select status from syncsched.endpoint_health where integration_type = 'dynamics'), 'unhealthy',
    '... three make the type unhealthy');
select is((select count(*)::int from syncsched.scheduler_alerts where kind = 'endpoint_unhealthy'
    and integration_type = 'dynamics'), 1, '... with an alert');
select is((select count(*)::int from claimed), 1, 'passive mode has no circuit breaker: the run is claimed again');
select ok(syncsched.complete_run((select run_id from claimed), (select lease_token from claimed), 200, 'ok'),
    'one success');
select is((select status from syncsched.endpoint_health where integration_type = 'dynamics'), 'healthy',
    '... makes it healthy');

-- a health check answered 429 switches the type to passive
select syncsched.record_health_check('xledger', false, 429, 'HTTP 429', 5);
select results_eq($$select mode, next_check_at from syncsched.endpoint_health where integration_type = 'xledger'$$,
    $$values ('passive', null::timestamptz)$$, '429: passive, no more checks');
select is(pg_temp.alerts('endpoint_passive'), 1, '... and an endpoint_passive alert');
select syncsched.set_endpoint_mode('xledger', 'active');
select is((select count(*)::int from syncsched.alerts_open where kind = 'endpoint_passive'), 0,
    'back to active by hand: the alert is resolved');

-- stale: an hourly integration is stale when the period after its last success ends without one
delete from syncsched.sync_run_log;
delete from syncsched.scheduler_alerts;
update syncsched.organization_integrations set is_enabled = false where integration_id = 'i2';
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
    status, max_attempts, started_at, finished_at, attempt)
values ('a', 'i1', 'xledger', '2030-01-01 10:00Z', 'a/i1/ok', 'schedule', 'completed', 3, '2030-01-01 10:00Z',
    '2030-01-01 10:00Z', 1);
update syncsched.schedule_state
set stale_check_at = '2030-01-01 11:00Z', next_run_at = '2030-01-01 12:00Z'
where id = (select id from syncsched.organization_integrations where integration_id = 'i1');
create function pg_temp.stale_check_at() returns timestamptz language sql as $$
    select stale_check_at from syncsched.schedule_state
    where id = (select id from syncsched.organization_integrations where integration_id = 'i1')
$$;
select is(syncsched.check_staleness('2030-01-01 11:00:30Z'), 0, 'the 10:00 run completed, 11:00 is under way: not stale');
select is(pg_temp.stale_check_at(), '2030-01-01 12:00Z'::timestamptz,
    '... looked at again when the period after 11:00 begins');
select is(syncsched.check_staleness('2030-01-01 11:59:59Z'), 0, 'a second before 12:00: the look is not due yet');
-- (the tick has moved next_run_at on to 13:00 before it looks at staleness)
update syncsched.schedule_state set next_run_at = '2030-01-01 13:00Z'
where id = (select id from syncsched.organization_integrations where integration_id = 'i1');
-- paused on purpose is not stale: no alert while its type's scheduling (or all scheduling) is paused
select syncsched.pause_scheduling('xledger');
select is(syncsched.check_staleness('2030-01-01 12:00:00Z'), 0, 'its type''s scheduling paused: not stale');
select syncsched.resume_scheduling('xledger');
select syncsched.pause_scheduling();
select is(syncsched.check_staleness('2030-01-01 12:00:00Z'), 0, 'all scheduling paused: not stale');
select syncsched.resume_scheduling();
select is(pg_temp.stale_check_at(), '2030-01-01 12:00Z'::timestamptz, '... and its look waits for the resume');
select is(syncsched.check_staleness('2030-01-01 12:00:00Z'), 1, '12:00 and no success for 11:00: stale');
select is(pg_temp.alerts('stale'), 1, '... one stale alert');
select is(pg_temp.stale_check_at(), '2030-01-01 13:00Z'::timestamptz, '... looked at again at its next period');
select is(syncsched.check_staleness('2030-01-01 13:00:30Z') + syncsched.check_staleness('2030-01-01 14:00:30Z'), 0,
    '... and not raised again while it is open');
select is((select count(*)::int from syncsched.alerts_open where kind = 'stale'), 1, 'one open stale alert');
select pg_temp.add_run('a', 'i1', 'xledger');
select syncsched.complete_run(c.run_id, c.lease_token, 200, 'ok') from syncsched.claim_runs('w1', 1) as c;
select is((select count(*)::int from syncsched.alerts_open where kind = 'stale'), 0, 'a completed run resolves it');

-- the scheduler watch
insert into syncsched.scheduler_ticks (at, started_at) values ('2030-01-01 12:00Z', '2030-01-01 12:00Z');
select is((syncsched.check_scheduler(null, '2030-01-01 12:02:59Z') ->> 'raised')::boolean, false,
    'a tick 2 min 59 s ago: not silent');
select is((syncsched.check_scheduler(null, '2030-01-01 12:03:01Z') ->> 'raised')::boolean, true,
    'no tick for 3 min 1 s: scheduler_silent');
select is((syncsched.check_scheduler(null, '2030-01-01 12:03:30Z') ->> 'raised')::boolean, false,
    '... raised once, whoever checks');
insert into syncsched.scheduler_ticks (at, started_at) values ('2030-01-01 12:04Z', '2030-01-01 12:04Z');
select syncsched.check_scheduler(null, '2030-01-01 12:04:10Z');
select is((select count(*)::int from syncsched.alerts_open where kind = 'scheduler_silent'), 0,
    'ticks are back: resolved');

-- webhook delivery: one per key within alert_repeat_after
select is((select count(*)::int from syncsched.claim_alert_deliveries()), 0, 'no webhook: nothing to deliver');
select syncsched.set_setting('alert_webhook_url', 'https://hooks.example.invalid/x');
select syncsched._alert('failing', 'a', 'i1', 'xledger', '{}');
select syncsched._alert('failing', 'a', 'i1', 'xledger', '{}');
select syncsched._alert('drift', 'a', 'i1', 'xledger', '{}');
select set_eq($$select kind from syncsched.claim_alert_deliveries()$$, array['failing', 'drift'],
    'one alert per key is sent');
select is((select count(*)::int from syncsched.scheduler_alerts where delivery = 'suppressed'), 1,
    '... its twin is suppressed');
select syncsched._alert('failing', 'a', 'i1', 'xledger', '{}');
select is((select count(*)::int from syncsched.claim_alert_deliveries()), 0,
    'the same key again within the hour: not sent');
select syncsched.record_alert_delivery(
    (select alert_id from syncsched.scheduler_alerts where kind = 'drift' and delivery = 'sent'), false, 'HTTP 500');
select results_eq($$select delivery, delivery_attempts, delivery_not_before > now()
    from syncsched.scheduler_alerts where kind = 'drift'$$,
    $$values ('pending', 1, true)$$, 'a failed delivery waits and is tried again');

select * from finish();
rollback;
