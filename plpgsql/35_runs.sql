-- The run functions of the worker: claim, heartbeat, complete, fail, release.
-- Every write by a worker is fenced: run_id AND status = 'running' AND lease_token. A stale
-- worker's write changes nothing, returns false, and is recorded as a stale_write alert.

create or replace function syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text)
returns void
language plpgsql
immutable
as $$
begin
    -- a NULL is a caller's bug, not a lost lease: refused before anything is written
    if p_run_ids is null or p_lease_tokens is null or cardinality(p_run_ids) <> cardinality(p_lease_tokens)
        or array_position(p_run_ids, null) is not null or array_position(p_lease_tokens, null) is not null then
        raise exception 'syncsched: % needs one run id and one lease token per run, none of them null', p_caller
            using errcode = 'null_value_not_allowed';
    end if;
end
$$;
comment on function syncsched._require_held_runs(bigint[], uuid[], text) is
'Raise unless the run ids and lease tokens of a worker''s write pair up, none null.';

create or replace function syncsched._stale_write(p_action text, p_run_ids bigint[], p_worker_id text default null)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if cardinality(p_run_ids) > 0 then
        raise log 'syncsched: stale % refused for run(s) %', p_action, p_run_ids;
        perform syncsched._alert('stale_write', null, null, null,
            jsonb_build_object('action', p_action, 'run_ids', to_jsonb(p_run_ids), 'worker_id', p_worker_id));
    end if;
end
$$;

