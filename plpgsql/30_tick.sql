-- The tick: what pg_cron calls every minute.

create or replace function syncsched.due_integrations(p_at timestamptz default now())
returns table (org_id text, integration_id text, integration_type text, scheduled_for timestamptz)
language plpgsql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_row record;
    v_minute timestamptz := date_trunc('minute', p_at);
begin
    -- Stateless: reads the configuration only, by cron semantics. A row that cannot be
    -- evaluated (trigger bypassed, zone gone from tzdata) is left out with a WARNING.
    for v_row in
        select o.org_id, o.integration_id, o.integration_type, o.cron_schedule, o.interval_minutes, o.timezone
        from syncsched.organization_integrations as o
        where o.is_enabled and (o.cron_schedule is not null or o.interval_minutes is not null)
        order by o.org_id, o.integration_id
    loop
        begin
            if syncsched._schedule_next(
                case when v_row.interval_minutes is null then syncsched._cron_parse(v_row.cron_schedule) end,
                v_row.interval_minutes, v_row.timezone, v_minute - interval '1 second'
            ) = v_minute then
                org_id := v_row.org_id;
                integration_id := v_row.integration_id;
                integration_type := v_row.integration_type;
                scheduled_for := v_minute;
                return next;
            end if;
        exception when others then
            raise warning 'syncsched: integration %/% left out: %', v_row.org_id, v_row.integration_id, sqlerrm;
        end;
    end loop;
end
$$;
comment on function syncsched.due_integrations(timestamptz) is
'Enabled integrations whose schedule fires in the minute containing p_at (stateless). Invalid rows are left out with a WARNING.';

create or replace function syncsched._due_periods(
    p_spec syncsched.cron_spec,
    p_cron_schedule text,
    p_interval_minutes integer,
    p_timezone text,
    p_next_run_at timestamptz,
    p_now timestamptz,
    p_policy syncsched.misfire_policy,
    p_grace interval,
    p_catch_up_limit integer,
    out periods timestamptz[],
    out missed timestamptz[],
    out next_run_at timestamptz
)
language plpgsql
stable
as $$
declare
    v_spec syncsched.cron_spec := p_spec;
    v_period timestamptz := p_next_run_at;
    v_jump timestamptz;
    v_count integer := 0;
begin
    -- The due periods are the fire times in [next_run_at, p_now]; the policy decides which run.
    periods := '{}';
    missed := '{}';
    if p_interval_minutes is null and v_spec is null then
        v_spec := syncsched._cron_parse(p_cron_schedule);
    end if;
    if p_policy <> 'catch_up' and p_now - v_period > interval '2 days' then
        -- long silence: when the schedule fired within the last day, only that day matters
        v_jump := syncsched._schedule_next(v_spec, p_interval_minutes, p_timezone, p_now - interval '1 day');
        if v_jump <= p_now then
            missed := array[v_period];
            v_period := v_jump;
        end if;
    end if;
    while v_period <= p_now loop
        v_count := v_count + 1;
        exit when p_policy = 'catch_up' and v_count > p_catch_up_limit;
        periods := periods || v_period;
        v_period := syncsched._schedule_next(v_spec, p_interval_minutes, p_timezone, v_period);
    end loop;
    next_run_at := v_period;
    if p_policy = 'run_once' and cardinality(periods) > 1 then
        missed := missed || periods[1:cardinality(periods) - 1];
        periods := periods[cardinality(periods):];
    elsif p_policy = 'skip' then
        missed := missed || array(select p from unnest(periods) as p where p_now - p > p_grace);
        periods := array(select p from unnest(periods) as p where p_now - p <= p_grace order by p desc limit 1);
    end if;
end
$$;
comment on function syncsched._due_periods(
    syncsched.cron_spec, text, integer, text, timestamptz, timestamptz, syncsched.misfire_policy, interval, integer
) is
'The periods of one integration that get a run now, those missed, and its next period, by misfire policy.';

