-- The operator API of issue 13: partial updates, run_now on a disabled integration, pausing
-- scheduling and dispatch, retry and cancel in place, the circuit breaker after fixing an
-- endpoint, deleting with history, stale writes that name who wrote, and one error style.
begin;
select plan(113);

create function pg_temp.row_of(p_integration text) returns jsonb language sql as $$
    select to_jsonb(o) - 'id' - 'created_at' - 'updated_at'
    from syncsched.organization_integrations as o where o.integration_id = p_integration
$$;
create function pg_temp.make_due(p_where text) returns void language plpgsql as $$
begin
    -- as a superuser may: the schedule state is the owner's
    execute format('update syncsched.schedule_state set next_run_at = now() - interval ''1 minute'', last_tick_at = null
        where id in (select o.id from syncsched.organization_integrations as o where %s)', p_where);
end
$$;
create function pg_temp.claimed(p_worker text default 'w1') returns setof text language sql as $$
    select c.org_id || '/' || c.integration_id from syncsched.claim_runs(p_worker, 100) as c order by 1
$$;

-- ---------------------------------------------------------------------------------------------
-- create_integration / alter_integration: omitted arguments keep their values
-- ---------------------------------------------------------------------------------------------
select ok(syncsched.create_integration('acme', 'ledger', 'xledger', '0 2 * * *', p_timezone => 'Europe/Oslo',
    p_payload => '{"company": 1042}', p_misfire_policy => 'catch_up', p_misfire_grace => '1 hour',
    p_max_attempts => 3, p_max_staleness => '2 days') > 0, 'create_integration sets every field');
select syncsched.disable_integration('acme', 'ledger');
select syncsched.alter_integration('acme', 'ledger', p_cron_schedule => '30 3 * * *');
select is(pg_temp.row_of('ledger'), jsonb_build_object('org_id', 'acme', 'integration_id', 'ledger',
    'integration_type', 'xledger', 'cron_schedule', '30 3 * * *', 'interval_minutes', null, 'timezone', 'Europe/Oslo',
    'is_enabled', false, 'misfire_policy', 'catch_up', 'misfire_grace', '01:00:00', 'payload', '{"company": 1042}'::jsonb,
    'max_attempts', 3, 'max_staleness', '2 days'),
    'alter_integration with only a new cron: still disabled, zone, payload, policy, grace, attempts and staleness kept');
select syncsched.alter_integration('acme', 'ledger', p_interval_minutes => 60);
select is((select array[cron_schedule, interval_minutes::text] from syncsched.organization_integrations
    where integration_id = 'ledger'), array[null, '60'], 'an interval replaces the cron');
select syncsched.alter_integration('acme', 'ledger', p_cron_schedule => '0 2 * * *');
select is((select array[cron_schedule, interval_minutes::text] from syncsched.organization_integrations
    where integration_id = 'ledger'), array['0 2 * * *', null], 'a cron replaces the interval');
select syncsched.alter_integration('acme', 'ledger', p_misfire_grace => '5 minutes', p_max_staleness => '3 hours');
select is((select array[misfire_grace::text, max_staleness::text] from syncsched.organization_integrations
    where integration_id = 'ledger'), array['00:05:00', '03:00:00'], 'it sets misfire_grace and max_staleness');
select syncsched.alter_integration('acme', 'ledger', p_reset => '{max_attempts, max_staleness, timezone, payload}');
select is((select jsonb_build_array(max_attempts, max_staleness, timezone, payload) from syncsched.organization_integrations
    where integration_id = 'ledger'), '[null, null, "UTC", {}]'::jsonb, 'p_reset puts fields back to their defaults');
select throws_ok($$select syncsched.alter_integration('acme', 'ledger', p_reset => '{max_attempts, colour}')$$, '22023',
    'syncsched: integration acme/ledger has no field "colour" to reset', 'an unknown field to reset is refused');
select throws_ok($$select syncsched.alter_integration('acme', 'ledger', p_max_attempts => 2, p_reset => '{max_attempts}')$$,
    '22023', 'syncsched: integration acme/ledger field max_attempts is both given and reset', 'given and reset: refused');
select throws_ok($$select syncsched.alter_integration('acme', 'nope', p_max_attempts => 2)$$, 'P0002',
    'syncsched: no integration acme/nope', 'altering an unknown integration');
select throws_ok($$select syncsched.create_integration('acme', 'ledger', 'xledger', '0 2 * * *')$$, '42710',
    'syncsched: integration acme/ledger exists already', 'create refuses an existing integration');
select throws_ok($$select syncsched.create_integration('acme', 'ledger', 'xledger')$$, '42710',
    'syncsched: integration acme/ledger exists already', '... before anything else is wrong with the arguments');
select is(syncsched.alter_integration('acme', 'ledger'), (select id from syncsched.organization_integrations
    where integration_id = 'ledger'), 'nothing given: nothing changed, the id returned');
-- the defaults of create_integration are the table's
select syncsched.create_integration('acme', 'by-api', 'dynamics', p_interval_minutes => 60);
insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)
values ('acme', 'by-sql', 'dynamics', 60);
select is(pg_temp.row_of('by-api') - 'integration_id', pg_temp.row_of('by-sql') - 'integration_id',
    'create_integration''s defaults are the table''s');
