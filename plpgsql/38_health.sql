-- Endpoint health, shared by all workers through endpoint_health.
-- active mode: workers send health checks (at most one per interval and type across all of
-- them, claimed with SKIP LOCKED), and while a type is unhealthy its runs are not claimed
-- (the circuit breaker in claim_runs). passive mode: no checks; run outcomes decide.
-- A check or warm-up succeeds when the server answers below 500 (it is up and answering);
-- 5xx, timeouts and connection errors fail it; 429 switches the type to passive mode.

create or replace function syncsched._circuit_open(p_mode text, p_status text)
returns boolean
language sql
immutable
parallel safe
as $$
    select p_mode = 'active' and p_status = 'unhealthy'
$$;
comment on function syncsched._circuit_open(text, text) is
'The circuit breaker: a type unhealthy in active mode gets no calls (its runs wait, its endpoint is not pre-warmed).';

create or replace function syncsched._health_checked(p_mode text, p_integration_type text)
returns boolean
language plpgsql
stable
parallel safe
as $$
begin
    -- active mode, and in use: an unconfigured example type is never pinged (PL/pgSQL: Citus plans
    -- no distributed query in a SQL function with parameters)
    return p_mode = 'active' and exists (
        select 1 from syncsched.organization_integrations as o
        where o.integration_type = p_integration_type and o.is_enabled
    );
end
$$;
comment on function syncsched._health_checked(text, text) is
'Whether the workers send health checks to a type: active mode, and an enabled integration of that type.';

create or replace function syncsched.worker_config()
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select jsonb_build_object(
        'lease', extract(epoch from syncsched.setting('lease')::interval),
        'health_check_timeout', extract(epoch from syncsched.setting('health_check_timeout')::interval),
        'warmup_timeout', extract(epoch from syncsched.setting('warmup_timeout')::interval),
        'scheduler_silent_after', extract(epoch from syncsched.setting('scheduler_silent_after')::interval),
        'allowed_private_hosts', syncsched.setting('allowed_private_hosts'),
        'allowed_insecure_hosts', syncsched.setting('allowed_insecure_hosts')
    )
$$;
comment on function syncsched.worker_config() is
'The settings a worker needs: lease, health_check_timeout, warmup_timeout, scheduler_silent_after (seconds), and the SSRF guard''s allowed_private_hosts and allowed_insecure_hosts.'; -- noqa: LT05

create or replace function syncsched._rate_limited_now(p_integration_type text)
returns boolean
language sql
stable
as $$
    -- an answer 429 holds the whole type: runs, health checks and warm-ups
    select exists (
        select from syncsched.dispatch_state as d
        where d.integration_type = p_integration_type and d.rate_limited_until > now()
    )
$$;
comment on function syncsched._rate_limited_now(text) is
'Whether an answer 429 holds the type now (dispatch_state.rate_limited_until not passed).';

-- Its columns grew (scheduling pauses, budgets): created anew at every migrate (99_grants grants it again).
drop function if exists syncsched.endpoint_states();
create function syncsched.endpoint_states()
returns table (
    integration_type text, status text, mode text, consecutive_failures integer, circuit_open boolean,
    rate_limited boolean, scheduling_paused boolean, rate_limit integer, requests_in_window integer
)
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select t.integration_type, coalesce(h.status, 'unknown'), coalesce(h.mode, 'active'),
        coalesce(h.consecutive_failures, 0), coalesce(syncsched._circuit_open(h.mode, h.status), false),
        coalesce(d.rate_limited_until > now(), false),
        coalesce(d.scheduling_paused, false) or syncsched.setting('scheduler_paused')::boolean,
        t.rate_limit, t.rate_limit - syncsched._budget_left(t.integration_type, t.rate_limit, t.rate_window)
    from syncsched.integration_types as t
    left join syncsched.endpoint_health as h on t.integration_type = h.integration_type
    left join syncsched.dispatch_state as d on t.integration_type = d.integration_type
    order by t.integration_type
