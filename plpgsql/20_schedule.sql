-- Schedules: validation, the next period, and the triggers that derive schedule_state from the
-- configuration (users write organization_integrations; only these triggers and the tick write
-- schedule_state).

-- Gone: the per-integration advisory lock (the tick and run_now serialise on the row lock of
-- schedule_state), the public twin of _schedule_next, and the period guessed from one gap.
drop function if exists syncsched._lock_key(bigint, text, text);
drop function if exists syncsched.schedule_next(syncsched.cron_spec, integer, text, timestamptz);
drop function if exists syncsched._schedule_period(syncsched.cron_spec, integer, text, timestamptz);
drop function if exists syncsched._stale_after(interval, interval);

-- its arguments grew (p_seed, for H)
drop function if exists syncsched.schedule_problem(text, integer, text, boolean);

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

create or replace function syncsched._integration_seed(p_org_id text, p_integration_id text)
returns text
language sql
immutable
parallel safe
as $$
    select p_org_id || '/' || p_integration_id
$$;
comment on function syncsched._integration_seed(text, text) is
'What H in an integration''s cron schedule is resolved with: ''org_id/integration_id''.';

create or replace function syncsched.schedule_problem(
    p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean, p_seed text default null
)
returns text
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_problem text;
    -- (read through setting_values: a reader may preview a schedule, not read every setting)
    v_min interval := (select v.value from syncsched.setting_values as v where v.key = 'min_schedule_interval')::interval;
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
        if p_interval_minutes > 525600 then
            return format('interval of %s minutes is longer than a year (525600 minutes)', p_interval_minutes);
        end if;
        return null;
    end if;
    v_problem := syncsched.cron_validate(p_cron_schedule, p_seed);
    if v_problem is not null then
        return format('has an invalid cron schedule "%s": %s', left(p_cron_schedule, 100), v_problem);
    end if;
    v_gap := syncsched._cron_min_gap(syncsched._cron_parse(p_cron_schedule, coalesce(p_seed, '')), v_min_minutes);
    if v_gap < v_min_minutes then
        return format('cron schedule "%s" fires %s minute(s) apart, more often than min_schedule_interval (%s minutes)',
            left(p_cron_schedule, 100), v_gap, v_min_minutes);
    end if;
    return null;
end
$$;
comment on function syncsched.schedule_problem(text, integer, text, boolean, text) is
'NULL when a schedule is acceptable, else what is wrong with it (the schedule trigger raises it); H resolved for p_seed.';

create or replace function syncsched._tz_canonical(p_tz text)
returns text
language plpgsql
stable
set timezone = 'UTC'
as $$
begin
    -- PostgreSQL finds a zone whatever the case of its name and knows its canonical spelling (the
    -- name of its tzdata file). The SET clause confines the session's zone change to this call.
    -- NULL when PostgreSQL does not know the name.
    if p_tz is null or not syncsched._tz_name_ok(p_tz) then
        return null;
    end if;
    perform set_config('timezone', p_tz, true);
    return current_setting('timezone');
exception when invalid_parameter_value then
    return null;
end
$$;
comment on function syncsched._tz_canonical(text) is
'The canonical spelling of an IANA zone name given in any case (europe/oslo -> Europe/Oslo), or NULL when PostgreSQL knows no such zone.'; -- noqa: LT05

create or replace function syncsched._label(p_value text)
returns text
language sql
immutable
parallel safe
as $$
    -- an identifier as messages show it: short ones whole, long ones cut and counted
    select case
        when p_value is null then '(null)'
        when length(p_value) <= 64 then p_value
        else left(p_value, 40) || '... (' || length(p_value) || ' characters)'
    end
$$;
comment on function syncsched._label(text) is
'An organization or integration id as error messages show it: whole up to 64 characters, else cut and counted.';

