-- The tick: what pg_cron calls every minute.
--
-- Clocks: the tick serves the instant p_now (the schedule clock: periods, next_run_at, misfires,
-- staleness are all compared with p_now). Leases, heartbeats and claim readiness are compared
-- with now(), the clock the workers wrote them with; so the overlap rule and the reaper read
-- now(), whatever p_now a caller passes.

-- Its arguments changed (no cron text: the state keeps the parsed expression).
drop function if exists syncsched._due_periods(
    syncsched.cron_spec, text, integer, text, timestamptz, timestamptz, syncsched.misfire_policy, interval, integer
);

-- its arguments grew (p_seed, for H)
drop function if exists syncsched._schedule_next_or_null(text, integer, text, timestamptz);

create or replace function syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language plpgsql
stable
as $$
declare
    v_at timestamptz := syncsched._cron_next_spec(p_spec, p_after, p_tz);
begin
    -- The tick's loops over periods advance only through here: a next fire time that is not later
    -- than the one before (an engine fault) stops that schedule's evaluation with a problem (an
    -- invalid_schedule alert), instead of repeating a period or moving next_run_at backwards.
    if v_at <= p_after then
        raise exception 'syncsched: the cron engine answered % after % in %: not later', v_at, p_after, p_tz
            using errcode = 'internal_error';
    end if;
    return v_at;
end
$$;
comment on function syncsched._cron_after(syncsched.cron_spec, timestamptz, text) is
'_cron_next_spec for the tick''s loops: raises internal_error unless the answer is later than p_after (or NULL).';

create or replace function syncsched._spread_offset(p_seed text, p_spread interval)
returns interval
language sql
immutable
parallel safe
as $$
    -- An integration's place in its type's spread window: H's hash (field 0, term 0) of its
    -- identity, in whole seconds below the window. NULL without a spread.
    select make_interval(secs => syncsched._cron_hash(p_seed, 0, 0) % ceil(extract(epoch from p_spread))::bigint)
$$;
comment on function syncsched._spread_offset(text, interval) is
'How long after its period an integration''s run may start when its type has a spread: _cron_hash(seed, 0, 0) seconds modulo the spread.'; -- noqa: LT05

create or replace function syncsched._cron_day_fires(
    p_spec syncsched.cron_spec,
    p_timezone text,
    p_day date,
    p_until timestamptz,
    out fires integer,
    out last timestamptz,
    out before_last timestamptz
)
language plpgsql
stable
as $$
declare
    -- a day before the day's wall-clock midnight: earlier than its first fire, whatever gap or
    -- fold the zone has there (the longest jumps in tzdata are under a day)
    v_at timestamptz := syncsched._cron_next_spec(p_spec, (p_day::timestamp at time zone p_timezone) - interval '1 day',
        p_timezone);
    v_day date;
    v_steps integer := 0;
begin
    fires := 0;
    loop
        exit when v_at is null or v_at > p_until;
        v_day := (v_at at time zone p_timezone)::date;
        exit when v_day > p_day;
        if v_day = p_day then
            fires := fires + 1;
            before_last := last;
            last := v_at;
        end if;
        v_steps := v_steps + 1;
        if v_steps > 10000 then  -- three days of fires at most; more is an engine fault
            raise exception 'syncsched: more than 10000 fire times around % in %', p_day, p_timezone
                using errcode = 'program_limit_exceeded';
        end if;
        v_at := syncsched._cron_after(p_spec, v_at, p_timezone);
    end loop;
end
$$;
comment on function syncsched._cron_day_fires(syncsched.cron_spec, text, date, timestamptz) is
'The fire times of a cron schedule on local day p_day, up to p_until: how many, the last and the one before it.';

create or replace function syncsched._cron_fires_between(
    p_spec syncsched.cron_spec,
    p_timezone text,
    p_from timestamptz,
    p_to timestamptz,
    out fires bigint,
    out last timestamptz,
    out before_last timestamptz
)
language plpgsql
stable
as $$
declare
    v_first date := (p_from at time zone p_timezone)::date;
    v_last date := (p_to at time zone p_timezone)::date;
    -- on a day without an offset change every (hour, minute) of the expression fires once
    v_per_day integer := bit_count(p_spec.hours::bit(64)) * bit_count(p_spec.minutes::bit(64));
    v_day date;
    v_head record;
    v_early record;
    v_tail record;