create or replace function syncsched.run_scheduled_jobs(p_now timestamptz default now(), p_limit integer default 5000)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_started timestamptz := clock_timestamp();
    v_paused boolean := syncsched.setting('scheduler_paused')::boolean;
    v_skip_window interval := syncsched.setting('running_skip_window')::interval;
    v_catch_up_limit integer := syncsched.setting('catch_up_limit')::integer;
    v_default_attempts integer := syncsched.setting('default_max_attempts')::integer;
    -- the batch, one array element per due integration
    a_id bigint[];
    a_org text[];
    a_integration text[];
    a_type text[];
    a_cron text[];
    a_spec syncsched.cron_spec[];
    a_interval integer[];
    a_tz text[];
    a_policy syncsched.misfire_policy[];
    a_grace interval[];
    a_payload jsonb[];
    a_attempts integer[];
    a_next timestamptz[];
    a_locked boolean[];
    a_live boolean[];
    a_new_next timestamptz[];
    a_done boolean[];
    a_error text[];
    -- the runs to create
    r_row integer[] := '{}';
    r_period timestamptz[] := '{}';
    v_due integer;
    v_i integer;
    v_due_periods record;
    v_careful boolean := false;
    v_triggered integer := 0;
    v_locked integer := 0;
    v_running integer := 0;
    v_duplicate integer := 0;
    v_invalid integer := 0;
    v_remaining integer := 0;
    v_result jsonb;