create or replace function syncsched._integration_types_hint()
returns text
language sql
stable
as $$
    select 'valid types: ' || coalesce(string_agg(t.integration_type, ', ' order by t.integration_type), 'none')
        || ' (rows of syncsched.integration_types)'
    from syncsched.integration_types as t
$$;
comment on function syncsched._integration_types_hint() is
'The HINT of an unknown integration type: the valid ones.';

create or replace function syncsched._config_problem(p_row syncsched.organization_integrations)
returns text[]
language plpgsql
stable
as $$
declare
    c_name constant text := '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
    c_name_rule constant text := '1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
    v_policies text[] := enum_range(null::syncsched.misfire_policy)::text[];
    v_zone_problem text;
begin
    -- {problem, hint} of the first field of an integration that cannot be stored (apart from its
    -- schedule, see schedule_problem), or NULL. The table's CHECK constraints say the same; this
    -- says it first, in words, with SQLSTATE 22023.
    if p_row.org_id is null or p_row.org_id !~ c_name then
        return array[format('org_id must be %s', c_name_rule), null];
    end if;
    if p_row.integration_id is null or p_row.integration_id !~ c_name then
        return array[format('integration_id must be %s', c_name_rule), null];
    end if;
    if p_row.integration_type is null then
        return array['has no integration type', syncsched._integration_types_hint()];
    end if;
    if not exists (select from syncsched.integration_types as t where t.integration_type = p_row.integration_type) then
        return array[format('has an unknown integration type "%s"', left(p_row.integration_type, 64)),
            syncsched._integration_types_hint()];
    end if;
    if p_row.timezone is null then
        return array['has no time zone', 'use an IANA name such as Europe/Oslo (the default is UTC)'];
    end if;
    v_zone_problem := syncsched.timezone_validate(p_row.timezone);
    if v_zone_problem is not null then
        return array[v_zone_problem, null];
    end if;
    if p_row.is_enabled is null then
        return array['is_enabled must be true or false', null];
    end if;
    if p_row.misfire_policy is null or not p_row.misfire_policy = any(v_policies) then
        return array[
            format('has an unknown misfire policy %s', coalesce('"' || left(p_row.misfire_policy, 64) || '"', '(null)')),
            'use ' || array_to_string(v_policies, ', ') || ' (the default is run_once)'
        ];
    end if;
    if p_row.misfire_grace is null or p_row.misfire_grace < interval '0' then
        return array[format('misfire_grace must be an interval of zero or more (got %s)',
            coalesce(p_row.misfire_grace::text, 'null')), 'the default is 15 minutes'];
    end if;
    if p_row.payload is null or jsonb_typeof(p_row.payload) <> 'object' then
        return array[format('payload must be a JSON object, not %s', coalesce(jsonb_typeof(p_row.payload), 'SQL NULL')),
            'for example ''{"company": 1042}''; the default is ''{}'''];
    end if;
    if pg_column_size(p_row.payload) > 65536 then
        return array[format('payload is %s bytes, at most 64 kB', pg_column_size(p_row.payload)), null];
    end if;
    if p_row.max_attempts is not null and p_row.max_attempts not between 1 and 100 then
        return array[format('max_attempts must be 1-100 (got %s)', p_row.max_attempts),
            'null: the default_max_attempts setting'];
    end if;
    if p_row.max_staleness is not null and p_row.max_staleness <= interval '0' then
        return array[format('max_staleness must be a positive interval (got %s)', p_row.max_staleness),
            'null: stale after the schedule''s own next period'];
    end if;
    return null;
end
$$;
comment on function syncsched._config_problem(syncsched.organization_integrations) is
'The first configuration field of an integration that cannot be stored, as {problem, hint}, or NULL (the schedule is schedule_problem''s).'; -- noqa: LT05

create or replace function syncsched._integration_before_write()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_problem text[];
    v_canonical text;
