-- The worker's run functions: claim, fenced writes, retries, release, heartbeat, caps, fairness.
begin;
select plan(39);

insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)
select o, i, 'xledger', 60 from unnest(array['a', 'b']) as o, unnest(array['i1', 'i2', 'i3', 'i4', 'i5']) as i;
create function pg_temp.add_run(p_org text, p_integration text, p_type text default 'xledger',
    p_scheduled timestamptz default now() - interval '1 minute', p_max_attempts int default 3) returns bigint
language sql as $$
    -- as a tick a minute late would have created it, 30 seconds ago
    insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key,
        trigger, max_attempts, enqueued_at, not_before, drift)
    values (p_org, p_integration, p_type, p_scheduled, p_org || '/' || p_integration || '/' || gen_random_uuid(),
        'schedule', p_max_attempts, now() - interval '30 seconds', now() - interval '30 seconds', interval '1 minute')
    returning run_id
$$;

-- claim
select pg_temp.add_run('a', 'i1');
create temporary table claimed as select * from syncsched.claim_runs('w1', 10);
select is((select count(*)::int from claimed), 1, 'claim_runs returns the pending run');
select results_eq($$select status::text, worker_id from syncsched.sync_run_log$$, $$values ('running', 'w1')$$,
    'the run is running, held by the worker');
select isnt((select lease_token from claimed), null, 'with a lease token');
select ok((select lease_expires_at from claimed) between now() + interval '59 seconds' and now() + interval '61 seconds',
    'and the default lease of 60 s');
select is((select endpoint_url from claimed), 'https://xledger.example.invalid/sync', 'the endpoint comes along');
select ok((select drift from syncsched.sync_run_log) >= interval '90 seconds',
    'drift = the tick''s lateness + the time the run waited for its claim');
select is((select attempt from claimed), 1, 'the first claim starts attempt 1');
select is((select count(*)::int from syncsched.claim_runs('w2', 10)), 0, 'a running run is not claimed again');

-- fenced writes
select is(syncsched.complete_run((select run_id from claimed), gen_random_uuid(), 200, 'ok'), false,
    'a write with a stale token is refused');
select is((select status::text from syncsched.sync_run_log), 'running', '... and changes nothing');
select is((select count(*)::int from syncsched.scheduler_alerts where kind = 'stale_write'), 1, '... and is recorded');
select is(syncsched.complete_run((select run_id from claimed), (select lease_token from claimed), 200, '{"ok":true}'),
    true, 'the holder completes the run');
select results_eq($$select status::text, http_status, response_excerpt from syncsched.sync_run_log$$,
    $$values ('completed', 200, '{"ok":true}')$$, 'completed with status and excerpt');
select is(syncsched.fail_run((select run_id from claimed), (select lease_token from claimed), 'late'), false,
    'a completed run cannot be failed afterwards');

-- retries
delete from syncsched.sync_run_log;
select pg_temp.add_run('a', 'i1', p_max_attempts => 2);
truncate claimed;
insert into claimed select * from syncsched.claim_runs('w1', 1);
select is(syncsched.fail_run((select run_id from claimed), (select lease_token from claimed), 'HTTP 500', 500, true),
    true, 'a retryable failure applies');
select results_eq($$select status::text, attempt, not_before > now(), finished_at from syncsched.sync_run_log$$,
    $$values ('pending', 1, true, null::timestamptz)$$, '... back to pending after attempt 1, not before the backoff');
select results_eq($$select attempt, outcome, http_status, error from syncsched.sync_run_attempts$$,
    $$values (1, 'failed', 500, 'HTTP 500')$$, '... and the failed attempt is on record');
select is((select count(*)::int from syncsched.claim_runs('w1', 1)), 0, 'not claimed during its backoff');
update syncsched.sync_run_log set not_before = now();
truncate claimed;
insert into claimed select * from syncsched.claim_runs('w1', 1);
select is((select attempt from claimed), 2, 'the next claim starts attempt 2');
select is(syncsched.fail_run((select run_id from claimed), (select lease_token from claimed), 'HTTP 500', 500, true),
    true, 'the last attempt fails');