begin
    if p_now is null or p_limit is null or p_limit < 1 then
        raise exception 'run_scheduled_jobs: p_now must be given and p_limit at least 1'
            using errcode = 'invalid_parameter_value';
    end if;

    -- 1. The due rows, oldest first, through the next_run_at index; rows another tick holds
    --    are skipped, and each integration is locked (advisory, collision-free key).
    with batch as (
        select o.*
        from syncsched.organization_integrations as o
        where o.is_enabled and o.next_run_at <= p_now and o.last_tick_at is distinct from p_now
            and not v_paused
        order by o.next_run_at
        limit p_limit
        for update skip locked
    )
    select array_agg(b.id order by b.next_run_at, b.id), array_agg(b.org_id order by b.next_run_at, b.id),
        array_agg(b.integration_id order by b.next_run_at, b.id),
        array_agg(b.integration_type order by b.next_run_at, b.id),
        array_agg(b.cron_schedule order by b.next_run_at, b.id), array_agg(b.cron_spec order by b.next_run_at, b.id),
        array_agg(b.interval_minutes order by b.next_run_at, b.id), array_agg(b.timezone order by b.next_run_at, b.id),
        array_agg(b.misfire_policy order by b.next_run_at, b.id),
        array_agg(b.misfire_grace order by b.next_run_at, b.id), array_agg(b.payload order by b.next_run_at, b.id),
        array_agg(b.max_attempts order by b.next_run_at, b.id), array_agg(b.next_run_at order by b.next_run_at, b.id),
        array_agg(pg_try_advisory_xact_lock(syncsched._lock_key(b.id, b.org_id, b.integration_id))
                  order by b.next_run_at, b.id)
    into a_id, a_org, a_integration, a_type, a_cron, a_spec, a_interval, a_tz, a_policy, a_grace, a_payload,
        a_attempts, a_next, a_locked
    from batch as b;
    v_due := coalesce(cardinality(a_id), 0);

    if v_due > 0 then
        -- 2. The overlap rule, for the whole batch at once: a pending run, or a running one
        --    that is alive (lease) or recent (running_skip_window), holds the schedule.
        a_live := array(
            select exists (
                select from syncsched.sync_run_log as r
                where r.org_id = k.org_id and r.integration_id = k.integration_id
                    and r.status in ('pending', 'running')
                    and (r.status = 'pending' or r.lease_expires_at > p_now or r.started_at > p_now - v_skip_window)
            )
            from unnest(a_org, a_integration) with ordinality as k (org_id, integration_id, n)
            order by k.n
        );
        a_new_next := array_fill(null::timestamptz, array[v_due]);
        a_done := array_fill(false, array[v_due]);
        a_error := array_fill(null::text, array[v_due]);

        -- 3. The periods of each integration. Evaluation only: all rows in one read-only
        --    block; should a row fail (trigger bypassed, zone gone), again row by row.
        <<evaluate>>
        loop
            r_row := '{}';
            r_period := '{}';
            v_running := 0;
            v_locked := 0;
            begin
                for v_i in 1 .. v_due loop
                    if not a_locked[v_i] then
                        v_locked := v_locked + 1;
                        continue;
                    end if;
                    if v_careful then
                        begin
                            v_due_periods := syncsched._due_periods(a_spec[v_i], a_cron[v_i], a_interval[v_i],
                                a_tz[v_i], a_next[v_i], p_now, a_policy[v_i], a_grace[v_i], v_catch_up_limit);
                        exception when others then
                            a_error[v_i] := sqlerrm;
                            a_done[v_i] := true;
                            continue;
                        end;
                    else
                        v_due_periods := syncsched._due_periods(a_spec[v_i], a_cron[v_i], a_interval[v_i],
                            a_tz[v_i], a_next[v_i], p_now, a_policy[v_i], a_grace[v_i], v_catch_up_limit);
                    end if;
                    a_done[v_i] := true;
                    a_new_next[v_i] := v_due_periods.next_run_at;
                    if cardinality(v_due_periods.missed) > 0 then
                        perform syncsched._alert('missed', a_org[v_i], a_integration[v_i], a_type[v_i],
                            jsonb_build_object('policy', a_policy[v_i], 'missed', cardinality(v_due_periods.missed),
                                'first', v_due_periods.missed[1],
                                'last', v_due_periods.missed[cardinality(v_due_periods.missed)]), p_now);
                    end if;
                    if cardinality(v_due_periods.periods) > 0 and a_live[v_i] then
                        v_running := v_running + 1;
                        perform syncsched._alert('skipped_overlap', a_org[v_i], a_integration[v_i], a_type[v_i],
                            jsonb_build_object('periods', to_jsonb(v_due_periods.periods)), p_now);
                        if a_policy[v_i] = 'catch_up' then
                            a_new_next[v_i] := a_next[v_i];  -- the periods stay owed
                        end if;
                        continue;
                    end if;
                    r_row := r_row || array_fill(v_i, array[cardinality(v_due_periods.periods)]);
                    r_period := r_period || v_due_periods.periods;
                end loop;
                exit evaluate;
            exception when others then
                if v_careful then
                    raise;
                end if;
                v_careful := true;  -- the alerts of the first pass were rolled back with it
            end;
        end loop evaluate;

        -- 4. Invalid rows: a warning and an alert each; they stop being due until fixed.
        for v_i in 1 .. v_due loop
            continue when a_error[v_i] is null;
            v_invalid := v_invalid + 1;
            raise warning 'syncsched: integration %/% skipped: %', a_org[v_i], a_integration[v_i], a_error[v_i];
            perform syncsched._alert('invalid_schedule', a_org[v_i], a_integration[v_i], a_type[v_i],
                jsonb_build_object('error', a_error[v_i], 'cron_schedule', a_cron[v_i], 'timezone', a_tz[v_i]),
                p_now);
        end loop;

        -- 5. The runs, in one statement: at most one per period (UNIQUE idempotency key).
        if cardinality(r_row) > 0 then
            insert into syncsched.sync_run_log (
                org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
                max_attempts, payload, not_before, enqueued_at
            )
            select a_org[x.i], a_integration[x.i], a_type[x.i], x.p,
                syncsched._period_key(a_org[x.i], a_integration[x.i], x.p),
                case when p_now - x.p > a_grace[x.i] then 'catch_up' else 'schedule' end,
                coalesce(a_attempts[x.i], v_default_attempts), a_payload[x.i], p_now, p_now
            from unnest(r_row, r_period) as x (i, p)
            order by x.p, x.i
            on conflict (idempotency_key) do nothing;
            get diagnostics v_triggered = row_count;
            v_duplicate := cardinality(r_row) - v_triggered;
        end if;

        -- 6. Advance the schedules handled, in one statement.
        update syncsched.organization_integrations as o
        set next_run_at = u.next_run_at, last_tick_at = p_now
        from unnest(a_id, a_new_next, a_done) as u (id, next_run_at, done)
        where o.id = u.id and u.done;
    end if;

    if v_due = p_limit then
        select count(*)::integer into v_remaining
        from syncsched.organization_integrations as o
        where o.is_enabled and o.next_run_at <= p_now and o.last_tick_at is distinct from p_now;
    end if;
    if v_triggered > 0 then
        perform pg_notify('syncsched_runs', json_build_object('at', p_now, 'runs', v_triggered)::text);
    end if;

    v_result := jsonb_build_object(
        'at', p_now,
        'due', v_due,
        'triggered', v_triggered,
        'skipped_locked', v_locked,
        'skipped_running', v_running,
        'skipped_duplicate', v_duplicate,
        'invalid', v_invalid,
        'remaining', v_remaining,
        'duration_ms', round(extract(epoch from clock_timestamp() - v_started)::numeric * 1000, 3)
    );
    if v_paused then
        v_result := v_result || jsonb_build_object('paused', true);
    end if;
    insert into syncsched.scheduler_ticks (
        at, started_at, finished_at, due, triggered, skipped_locked, skipped_running, skipped_duplicate,
        invalid, remaining, duration_ms, lateness
    ) values (
        p_now, v_started, clock_timestamp(), v_due, v_triggered, v_locked, v_running, v_duplicate,
        v_invalid, v_remaining, (v_result ->> 'duration_ms')::numeric, p_now - date_trunc('minute', p_now)
    );
    return v_result;