-- upsert_integration: replace semantics, as documented
select syncsched.upsert_integration('acme', 'ledger', 'xledger', '15 4 * * *');
select is((select jsonb_build_array(is_enabled, timezone, payload, misfire_policy, max_attempts, misfire_grace)
    from syncsched.organization_integrations where integration_id = 'ledger'),
    '[true, "UTC", {}, "run_once", null, "00:05:00"]'::jsonb,
    'upsert_integration replaces its ten fields (omitted: defaults) and keeps misfire_grace');

-- ---------------------------------------------------------------------------------------------
-- one error style: 22023 naming org, integration and problem, for plain SQL and the API
-- ---------------------------------------------------------------------------------------------
create function pg_temp.insert_error(p_columns text, p_values text) returns text language plpgsql as $$
begin
    execute format('insert into syncsched.organization_integrations (org_id, integration_id, integration_type, %s)
        values (''acme'', ''bad'', ''xledger'', %s)', p_columns, p_values);
    return 'no error';
exception when others then
    return sqlstate || ' ' || sqlerrm;
end
$$;
create temporary table bad_input (constraint_name text, columns text, input text, error text);
insert into bad_input values
    ('organization_integrations_interval_range', 'interval_minutes', '600000',
     'syncsched: integration acme/bad interval of 600000 minutes is longer than a year (525600 minutes)'),
    ('organization_integrations_one_schedule_kind', 'cron_schedule, interval_minutes', '''0 2 * * *'', 60',
     'syncsched: integration acme/bad has both a cron schedule and an interval: set one of them'),
    ('organization_integrations_timezone_length', 'cron_schedule, timezone', '''0 2 * * *'', repeat(''x'', 65)',
     'syncsched: integration acme/bad unknown time zone "' || repeat('x', 64) || '": use an IANA name such as Europe/Oslo'),
    ('organization_integrations_misfire_grace_nonnegative', 'interval_minutes, misfire_grace', '60, ''-1 minute''',
     'syncsched: integration acme/bad misfire_grace must be an interval of zero or more (got -00:01:00)'),
    ('organization_integrations_max_attempts_range', 'interval_minutes, max_attempts', '60, 0',
     'syncsched: integration acme/bad max_attempts must be 1-100 (got 0)'),
    ('organization_integrations_max_staleness_positive', 'interval_minutes, max_staleness', '60, ''0 seconds''',
     'syncsched: integration acme/bad max_staleness must be a positive interval (got 00:00:00)'),
    ('organization_integrations_payload_object', 'interval_minutes, payload', '60, ''[1, 2]''',
     'syncsched: integration acme/bad payload must be a JSON object, not array'),
    ('organization_integrations_payload_size', 'interval_minutes, payload',
     '60, jsonb_build_object(''blob'', repeat(''x'', 70000))',
     'syncsched: integration acme/bad payload is 70020 bytes, at most 64 kB'),
    ('organization_integrations_misfire_policy_known', 'interval_minutes, misfire_policy', '60, ''whenever''',
     'syncsched: integration acme/bad has an unknown misfire policy "whenever"');
select set_eq($$select conname::text from pg_constraint where conrelid = 'syncsched.organization_integrations'::regclass
    and contype = 'c' and conname !~ '_id_format$'$$, $$select constraint_name from bad_input$$,
    'every CHECK of the table has a case below: the trigger says it first, in words');
select is(array(select b.constraint_name || ': ' || pg_temp.insert_error(b.columns, b.input)
    from bad_input as b where pg_temp.insert_error(b.columns, b.input) <> '22023 ' || b.error order by 1),
    '{}'::text[], 'each is refused with 22023 naming org, integration and problem, not with 23514');
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type)
    values ('a b', 'x', 'xledger')$$, '22023', null, 'a bad org id: 22023');
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
    interval_minutes) values ('acme', 'bad', 'nope', 60)$$, '22023',
    'syncsched: integration acme/bad has an unknown integration type "nope"', 'an unknown type: 22023, not 23503');