begin
    -- Fire times in [p_from, p_to], counted day by day: bounded by the number of days, whatever
    -- the number of fires. Only days with an offset change, and the first and last, are enumerated.
    if p_to - p_from > interval '200 years' then
        raise exception 'syncsched: a silence of more than 200 years is not counted' using errcode = 'program_limit_exceeded';
    end if;
    v_early := syncsched._cron_day_fires(p_spec, p_timezone, v_first, p_from - interval '1 microsecond');
    v_head := syncsched._cron_day_fires(p_spec, p_timezone, v_first, p_to);
    fires := v_head.fires - v_early.fires;
    if v_last = v_first then
        last := v_head.last;
        before_last := case when v_head.before_last >= p_from then v_head.before_last end;
        return;
    end if;
    v_day := v_first + 1;
    while v_day < v_last loop
        if syncsched._cron_day_matches(p_spec, v_day) then
            if syncsched._tz_day_is_plain(v_day, p_timezone) then
                fires := fires + v_per_day;
            else
                fires := fires + (syncsched._cron_day_fires(p_spec, p_timezone, v_day, p_to)).fires;
            end if;
        end if;
        v_day := v_day + 1;
    end loop;
    v_tail := syncsched._cron_day_fires(p_spec, p_timezone, v_last, p_to);
    fires := fires + v_tail.fires;
    last := v_tail.last;
    before_last := v_tail.before_last;
    -- the last two fire times, from the latest days that have any
    v_day := v_last - 1;
    while before_last is null and v_day >= v_first loop
        if syncsched._cron_day_matches(p_spec, v_day) then
            v_tail := syncsched._cron_day_fires(p_spec, p_timezone, v_day, p_to);
            if last is null then
                last := v_tail.last;
                before_last := v_tail.before_last;
            else
                before_last := v_tail.last;
            end if;
        end if;
        v_day := v_day - 1;
    end loop;
    if before_last < p_from then
        before_last := null;
    end if;
end
$$;
comment on function syncsched._cron_fires_between(syncsched.cron_spec, text, timestamptz, timestamptz) is
'How many fire times a cron schedule has in [p_from, p_to], the last and the one before it; counted day by day (bounded by days, not fires).'; -- noqa: LT05

create or replace function syncsched._due_periods(
    p_spec syncsched.cron_spec,
    p_interval_minutes integer,
    p_timezone text,
    p_next_run_at timestamptz,
    p_now timestamptz,
    p_policy syncsched.misfire_policy,
    p_grace interval,
    p_catch_up_limit integer,
    out periods timestamptz[],
    out missed bigint,
    out first_missed timestamptz,
    out last_missed timestamptz,
    out next_run_at timestamptz,
    out problem text
)
language plpgsql
stable
as $$
declare
    -- periods stepped through one by one before the silence is counted day by day instead
    c_stepped constant integer := 500;
    v_step interval := make_interval(mins => p_interval_minutes);
    v_at timestamptz := p_next_run_at;
    v_latest timestamptz;
    v_before timestamptz;
    v_total bigint := 0;
    v_counted record;
