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
            if syncsched.schedule_next(
                case when v_row.interval_minutes is null then syncsched.cron_parse(v_row.cron_schedule) end,
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

create or replace function syncsched.run_scheduled_jobs(p_now timestamptz default now(), p_limit integer default 5000)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_started timestamptz := clock_timestamp();
    v_row record;
    v_due integer := 0;
    v_triggered integer := 0;
    v_locked integer := 0;
    v_running integer := 0;
    v_duplicate integer := 0;
    v_invalid integer := 0;
    v_remaining integer := 0;
    v_paused boolean := syncsched.setting('scheduler_paused')::boolean;
    v_skip_window interval := syncsched.setting('running_skip_window')::interval;
    v_catch_up_limit integer := syncsched.setting('catch_up_limit')::integer;
    v_default_attempts integer := syncsched.setting('default_max_attempts')::integer;
    v_periods timestamptz[];
    v_missed timestamptz[];
    v_period timestamptz;
    v_next timestamptz;
    v_count integer;
    v_inserted integer;
    v_result jsonb;
begin
    if p_now is null or p_limit is null or p_limit < 1 then
        raise exception 'run_scheduled_jobs: p_now must be given and p_limit at least 1'
            using errcode = 'invalid_parameter_value';
    end if;
    for v_row in
        select o.id, o.org_id, o.integration_id, o.integration_type, o.cron_schedule, o.cron_spec,
            o.interval_minutes, o.timezone, o.misfire_policy, o.misfire_grace, o.payload, o.max_attempts,
            o.next_run_at
        from syncsched.organization_integrations as o
        where o.is_enabled and o.next_run_at <= p_now and o.last_tick_at is distinct from p_now
            and not v_paused
        order by o.next_run_at
        limit p_limit
        for update skip locked
    loop
        v_due := v_due + 1;
        if not pg_try_advisory_xact_lock(syncsched._lock_key(v_row.id, v_row.org_id, v_row.integration_id)) then
            v_locked := v_locked + 1;
            continue;
        end if;

        -- The due periods: fire times in [next_run_at, p_now]. Evaluation only (no write),
        -- so a row that cannot be evaluated costs a read-only subtransaction, nothing more.
        v_periods := '{}';
        v_missed := '{}';
        begin
            if v_row.interval_minutes is null and v_row.cron_spec is null then
                v_row.cron_spec := syncsched.cron_parse(v_row.cron_schedule);
            end if;
            v_period := v_row.next_run_at;
            if v_row.misfire_policy <> 'catch_up' and p_now - v_period > interval '2 days' then
                -- long silence: when the schedule fired within the last day, only that day
                -- matters for run_once and skip (the older periods are reported as missed)
                v_next := syncsched.schedule_next(
                    v_row.cron_spec, v_row.interval_minutes, v_row.timezone, p_now - interval '1 day'
                );
                if v_next <= p_now then
                    v_missed := array[v_period];
                    v_period := v_next;
                end if;
            end if;
            v_count := 0;
            while v_period <= p_now loop
                v_count := v_count + 1;
                exit when v_row.misfire_policy = 'catch_up' and v_count > v_catch_up_limit;
                v_periods := v_periods || v_period;
                v_period := syncsched.schedule_next(v_row.cron_spec, v_row.interval_minutes, v_row.timezone, v_period);
            end loop;
            v_next := v_period;
        exception when others then
            v_invalid := v_invalid + 1;
            raise warning 'syncsched: integration %/% skipped: %', v_row.org_id, v_row.integration_id, sqlerrm;
            perform syncsched._alert('invalid_schedule', v_row.org_id, v_row.integration_id, v_row.integration_type,
                jsonb_build_object('error', sqlerrm, 'cron_schedule', v_row.cron_schedule,
                                   'timezone', v_row.timezone), p_now);
            update syncsched.organization_integrations as o
            set next_run_at = null, last_tick_at = p_now
            where o.id = v_row.id;
            continue;
        end;

        -- Misfires: which of the due periods get a run.
        if cardinality(v_periods) > 1 or cardinality(v_missed) > 0 then
            if v_row.misfire_policy = 'run_once' then
                v_missed := v_missed || v_periods[1:cardinality(v_periods) - 1];
                v_periods := v_periods[cardinality(v_periods):];
            end if;
        end if;
        if v_row.misfire_policy = 'skip' then
            v_missed := v_missed || array(select p from unnest(v_periods) as p where p_now - p > v_row.misfire_grace);
            v_periods := array(
                select p from unnest(v_periods) as p where p_now - p <= v_row.misfire_grace order by p desc limit 1
            );
        end if;
        if cardinality(v_missed) > 0 then
            perform syncsched._alert('missed', v_row.org_id, v_row.integration_id, v_row.integration_type,
                jsonb_build_object('policy', v_row.misfire_policy, 'missed', cardinality(v_missed),
                                   'first', v_missed[1], 'last', v_missed[cardinality(v_missed)]), p_now);
        end if;

        -- Overlap: a pending run, or a running one that is alive or recent, holds the schedule.
        if cardinality(v_periods) > 0 and exists (
            select from syncsched.sync_run_log as r
            where r.org_id = v_row.org_id and r.integration_id = v_row.integration_id
                and r.status in ('pending', 'running')
                and (r.status = 'pending' or r.lease_expires_at > p_now or r.started_at > p_now - v_skip_window)
        ) then
            v_running := v_running + 1;
            perform syncsched._alert('skipped_overlap', v_row.org_id, v_row.integration_id, v_row.integration_type,
                jsonb_build_object('periods', to_jsonb(v_periods)), p_now);
            if v_row.misfire_policy = 'catch_up' then
                v_next := v_row.next_run_at;  -- the periods stay owed; the next tick tries again
            end if;
            v_periods := '{}';
        end if;

        if cardinality(v_periods) > 0 then
            insert into syncsched.sync_run_log (
                org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
                max_attempts, payload, not_before, enqueued_at
            )
            select v_row.org_id, v_row.integration_id, v_row.integration_type, p,
                syncsched._period_key(v_row.org_id, v_row.integration_id, p),
                case when p_now - p > v_row.misfire_grace then 'catch_up' else 'schedule' end,
                coalesce(v_row.max_attempts, v_default_attempts), v_row.payload, p_now, p_now
            from unnest(v_periods) as p
            order by p
            on conflict (idempotency_key) do nothing;
            get diagnostics v_inserted = row_count;
            v_triggered := v_triggered + v_inserted;
            v_duplicate := v_duplicate + cardinality(v_periods) - v_inserted;
        end if;

        update syncsched.organization_integrations as o
        set next_run_at = v_next, last_tick_at = p_now
        where o.id = v_row.id;
    end loop;

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
'One batch of the tick: turn due schedules into pending runs (at most one per period: UNIQUE idempotency key), apply misfire policies and the overlap rule, advance next_run_at, NOTIFY syncsched_runs, record the batch in scheduler_ticks. Returns the counts.';

create or replace function syncsched.reap_expired_runs(p_now timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_count integer;
begin
    -- Liveness comes from the lease: a run whose worker stopped renewing it is taken back.
    with expired as (
        select r.run_id
        from syncsched.sync_run_log as r
        where r.status = 'running' and r.lease_expires_at < p_now
        for update skip locked
    )
    update syncsched.sync_run_log as r
    set status = case when r.attempt + 1 >= r.max_attempts then 'failed' else 'pending' end::syncsched.run_status,
        attempt = r.attempt + 1,
        finished_at = case when r.attempt + 1 >= r.max_attempts then p_now end,
        not_before = p_now,
        error = format('lease expired (worker %s stopped renewing it)', r.worker_id),
        lease_token = null,
        lease_expires_at = null
    from expired
    where r.run_id = expired.run_id;
    get diagnostics v_count = row_count;
    if v_count > 0 then
        perform pg_notify('syncsched_runs', json_build_object('at', p_now, 'reaped', v_count)::text);
    end if;
    return v_count;
end
$$;
comment on function syncsched.reap_expired_runs(timestamptz) is
'Running runs whose lease expired go back to pending (attempt + 1), or to failed when attempts are exhausted.';

create or replace procedure syncsched.tick(p_now timestamptz default null)
language plpgsql
as $$
declare
    -- A procedure that commits cannot be SECURITY DEFINER; it calls the functions that are.
    v_now timestamptz := coalesce(p_now, now());
    v_batch integer := syncsched.setting('tick_batch_size')::integer;
    v_result jsonb;
begin
    loop
        v_result := syncsched.run_scheduled_jobs(v_now, v_batch);
        -- commit between batches: each holds one advisory lock per integration
        commit;
        exit when (v_result ->> 'remaining')::integer = 0
            or (v_result ->> 'due')::integer = (v_result ->> 'skipped_locked')::integer;
    end loop;
    perform syncsched.reap_expired_runs(v_now);
end
$$;
comment on procedure syncsched.tick(timestamptz) is -- noqa: LT01
'What pg_cron calls every minute: run_scheduled_jobs in batches of tick_batch_size, committing between them, then reap_expired_runs. Call it outside an explicit transaction.';