select throws_like($$select syncsched.create_integration('acme', 'bad', 'nope', '0 2 * * *')$$,
    '%unknown integration type "nope"%', 'the same through the API');
create function pg_temp.error_hint(p_sql text) returns text language plpgsql as $$
declare
    v_hint text;
begin
    execute p_sql;
    return null;
exception when others then
    get stacked diagnostics v_hint = pg_exception_hint;
    return v_hint;
end
$$;
select is(pg_temp.error_hint($$select syncsched.create_integration('acme', 'bad', 'nope', '0 2 * * *')$$),
    'valid types: bufdir, dynamics, xledger (rows of syncsched.integration_types)', 'the hint lists the valid types');
select throws_ok($$select syncsched.create_integration('acme', 'bad', 'xledger', '0 2 * * *', p_payload => '"text"')$$,
    '22023', 'syncsched: integration acme/bad payload must be a JSON object, not string',
    'a payload that is not an object: 22023 through the API');
select throws_ok($$update syncsched.organization_integrations set payload = 'null' where integration_id = 'ledger'$$,
    '22023', 'syncsched: integration acme/ledger payload must be a JSON object, not null', '... and through UPDATE');
select throws_ok($$select syncsched.create_integration('acme', 'bad', 'xledger', '0 2 * * *',
    p_misfire_policy => 'whenever')$$, '22023', 'syncsched: integration acme/bad has an unknown misfire policy "whenever"',
    'a bad misfire policy: 22023, not 22P02');
select throws_ok($$select syncsched.upsert_integration('acme', 'bad', 'xledger', '0 2 * * *',
    p_misfire_policy => 'whenever')$$, '22023', null, '... through upsert_integration too');
select is(pg_temp.error_hint($$select syncsched.alter_integration('acme', 'ledger', p_misfire_policy => 'sometimes')$$),
    'use run_once, catch_up, skip (the default is run_once)', 'the hint lists the policies');
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
    interval_minutes, payload) values ('acme', 'bad', 'xledger', 60, null)$$, '22023', null,
    'a null payload: 22023, not 23502');

-- the cron length: one limit, the cron engine's 1,000 characters
select ok(syncsched.cron_validate('0 ' || repeat('2,', 400) || '2 * * *') is null
    and length('0 ' || repeat('2,', 400) || '2 * * *') = 809, 'an 809-character expression is valid ...');
select lives_ok($$select syncsched.create_integration('acme', 'long', 'xledger', '0 ' || repeat('2,', 400) || '2 * * *')$$,
    '... and stored');
select is(syncsched.cron_validate('0 ' || repeat('2,', 500) || '2 * * *'),
    'cron expression is too long (1009 characters, at most 1000)', 'over 1,000 it is not valid ...');
select throws_like($$select syncsched.create_integration('acme', 'longer', 'xledger', '0 ' || repeat('2,', 500) || '2 * * *')$$,
    'syncsched: integration acme/longer has an invalid cron schedule %: cron expression is too long (1009 characters, at most 1000)',
    '... and refused with the same words');
select is((select count(*)::int from pg_constraint where conrelid = 'syncsched.organization_integrations'::regclass
    and pg_get_constraintdef(oid) ~ 'length\(cron_schedule\)'), 0, 'no other length limit on cron_schedule');

-- zone names in another case: stored in their canonical spelling
select syncsched.create_integration('acme', 'oslo', 'xledger', '0 2 * * *', p_timezone => 'europe/oslo');
insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule, timezone)
values ('acme', 'utc', 'xledger', '0 2 * * *', 'utc');
select syncsched.alter_integration('acme', 'ledger', p_timezone => 'AMERICA/new_york');
select results_eq($$select integration_id, timezone from syncsched.organization_integrations
    where integration_id in ('oslo', 'utc', 'ledger') order by 1$$,
    $$values ('ledger', 'America/New_York'), ('oslo', 'Europe/Oslo'), ('utc', 'UTC')$$,
    'europe/oslo is stored as Europe/Oslo (API, INSERT and UPDATE alike)');