begin
    -- The periods in [next_run_at, p_now]: which get a run now (the policy decides), how many are
    -- missed (exactly, with the first and last), and the schedule's next period. Never raises: a
    -- schedule that cannot be evaluated comes back with its problem, and only it is skipped.
    periods := '{}';
    missed := 0;
    next_run_at := p_next_run_at;
    if p_next_run_at is null or p_next_run_at > p_now then
        return;
    end if;
    if p_interval_minutes is null and p_spec is null then
        raise exception 'no parsed schedule' using errcode = 'invalid_parameter_value';
    end if;
    if p_interval_minutes is not null then
        -- next_run_at, then the multiples of N minutes since the epoch after it: counted, never enumerated
        v_at := syncsched._interval_next(p_interval_minutes, p_next_run_at);
        v_latest := p_next_run_at;
        v_total := 1;
        if v_at <= p_now then
            v_latest := to_timestamp(floor(extract(epoch from p_now) / (p_interval_minutes * 60)) * (p_interval_minutes * 60));
            v_total := round(extract(epoch from v_latest - v_at) / (p_interval_minutes * 60))::bigint + 2;
            v_before := greatest(v_latest - v_step, p_next_run_at);
        end if;
        if p_policy = 'catch_up' then
            periods := array[p_next_run_at] || array(
                select g from generate_series(v_at, least(v_latest, v_at + (p_catch_up_limit - 2) * v_step), v_step) as g
            );
            periods := periods[1:p_catch_up_limit];
            next_run_at := syncsched._interval_next(p_interval_minutes, periods[cardinality(periods)]);
            return;
        end if;
        next_run_at := syncsched._interval_next(p_interval_minutes, v_latest);
    elsif p_policy = 'catch_up' then
        while v_at <= p_now and cardinality(periods) < p_catch_up_limit loop
            periods := periods || v_at;
            v_at := syncsched._cron_after(p_spec, v_at, p_timezone);
        end loop;
        next_run_at := v_at;
        return;
    else
        while v_at <= p_now and v_total < c_stepped loop
            v_total := v_total + 1;
            v_before := v_latest;
            v_latest := v_at;
            v_at := syncsched._cron_after(p_spec, v_at, p_timezone);
        end loop;
        if v_at <= p_now then
            v_counted := syncsched._cron_fires_between(p_spec, p_timezone, p_next_run_at, p_now);
            v_total := v_counted.fires;
            v_latest := v_counted.last;
            v_before := v_counted.before_last;
            v_at := syncsched._cron_after(p_spec, v_latest, p_timezone);
        end if;
        next_run_at := v_at;
    end if;
    -- run_once: the latest period runs, the ones before it are missed; skip: the same within
    -- misfire_grace, else none runs
    if p_policy = 'skip' and p_now - v_latest > p_grace then
        missed := v_total;
        last_missed := v_latest;
    else
        periods := array[v_latest];
        missed := v_total - 1;
        last_missed := v_before;
    end if;
    first_missed := case when missed > 0 then p_next_run_at end;
exception
    when others then
        periods := '{}';
        missed := 0;
        first_missed := null;
        last_missed := null;
        next_run_at := null;
        problem := sqlerrm;
end
$$;
comment on function syncsched._due_periods(
    syncsched.cron_spec, integer, text, timestamptz, timestamptz, syncsched.misfire_policy, interval, integer
) is
'The periods of a schedule due at p_now: those that get a run (by misfire policy), how many are missed with the first and last, the next period, or the problem that stops its evaluation. Never raises.'; -- noqa: LT05

create or replace function syncsched._schedule_next_or_null(
    p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamptz, p_seed text
)
returns timestamptz
language plpgsql
stable
as $$
begin
    return syncsched._schedule_next(
        case when p_cron_schedule is not null then syncsched._cron_parse(p_cron_schedule, p_seed) end,
        p_interval_minutes, p_timezone, p_after
    );
exception
    when others then
        raise warning 'syncsched: schedule "%" in % left out: %', coalesce(p_cron_schedule,
            'every ' || p_interval_minutes || ' minutes'), p_timezone, sqlerrm;
        return null;
end
$$;
comment on function syncsched._schedule_next_or_null(text, integer, text, timestamptz, text) is
'The next period of a schedule given as configured, or NULL with a WARNING when it cannot be evaluated.';

