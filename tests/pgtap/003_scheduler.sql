-- The tick, single session: due rows become pending runs, once; overlap, misfires, the trigger, run_now.
begin;
select plan(51);

-- An hourly schedule whose next period the test sets by hand: the test runs as a superuser, who
-- may write schedule_state (the roles of syncsched cannot).
create temporary table fixture (at timestamptz);
insert into fixture values ('2030-01-07 10:00+00');

create function pg_temp.set_next(p_at timestamptz, p_where text default 'true') returns void
language plpgsql as $$
begin
    execute format('update syncsched.schedule_state set next_run_at = %L, last_tick_at = null
        where id in (select o.id from syncsched.organization_integrations as o where %s)', p_at, p_where);
end
$$;
create function pg_temp.next_of(p_integration text) returns timestamptz language sql as $$
    select s.next_run_at from syncsched.schedule_state as s
    join syncsched.organization_integrations as o on o.id = s.id where o.integration_id = p_integration
$$;

create function pg_temp.add(p_org text, p_integration text, p_cron text default '0 * * * *',
    p_policy syncsched.misfire_policy default 'run_once') returns void language sql as $$
    insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule,
        misfire_policy) values (p_org, p_integration, 'xledger', p_cron, p_policy);
    select pg_temp.set_next((select at from fixture), format('o.org_id = %L and o.integration_id = %L', p_org, p_integration));
$$;
create function pg_temp.tick(p_offset interval default '0') returns jsonb language sql as $$
    select syncsched.run_scheduled_jobs((select at from fixture) + p_offset)
$$;
create function pg_temp.finish_runs() returns void language sql as $$
    update syncsched.sync_run_log set status = 'completed', started_at = scheduled_for,
        finished_at = scheduled_for + interval '1 minute' where status in ('pending', 'running');
$$;

-- zero due
select is((pg_temp.tick() ->> 'triggered')::int, 0, 'nothing configured: triggered 0');
select is((select count(*)::int from syncsched.scheduler_ticks), 1, 'the tick is recorded even when idle');

-- one due integration -> one pending row
select pg_temp.add('acme', 'ledger');
update syncsched.organization_integrations set payload = '{"company": 42}' where org_id = 'acme';
select pg_temp.set_next((select at from fixture), $$o.org_id = 'acme'$$);
select is(pg_temp.tick('30 seconds') ->> 'triggered', '1', 'one due integration: one run');
select results_eq(
    $$select status::text, trigger, idempotency_key, scheduled_for, payload from syncsched.sync_run_log$$,
    $$values ('pending', 'schedule', 'acme/ledger/2030-01-07T10:00Z', '2030-01-07 10:00+00'::timestamptz,
              '{"company": 42}'::jsonb)$$,
    'a pending run for the period, keyed org/integration/period, with the payload');
select is(pg_temp.next_of('ledger'), '2030-01-07 11:00+00'::timestamptz, 'next_run_at advances to the next period');
select is((pg_temp.tick('45 seconds') ->> 'due')::int, 0, 'ticking the same minute again finds nothing due');

-- running within 30 minutes -> skipped, not duplicated (leases and starts are wall-clock times:
-- the overlap rule compares them with now(), whatever instant the tick serves)
update syncsched.sync_run_log set status = 'running', started_at = now() - interval '10 minutes',
    lease_token = gen_random_uuid(), lease_expires_at = now() - interval '9 minutes';
select is(pg_temp.tick('1 hour 10 seconds') ->> 'skipped_running', '1',
    'a run started 10 minutes ago holds the next period');
select is((select count(*)::int from syncsched.sync_run_log), 1, '... no second run');
select is((select count(*)::int from syncsched.scheduler_alerts where kind = 'skipped_overlap'), 1,
    '... and a skipped_overlap alert');
-- an expired lease, started 40 minutes ago: the period runs
update syncsched.sync_run_log set started_at = now() - interval '40 minutes',
    lease_expires_at = now() - interval '39 minutes';
select is(pg_temp.tick('2 hours') ->> 'triggered', '1', 'a lost run older than the window does not hold it');
-- a live lease holds it whatever the age
select pg_temp.finish_runs();
update syncsched.sync_run_log set status = 'running', started_at = now() - interval '3 hours',
    lease_token = gen_random_uuid(), lease_expires_at = now() + interval '1 minute', finished_at = null
    where run_id = (select min(run_id) from syncsched.sync_run_log);
select is(pg_temp.tick('3 hours') ->> 'skipped_running', '1', 'a fresh heartbeat holds a 3-hour-old run');
select pg_temp.finish_runs();

-- the same period ticked again ten minutes later -> no new run
select pg_temp.set_next('2030-01-07 12:00+00', $$o.org_id = 'acme'$$);
select is(pg_temp.tick('2 hours 10 minutes') ->> 'skipped_duplicate', '1',
    'an already-run period is a duplicate ...');
