-- The tick cannot be hung or misled by one schedule, whatever the cron engine answers: a defence
-- in depth that does not rely on the engine being right. The engine is replaced, for this test
-- only, by one that never moves on in Pacific/Chatham and goes backwards in Asia/Kolkata.
begin;
set local statement_timeout = '20s';
select plan(6);

insert into syncsched.organization_integrations
    (org_id, integration_id, integration_type, cron_schedule, timezone, misfire_policy)
values ('stuck', 'i', 'xledger', '*/15 3 * * *', 'Pacific/Chatham', 'catch_up'),
    ('back', 'i', 'xledger', '0 * * * *', 'Asia/Kolkata', 'run_once'),
    ('fine', 'i', 'xledger', '0 * * * *', 'UTC', 'run_once');
update syncsched.schedule_state set next_run_at = '2030-01-07 03:00+00';

alter function syncsched._cron_next_spec(syncsched.cron_spec, timestamptz, text) rename to _cron_next_spec_engine;
create function syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz language sql stable as $$
    select case p_tz
        when 'Pacific/Chatham' then p_after
        when 'Asia/Kolkata' then p_after - interval '1 hour'
        else syncsched._cron_next_spec_engine(p_spec, p_after, p_tz)
    end
$$;

select is(syncsched.run_scheduled_jobs('2030-01-07 05:30+00') ->> 'invalid', '2',
    'the tick finishes: two schedules flagged invalid');
select results_eq($$select org_id, scheduled_for from syncsched.sync_run_log order by 1$$,
    $$values ('fine', '2030-01-07 05:00+00'::timestamptz)$$,
    'every other organization still runs; the flagged ones create no run');
select results_eq(
    $$select o.org_id, s.next_run_at, s.problem ~ 'not later'
    from syncsched.schedule_state as s join syncsched.organization_integrations as o using (id)
    where o.org_id <> 'fine' order by 1$$,
    $$values ('back', null::timestamptz, true), ('stuck', null, true)$$,
    'their next run is not moved back or repeated: they wait, with the problem, until their schedule changes');
select results_eq($$select org_id from syncsched.scheduler_alerts where kind = 'invalid_schedule' order by 1$$,
    $$values ('back'), ('stuck')$$, 'each is an invalid_schedule alert');
select is(syncsched.run_scheduled_jobs('2030-01-07 05:31+00') ->> 'invalid', '0',
    'the next tick does not evaluate them again');
update syncsched.sync_run_log set status = 'completed', finished_at = now();
select is(syncsched.run_scheduled_jobs('2030-01-07 06:00+00') ->> 'triggered', '1', 'and the others go on');

select * from finish();
rollback;