select throws_like($$select syncsched.create_integration('acme', 'mars', 'xledger', '0 2 * * *',
    p_timezone => 'mars/olympus_mons')$$, '%unknown time zone "mars/olympus_mons"%', 'an unknown zone is still refused');
delete from syncsched.organization_integrations where integration_id in ('oslo', 'utc', 'long', 'by-sql', 'by-api');

-- ---------------------------------------------------------------------------------------------
-- run_now on a disabled integration
-- ---------------------------------------------------------------------------------------------
select syncsched.disable_integration('acme', 'ledger');
select throws_ok($$select syncsched.run_now('acme', 'ledger')$$, '55000',
    'syncsched: integration acme/ledger is disabled: it gets no runs', 'run_now refuses a disabled integration');
select is(pg_temp.error_hint($$select syncsched.run_now('acme', 'ledger')$$),
    'enable it (select syncsched.enable_integration(''acme'', ''ledger'')), or pass p_force => true to run it once anyway',
    '... with a hint');
select ok(syncsched.run_now('acme', 'ledger', p_force => true) > 0, 'unless forced');
select results_eq($$select action, org_id, integration_id, detail ->> 'forced' from syncsched.audit_log
    where action = 'run_now'$$,
    $$values ('run_now', 'acme', 'ledger', 'true')$$, 'run_now is audited');
select ok(syncsched.cancel_run((select max(run_id) from syncsched.sync_run_log)), 'cancel_run cancels it');
select results_eq($$select action, run_id, actor = session_user from syncsched.audit_log where action = 'cancel_run'$$,
    $$select 'cancel_run', max(run_id), true from syncsched.sync_run_log$$,
    'cancel_run is audited, with the login role as actor');
select is(syncsched.cancel_run((select max(run_id) from syncsched.sync_run_log)), false,
    'a run no longer pending is not cancelled');
select is((select count(*)::int from syncsched.audit_log where action = 'cancel_run'), 1, '... nor audited');
select syncsched.enable_integration('acme', 'ledger');
delete from syncsched.sync_run_log;

-- ---------------------------------------------------------------------------------------------
-- pausing: scheduling and dispatch, per type and global
-- ---------------------------------------------------------------------------------------------
select syncsched.alter_integration('acme', 'ledger', p_interval_minutes => 60);
select syncsched.create_integration('acme', 'crm', 'dynamics', p_interval_minutes => 60);
select ok(syncsched.pause_scheduling('xledger'), 'pause_scheduling(type) pauses ...');
select is(syncsched.pause_scheduling('xledger'), false, '... once (false: it was paused already)');
select pg_temp.make_due('true');
create temporary table due_before as
select o.integration_id, s.next_run_at from syncsched.schedule_state as s
join syncsched.organization_integrations as o on o.id = s.id;
select is(syncsched.run_scheduled_jobs() -> 'paused_types', '["xledger"]'::jsonb, 'the tick says which types wait');
select results_eq($$select integration_id from syncsched.sync_run_log order by 1$$, $$values ('crm')$$,
    'the tick creates runs for the other types only');
select is((select s.next_run_at from syncsched.schedule_state as s join syncsched.organization_integrations as o
    on o.id = s.id where o.integration_id = 'ledger'), (select next_run_at from due_before where integration_id = 'ledger'),
    'the paused type''s schedule stays due, untouched');
select ok(syncsched.run_now('acme', 'ledger') > 0, 'run_now still works while scheduling is paused');
select is(array(select pg_temp.claimed()), array['acme/crm', 'acme/ledger'],
    'workers still claim runs of a type whose scheduling is paused');
select results_eq($$select integration_id, paused from syncsched.schedule_overview order by 1$$,
    $$values ('crm', null), ('ledger', 'scheduling')$$, 'the overview says what is paused');
select ok(syncsched.resume_scheduling('xledger'), 'resume_scheduling(type)');
update syncsched.sync_run_log set status = 'completed', finished_at = now();
select is(syncsched.run_scheduled_jobs() ->> 'triggered', '1', 'resumed: the waiting period runs');
delete from syncsched.sync_run_log;
select syncsched.pause_scheduler();
select is(syncsched.setting('scheduler_paused'), 'true', 'pause_scheduler() is pause_scheduling() for all');
select is(syncsched.pause_scheduling(), false, '... the same flag');
select ok(syncsched.resume_scheduling(), 'resume_scheduling() for all');
select is(syncsched.setting('scheduler_paused'), 'false', '... is resume_scheduler()');