end
$$;
comment on function syncsched.run_scheduled_jobs(timestamptz, integer) is
'One batch of the tick: turn due schedules into pending runs (at most one per period: UNIQUE idempotency key), apply misfire policies and the overlap rule, advance next_run_at, NOTIFY syncsched_runs, record the batch in scheduler_ticks. Returns the counts. Set-based: a handful of statements per batch, whatever its size.'; -- noqa: LT05

create or replace function syncsched.check_staleness(p_now timestamptz default now(), p_limit integer default 5000)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_stale integer;
begin
    -- The integrations whose staleness check is due, through the stale_check_at index: O(due).
    -- Stale: no completed run for longer than max_staleness (twice the period by default), then
    -- checked again a period later (not repeated within the period); not stale: checked again at
    -- the moment it would turn stale. A completed run resolves the alert (complete_runs).
    with due as (
        select o.id, o.org_id, o.integration_id, o.integration_type, o.created_at, o.max_staleness,
            syncsched._schedule_period(o.cron_spec, o.interval_minutes, o.timezone, o.next_run_at) as period
        from syncsched.organization_integrations as o
        where o.is_enabled and o.stale_check_at <= p_now and o.next_run_at is not null
        order by o.stale_check_at
        limit p_limit
        for update skip locked
    ),
    judged as (
        select due.*, syncsched._stale_after(due.max_staleness, due.period) as stale_after,
            last_success.finished_at as last_success_at,
            coalesce(last_success.finished_at, due.created_at) as since
        from due
        left join lateral (
            select r.finished_at
            from syncsched.sync_run_log as r
            where r.org_id = due.org_id and r.integration_id = due.integration_id and r.status = 'completed'
            order by r.scheduled_for desc, r.run_id desc
            limit 1
        ) as last_success on true
    ),
    rescheduled as (
        update syncsched.organization_integrations as o
        set stale_check_at = case
            when p_now - j.since > j.stale_after then p_now + j.period
            else j.since + j.stale_after
        end
        from judged as j
        where o.id = j.id
        returning j.org_id, j.integration_id, j.integration_type, j.stale_after, j.last_success_at, j.since,
            p_now - j.since > j.stale_after as stale
    )
    select count(syncsched._alert('stale', x.org_id, x.integration_id, x.integration_type,
        jsonb_build_object('last_success_at', x.last_success_at,
                           'stale_after_seconds', round(extract(epoch from x.stale_after)),
                           'since_seconds', round(extract(epoch from p_now - x.since))), p_now))
    into v_stale
    from rescheduled as x
    where x.stale;
    return v_stale;