-- Its result columns grew (warm-up): CREATE OR REPLACE cannot change them, so it is created anew
-- (in migrate's transaction; 99_grants.sql grants it again).
drop function if exists syncsched.claim_runs(text, integer, interval);
create function syncsched.claim_runs(p_worker_id text, p_max integer, p_lease interval default null)
returns table (
    run_id bigint,
    lease_token uuid,
    lease_expires_at timestamptz,
    org_id text,
    integration_id text,
    integration_type text,
    scheduled_for timestamptz,
    idempotency_key text,
    attempt integer,
    max_attempts integer,
    payload jsonb,
    endpoint_url text,
    timeout_ms integer,
    connect_timeout_ms integer,
    auth_secret_env text,
    warmup boolean,
    health_url text,
    health_method text
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_lease interval := coalesce(p_lease, syncsched.setting('lease')::interval);
    v_threshold interval := syncsched.setting('drift_alert_threshold')::interval;
    v_idle interval := syncsched.setting('warmup_after')::interval;
    v_types text[];
    v_ids bigint[];
    v_cold text[];
begin
    if p_worker_id is null or p_worker_id = '' or length(p_worker_id) > 200 then
        raise exception 'syncsched: claim_runs needs a worker id (1-200 characters)'
            using errcode = 'invalid_parameter_value';
    end if;
    if p_max is null or p_max < 1 or p_max > 10000 then
        raise exception 'syncsched: claim_runs p_max must be 1-10000' using errcode = 'invalid_parameter_value';
    end if;
    if v_lease <= interval '0' or v_lease > interval '1 day' then
        raise exception 'syncsched: lease must be positive and at most a day' using errcode = 'invalid_parameter_value';
    end if;
    -- A dead worker's runs come back as soon as their lease expires, not at the next tick.
    perform syncsched.reap_expired_runs(now());
    -- The types with ready work, except those whose circuit is open (unhealthy in active
    -- mode): their runs wait, spending no attempt, until a health check succeeds.
    select array_agg(t.integration_type order by t.integration_type) into v_types
    from syncsched.integration_types as t
    where exists (
        select from syncsched.sync_run_log as r
        where r.status = 'pending' and r.not_before <= now() and r.integration_type = t.integration_type
    )
        and not exists (
            select from syncsched.endpoint_health as h
            where h.integration_type = t.integration_type and syncsched._circuit_open(h.mode, h.status)
        );
    if v_types is null then
        return;
    end if;
    -- Claims of one type take turns (a lock per type, in name order: no deadlock), so that
    -- max_concurrency holds across all workers. A claim is a few milliseconds: waiting beats
    -- coming back empty-handed and sleeping until the next poll.
    perform pg_advisory_xact_lock(1398361667, hashtext('claim:' || u.t))
    from unnest(v_types) as u (t)
    order by u.t;
    with running as (
        select r.integration_type, count(*)::integer as n
        from syncsched.sync_run_log as r
        where r.status = 'running' and r.integration_type = any(v_types)
        group by r.integration_type
    ),
    room as (
        select t.integration_type, t.max_concurrency - coalesce(running.n, 0) as free
        from syncsched.integration_types as t
        left join running on running.integration_type = t.integration_type
        where t.integration_type = any(v_types)
    ),
    -- the oldest ready runs of each type, read without locks: only the runs chosen are locked below
    candidates as (
        select c.*
        from unnest(v_types) as u (integration_type)
        cross join lateral (
            select r.run_id, r.org_id, r.integration_type, r.not_before
            from syncsched.sync_run_log as r
            where r.status = 'pending' and r.integration_type = u.integration_type and r.not_before <= now()
            order by r.not_before, r.run_id
            limit greatest(p_max * 20, 200)
        ) as c
    ),
    -- round robin across organizations: each org's oldest first, then each org's second, ...
    ranked as (
        select c.*, row_number() over (partition by c.org_id order by c.not_before, c.run_id) as org_rank
        from candidates as c
    ),
    typed as (
        select k.*,
            row_number() over (partition by k.integration_type order by k.org_rank, k.not_before, k.run_id)
                as type_rank
        from ranked as k
    ),
    chosen as (
        select t.run_id
        from typed as t
        join room on room.integration_type = t.integration_type
        where t.type_rank <= room.free
        order by t.org_rank, t.not_before, t.run_id
        limit p_max
    ),
    -- still pending once locked (another session may have cancelled one meanwhile)
    locked as (
        select r.run_id
        from syncsched.sync_run_log as r
        where r.run_id in (select chosen.run_id from chosen) and r.status = 'pending'
        for update skip locked
    ),
    claimed as (
        update syncsched.sync_run_log as r
        set status = 'running',
            started_at = now(),
            heartbeat_at = now(),
            worker_id = p_worker_id,
            lease_token = gen_random_uuid(),
            lease_expires_at = now() + v_lease,
            drift = coalesce(r.drift, now() - r.scheduled_for)
        from locked
        where r.run_id = locked.run_id
        returning r.run_id
    )
    select array_agg(claimed.run_id order by claimed.run_id) into v_ids from claimed;
    if v_ids is null then
        return;
    end if;
    perform syncsched._alert('drift', r.org_id, r.integration_id, r.integration_type,
        jsonb_build_object('run_id', r.run_id, 'scheduled_for', r.scheduled_for, 'started_at', r.started_at,
                           'drift_seconds', round(extract(epoch from r.drift))))
    from syncsched.sync_run_log as r
    where r.run_id = any(v_ids) and r.attempt = 0 and r.trigger <> 'manual' and r.drift > v_threshold;
    -- The endpoints are in use now; one idle for longer than warmup_after is warmed up first.
    -- (Written at most once a second per type: the hot path stays light.)
    with used as (
        select distinct r.integration_type from syncsched.sync_run_log as r where r.run_id = any(v_ids)
    ),
    previous as (
        select h.integration_type, h.last_used_at
        from syncsched.endpoint_health as h
        join used on used.integration_type = h.integration_type
        where h.last_used_at is null or h.last_used_at < now() - interval '1 second'
        for update of h
    ),
    touched as (
        update syncsched.endpoint_health as h
        set last_used_at = now()
        from previous
        where h.integration_type = previous.integration_type
        returning h.integration_type, previous.last_used_at
    )
    select array_agg(touched.integration_type) into v_cold
    from touched
    where touched.last_used_at is null or touched.last_used_at < now() - v_idle;
    return query
    select r.run_id, r.lease_token, r.lease_expires_at, r.org_id, r.integration_id, r.integration_type,
        r.scheduled_for, r.idempotency_key, r.attempt, r.max_attempts, r.payload, t.endpoint_url, t.timeout_ms,
        t.connect_timeout_ms, t.auth_secret_env, coalesce(r.integration_type = any(v_cold), false),
        coalesce(t.health_url, t.endpoint_url), t.health_method
    from syncsched.sync_run_log as r
    join syncsched.integration_types as t on t.integration_type = r.integration_type
    where r.run_id = any(v_ids)
    order by r.run_id;
end
$$;
comment on function syncsched.claim_runs(text, integer, interval) is
'Claim up to p_max pending runs whose not_before has passed, oldest first, round robin across organizations, within each type''s max_concurrency across all workers, skipping types whose circuit is open: each becomes running with a fresh lease_token and lease. Records drift (alert above drift_alert_threshold); warmup says the endpoint was idle longer than warmup_after. A handful of statements per claim, whatever its size.'; -- noqa: LT05

create or replace function syncsched.heartbeat(
    p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_lease interval default null
)
returns table (run_id bigint, applied boolean, lease_expires_at timestamptz)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_lease interval := coalesce(p_lease, syncsched.setting('lease')::interval);
begin
    perform syncsched._require_held_runs(p_run_ids, p_lease_tokens, 'heartbeat');
    return query
    with renewed as (
        update syncsched.sync_run_log as r
        set lease_expires_at = now() + v_lease, heartbeat_at = now()
        from unnest(p_run_ids, p_lease_tokens) as u (id, token)
        where r.run_id = u.id and r.status = 'running' and r.lease_token = u.token
        returning r.run_id, r.lease_expires_at
    )
    select u.id, renewed.run_id is not null, renewed.lease_expires_at
    from unnest(p_run_ids) as u (id)
    left join renewed on renewed.run_id = u.id;
end
$$;
comment on function syncsched.heartbeat(text, bigint[], uuid[], interval) is
'Extend the leases of running runs (fenced by their tokens); applied = false for a run this worker no longer holds.';

create or replace function syncsched.complete_runs(
    p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[]
)
returns table (run_id bigint, applied boolean)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_stale bigint[];
    v_types text[];
    v_keys text[];
begin
    perform syncsched._require_held_runs(p_run_ids, p_lease_tokens, 'complete_runs');
    -- one statement for many runs: the worker writes completions in batches
    with done as (
        update syncsched.sync_run_log as r
        set status = 'completed', finished_at = now(), http_status = u.http_status,
            response_excerpt = left(u.excerpt, 1048576), error = null
        from unnest(p_run_ids, p_lease_tokens, p_http_statuses, p_response_excerpts) as u (id, token, http_status, excerpt)
        where r.run_id = u.id and r.status = 'running' and r.lease_token = u.token
        returning r.run_id, r.org_id, r.integration_id, r.integration_type
    ),
    outcome as (
        select u.id, done.org_id, done.integration_id, done.integration_type
        from unnest(p_run_ids) as u (id)
        left join done on done.run_id = u.id
    )
    select coalesce(array_agg(o.id) filter (where o.org_id is null), '{}'),
        array_agg(distinct o.integration_type) filter (where o.org_id is not null),
        array_agg(syncsched._alert_key(k.kind, o.org_id, o.integration_id, null)) filter (where o.org_id is not null)
    into v_stale, v_types, v_keys
    from outcome as o
    cross join (values ('failing'), ('stale')) as k (kind);
    perform syncsched._stale_write('complete', v_stale);
    if v_types is not null then
        perform syncsched._health_from_runs(v_types, true);
        -- a success clears its integration's failing and stale alerts
        update syncsched.scheduler_alerts as a
        set resolved_at = now()
        where a.resolved_at is null and a.kind in ('stale', 'failing') and a.alert_key = any(v_keys);
    end if;
    return query select u.id, not (u.id = any(v_stale)) from unnest(p_run_ids) as u (id);
end
$$;
comment on function syncsched.complete_runs(bigint[], uuid[], integer[], text[]) is
'Mark many running runs completed in one statement (each fenced by its lease token); applied per run. Resolves the integrations'' failing and stale alerts; passive-mode types become healthy.'; -- noqa: LT05

create or replace function syncsched.complete_run(
    p_run_id bigint, p_lease_token uuid, p_http_status integer default null, p_response_excerpt text default null
)
returns boolean
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select c.applied
    from syncsched.complete_runs(array[p_run_id], array[p_lease_token], array[p_http_status],
                                 array[p_response_excerpt]) as c
$$;
comment on function syncsched.complete_run(bigint, uuid, integer, text) is
'Mark a running run completed (fenced by its lease token); false when this worker no longer holds it.';

create or replace function syncsched.retry_delay(p_attempt integer, p_retry_after interval default null)
returns interval
language plpgsql
volatile
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_base interval := syncsched.setting('retry_backoff_base')::interval;
    v_cap interval := syncsched.setting('retry_backoff_cap')::interval;
    v_ceiling interval := least(v_cap, v_base * power(2, least(greatest(p_attempt, 0), 30)));
begin
    -- exponential backoff with full jitter; a larger Retry-After from the endpoint wins
    return greatest(v_ceiling * random(), coalesce(p_retry_after, interval '0'));
end
$$;
comment on function syncsched.retry_delay(integer, interval) is
'Delay before retry number p_attempt: random in [0, min(cap, base * 2^attempt)], at least p_retry_after.';

create or replace function syncsched.fail_run(
    p_run_id bigint,
    p_lease_token uuid,
    p_error text,
    p_http_status integer default null,
    p_retryable boolean default true,
    p_retry_after interval default null
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_row syncsched.sync_run_log%rowtype;
begin
    perform syncsched._require_held_runs(array[p_run_id], array[p_lease_token], 'fail_run');
    update syncsched.sync_run_log as r
    set attempt = r.attempt + 1,
        status = case when coalesce(p_retryable, false) and r.attempt + 1 < r.max_attempts
                      then 'pending' else 'failed' end::syncsched.run_status,
        not_before = case when coalesce(p_retryable, false) and r.attempt + 1 < r.max_attempts
                          then now() + syncsched.retry_delay(r.attempt, p_retry_after) else r.not_before end,
        finished_at = case when coalesce(p_retryable, false) and r.attempt + 1 < r.max_attempts
                           then null else now() end,
        error = left(coalesce(p_error, 'failed'), 8192),
        http_status = p_http_status,
        lease_expires_at = null
    where r.run_id = p_run_id and r.status = 'running' and r.lease_token = p_lease_token
    returning r.* into v_row;
    if not found then
        perform syncsched._stale_write('fail', array[p_run_id]);
        return false;
    end if;
    if coalesce(p_retryable, false) then
        -- what a retry would help with is what says something about the endpoint
        perform syncsched._health_from_runs(array[v_row.integration_type], false, v_row.error);
    end if;
    if v_row.status = 'failed' then
        perform syncsched._alert('failing', v_row.org_id, v_row.integration_id, v_row.integration_type,
            jsonb_build_object('run_id', v_row.run_id, 'attempts', v_row.attempt, 'http_status', p_http_status,
                               'error', left(v_row.error, 500)));
    else
        perform pg_notify('syncsched_runs', json_build_object('retry', v_row.run_id, 'at', v_row.not_before)::text);
    end if;
    return true;
end
$$;
comment on function syncsched.fail_run(bigint, uuid, text, integer, boolean, interval) is
'A failed attempt (fenced): retryable and attempts left -> pending after retry_delay; else failed with a failing alert.';

create or replace function syncsched.release_run(p_run_id bigint, p_lease_token uuid)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    perform syncsched._require_held_runs(array[p_run_id], array[p_lease_token], 'release_run');
    update syncsched.sync_run_log as r
    set status = 'pending', not_before = now(), lease_expires_at = null, worker_id = null
    where r.run_id = p_run_id and r.status = 'running' and r.lease_token = p_lease_token;
    if not found then
        perform syncsched._stale_write('release', array[p_run_id]);
        return false;
    end if;
    perform pg_notify('syncsched_runs', json_build_object('released', p_run_id)::text);
    return true;
end
$$;
comment on function syncsched.release_run(bigint, uuid) is
'Give a running run back (pending again, no attempt spent), e.g. at worker shutdown; fenced by its lease token.';

create or replace function syncsched.queue_depth()
returns table (integration_type text, pending integer, running integer)
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select t.integration_type,
        (select count(*)::integer from syncsched.sync_run_log as r
         where r.status = 'pending' and r.integration_type = t.integration_type),
        (select count(*)::integer from syncsched.sync_run_log as r
         where r.status = 'running' and r.integration_type = t.integration_type)
    from syncsched.integration_types as t
    order by t.integration_type
$$;
comment on function syncsched.queue_depth() is
'Pending and running runs per integration type (the worker''s gauges).';