$$;
comment on function syncsched.endpoint_states() is
'Per integration type (the worker''s gauges): its endpoint''s health status and mode, consecutive failures, whether the circuit breaker holds its runs, whether a 429 holds them (rate_limited_until not passed), whether its scheduling is paused, and its request budget with what the current window used of it (NULL: no budget).'; -- noqa: LT05

create or replace function syncsched._endpoints(p_integration_types text[], p_timeout_cap interval default null)
returns table (
    integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer
)
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select t.integration_type, coalesce(t.health_url, t.endpoint_url), t.health_method,
        least(t.timeout_ms, (extract(epoch from p_timeout_cap) * 1000)::integer), t.connect_timeout_ms
    from syncsched.integration_types as t
    where t.integration_type = any(p_integration_types)
$$;
comment on function syncsched._endpoints(text[], interval) is
'Where a health check or warm-up of these types goes: health_url (else endpoint_url), method and timeouts.';

create or replace function syncsched._claim_health_checks(p_worker_id text, p_max integer, p_transport text)
returns table (
    integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_timeout interval := syncsched.setting('health_check_timeout')::interval;
    v_type text;
    v_claimed text[] := '{}';
begin
    if p_worker_id is null or p_worker_id = '' or p_max is null or p_max < 1 or p_max > 1000 then
        raise exception 'syncsched: claim_health_checks needs a worker id and p_max 1-1000'
            using errcode = 'invalid_parameter_value';
    end if;
    -- The types due a check, in name order, each as claims of runs take it: the type's claim lock
    -- and its budget first (a check is a request), then its row, skipped when another worker holds
    -- it. The same order everywhere, so that no claim waits on another in a circle. A type a 429
    -- holds is not checked until its Retry-After has passed.
    for v_type in
        select h.integration_type
        from syncsched.endpoint_health as h
        join syncsched.integration_types as t on t.integration_type = h.integration_type
        where t.transport = p_transport
            and coalesce(h.next_check_at, '-infinity') <= now() and syncsched._health_checked(h.mode, h.integration_type)
            and not syncsched._rate_limited_now(h.integration_type)
        order by h.integration_type
        limit p_max
    loop
        continue when not syncsched._take_budget(v_type, 1);
        perform
        from syncsched.endpoint_health as h
        where h.integration_type = v_type and coalesce(h.next_check_at, '-infinity') <= now()
        for update skip locked;
        continue when not found;
        -- held while the check runs; record_health_check sets the real next check
        update syncsched.endpoint_health as h
        set next_check_at = now() + v_timeout + interval '30 seconds', updated_at = now()
        where h.integration_type = v_type;
        v_claimed := v_claimed || v_type;
    end loop;
    return query select e.* from syncsched._endpoints(v_claimed, v_timeout) as e;
end
$$;
comment on function syncsched._claim_health_checks(text, integer, text) is
'Health checks due now of the types of one transport (worker or pg_net) (active mode, types with enabled integrations), each claimed by one worker: at most one check per type and interval across all workers.'; -- noqa: LT05

create or replace function syncsched.claim_health_checks(p_worker_id text, p_max integer default 10)
returns table (
    integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    return query select * from syncsched._claim_health_checks(p_worker_id, p_max, 'worker');
end
$$;
comment on function syncsched.claim_health_checks(text, integer) is
'Health checks due now of types whose transport is worker (active mode, types with enabled integrations), each claimed by one worker: at most one check per type and interval across all workers.'; -- noqa: LT05

create or replace function syncsched.next_health_check_at()
returns timestamptz
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select min(coalesce(h.next_check_at, now()))
    from syncsched.endpoint_health as h
    join syncsched.integration_types as t on t.integration_type = h.integration_type
    where t.transport = 'worker' and syncsched._health_checked(h.mode, h.integration_type)
$$;
comment on function syncsched.next_health_check_at() is
'When the next health check of a worker type is due (null: none in active mode); workers sleep until then.';

create or replace function syncsched._health_changed(p_integration_type text, p_from text, p_to text, p_detail jsonb)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if p_to = 'unhealthy' and p_from <> 'unhealthy' then
        perform syncsched._alert('endpoint_unhealthy', null, null, p_integration_type, p_detail);
    elsif p_to = 'healthy' and p_from = 'unhealthy' then
        perform syncsched._resolve_alerts(
            array[syncsched._alert_key('endpoint_unhealthy', null, null, p_integration_type)]
        );
        perform syncsched._alert('endpoint_recovered', null, null, p_integration_type, p_detail);
        -- the circuit closed: the runs it held may go now, not at the workers' next poll
        perform pg_notify('syncsched_runs', json_build_object('recovered', p_integration_type)::text);
    end if;
end
$$;
comment on function syncsched._health_changed(text, text, text, jsonb) is
'Alerts of a health transition: endpoint_unhealthy when a type turns unhealthy, endpoint_recovered (resolving it, and waking the workers) when it is healthy again.'; -- noqa: LT05

create or replace function syncsched.record_health_check(
    p_integration_type text,
    p_ok boolean,
    p_http_status integer default null,
    p_error text default null,
    p_duration_ms integer default null
)
returns text
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_prev syncsched.endpoint_health%rowtype;
    v_interval interval;
    v_cap interval := syncsched.setting('health_backoff_cap')::interval;
    v_status text;
    v_detail jsonb;
begin
    select * into v_prev from syncsched.endpoint_health as h where h.integration_type = p_integration_type for update;
    if not found or p_ok is null then
        raise exception 'syncsched: record_health_check needs a known type and p_ok' using errcode = 'invalid_parameter_value';
    end if;
    select t.health_check_interval into v_interval
    from syncsched.integration_types as t
    where t.integration_type = p_integration_type;
    v_detail := jsonb_build_object('http_status', p_http_status, 'error', left(p_error, 500),
        'duration_ms', p_duration_ms, 'consecutive_failures', v_prev.consecutive_failures + 1);
    if p_http_status = 429 then
        -- the health check itself is rate-limited: stop pinging, follow run outcomes instead
        update syncsched.endpoint_health as h
        set mode = 'passive', next_check_at = null, last_check_at = now(), updated_at = now(),
            last_error = 'health check answered 429: switched to passive mode'
        where h.integration_type = p_integration_type;
        perform syncsched._alert('endpoint_passive', null, null, p_integration_type, v_detail);
        return v_prev.status;
    end if;
    if v_prev.mode <> 'active' then
        return v_prev.status;  -- switched to passive while the check ran
    end if;
    if p_ok then
        update syncsched.endpoint_health as h
        set status = 'healthy', consecutive_failures = 0, last_check_at = now(), last_success_at = now(),
            next_check_at = now() + v_interval, last_error = null, updated_at = now()
        where h.integration_type = p_integration_type
        returning h.status into v_status;
    else
        -- back off: interval * 2^failures, capped
        update syncsched.endpoint_health as h
        set status = 'unhealthy', consecutive_failures = h.consecutive_failures + 1, last_check_at = now(),
            next_check_at = now() + least(v_cap, v_interval * power(2, least(h.consecutive_failures + 1, 30))),
            last_error = left(coalesce(p_error, 'HTTP ' || p_http_status, 'failed'), 1000), updated_at = now()
        where h.integration_type = p_integration_type
        returning h.status into v_status;
    end if;
    perform syncsched._health_changed(p_integration_type, v_prev.status, v_status, v_detail);
    return v_status;
end
$$;
comment on function syncsched.record_health_check(text, boolean, integer, text, integer) is
'The outcome of an active health check: healthy (next check after the type''s interval) or unhealthy (next after interval * 2^failures, at most health_backoff_cap); 429 switches the type to passive mode. Returns the status.'; -- noqa: LT05

create or replace function syncsched._health_from_runs(
    p_integration_types text[], p_ok boolean, p_error text default null
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_threshold integer;
    v_change record;
    v_now timestamptz := now();  -- (Citus allows no now() in a CASE of a reference table's UPDATE)
begin
    -- Passive mode only, and only rows that change: nothing is written while all is well, and
    -- nothing is read past this check on the hot path when no type is passive.
    if not exists (
        select from syncsched.endpoint_health as h
        where h.integration_type = any(p_integration_types) and h.mode = 'passive'
    ) then
        return;
    end if;
    v_threshold := syncsched.setting('passive_failure_threshold')::integer;
    for v_change in
        with previous as (
            select h.integration_type, h.status
            from syncsched.endpoint_health as h
            where h.integration_type = any(p_integration_types) and h.mode = 'passive'
                and (not p_ok or h.status <> 'healthy' or h.consecutive_failures > 0)
            for update
        )
        update syncsched.endpoint_health as h
        set consecutive_failures = case when p_ok then 0 else h.consecutive_failures + 1 end,
            status = case
                when p_ok then 'healthy'
                when h.consecutive_failures + 1 >= v_threshold then 'unhealthy'
                else h.status
            end,
            last_success_at = case when p_ok then v_now else h.last_success_at end,
            last_error = case when p_ok then null else left(p_error, 1000) end,
            updated_at = now()
        from previous
        where h.integration_type = previous.integration_type
        returning h.integration_type, previous.status as was, h.status as now_is, h.consecutive_failures
    loop
        perform syncsched._health_changed(v_change.integration_type, v_change.was, v_change.now_is,
            jsonb_build_object('mode', 'passive', 'consecutive_failures', v_change.consecutive_failures,
                               'error', left(p_error, 500)));
    end loop;
end
$$;
comment on function syncsched._health_from_runs(text[], boolean, text) is
'Passive mode: a completed run makes its type healthy; passive_failure_threshold failed attempts in a row make it unhealthy.';

-- It grew p_claimed (the warm-up of a claim whose runs wait for it): the old one goes.
drop function if exists syncsched.record_warmup(text, boolean, integer, text);
create or replace function syncsched.record_warmup(
    p_integration_type text, p_ok boolean, p_duration_ms integer, p_error text default null,
    p_claimed boolean default false
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_threshold interval := syncsched.setting('cold_start_threshold')::interval;
    v_cold boolean := not coalesce(p_ok, false) or p_duration_ms * interval '1 millisecond' > v_threshold;
begin
    if not exists (select from syncsched.integration_types as t where t.integration_type = p_integration_type) then
        raise exception 'syncsched: no integration type %', left(p_integration_type, 100) using errcode = 'no_data_found';
    end if;
    if v_cold then
        perform syncsched._alert('cold_start', null, null, p_integration_type,
            jsonb_build_object('duration_ms', p_duration_ms, 'ok', p_ok, 'error', left(p_error, 500)));
    end if;
    if p_claimed then
        -- The claim's runs were counted against the budget as late as they might go (warmup_timeout
        -- after the claim: one cold claim per idle spell); they go now, and count from now.
        update syncsched.request_ledger as l set at = now()
        where l.integration_type = p_integration_type and l.at > now();
    end if;
    return v_cold;
end
$$;
comment on function syncsched.record_warmup(text, boolean, integer, text, boolean) is
'The outcome of a warm-up request: slower than cold_start_threshold, or failing, is a cold_start alert. p_claimed: the warm-up of a claim, whose runs go now (the budget counts them from now). Returns whether it was cold.'; -- noqa: LT05

create or replace function syncsched.upcoming_runs(
    p_within interval default interval '1 minute', p_now timestamptz default now()
)
returns table (org_id text, integration_id text, integration_type text, next_run_at timestamptz)
language plpgsql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- (PL/pgSQL: Citus plans no SQL function's parameters)
    return query
    select o.org_id, o.integration_id, o.integration_type, s.next_run_at
    from syncsched.schedule_state as s
    join syncsched.organization_integrations as o on o.org_id = s.org_id and o.id = s.id
    where s.next_run_at <= p_now + p_within
    order by s.next_run_at, s.id;
end
$$;
comment on function syncsched.upcoming_runs(interval, timestamptz) is
'Integrations whose next scheduled run is within p_within (or overdue), soonest first; read through the next_run_at index.';

create or replace function syncsched.claim_prewarm(p_within interval default null)
returns table (
    integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_within interval := coalesce(p_within, syncsched.setting('prewarm_ahead')::interval);
    v_idle interval := syncsched.setting('warmup_after')::interval;
    v_type text;
    v_warmed text[] := '{}';
begin
    -- Marking the endpoint used is the claim: another worker re-reading the row finds it fresh.
    -- In name order, the type's claim lock and budget before its row, as claim_health_checks.
    for v_type in
        select distinct u.integration_type
        from syncsched.upcoming_runs(v_within) as u
        join syncsched.endpoint_health as h on h.integration_type = u.integration_type
        join syncsched.integration_types as t on t.integration_type = u.integration_type
        where t.transport = 'worker' and (h.last_used_at is null or h.last_used_at < now() - v_idle)
            and not syncsched._circuit_open(h.mode, h.status)
            and not syncsched._rate_limited_now(h.integration_type)
        order by 1
    loop
        continue when not syncsched._take_budget(v_type, 1);
        update syncsched.endpoint_health as h
        set last_used_at = now(), updated_at = now()
        where h.integration_type = v_type and (h.last_used_at is null or h.last_used_at < now() - v_idle)
            and h.ctid = (
                select x.ctid from syncsched.endpoint_health as x where x.integration_type = v_type
                for update skip locked
            );
        if found then
            v_warmed := v_warmed || v_type;
        end if;
    end loop;
    return query select e.* from syncsched._endpoints(v_warmed) as e;
end
$$;
comment on function syncsched.claim_prewarm(interval) is
'Idle endpoints (unused for warmup_after) of runs scheduled within p_within (prewarm_ahead): each returned to one worker, which warms it up.';

create or replace function syncsched.set_endpoint_mode(p_integration_type text, p_mode text)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_now timestamptz := now();  -- (Citus allows no now() in a CASE of a reference table's UPDATE)
begin
    if p_mode is null or p_mode not in ('active', 'passive') then
        raise exception 'syncsched: endpoint mode must be active or passive' using errcode = 'invalid_parameter_value';
    end if;
    update syncsched.endpoint_health as h
    set mode = p_mode, status = 'unknown', consecutive_failures = 0, updated_at = now(),
        next_check_at = case when p_mode = 'active' then v_now end
    where h.integration_type = p_integration_type;
    if not found then
        raise exception 'syncsched: no integration type %', left(p_integration_type, 100) using errcode = 'no_data_found';
    end if;
    perform syncsched._resolve_alerts(array[
        syncsched._alert_key('endpoint_passive', null, null, p_integration_type),
        syncsched._alert_key('endpoint_unhealthy', null, null, p_integration_type)
    ]);
end
$$;
comment on function syncsched.set_endpoint_mode(text, text) is
'Switch a type''s health to active (checked by the workers, circuit breaker on) or passive (run outcomes only); the status starts over as unknown.';

create or replace function syncsched._integration_type_after_insert()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- (into this node's copies where Citus made them reference tables, as each copy of the types
    -- fires this: a write from here to every node's would wait on this statement's own locks)
    execute format('insert into %s (integration_type) values ($1) on conflict (integration_type) do nothing',
        syncsched._local_copy('syncsched.endpoint_health'))
        using new.integration_type;
    execute format('insert into %s (integration_type) values ($1) on conflict (integration_type) do nothing',
        syncsched._local_copy('syncsched.dispatch_state'))
        using new.integration_type;
    return null;
end
$$;
comment on function syncsched._integration_type_after_insert() is
'A new integration type gets its endpoint_health row (status unknown, active mode) and its dispatch_state row.';

create or replace trigger integration_types_health
after insert on syncsched.integration_types
for each row execute function syncsched._integration_type_after_insert();
comment on trigger integration_types_health on syncsched.integration_types is
'Each new type gets its endpoint_health and dispatch_state rows.';

-- (it grew p_health: a trigger on each copy of the types resets that node's copy, on Citus)
drop function if exists syncsched._reset_endpoint_health(text, text, jsonb);
create or replace function syncsched._reset_endpoint_health(
    p_integration_type text, p_action text, p_detail jsonb, p_health regclass default 'syncsched.endpoint_health'
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_before syncsched.endpoint_health%rowtype;
    v_now timestamptz := now();  -- (Citus allows no now() in a CASE of a reference table's UPDATE)
begin
    -- Health starts over: unknown (the circuit is closed: runs are claimed again), a check due at
    -- once in active mode (the workers look at the health schedule at least every 15 seconds).
    execute format('select * from %s as h where h.integration_type = $1 for update', p_health)
        into v_before using p_integration_type;
    execute format('update %s as h set status = %L, consecutive_failures = 0, last_error = null, updated_at = $2,'
        ' next_check_at = case when h.mode = %L then $2 end where h.integration_type = $1', p_health, 'unknown', 'active')
        using p_integration_type, v_now;
    if syncsched._on_citus_worker() then
        return;  -- a worker's copy: the alert and the audit entry are the coordinator's (its copy does them)
    end if;
    perform syncsched._resolve_alerts(
        array[syncsched._alert_key('endpoint_unhealthy', null, null, p_integration_type)]
    );
    perform syncsched._audit(p_action, null, null, p_integration_type, null,
        coalesce(p_detail, '{}') || jsonb_build_object('status_before', v_before.status, 'mode', v_before.mode,
            'consecutive_failures_before', v_before.consecutive_failures));
end
$$;
comment on function syncsched._reset_endpoint_health(text, text, jsonb, regclass) is
'Start a type''s health over (unknown, a check due at once in active mode, its endpoint_unhealthy alert resolved), audited.';

create or replace function syncsched.check_endpoint_now(p_integration_type text)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if p_integration_type is null or not exists (
        select from syncsched.integration_types as t where t.integration_type = p_integration_type
    ) then
        raise exception 'syncsched: unknown integration type %', coalesce('"' || left(p_integration_type, 64) || '"', '(null)')
            using errcode = 'invalid_parameter_value', hint = syncsched._integration_types_hint();
    end if;
    perform syncsched._reset_endpoint_health(p_integration_type, 'check_endpoint_now', '{}');
end
$$;
comment on function syncsched.check_endpoint_now(text) is
'After fixing an endpoint: its health starts over as unknown (the circuit breaker lets its runs through again) and a health check is due at once (active mode). Audited.'; -- noqa: LT05

create or replace function syncsched._integration_type_after_endpoint_change()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- (this node's copy of the health where Citus made it a reference table: each copy of the types
    -- fires this, and a write from here to every node's would wait on this statement's own locks)
    perform syncsched._reset_endpoint_health(new.integration_type, 'endpoint_changed', jsonb_build_object(
        'endpoint_url', jsonb_build_object('from', old.endpoint_url, 'to', new.endpoint_url),
        'health_url', jsonb_build_object('from', old.health_url, 'to', new.health_url)
    ), syncsched._local_copy('syncsched.endpoint_health'));
    return null;
end
$$;
comment on function syncsched._integration_type_after_endpoint_change() is
'A type whose endpoint_url or health_url changed starts its health over, as check_endpoint_now does.';

create or replace trigger integration_types_endpoint_changed
after update of endpoint_url, health_url on syncsched.integration_types
for each row when (old.endpoint_url is distinct from new.endpoint_url or old.health_url is distinct from new.health_url)
execute function syncsched._integration_type_after_endpoint_change();
comment on trigger integration_types_endpoint_changed on syncsched.integration_types is
'A new endpoint_url or health_url: the old health says nothing about it (health unknown, a check at once).';
