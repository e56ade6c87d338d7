-- Schedules: validation, the next period, and the triggers that derive schedule_state from the
-- configuration (users write organization_integrations; only these triggers and the tick write
-- schedule_state).

-- Gone: the per-integration advisory lock (the tick and run_now serialise on the row lock of
-- schedule_state), the public twin of _schedule_next, and the period guessed from one gap.
drop function if exists syncsched._lock_key(bigint, text, text);
drop function if exists syncsched.schedule_next(syncsched.cron_spec, integer, text, timestamptz);
drop function if exists syncsched._schedule_period(syncsched.cron_spec, integer, text, timestamptz);
drop function if exists syncsched._stale_after(interval, interval);

create or replace function syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamptz)
returns text
language sql
stable
parallel safe
as $$
    select p_org_id || '/' || p_integration_id || '/'
        || to_char(p_period at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')
$$;
comment on function syncsched._period_key(text, text, timestamptz) is
'Idempotency key of a scheduled period: org_id/integration_id/<period in UTC, ISO minute>. Stable like to_char, so that the planner inlines it.';

create or replace function syncsched._interval_next(p_minutes integer, p_after timestamptz)
returns timestamptz
language sql
immutable
parallel safe
as $$
    -- Every N minutes, aligned to the Unix epoch: stateless, the same on every tick.
    select to_timestamp(((floor(extract(epoch from p_after) / 60)::bigint / p_minutes) + 1) * p_minutes * 60)
$$;
comment on function syncsched._interval_next(integer, timestamptz) is
'First multiple of p_minutes minutes since the Unix epoch strictly after p_after.';

create or replace function syncsched._schedule_next(
    p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamptz
)
returns timestamptz
language sql
stable
parallel safe
as $$
    select case
        when p_interval_minutes is not null then syncsched._interval_next(p_interval_minutes, p_after)
        else syncsched._cron_next_spec(p_spec, p_after, p_timezone)
    end
$$;
comment on function syncsched._schedule_next(syncsched.cron_spec, integer, text, timestamptz) is
'schedule_next without its pinned search_path, for the callers inside syncsched (the tick, per due row).';

create or replace function syncsched._stale_deadline(
    p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval,
    p_since timestamptz
)
returns timestamptz
language sql
stable
parallel safe
as $$
    -- A schedule is stale when the period after its last success has passed without a success:
    -- by the start of the period after that one (max_staleness after the last success when set).
    -- The schedule's own fire times decide, so a weekday or month-end schedule is not stale over
    -- a weekend or a short month.
    select case
        when p_max_staleness is not null then p_since + p_max_staleness
        else syncsched._schedule_next(p_spec, p_interval_minutes, p_timezone,
            syncsched._schedule_next(p_spec, p_interval_minutes, p_timezone, p_since))
    end
$$;
comment on function syncsched._stale_deadline(syncsched.cron_spec, integer, text, interval, timestamptz) is
'When an integration whose last success served p_since (or whose schedule started then) turns stale: at the second fire time after p_since, or p_since + max_staleness.'; -- noqa: LT05

create or replace function syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer)
returns integer
language plpgsql
immutable
parallel safe
as $$
declare
    v_hour integer;
    v_minute integer;
    v_at integer;
    v_first integer;
    v_previous integer;
    v_gap integer := 1440;
begin
    -- Smallest gap in minutes between two fire times of one day (and across midnight);
    -- stops as soon as it is below p_enough.
    for v_hour in 0 .. 23 loop
        continue when (p_spec.hours >> v_hour) & 1 = 0;
        for v_minute in 0 .. 59 loop
            continue when (p_spec.minutes >> v_minute) & 1 = 0;
            v_at := v_hour * 60 + v_minute;
            if v_previous is not null then
                v_gap := least(v_gap, v_at - v_previous);
                if v_gap < p_enough then
                    return v_gap;
                end if;
            end if;
            v_first := coalesce(v_first, v_at);
            v_previous := v_at;
        end loop;
    end loop;
    return least(v_gap, v_first + 1440 - v_previous);
end
$$;
comment on function syncsched._cron_min_gap(syncsched.cron_spec, integer) is
'Smallest gap in minutes between fire times of a cron expression within a day, or below p_enough.';

create or replace function syncsched.schedule_problem(
    p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean
)
returns text
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_problem text;
    v_min interval := syncsched.setting('min_schedule_interval')::interval;
    v_min_minutes integer := ceil(extract(epoch from v_min) / 60)::integer;
    v_gap integer;