select ok(syncsched.pause_dispatch('xledger'), 'pause_dispatch(type)');
select syncsched.run_now('acme', 'ledger');
select syncsched.run_now('acme', 'crm');
select is(array(select pg_temp.claimed()), array['acme/crm'], 'claims hand out no run of a dispatch-paused type');
select results_eq($$select integration_type, pending, held, dispatch_paused from syncsched.queue_depth()
    where integration_type in ('xledger', 'dynamics') order by 1$$,
    $$values ('dynamics', 0, 0, false), ('xledger', 1, 1, true)$$, 'queue_depth: held and dispatch_paused per type');
select results_eq($$select integration_id, paused, held_reason from syncsched.schedule_overview order by 1$$,
    $$values ('crm', null, null), ('ledger', 'dispatch', 'dispatch paused')$$,
    'the overview: paused and held_reason');
select is((select paused from syncsched.endpoint_overview where integration_type = 'xledger'), 'dispatch',
    'endpoint_overview says it too');
select ok(syncsched.resume_dispatch('xledger'), 'resume_dispatch(type)');
update syncsched.sync_run_log set status = 'completed', finished_at = now(), lease_token = null, lease_expires_at = null
where status = 'running';
select ok(syncsched.pause_dispatch(), 'pause_dispatch() for all');
select is((select count(*)::int from syncsched.claim_runs('w1', 10)), 0, 'claims return nothing at all');
select pg_temp.make_due('true');
select is(syncsched.run_scheduled_jobs() ->> 'triggered', '1', 'the tick still creates runs (for crm: ledger has one pending)');
select is((select array_agg(distinct held_reason) from syncsched.schedule_overview), array['dispatch paused'],
    'every pending run: dispatch paused');
select ok(syncsched.resume_dispatch(), 'resume_dispatch() for all');
select is((select count(*)::int from syncsched.claim_runs('w1', 10)), 2, 'claims hand them out again');
select throws_ok($$select syncsched.pause_dispatch('nope')$$, '22023', 'syncsched: unknown integration type "nope"',
    'pausing an unknown type is refused');
select results_eq($$select action, coalesce(integration_type, '(all)') from syncsched.audit_log
    where action ~ 'pause|resume' order by audit_id$$,
    $$values ('pause_scheduling', 'xledger'), ('pause_scheduling', 'xledger'), ('resume_scheduling', 'xledger'),
        ('pause_scheduling', '(all)'), ('pause_scheduling', '(all)'), ('resume_scheduling', '(all)'),
        ('pause_dispatch', 'xledger'), ('resume_dispatch', 'xledger'), ('pause_dispatch', '(all)'),
        ('resume_dispatch', '(all)')$$,
    'every pause and resume is audited');
update syncsched.sync_run_log set status = 'completed', finished_at = now(), lease_token = null, lease_expires_at = null;

-- ---------------------------------------------------------------------------------------------
-- retry_run: a failed run, in place
-- ---------------------------------------------------------------------------------------------
select syncsched.alter_integration('acme', 'ledger', p_max_attempts => 1);
create temporary table first_claim as
select r.run_id, r.lease_token, r.idempotency_key
from (select syncsched.run_now('acme', 'ledger') as id) as x
cross join syncsched.claim_runs('w1', 10) as r;
select ok(syncsched.fail_run(run_id, lease_token, 'HTTP 400', 400, false), 'the run fails')
from first_claim;
select is(syncsched.retry_run((select run_id from first_claim)), (select run_id from first_claim),
    'retry_run returns the same run');
select results_eq($$select status::text, attempt, max_attempts, idempotency_key, trigger, finished_at
    from syncsched.sync_run_log where run_id = (select run_id from first_claim)$$,
    $$select 'pending', 1, 2, idempotency_key, 'manual', null::timestamptz from first_claim$$,
    'pending again: same key, same trigger, one more attempt allowed');
select results_eq($$select run_id, attempt from syncsched.claim_runs('w2', 10)$$,
    $$select run_id, 2 from first_claim$$, 'the attempt number continues');