begin
    -- The one place where a configuration is checked, for plain SQL and the API alike: SQLSTATE
    -- 22023 naming org, integration and the problem, with a hint where one helps; nothing written.
    new.updated_at := now();
    if tg_op = 'INSERT' or new.timezone is distinct from old.timezone then
        -- a zone name in another case is stored as its canonical name (the workers' labels need it)
        v_canonical := syncsched._tz_canonical(new.timezone);
        if v_canonical <> new.timezone and lower(v_canonical) = lower(new.timezone) then
            new.timezone := v_canonical;
        end if;
    end if;
    if tg_op = 'UPDATE' and new.org_id is distinct from old.org_id then
        -- org_id is in every key of its state and runs, and on Citus it is the distribution column
        raise exception 'syncsched: integration %/% cannot move to organization %: an integration keeps its organization',
            syncsched._label(old.org_id), syncsched._label(old.integration_id), syncsched._label(new.org_id)
            using errcode = 'invalid_parameter_value',
                hint = 'create an integration in the other organization and disable or delete this one';
    end if;
    if tg_op = 'UPDATE' and new.integration_id is distinct from old.integration_id then
        -- its runs name it (and their idempotency keys): an integration with history keeps its name
        perform syncsched._lock_schedule(old.org_id, old.id);
        if syncsched._has_runs(old.org_id, old.integration_id) then
            raise exception 'syncsched: integration %/% has runs: it cannot be renamed',
                syncsched._label(old.org_id), syncsched._label(old.integration_id)
                using errcode = 'object_in_use',
                    hint = 'create an integration of the new name and disable this one (its history stays)';
        end if;
    end if;
    -- (as the table's row type: on a Citus shard, NEW is the shard's)
    v_problem := syncsched._config_problem(row(new.*)::syncsched.organization_integrations);
    if v_problem is null and (
        tg_op = 'INSERT'
        or new.cron_schedule is distinct from old.cron_schedule
        or new.interval_minutes is distinct from old.interval_minutes
        or new.timezone is distinct from old.timezone
        or new.is_enabled is distinct from old.is_enabled
        or new.integration_id is distinct from old.integration_id
    ) then
        -- (an unchanged schedule was valid when written; a renamed one may resolve H anew)
        v_problem := array[
            syncsched.schedule_problem(new.cron_schedule, new.interval_minutes, new.timezone, new.is_enabled,
                syncsched._integration_seed(new.org_id, new.integration_id)), null
        ];
    end if;
    if v_problem[2] is not null then
        raise exception 'syncsched: integration %/% %', syncsched._label(new.org_id),
            syncsched._label(new.integration_id), v_problem[1]
            using errcode = 'invalid_parameter_value', hint = v_problem[2];
    elsif v_problem[1] is not null then
        raise exception 'syncsched: integration %/% %', syncsched._label(new.org_id),
            syncsched._label(new.integration_id), v_problem[1]
            using errcode = 'invalid_parameter_value';
    end if;
    return new;
end
$$;
comment on function syncsched._integration_before_write() is
'Checks every integration written, plain SQL or API (SQLSTATE 22023 naming org, integration and problem, with a hint); stores zone names in their canonical spelling; refuses to move one to another organization (22023) or to rename one with runs (55006).'; -- noqa: LT05

-- (it takes the organization: on Citus, the shard of the row)
drop function if exists syncsched._lock_schedule(bigint);
create or replace function syncsched._lock_schedule(p_org_id text, p_id bigint)
returns void
language plpgsql
as $$
begin
    -- what the tick (FOR UPDATE SKIP LOCKED) and run_now (FOR UPDATE) lock while they create runs
    perform from syncsched.schedule_state as s where s.org_id = p_org_id and s.id = p_id for update;
end
$$;
comment on function syncsched._lock_schedule(text, bigint) is
'Wait for the tick or run_now creating runs for this integration (its schedule_state row lock), and keep them out.';

create or replace function syncsched._has_runs(p_org_id text, p_integration_id text)
returns boolean
language plpgsql
stable
as $$
begin
    -- (PL/pgSQL: on a Citus shard, where its trigger calls it, Citus plans no SQL function's parameters)
    return exists (
        select 1 from syncsched.sync_run_log as r where r.org_id = p_org_id and r.integration_id = p_integration_id
    );
end
$$;
comment on function syncsched._has_runs(text, text) is
'Whether an integration has runs (history that names it).';

create or replace function syncsched._integration_before_delete()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- Runs are history: a plain DELETE does not take them along (delete_integration does, when asked).
    -- The schedule's state row first: a tick or run_now creating a run for it holds it until commit,
    -- so that the run is seen here (the runs have no foreign key to keep them company).
    perform syncsched._lock_schedule(old.org_id, old.id);
    if syncsched._has_runs(old.org_id, old.integration_id) then
        raise exception 'syncsched: integration %/% has runs: deleting it would delete their history',
            syncsched._label(old.org_id), syncsched._label(old.integration_id)
            using errcode = 'object_in_use',
                hint = format('disable it to keep its history (select syncsched.disable_integration(%L, %L)), or '
                    'delete it with its history: select syncsched.delete_integration(%L, %L, p_delete_history => true)',
                    old.org_id, old.integration_id, old.org_id, old.integration_id);
    end if;
    return old;
end
$$;
comment on function syncsched._integration_before_delete() is
'Refuses to delete an integration that has runs (SQLSTATE 55006, with a hint): disable it, or delete_integration(..., p_delete_history => true).'; -- noqa: LT05

create or replace function syncsched._derive_schedule_state()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_spec syncsched.cron_spec := case when new.cron_schedule is not null
        then syncsched._cron_parse(new.cron_schedule, syncsched._integration_seed(new.org_id, new.integration_id)) end;
    v_next timestamptz := case
        when new.is_enabled then syncsched._schedule_next(v_spec, new.interval_minutes, new.timezone, now())
    end;
begin
    -- The state is always derived from the configuration, from now: the next period, and the
    -- staleness deadline of a schedule that starts now (none while disabled or unscheduled).
    insert into syncsched.schedule_state as s (
        id, org_id, cron_spec, next_run_at, last_tick_at, stale_check_at, derived_at, problem
    )
    values (
        new.id, new.org_id, v_spec, v_next, null,
        case when v_next is not null then syncsched._stale_deadline(v_spec, new.interval_minutes, new.timezone,
            new.max_staleness, now()) end,
        now(), null
    )
    on conflict (id, org_id) do update
    set cron_spec = excluded.cron_spec, next_run_at = excluded.next_run_at, last_tick_at = null,
        stale_check_at = excluded.stale_check_at, derived_at = excluded.derived_at, problem = null;
    if tg_op = 'UPDATE' and syncsched._on_citus_worker() then
        -- (a Citus shard, where the alerts are not: for the coordinator)
        perform syncsched._shard_outbox_add(null, new.org_id, new.integration_id, new.integration_type, null,
            syncsched._alert_key('invalid_schedule', new.org_id, new.integration_id, null));
    elsif tg_op = 'UPDATE' then
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

create or replace trigger organization_integrations_keep_history
before delete on syncsched.organization_integrations
for each row execute function syncsched._integration_before_delete();
comment on trigger organization_integrations_keep_history on syncsched.organization_integrations is
'An integration with runs is not deleted by a plain DELETE: its history would go with it.';

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
    or new.integration_id is distinct from old.integration_id
)
execute function syncsched._derive_schedule_state();
comment on trigger organization_integrations_rederive on syncsched.organization_integrations is
'A changed schedule (expression, interval, zone, enabled, max_staleness, or the identity H is resolved with) is derived anew, from now.'; -- noqa: LT05

create or replace trigger organization_integrations_disable
after update of is_enabled on syncsched.organization_integrations
for each row when (old.is_enabled and not new.is_enabled)
execute function syncsched._integration_after_disable();
comment on trigger organization_integrations_disable on syncsched.organization_integrations is
'Disabling cancels the pending runs.';