select is((select count(*)::int from syncsched.sync_run_log where scheduled_for = '2030-01-07 12:00+00'), 1,
    '... and gets no second run');

-- disabled and unscheduled rows are excluded
delete from syncsched.sync_run_log;
insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule, is_enabled)
values ('acme', 'off', 'xledger', '0 * * * *', false);
insert into syncsched.organization_integrations (org_id, integration_id, integration_type, is_enabled)
values ('acme', 'unscheduled', 'xledger', false);
select is(pg_temp.next_of('off'), null,
    'a disabled integration has no next run');
select pg_temp.set_next('2030-01-07 13:00+00', $$o.org_id = 'acme' and o.is_enabled$$);
select is(pg_temp.tick('3 hours 1 minute') ->> 'triggered', '1', 'disabled and unscheduled rows are excluded');

-- several orgs with overlapping schedules -> all run
select pg_temp.add('o' || g, 'ledger', '0 */2 * * *') from generate_series(1, 5) as g;
select pg_temp.set_next('2030-01-07 14:00+00', $$o.org_id <> 'acme'$$);
select is(pg_temp.tick('4 hours') ->> 'triggered', '5', 'five orgs due in the same minute: five runs');
select set_eq($$select org_id from syncsched.due_integrations('2030-01-07 14:00:30+00')$$,
    array['acme', 'o1', 'o2', 'o3', 'o4', 'o5'], 'due_integrations lists every org due in that minute');
select pg_temp.finish_runs();

-- an invalid row (trigger bypassed) -> warning and alert, the other orgs still run
set local session_replication_role = replica;
update syncsched.organization_integrations set timezone = 'Mars/Olympus_Mons' where org_id = 'o1';
update syncsched.organization_integrations set cron_schedule = '99 * * * *' where org_id = 'o2';
set local session_replication_role = origin;
update syncsched.schedule_state set cron_spec = null
where id = (select id from syncsched.organization_integrations where org_id = 'o2');
select pg_temp.set_next('2030-01-07 16:00+00', $$o.org_id in ('acme', 'o1', 'o2', 'o3', 'o4', 'o5') and o.is_enabled$$);
select is(pg_temp.tick('6 hours') - 'at' - 'duration_ms',
    '{"due": 6, "invalid": 2, "remaining": 0, "triggered": 4, "skipped_locked": 0, "skipped_running": 0,
      "skipped_duplicate": 0}'::jsonb, 'two invalid rows are skipped, four valid ones run');
select is((select count(*)::int from syncsched.scheduler_alerts where kind = 'invalid_schedule'), 2,
    'each invalid row gets an alert');
select is((select count(*)::int from syncsched.schedule_state as s
    join syncsched.organization_integrations as o on o.id = s.id
    where o.org_id in ('o1', 'o2') and s.next_run_at is null and s.problem is not null), 2,
    'invalid rows stop being due until fixed, and say why');
select set_eq($$select org_id from syncsched.due_integrations('2030-01-07 16:00+00')$$,
    array['acme', 'o3', 'o4', 'o5'], 'due_integrations leaves invalid rows out');
-- (integrations with runs are deleted with their history: runs first, as a superuser may)
delete from syncsched.sync_run_log where org_id in ('o1', 'o2');
delete from syncsched.organization_integrations where org_id in ('o1', 'o2');
select pg_temp.finish_runs();

-- misfires after 3 hours of silence (hourly schedule, tick at 20:30 with next_run_at 17:00)
delete from syncsched.sync_run_log;
delete from syncsched.organization_integrations;
select pg_temp.add('m', 'once', '0 * * * *', 'run_once');
select pg_temp.add('m', 'catch', '0 * * * *', 'catch_up');
select pg_temp.add('m', 'skip', '0 * * * *', 'skip');
select pg_temp.set_next('2030-01-07 17:00+00');
select syncsched.set_setting('catch_up_limit', '2');
select is(pg_temp.tick('10 hours 30 minutes') ->> 'triggered', '3', 'misfire tick: 1 + 2 + 0 runs');
select results_eq($$select scheduled_for from syncsched.sync_run_log where integration_id = 'once'$$,
    $$values ('2030-01-07 20:00+00'::timestamptz)$$, 'run_once: one run, for the latest period');
select results_eq(
    $$select scheduled_for, trigger from syncsched.sync_run_log where integration_id = 'catch' order by 1$$,
    $$values ('2030-01-07 17:00+00'::timestamptz, 'catch_up'), ('2030-01-07 18:00+00', 'catch_up')$$,
    'catch_up: the oldest periods first, catch_up_limit of them');
select is(pg_temp.next_of('catch'),
    '2030-01-07 19:00+00'::timestamptz, 'catch_up: the rest stays owed');
select is((select count(*)::int from syncsched.sync_run_log where integration_id = 'skip'), 0,
    'skip: no run beyond misfire_grace');