select results_eq($$select action, run_id, (detail ->> 'attempts_used')::int, (detail ->> 'max_attempts')::int
    from syncsched.audit_log where action = 'retry_run'$$,
    $$select 'retry_run', run_id, 1, 2 from first_claim$$, 'recorded as a manual retry in the audit log');
select throws_ok(format('select syncsched.retry_run(%s)', (select run_id from first_claim)), '22023',
    format('syncsched: run %s of acme/ledger is running: only a failed run can be retried', (select run_id from first_claim)),
    'a run that is not failed is refused, naming it and its status');
select throws_ok($$select syncsched.retry_run(-1)$$, 'P0002', 'syncsched: no run -1', 'an unknown run');
update syncsched.sync_run_log set status = 'completed', finished_at = now(), lease_token = null, lease_expires_at = null;
select syncsched.alter_integration('acme', 'ledger', p_reset => '{max_attempts}');

-- ---------------------------------------------------------------------------------------------
-- why a pending run waits, and the circuit breaker after fixing an endpoint
-- ---------------------------------------------------------------------------------------------
select syncsched.run_now('acme', 'ledger');
update syncsched.endpoint_health set status = 'unhealthy', consecutive_failures = 4,
    next_check_at = now() + interval '4 hours' where integration_type = 'xledger';
select syncsched._alert('endpoint_unhealthy', null, null, 'xledger', '{}');
select is((select held_reason from syncsched.schedule_overview where integration_id = 'ledger'),
    'circuit open: xledger endpoint unhealthy', 'held by the circuit breaker: the overview says why');
select is((select held from syncsched.queue_depth() where integration_type = 'xledger'), 1, '... and queue_depth counts it');
select syncsched.check_endpoint_now('xledger');
select results_eq($$select status, consecutive_failures, next_check_at <= now() from syncsched.endpoint_health
    where integration_type = 'xledger'$$, $$values ('unknown', 0, true)$$,
    'check_endpoint_now: health unknown, a check due at once');
select is((select count(*)::int from syncsched.alerts_open where kind = 'endpoint_unhealthy'), 0,
    '... its endpoint_unhealthy alert resolved');
select is((select held_reason from syncsched.schedule_overview where integration_id = 'ledger'), null,
    '... and the run is claimable again');
select results_eq($$select action, integration_type, detail ->> 'status_before' from syncsched.audit_log
    where action = 'check_endpoint_now'$$, $$values ('check_endpoint_now', 'xledger', 'unhealthy')$$, '... audited');
select throws_ok($$select syncsched.check_endpoint_now('nope')$$, '22023', 'syncsched: unknown integration type "nope"',
    'an unknown type');
update syncsched.endpoint_health set status = 'unhealthy', next_check_at = now() + interval '4 hours'
where integration_type = 'xledger';
update syncsched.integration_types set endpoint_url = 'https://fixed.example.invalid/sync'
where integration_type = 'xledger';
select results_eq($$select status, next_check_at <= now() from syncsched.endpoint_health
    where integration_type = 'xledger'$$, $$values ('unknown', true)$$,
    'a new endpoint_url resets the health to unknown and schedules a check at once');
select is((select detail -> 'endpoint_url' ->> 'to' from syncsched.audit_log where action = 'endpoint_changed'),
    'https://fixed.example.invalid/sync', '... audited as endpoint_changed');
update syncsched.integration_types set timeout_ms = 1000 where integration_type = 'xledger';
select is((select count(*)::int from syncsched.audit_log where action = 'endpoint_changed'), 1,
    'other changes of the type do not');
create temporary table second_claim as select run_id, lease_token from syncsched.claim_runs('w1', 10);
select syncsched.fail_run(run_id, lease_token, 'HTTP 503', 503, true, interval '10 minutes') from second_claim;
select matches((select held_reason from syncsched.schedule_overview where integration_id = 'ledger'),
    '^retry backoff until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$', 'a run in its retry backoff: until when');
update syncsched.sync_run_log set not_before = now() where run_id = (select run_id from second_claim);
update syncsched.integration_types set max_concurrency = 1 where integration_type = 'xledger';
select syncsched.run_now('acme', 'ledger', p_force => true);
select is((select count(*)::int from syncsched.claim_runs('w1', 10)), 1, 'one run claimed, at max_concurrency');
select is((select held_reason from syncsched.schedule_overview where integration_id = 'ledger'),
    'type at max_concurrency', 'the other waits for room');
update syncsched.integration_types set max_concurrency = 5 where integration_type = 'xledger';