create or replace function syncsched.due_integrations(p_at timestamptz default now())
returns table (org_id text, integration_id text, integration_type text, scheduled_for timestamptz)
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    -- Stateless: the configuration only, by cron semantics, each distinct schedule evaluated once.
    -- A schedule that cannot be evaluated (its zone gone from tzdata) is left out with a WARNING.
    with schedules as (
        -- (a schedule with H is one per integration: it resolves with the integration's identity)
        select o.cron_schedule, o.interval_minutes, o.timezone,
            case when syncsched._cron_has_h(o.cron_schedule)
                then syncsched._integration_seed(o.org_id, o.integration_id) end
                as seed,
            array_agg(o.id) as ids
        from syncsched.organization_integrations as o
        where o.is_enabled and (o.cron_schedule is not null or o.interval_minutes is not null)
        group by 1, 2, 3, 4
    ),
    firing as (
        select s.ids
        from schedules as s
        where syncsched._schedule_next_or_null(s.cron_schedule, s.interval_minutes, s.timezone,
            date_trunc('minute', p_at) - interval '1 second', s.seed) = date_trunc('minute', p_at)
    )
    select o.org_id, o.integration_id, o.integration_type, date_trunc('minute', p_at)
    from firing as f
    cross join lateral unnest(f.ids) as u (id)
    join syncsched.organization_integrations as o on o.id = u.id
    order by o.org_id, o.integration_id
$$;
comment on function syncsched.due_integrations(timestamptz) is
'Enabled integrations whose schedule fires in the minute containing p_at (stateless: reads the configuration only). Schedules that cannot be evaluated are left out with a WARNING.'; -- noqa: LT05

create or replace function syncsched._schedule_batch(
    p_now timestamptz, p_limit integer, p_orgs text[], p_paused_types text[],
    out due integer, out attempted integer, out triggered integer, out oldest_created timestamptz,
    out held integer, out invalid integer
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_skip_window interval := syncsched.setting('running_skip_window')::interval;
    v_catch_up_limit integer := syncsched.setting('catch_up_limit')::integer;
    v_default_attempts integer := syncsched.setting('default_max_attempts')::integer;
    v_kinds text[];
    v_orgs text[];
    v_integrations text[];
    v_types text[];
    v_details jsonb[];
    v_warnings text[];
    v_warning text;
begin
    -- One statement: the due schedules (through the next_run_at index, oldest first, rows another
    -- tick or run_now holds skipped), each distinct schedule evaluated once, the runs inserted (at
    -- most one per period: the UNIQUE idempotency key), the schedules advanced; the alerts to raise
    -- come back as arrays. On Citus every table in it is read in the shard of p_orgs' group.
    with batch as (
        select s.id, s.org_id, s.next_run_at, s.cron_spec
        from syncsched.schedule_state as s
        where s.next_run_at <= p_now and s.last_tick_at is distinct from p_now
            and (p_orgs is null or s.org_id = any(p_orgs))
            and (cardinality(p_paused_types) = 0 or not exists (
                select from syncsched.organization_integrations as paused
                where paused.id = s.id and paused.org_id = s.org_id and paused.integration_type = any(p_paused_types)
            ))
        order by s.next_run_at
        limit p_limit
        for update skip locked
    ),
    due as (
        select b.id, b.next_run_at, b.cron_spec, o.org_id, o.integration_id, o.integration_type, o.cron_schedule,
            o.interval_minutes, o.timezone, o.misfire_policy, o.misfire_grace, o.payload, o.max_attempts,
            t.spread,
            -- the overlap rule: a pending run, or a running one that is alive (lease) or recent
            exists (
                select from syncsched.sync_run_log as r
                where r.org_id = o.org_id and r.integration_id = o.integration_id
                    and r.status in ('pending', 'running')
                    and (r.status = 'pending' or r.lease_expires_at > now() or r.started_at > now() - v_skip_window)
            ) as held
        from batch as b
        join syncsched.organization_integrations as o on o.id = b.id and o.org_id = b.org_id
        join syncsched.integration_types as t on t.integration_type = o.integration_type
    ),
    -- Rows with the same schedule, zone, next period and policy share one evaluation; their own
    -- columns travel along as arrays, so that no join (and no plan choice) is needed to get back
    -- to them. Materialized: evaluated once per schedule whatever the planner's estimates.
    schedules as materialized (
        select d.cron_spec, d.interval_minutes, d.timezone, d.next_run_at, d.misfire_policy, d.misfire_grace,
            array_agg(d.id) as ids, array_agg(d.org_id) as org_ids, array_agg(d.integration_id) as integration_ids,
            array_agg(d.integration_type) as types, array_agg(d.cron_schedule) as crons,
            array_agg(d.payload) as payloads, array_agg(d.max_attempts) as max_attempts, array_agg(d.held) as helds,
            array_agg(d.spread) as spreads
        from due as d
        group by d.cron_spec, d.interval_minutes, d.timezone, d.next_run_at, d.misfire_policy, d.misfire_grace
    ),
    decided as (
        select u.*, s.interval_minutes, s.timezone, s.misfire_policy, s.misfire_grace, p.periods, p.missed,
            p.first_missed, p.last_missed, p.next_run_at as new_next_run_at, p.problem
        from schedules as s
        cross join lateral syncsched._due_periods(s.cron_spec, s.interval_minutes, s.timezone, s.next_run_at, p_now,
            s.misfire_policy::syncsched.misfire_policy, s.misfire_grace, v_catch_up_limit) as p
        cross join lateral unnest(s.ids, s.org_ids, s.integration_ids, s.types, s.crons, s.payloads,
            s.max_attempts, s.helds, s.spreads)
            as u (id, org_id, integration_id, integration_type, cron_schedule, payload, max_attempts, held,
                spread)
    ),
    runs as (
        insert into syncsched.sync_run_log (
            org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
            max_attempts, payload, not_before, enqueued_at, drift
        )
        select x.org_id, x.integration_id, x.integration_type, p.period,
            syncsched._period_key(x.org_id, x.integration_id, p.period),
            -- a period run later than the tick after it is a catch-up (late by design)
            case when x.misfire_policy = 'catch_up' and p_now - p.period >= interval '1 minute'
                then 'catch_up' else 'schedule' end,
            -- a type's spread: each integration's run waits until its own offset after the period (the
            -- wait left at p_now, on the workers' clock); within half the way to its next period, so
            -- that a spread longer than a schedule's period never makes its next period an overlap
            coalesce(x.max_attempts, v_default_attempts), x.payload,
            now() + greatest(p.period + case when x.spread is not null then syncsched._spread_offset(
                syncsched._integration_seed(x.org_id, x.integration_id),
                least(x.spread, coalesce((x.new_next_run_at - p.period) / 2, x.spread))
            ) end - p_now, interval '0'),
            now(), p_now - p.period
        from decided as x
        cross join lateral unnest(x.periods) as p (period)
        where x.problem is null and not x.held
        order by p.period, x.id
        on conflict (idempotency_key, scheduled_for, org_id) do nothing
        returning scheduled_for
    ),
    advanced as (
        update syncsched.schedule_state as s
        set next_run_at = case
                when x.problem is not null then null  -- not due again until the schedule is fixed
                when x.held and x.misfire_policy = 'catch_up' then s.next_run_at  -- the periods stay owed
                else x.new_next_run_at
            end,
            last_tick_at = p_now,
            problem = x.problem,
            stale_check_at = case when x.problem is null then s.stale_check_at end
        from decided as x
        where s.id = x.id and s.org_id = x.org_id  -- (by its key: Citus refuses a ctid here)
        returning 1
    ),
    alerts as (
        select 'invalid_schedule' as kind, x.org_id, x.integration_id, x.integration_type,
            jsonb_build_object('error', x.problem, 'cron_schedule', x.cron_schedule, 'interval_minutes',
                x.interval_minutes, 'timezone', x.timezone) as detail
        from decided as x
        where x.problem is not null
        union all
        select 'missed', x.org_id, x.integration_id, x.integration_type,
            jsonb_build_object('policy', x.misfire_policy, 'missed', x.missed, 'first', x.first_missed,
                'last', x.last_missed)
        from decided as x
        where x.problem is null and x.missed > 0
        union all
        select 'skipped_overlap', x.org_id, x.integration_id, x.integration_type,
            jsonb_build_object('periods', to_jsonb(x.periods))
        from decided as x
        where x.problem is null and x.held and cardinality(x.periods) > 0
    )
    select
        (select count(*) from decided),
        (select coalesce(sum(cardinality(x.periods)), 0) from decided as x where x.problem is null and not x.held),
        (select count(*) from runs),
        (select min(runs.scheduled_for) from runs),
        (select count(*) from decided as x where x.problem is null and x.held and cardinality(x.periods) > 0),
        (select count(*) from decided as x where x.problem is not null),
        array_agg(a.kind), array_agg(a.org_id), array_agg(a.integration_id), array_agg(a.integration_type),
        array_agg(a.detail),
        array_agg(format('syncsched: integration %s/%s skipped: %s', a.org_id, a.integration_id, a.detail ->> 'error'))
            filter (where a.kind = 'invalid_schedule')
    into due, attempted, triggered, oldest_created, held, invalid, v_kinds, v_orgs, v_integrations, v_types,
        v_details, v_warnings
    from alerts as a;

    if v_kinds[1] is not null then
        perform syncsched._raise_alerts(v_kinds, v_orgs, v_integrations, v_types, v_details, p_now);
    end if;
    foreach v_warning in array coalesce(v_warnings, '{}') loop
        raise warning '%', v_warning;
    end loop;
end
$$;
comment on function syncsched._schedule_batch(timestamptz, integer, text[], text[]) is
'The statement of run_scheduled_jobs for the schedules of the organizations p_orgs (null: all) not of a type in p_paused_types, at most p_limit: runs created, schedules advanced, alerts raised. Returns its counts.'; -- noqa: LT05

create or replace function syncsched.run_scheduled_jobs(p_now timestamptz default now(), p_limit integer default 5000)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_started timestamptz := clock_timestamp();
    v_paused boolean := syncsched.setting('scheduler_paused')::boolean;
    -- types whose scheduling is paused (pause_scheduling(type)): their due rows wait, unchanged
    v_paused_types text[] := array(
        select d.integration_type from syncsched.dispatch_state as d where d.scheduling_paused
        order by d.integration_type
    );
    v_orgs text[];
    v_batch record;
    v_due integer := 0;
    v_attempted integer := 0;
    v_triggered integer := 0;
    v_oldest_created timestamptz;
    v_held integer := 0;
    v_invalid integer := 0;
    v_left integer := 0;
    v_result jsonb;
begin
    if p_now is null or p_limit is null or p_limit < 1 then
        raise exception 'run_scheduled_jobs: p_now must be given and p_limit at least 1'
            using errcode = 'invalid_parameter_value';
    end if;

    -- One statement for all organizations; on Citus (tables distributed), one per shard group.
    for v_orgs in
        select g.orgs from syncsched._org_groups(case when syncsched._distributed() and not v_paused then array(
            select distinct s.org_id from syncsched.schedule_state as s
            where s.next_run_at <= p_now and s.last_tick_at is distinct from p_now
        ) end) as g (orgs)
    loop
        exit when v_paused or v_due >= p_limit;
        v_batch := syncsched._schedule_batch(p_now, p_limit - v_due, v_orgs, v_paused_types);
        v_due := v_due + v_batch.due;
        v_attempted := v_attempted + v_batch.attempted;
        v_triggered := v_triggered + v_batch.triggered;
        v_oldest_created := least(v_oldest_created, v_batch.oldest_created);
        v_held := v_held + v_batch.held;
        v_invalid := v_invalid + v_batch.invalid;
    end loop;

    -- what is still due after this batch: beyond its limit, or held by another tick
    select count(*)::integer into v_left
    from syncsched.schedule_state as s
    where s.next_run_at <= p_now and s.last_tick_at is distinct from p_now and not v_paused
        and (cardinality(v_paused_types) = 0 or not exists (
            select from syncsched.organization_integrations as paused
            where paused.id = s.id and paused.org_id = s.org_id and paused.integration_type = any(v_paused_types)
        ));
    if v_triggered > 0 then
        -- (a catch-up may have created a run in a partition of history: it is live again)
        perform syncsched._runs_live_from(v_oldest_created);
        perform pg_notify('syncsched_runs', json_build_object('at', p_now, 'runs', v_triggered)::text);
    end if;

    v_result := jsonb_build_object(
        'at', p_now,
        'due', v_due,
        'triggered', v_triggered,
        'skipped_locked', case when v_due < p_limit then v_left else 0 end,
        'skipped_running', v_held,
        'skipped_duplicate', v_attempted - v_triggered,
        'invalid', v_invalid,
        'remaining', case when v_due < p_limit then 0 else v_left end,
        'duration_ms', round(extract(epoch from clock_timestamp() - v_started)::numeric * 1000, 3)
    );
    if v_paused then
        v_result := v_result || jsonb_build_object('paused', true);
    end if;
    if cardinality(v_paused_types) > 0 then
        v_result := v_result || jsonb_build_object('paused_types', to_jsonb(v_paused_types));
    end if;
    insert into syncsched.scheduler_ticks (
        at, started_at, finished_at, due, triggered, skipped_locked, skipped_running, skipped_duplicate,
        invalid, remaining, duration_ms, lateness
    ) values (
        p_now, v_started, clock_timestamp(), v_due, v_triggered, (v_result ->> 'skipped_locked')::integer, v_held,
        v_attempted - v_triggered, v_invalid, (v_result ->> 'remaining')::integer,
        (v_result ->> 'duration_ms')::numeric, p_now - date_trunc('minute', p_now)
    );
    return v_result;
end
$$;
comment on function syncsched.run_scheduled_jobs(timestamptz, integer) is
'One batch of the tick: turn due schedules into pending runs (at most one per period: UNIQUE idempotency key), apply misfire policies and the overlap rule, advance next_run_at, NOTIFY syncsched_runs, record the batch in scheduler_ticks. Returns the counts. A few set-based statements per batch, each distinct schedule evaluated once; a schedule that cannot be evaluated is skipped with a warning and an invalid_schedule alert. Nothing is created while scheduler_paused is true; the due rows of types whose scheduling is paused stay due, untouched.'; -- noqa: LT05

create or replace function syncsched.check_staleness(p_now timestamptz default now(), p_limit integer default 5000)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_kinds text[];
    v_orgs text[];
    v_integrations text[];
    v_types text[];
    v_details jsonb[];
    v_orgs_due text[];
    v_raised integer := 0;
    v_judged integer;
    v_judged_all integer := 0;
begin
    -- The integrations whose staleness deadline has passed, through the stale_check_at index: O(due).
    -- Each is judged by its last success: not stale yet, it gets the deadline that success gives;
    -- stale, the alert is raised (once: a condition, until a run completes), and the next look is
    -- at its next period. An integration whose scheduling is paused (its type's, or all) gets no
    -- runs on purpose: it is not judged until scheduling resumes.
    if syncsched.setting('scheduler_paused')::boolean then
        return 0;
    end if;
    -- (on Citus, tables distributed: one statement per shard group, 05_citus.sql)
    for v_orgs_due in
        select g.orgs from syncsched._org_groups(case when syncsched._distributed() then array(
            select distinct s.org_id from syncsched.schedule_state as s
            where s.stale_check_at <= p_now and s.next_run_at is not null
        ) end) as g (orgs)
    loop
        exit when v_judged_all >= p_limit;  -- (p_limit for all the groups together)
        with due as (
            select s.id, s.cron_spec, s.derived_at, s.next_run_at, o.org_id, o.integration_id, o.integration_type,
                o.interval_minutes, o.timezone, o.max_staleness, last_success.scheduled_for as last_success_for
            from syncsched.schedule_state as s
            join syncsched.organization_integrations as o on o.id = s.id and o.org_id = s.org_id
            -- (in this statement, not after it: on Citus a lateral join to a distributed table must
            -- stay in the single-shard statement; the lateral reads only the rows the limit keeps)
            left join lateral (
                select r.scheduled_for
                from syncsched.sync_run_log as r
                where r.org_id = o.org_id and r.integration_id = o.integration_id and r.status = 'completed'
                    and (v_orgs_due is null or r.org_id = any(v_orgs_due))
                order by r.scheduled_for desc
                limit 1
            ) as last_success on true
            where s.stale_check_at <= p_now and s.next_run_at is not null
                -- (on each table: Citus prunes each by a condition of its own)
                and (v_orgs_due is null or s.org_id = any(v_orgs_due) and o.org_id = any(v_orgs_due))
                and not exists (
                    select from syncsched.dispatch_state as d
                    where d.integration_type = o.integration_type and d.scheduling_paused
                )
            order by s.stale_check_at
            limit p_limit - v_judged_all
            for update of s skip locked
        ),
        judged as (
            select due.*, syncsched._stale_deadline(due.cron_spec, due.interval_minutes, due.timezone,
                due.max_staleness, greatest(due.last_success_for, due.derived_at)) as deadline
            from due
        ),
        rescheduled as (
            update syncsched.schedule_state as s
            set stale_check_at = case when j.deadline > p_now then j.deadline else greatest(j.next_run_at, p_now) end
            from judged as j
            where s.id = j.id and s.org_id = j.org_id
            returning j.*
        )
        select count(*)::integer, array_agg('stale'::text) filter (where j.stale),
            array_agg(x.org_id) filter (where j.stale), array_agg(x.integration_id) filter (where j.stale),
            array_agg(x.integration_type) filter (where j.stale),
            array_agg(jsonb_build_object('last_success_for', x.last_success_for, 'stale_since', x.deadline))
                filter (where j.stale)
        into v_judged, v_kinds, v_orgs, v_integrations, v_types, v_details
        from rescheduled as x
        cross join lateral (
            select x.deadline <= p_now
                and not syncsched._alert_open(syncsched._alert_key('stale', x.org_id, x.integration_id, null)) as stale
        ) as j;
        v_judged_all := v_judged_all + v_judged;
        if v_kinds is not null then
            v_raised := v_raised + syncsched._raise_alerts(v_kinds, v_orgs, v_integrations, v_types, v_details, p_now);
        end if;
    end loop;
    return v_raised;
end
$$;
comment on function syncsched.check_staleness(timestamptz, integer) is
'Raise stale for integrations whose period after their last success has passed without a success (or max_staleness), once until a run completes; each is looked at when its deadline passes, none while its scheduling is paused. Called by tick(); returns how many turned stale.'; -- noqa: LT05

create or replace function syncsched._tick_done(p_result jsonb, p_limit integer)
returns boolean
language sql
immutable
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select (p_result ->> 'due')::integer < p_limit or (p_result ->> 'remaining')::integer = 0
$$;
comment on function syncsched._tick_done(jsonb, integer) is
'Whether a batch of the tick was its last: it was not full (what is left is held by another tick), or nothing remains.';
drop function if exists syncsched._tick_done(jsonb);

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
    -- The partitions of the run log, ahead of time (on the wall clock, whatever p_now says). A
    -- failure here stops nothing: runs go to the DEFAULT partition until the next tick succeeds.
    begin
        perform syncsched.ensure_run_log_partitions();
    exception
        when others then
            raise warning 'syncsched: the run log''s partitions were not made ready: %', sqlerrm;
    end;
    commit;
    loop
        v_result := syncsched.run_scheduled_jobs(v_now, v_batch);
        commit;  -- each batch is its own transaction
        exit when syncsched._tick_done(v_result, v_batch);
    end loop;
    perform syncsched.check_staleness(v_now);
    perform syncsched.reap_expired_runs();
    commit;
    -- The audit entries the shards left (Citus' distributed mode); a failure here holds up nothing above.
    begin
        perform syncsched.collect_shard_outbox();
    exception
        when others then
            raise warning 'syncsched: the shards'' outbox was not collected: %', sqlerrm;
    end;
    commit;
    -- Runs of pg_net types go out from here (and from the syncsched_net job where pg_cron has
    -- sub-minute schedules); a failure there holds up nothing above.
    begin
        perform syncsched.net_step();
    exception
        when others then
            raise warning 'syncsched: the pg_net step failed: %', sqlerrm;
    end;
end
$$;
comment on procedure syncsched.tick(timestamptz) is -- noqa: LT01
'What pg_cron calls every minute: ensure_run_log_partitions, then run_scheduled_jobs in batches of tick_batch_size, committing between them, then check_staleness (at p_now), reap_expired_runs (at the wall clock: leases are) and collect_shard_outbox (distributed mode on Citus), then net_step (the pg_net transport). Call it outside an explicit transaction.'; -- noqa: LT05