end
$$;
comment on function syncsched.check_staleness(timestamptz, integer) is
'Raise stale for integrations with no completed run for longer than max_staleness (twice their period by default), each checked at most once per period. Called by tick(); returns how many are stale.'; -- noqa: LT05

create or replace function syncsched.reap_expired_runs(p_now timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_count integer;
    v_failed bigint[];
begin
    -- Liveness comes from the lease: a run whose worker stopped renewing it is taken back.
    with expired as (
        select r.run_id
        from syncsched.sync_run_log as r
        where r.status = 'running' and r.lease_expires_at < p_now
        for update skip locked
    ),
    reaped as (
        update syncsched.sync_run_log as r
        set status = case when r.attempt + 1 >= r.max_attempts then 'failed' else 'pending' end::syncsched.run_status,
            attempt = r.attempt + 1,
            finished_at = case when r.attempt + 1 >= r.max_attempts then p_now end,
            not_before = p_now,
            error = format('lease expired (worker %s stopped renewing it)', r.worker_id),
            lease_token = null,
            lease_expires_at = null
        from expired
        where r.run_id = expired.run_id
        returning r.run_id, r.status
    )
    select count(*)::integer, array_agg(reaped.run_id) filter (where reaped.status = 'failed')
    into v_count, v_failed
    from reaped;
    -- the last attempt lost with its worker: as failed as any other
    perform syncsched._alert('failing', r.org_id, r.integration_id, r.integration_type,
        jsonb_build_object('run_id', r.run_id, 'attempts', r.attempt, 'error', r.error), p_now)
    from syncsched.sync_run_log as r
    where r.run_id = any(v_failed);
    if v_count > 0 then
        perform pg_notify('syncsched_runs', json_build_object('at', p_now, 'reaped', v_count)::text);
    end if;
    return v_count;
end
$$;
comment on function syncsched.reap_expired_runs(timestamptz) is
'Running runs whose lease expired go back to pending (attempt + 1), or to failed (with a failing alert) when attempts are exhausted.';

create or replace function syncsched._tick_done(p_result jsonb)
returns boolean
language sql
immutable
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select (p_result ->> 'remaining')::integer = 0
        or (p_result ->> 'due')::integer = (p_result ->> 'skipped_locked')::integer
$$;
comment on function syncsched._tick_done(jsonb) is
'Whether a batch of the tick was its last: nothing remaining, or all that remains is locked by another tick.';

create or replace procedure syncsched.tick(p_now timestamptz default null)
language plpgsql
as $$
declare
    -- A procedure that commits can be neither SECURITY DEFINER nor pin its search_path: it
    -- calls the functions that do, and names nothing that a caller's search_path could
    -- replace (qualified functions and types, keyword casts).
    v_now timestamp with time zone := coalesce(p_now, pg_catalog.now());
    v_batch integer := syncsched.setting('tick_batch_size')::integer;
    v_result pg_catalog.jsonb;
begin
    loop
        v_result := syncsched.run_scheduled_jobs(v_now, v_batch);
        -- commit between batches: each holds one advisory lock per integration
        commit;
        exit when syncsched._tick_done(v_result);
    end loop;
    perform syncsched.check_staleness(v_now);
    perform syncsched.reap_expired_runs(v_now);
end
$$;
comment on procedure syncsched.tick(timestamptz) is -- noqa: LT01
'What pg_cron calls every minute: run_scheduled_jobs in batches of tick_batch_size, committing between them, then check_staleness and reap_expired_runs. Call it outside an explicit transaction.'; -- noqa: LT05