select results_eq($$select status::text, attempt from syncsched.sync_run_log$$, $$values ('failed', 2)$$,
    '... failed after max_attempts');
select results_eq($$select attempt, outcome from syncsched.sync_run_attempts order by attempt$$,
    $$values (1, 'failed'), (2, 'failed')$$, '... both attempts on record');
select is((select count(*)::int from syncsched.scheduler_alerts where kind = 'failing'), 1, '... with a failing alert');
select ok(syncsched.retry_delay(3, interval '1 hour') >= interval '1 hour', 'Retry-After wins when larger');
select ok(syncsched.retry_delay(20) <= interval '1 hour', 'the backoff is capped');
select ok((
    select bool_and(mean > previous) from (
        select mean, lag(mean) over (order by attempt) as previous
        from (select a as attempt, avg(extract(epoch from syncsched.retry_delay(a))) as mean
              from generate_series(1, 5) as a, generate_series(1, 400) as sample group by a) as m
    ) as growth where previous is not null
), 'delays grow with the attempt (mean of 400 jittered delays each)');

-- not retryable, release
delete from syncsched.sync_run_log;
select pg_temp.add_run('a', 'i1');
truncate claimed;
insert into claimed select * from syncsched.claim_runs('w1', 1);
select ok(syncsched.release_run((select run_id from claimed), (select lease_token from claimed)), 'release applies');
select results_eq($$select status::text, attempt from syncsched.sync_run_log$$, $$values ('pending', 1)$$,
    'released: pending again; the attempt (its call may have reached the endpoint) counts');
select results_eq($$select attempt, outcome from syncsched.sync_run_attempts$$, $$values (1, 'released')$$,
    '... and is on record as released');
truncate claimed;
insert into claimed select * from syncsched.claim_runs('w1', 1);
select ok(syncsched.fail_run((select run_id from claimed), (select lease_token from claimed), 'HTTP 404', 404, false),
    'a 404 fails at once');
select is((select status::text from syncsched.sync_run_log), 'failed', '... no retry');

-- heartbeat
delete from syncsched.sync_run_log;
select pg_temp.add_run('a', 'i1');
truncate claimed;
insert into claimed select * from syncsched.claim_runs('w1', 1, interval '10 seconds');
select results_eq(
    $$select applied from syncsched.heartbeat('w1', array[(select run_id from claimed), -1],
        array[(select lease_token from claimed), gen_random_uuid()], interval '5 minutes')$$,
    $$values (true), (false)$$, 'heartbeat renews held runs only');
select ok((select lease_expires_at from syncsched.sync_run_log) > now() + interval '4 minutes', 'the lease is longer');

-- fairness and caps
delete from syncsched.sync_run_log;
select pg_temp.add_run('a', 'i' || g, p_scheduled => now() - g * interval '1 hour') from generate_series(1, 5) as g;
select pg_temp.add_run('b', 'i1', p_scheduled => now() - interval '1 minute');
select set_eq($$select org_id from syncsched.claim_runs('w1', 2)$$, array['a', 'b'],
    'round robin: one org''s backlog does not starve another');
update syncsched.sync_run_log set status = 'pending', lease_token = null, lease_expires_at = null;
update syncsched.integration_types set max_concurrency = 2 where integration_type = 'xledger';
select is((select count(*)::int from syncsched.claim_runs('w1', 10)), 2, 'max_concurrency caps a claim ...');
select is((select count(*)::int from syncsched.claim_runs('w2', 10)), 0, '... across workers');

-- who may call them
select function_privs_are('syncsched', 'claim_runs', array['text', 'integer', 'interval'], 'syncsched_worker',
    array['EXECUTE'], 'the worker role claims runs');
select function_privs_are('syncsched', 'claim_runs', array['text', 'integer', 'interval'], 'syncsched_admin',
    array[]::text[], 'the admin role does not');
select function_privs_are('syncsched', 'upsert_integration',
    array['text', 'text', 'text', 'text', 'integer', 'text', 'jsonb', 'boolean', 'text', 'integer'],
    'syncsched_worker', array[]::text[], 'the worker role cannot configure');

select * from finish();
rollback;