begin
    if p_cron_schedule is not null and p_interval_minutes is not null then
        return 'has both a cron schedule and an interval: set one of them';
    end if;
    if p_cron_schedule is null and p_interval_minutes is null then
        return case when p_is_enabled then 'is enabled but has no schedule: set cron_schedule or interval_minutes' end;
    end if;
    v_problem := syncsched.timezone_validate(p_timezone);
    if v_problem is not null then
        return v_problem;
    end if;
    if p_interval_minutes is not null then
        if p_interval_minutes < 1 or p_interval_minutes * interval '1 minute' < v_min then
            return format('interval of %s minutes is shorter than min_schedule_interval (%s minutes)',
                p_interval_minutes, v_min_minutes);
        end if;
        return null;
    end if;
    v_problem := syncsched.cron_validate(p_cron_schedule);
    if v_problem is not null then
        return format('has an invalid cron schedule "%s": %s', left(p_cron_schedule, 100), v_problem);
    end if;
    v_gap := syncsched._cron_min_gap(syncsched._cron_parse(p_cron_schedule), v_min_minutes);
    if v_gap < v_min_minutes then
        return format('cron schedule "%s" fires %s minute(s) apart, more often than min_schedule_interval (%s minutes)',
            p_cron_schedule, v_gap, v_min_minutes);
    end if;
    return null;
end
$$;
comment on function syncsched.schedule_problem(text, integer, text, boolean) is
'NULL when a schedule is acceptable, else what is wrong with it (the schedule trigger raises it).';

create or replace function syncsched._integration_before_write()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_problem text;
begin
    new.updated_at := now();
    if tg_op = 'UPDATE'
        and new.cron_schedule is not distinct from old.cron_schedule
        and new.interval_minutes is not distinct from old.interval_minutes
        and new.timezone is not distinct from old.timezone
        and new.is_enabled is not distinct from old.is_enabled then
        return new;  -- the schedule is as it was (and was valid when written)
    end if;
    v_problem := syncsched.schedule_problem(new.cron_schedule, new.interval_minutes, new.timezone, new.is_enabled);
    if v_problem is not null then
        raise exception 'syncsched: integration %/% %', left(new.org_id, 128), left(new.integration_id, 128), v_problem
            using errcode = 'invalid_parameter_value';
    end if;
    return new;
end
$$;
comment on function syncsched._integration_before_write() is
'Validates the schedule of every integration written (SQLSTATE 22023 naming org, integration and problem).';

create or replace function syncsched._derive_schedule_state()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_spec syncsched.cron_spec := case when new.cron_schedule is not null then syncsched._cron_parse(new.cron_schedule) end;
    v_next timestamptz := case
        when new.is_enabled then syncsched._schedule_next(v_spec, new.interval_minutes, new.timezone, now())
    end;
begin
    -- The state is always derived from the configuration, from now: the next period, and the
    -- staleness deadline of a schedule that starts now (none while disabled or unscheduled).
    insert into syncsched.schedule_state as s (id, cron_spec, next_run_at, last_tick_at, stale_check_at, derived_at, problem)
    values (
        new.id, v_spec, v_next, null,
        case when v_next is not null then syncsched._stale_deadline(v_spec, new.interval_minutes, new.timezone,
            new.max_staleness, now()) end,
        now(), null
    )
    on conflict (id) do update
    set cron_spec = excluded.cron_spec, next_run_at = excluded.next_run_at, last_tick_at = null,
        stale_check_at = excluded.stale_check_at, derived_at = excluded.derived_at, problem = null;
    if tg_op = 'UPDATE' then
        -- a valid schedule again: the tick's invalid_schedule alert is over
        perform syncsched._resolve_alerts(
            array[syncsched._alert_key('invalid_schedule', new.org_id, new.integration_id, null)]
        );
    end if;
    return null;
end
$$;
comment on function syncsched._derive_schedule_state() is
'Derives schedule_state (parsed cron, next period, staleness deadline) from an integration''s schedule when it is created or its schedule changes.'; -- noqa: LT05

create or replace function syncsched._integration_after_disable()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    update syncsched.sync_run_log as r
    set status = 'cancelled', finished_at = now(), error = 'integration disabled'
    where r.org_id = new.org_id and r.integration_id = new.integration_id and r.status = 'pending';
    return null;
end
$$;
comment on function syncsched._integration_after_disable() is
'Disabling an integration cancels its pending runs.';

create or replace trigger organization_integrations_schedule
before insert or update on syncsched.organization_integrations
for each row execute function syncsched._integration_before_write();
comment on trigger organization_integrations_schedule on syncsched.organization_integrations is
'Validates the schedule of every row written.';

create or replace trigger organization_integrations_derive
after insert on syncsched.organization_integrations
for each row execute function syncsched._derive_schedule_state();
comment on trigger organization_integrations_derive on syncsched.organization_integrations is
'A new integration gets its schedule_state.';

create or replace trigger organization_integrations_rederive
after update on syncsched.organization_integrations
for each row when (
    new.cron_schedule is distinct from old.cron_schedule
    or new.interval_minutes is distinct from old.interval_minutes
    or new.timezone is distinct from old.timezone
    or new.is_enabled is distinct from old.is_enabled
    or new.max_staleness is distinct from old.max_staleness
)
execute function syncsched._derive_schedule_state();
comment on trigger organization_integrations_rederive on syncsched.organization_integrations is
'A changed schedule (expression, interval, zone, enabled, max_staleness) is derived anew, from now.';

create or replace trigger organization_integrations_disable
after update of is_enabled on syncsched.organization_integrations
for each row when (old.is_enabled and not new.is_enabled)
execute function syncsched._integration_after_disable();
comment on trigger organization_integrations_disable on syncsched.organization_integrations is
'Disabling cancels the pending runs.';