-- ---------------------------------------------------------------------------------------------
-- deleting an integration with runs
-- ---------------------------------------------------------------------------------------------
select throws_ok($$delete from syncsched.organization_integrations where integration_id = 'ledger'$$, '55006',
    'syncsched: integration acme/ledger has runs: deleting it would delete their history',
    'a plain DELETE of an integration with runs is refused');
select is(pg_temp.error_hint($$delete from syncsched.organization_integrations where integration_id = 'ledger'$$),
    'disable it to keep its history (select syncsched.disable_integration(''acme'', ''ledger'')), or delete it with its '
    || 'history: select syncsched.delete_integration(''acme'', ''ledger'', p_delete_history => true)', '... with a hint');
select throws_like($$select syncsched.delete_integration('acme', 'ledger', p_delete_history => true)$$,
    'syncsched: integration acme/ledger is not deleted: its run % is running', 'delete_integration refuses while a run runs');
-- the running run's worker stops; its lease expires and the run is pending again
create temporary table stale_claim as
select run_id, lease_token from syncsched.sync_run_log where status = 'running';
update syncsched.sync_run_log set lease_expires_at = now() - interval '1 second' where status = 'running';
select is(syncsched.reap_expired_runs(), 1, 'the lost run is taken back');
select throws_like($$select syncsched.delete_integration('acme', 'ledger')$$,
    'syncsched: integration acme/ledger is not deleted: it has % run(s) of history',
    'without p_delete_history: refused (disable it to keep the history)');
select is(syncsched.delete_integration('acme', 'ledger', p_delete_history => true) - 'runs_deleted',
    '{"deleted": true, "cancelled": 2}'::jsonb, 'with p_delete_history: its pending runs cancelled, then deleted');
select is((select count(*)::int from syncsched.sync_run_log where integration_id = 'ledger'), 0, 'its history is gone');
select ok((select detail -> 'cancelled_run_ids' @> to_jsonb((select run_id from stale_claim))
    from syncsched.audit_log where action = 'delete_integration'), 'the audit log names the runs it cancelled');
-- the stopped worker wakes up and completes the run it no longer holds
select is(syncsched.complete_run((select run_id from stale_claim), (select lease_token from stale_claim), 200, 'ok',
    'w1'), false, 'a worker completing a run whose integration is gone changes nothing');
select results_eq($$select org_id, integration_id, integration_type, detail ->> 'worker_id', (detail ->> 'run_id')::bigint,
    detail ->> 'problem' from syncsched.scheduler_alerts where kind = 'stale_write'$$,
    $$select 'acme', 'ledger', 'xledger', 'w1', run_id, format('stale complete by worker w1 for run %s of acme/ledger, '
        || 'which no longer exists: the integration was deleted with its history', run_id) from stale_claim$$,
    '... and the stale_write alert names org, integration, worker and run, once');
select syncsched.create_integration('acme', 'spare', 'bufdir', '0 2 * * *');
select lives_ok($$delete from syncsched.organization_integrations where integration_id = 'spare'$$,
    'an integration without runs is deleted by a plain DELETE');

-- a stale write for a run another worker holds names both workers
select syncsched.run_now('acme', 'crm', p_force => true);
create temporary table taken as select run_id, lease_token from syncsched.claim_runs('w1', 10);
update syncsched.sync_run_log set lease_expires_at = now() - interval '1 second' where run_id = (select run_id from taken);
select syncsched.reap_expired_runs();
select count(*) from syncsched.claim_runs('w2', 10);
select is(syncsched.fail_run((select run_id from taken), (select lease_token from taken), 'HTTP 500', 500, true, null,
    'w1'), false, 'the first worker''s late failure changes nothing');
select results_eq($$select org_id, integration_id, detail ->> 'worker_id', detail ->> 'held_by' from syncsched.scheduler_alerts
    where kind = 'stale_write' and detail ->> 'action' = 'fail'$$, $$values ('acme', 'crm', 'w1', 'w2')$$,
    '... its alert names org, integration, the stale worker and the holder');