select ok(exists (select from syncsched.scheduler_alerts where kind = 'missed' and integration_id = 'skip'
    and (detail ->> 'missed')::int = 4), 'skip: a missed alert for the 4 periods');
select ok(exists (select from syncsched.scheduler_alerts where kind = 'missed' and integration_id = 'once'
    and (detail ->> 'missed')::int = 3), 'run_once: the 3 collapsed periods are reported');
select pg_temp.finish_runs();
select is(pg_temp.tick('10 hours 30 minutes') ->> 'triggered', '0',
    'the same tick (same p_now, a later batch) does not catch up more');
select is(pg_temp.tick('10 hours 31 minutes') ->> 'triggered', '2', 'the next tick catches up 2 more');
select syncsched.reset_setting('catch_up_limit');

-- pause
select syncsched.pause_scheduler();
select pg_temp.set_next('2030-01-08 00:00+00');
select is(pg_temp.tick('14 hours') - 'at' - 'duration_ms' - 'remaining' - 'invalid' - 'skipped_locked'
    - 'skipped_running' - 'skipped_duplicate', '{"due": 0, "triggered": 0, "paused": true}'::jsonb,
    'paused: the tick records itself and creates nothing');
select syncsched.resume_scheduler();
select is(pg_temp.tick('14 hours') ->> 'triggered', '2', 'resumed: runs again');

-- the schedule trigger
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
    cron_schedule) values ('t', 'i', 'xledger', '99 * * * *')$$, '22023',
    'syncsched: integration t/i has an invalid cron schedule "99 * * * *": minute: 99 is out of range 0-59',
    'invalid cron: the error names org, integration and problem');
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
    cron_schedule, timezone) values ('t', 'i', 'xledger', '0 2 * * *', 'Mars/Olympus_Mons')$$, '22023',
    'syncsched: integration t/i unknown time zone "Mars/Olympus_Mons"', 'unknown time zone');
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type)
    values ('t', 'i', 'xledger')$$, '22023',
    'syncsched: integration t/i is enabled but has no schedule: set cron_schedule or interval_minutes',
    'enabled without a schedule');
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
    interval_minutes) values ('t', 'i', 'xledger', 4)$$, '22023',
    'syncsched: integration t/i interval of 4 minutes is shorter than min_schedule_interval (5 minutes)',
    'an interval under 5 minutes');
select throws_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
    cron_schedule) values ('t', 'i', 'xledger', '0,2 * * * *')$$, '22023',
    'syncsched: integration t/i cron schedule "0,2 * * * *" fires 2 minute(s) apart, more often than min_schedule_interval (5 minutes)',
    'a cron firing more often than min_schedule_interval');
select throws_ok($$update syncsched.organization_integrations set interval_minutes = 10
    where integration_id = 'once'$$, '22023', null, 'both a cron and an interval');
select lives_ok($$insert into syncsched.organization_integrations (org_id, integration_id, integration_type,
    cron_schedule) values ('t', 'i', 'xledger', '0,5 * * * *')$$, 'five minutes apart is allowed');

-- disabling clears next_run_at and cancels pending runs
select syncsched.run_now('t', 'i');
select is(syncsched.disable_integration('t', 'i'), 1, 'disable_integration cancels the pending run');
select is(pg_temp.next_of('i'), null,
    'and clears next_run_at');
select isnt(syncsched.enable_integration('t', 'i'), null, 'enable_integration gives a next run again');

-- run_now
select ok(syncsched.run_now('t', 'i') > 0, 'run_now returns the run id');
select matches((select idempotency_key from syncsched.sync_run_log where trigger = 'manual' and status = 'pending'),
    '^t/i/manual/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$', 'a manual key: org/integration/manual/<timestamp>');
select throws_ok($$select syncsched.run_now('t', 'i')$$, '55006', null, 'refused while a run is pending');
select ok(syncsched.run_now('t', 'i', p_force => true) > 0, 'unless forced');
select throws_ok($$select syncsched.run_now('t', 'nope')$$, 'P0002', 'syncsched: no integration t/nope',
    'an unknown integration is a clear error');
select ok(syncsched.cancel_run((select max(run_id) from syncsched.sync_run_log)), 'cancel_run cancels a pending run');

-- upsert_integration
select ok(syncsched.upsert_integration('u', 'x', 'bufdir', p_interval_minutes => 60) > 0, 'upsert creates');
select is(syncsched.set_schedule('u', 'x', '30 6 * * 1-5', 'Europe/Oslo'),
    syncsched.cron_next('30 6 * * 1-5', now(), 'Europe/Oslo'), 'set_schedule returns the next run');
select throws_ok($$select syncsched.upsert_integration('u', 'y', 'bufdir', '0 2 * * *',
    p_payload => jsonb_build_object('blob', repeat('x', 70000)))$$, '22023', null, 'a payload over 64 kB is refused');

select * from finish();
rollback;