-- ---------------------------------------------------------------------------------------------
-- Every write of an integration or a setting is on record, whatever its path, with who said
-- they acted (the console sets syncsched.actor to the user of its token)
-- ---------------------------------------------------------------------------------------------
delete from syncsched.audit_log;
select set_config('syncsched.actor', 'token:ops', true);
select syncsched.create_integration('acme', 'audited', 'bufdir', '0 2 * * *', p_payload => '{"company": 7}');
select syncsched.alter_integration('acme', 'audited', p_cron_schedule => '0 3 * * *', p_timezone => 'Europe/Oslo');
update syncsched.organization_integrations set is_enabled = false where integration_id = 'audited';
update syncsched.organization_integrations set is_enabled = false where integration_id = 'audited';
select set_config('syncsched.actor', '', true);
delete from syncsched.organization_integrations where integration_id = 'audited';
select results_eq($$select action, actor = session_user, on_behalf_of from syncsched.audit_log order by audit_id$$,
    $$values ('integration_created', true, 'token:ops'), ('integration_changed', true, 'token:ops'),
        ('integration_changed', true, 'token:ops'), ('integration_deleted', true, null)$$,
    'create, alter, a plain UPDATE and a plain DELETE are audited, once each (an UPDATE that changes nothing is not)');
select is((select detail from syncsched.audit_log where action = 'integration_created'), jsonb_build_object(
    'org_id', 'acme', 'integration_id', 'audited', 'integration_type', 'bufdir', 'cron_schedule', '0 2 * * *',
    'interval_minutes', null, 'timezone', 'UTC', 'is_enabled', true, 'misfire_policy', 'run_once',
    'misfire_grace', '00:15:00', 'payload', '{"company": 7}'::jsonb, 'max_attempts', null, 'max_staleness', null),
    'a creation records the configuration');
select is(array(select detail from syncsched.audit_log where action = 'integration_changed' order by audit_id), array[
    '{"cron_schedule": ["0 2 * * *", "0 3 * * *"], "timezone": ["UTC", "Europe/Oslo"]}'::jsonb,
    '{"is_enabled": [true, false]}'::jsonb], 'a change records the fields that changed, before and after');
select is((select detail ->> 'cron_schedule' from syncsched.audit_log where action = 'integration_deleted'), '0 3 * * *',
    'a delete records what was deleted');
delete from syncsched.audit_log;
select syncsched.set_setting('catch_up_limit', '12');
select syncsched.set_setting('alert_webhook_url', 'https://hooks.example.com/services/T000/B000/secret');
update syncsched.settings set value = value where key = 'lease';
select results_eq($$select action, detail from syncsched.audit_log order by audit_id$$,
    $$values ('setting_changed', '{"key": "catch_up_limit", "from": "24", "to": "12"}'::jsonb),
        ('setting_changed', '{"key": "alert_webhook_url", "from": "", "to": "(set)"}'::jsonb)$$,
    'settings changed are audited; a url only as set, never its value');
select is((select count(*)::int from syncsched.audit_log where detail::text ~ 'secret'), 0, 'the webhook''s token is not');
set local role syncsched_admin;
select throws_ok($$update syncsched.audit_log set actor = 'someone else'$$, '42501', null,
    'the audit log cannot be rewritten by its readers');
reset role;

-- an integration with runs keeps its name (its runs and their idempotency keys name it)
select syncsched.create_integration('acme', 'named', 'bufdir', '0 2 * * *');
select syncsched.run_now('acme', 'named');
select throws_ok($$update syncsched.organization_integrations set integration_id = 'renamed'
    where integration_id = 'named'$$, '55006', 'syncsched: integration acme/named has runs: it cannot be renamed',
    'a rename of an integration with runs is refused');
select syncsched.create_integration('acme', 'fresh', 'bufdir', 'H 2 * * *');
-- org_id is in every key of its state and runs (and on Citus the distribution column)
select throws_ok($$update syncsched.organization_integrations set org_id = 'other' where integration_id = 'fresh'$$,
    '22023', 'syncsched: integration acme/fresh cannot move to organization other: an integration keeps its organization',
    'an integration, even without runs, is not moved to another organization');
update syncsched.organization_integrations set integration_id = 'fresh2' where integration_id = 'fresh';
select is((select resolved_schedule from syncsched.schedule_overview where integration_id = 'fresh2'),
    syncsched.cron_resolve('H 2 * * *', 'acme/fresh2'), 'one without runs is renamed, and its H resolved anew');
select is((select count(*)::int from syncsched.sync_run_log as r
    where not exists (select from syncsched.organization_integrations as o
        where o.org_id = r.org_id and o.integration_id = r.integration_id)), 0, 'no run names a missing integration');

select * from finish();
rollback;
