-- The DBA API. Plain INSERT/UPDATE on organization_integrations works as well: the
-- same trigger validates both. Functions that write the run log are SECURITY DEFINER.

create or replace function syncsched._require(p_value anyelement, p_name text)
returns void
language plpgsql
immutable
as $$
begin
    if p_value is null then
        raise exception 'syncsched: % must not be null', p_name using errcode = 'invalid_parameter_value';
    end if;
end
$$;

create or replace function syncsched._check_name(p_value text, p_name text)
returns void
language plpgsql
immutable
as $$
begin
    perform syncsched._require(p_value, p_name);
    if p_value !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' then
        raise exception 'syncsched: % must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (got %)',
            p_name, case when length(p_value) <= 40 then quote_literal(p_value) else length(p_value) || ' characters' end
            using errcode = 'invalid_parameter_value';
    end if;
end
$$;
comment on function syncsched._check_name(text, text) is
'Raise a clear invalid_parameter_value unless p_value is an organization or integration id (the table''s format).';

create or replace function syncsched._next_run_at(p_org_id text, p_integration_id text)
returns timestamptz
language plpgsql
stable
as $$
begin
    -- (PL/pgSQL, joined on org_id too: Citus plans neither an SQL function's parameters nor a join of
    -- its distributed tables off their distribution column)
    return (
        select s.next_run_at
        from syncsched.schedule_state as s
        join syncsched.organization_integrations as o on o.org_id = s.org_id and o.id = s.id
        where o.org_id = p_org_id and o.integration_id = p_integration_id
    );
end
$$;
comment on function syncsched._next_run_at(text, text) is
'The next run of an integration, as its schedule state says (read under the caller''s row-level security).';

-- SECURITY INVOKER: a tenant looks up through its row-level security, so another
-- organization's integration is 'no integration', not a hint that it exists.
create or replace function syncsched._integration_id(p_org_id text, p_integration_id text)
returns bigint
language plpgsql
stable
security invoker
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_id bigint;
begin
    perform syncsched._require(p_org_id, 'p_org_id');
    perform syncsched._require(p_integration_id, 'p_integration_id');
    select o.id into v_id
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    if v_id is null then
        raise exception 'syncsched: no integration %/%', syncsched._label(p_org_id), syncsched._label(p_integration_id)
            using errcode = 'no_data_found',
                hint = format('the integrations of %s: select integration_id from syncsched.schedule_overview'
                    ' where org_id = %L', syncsched._label(p_org_id), p_org_id);
    end if;
    return v_id;
end
$$;

create or replace function syncsched.create_integration(
    p_org_id text,
    p_integration_id text,
    p_integration_type text,
    p_cron_schedule text default null,
    p_interval_minutes integer default null,
    p_timezone text default 'UTC',
    p_payload jsonb default '{}',
    p_is_enabled boolean default true,
    p_misfire_policy text default 'run_once',
    p_misfire_grace interval default '15 minutes',
    p_max_attempts integer default null,
    p_max_staleness interval default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_id bigint;
begin
    -- Every field is checked by the schedule trigger (SQLSTATE 22023 naming org, integration, problem),
    -- once it is known that the integration is new (an existing one is the first thing to say).
    if exists (
        select from syncsched.organization_integrations as o
        where o.org_id = p_org_id and o.integration_id = p_integration_id
    ) then
        raise unique_violation;
    end if;
    insert into syncsched.organization_integrations as o (
        org_id, integration_id, integration_type, cron_schedule, interval_minutes, timezone, payload, is_enabled,
        misfire_policy, misfire_grace, max_attempts, max_staleness
    ) values (
        p_org_id, p_integration_id, p_integration_type, p_cron_schedule, p_interval_minutes, p_timezone, p_payload,
        p_is_enabled, p_misfire_policy, p_misfire_grace, p_max_attempts, p_max_staleness
    )
    returning o.id into v_id;
    return v_id;
exception when unique_violation then
    raise exception 'syncsched: integration %/% exists already', syncsched._label(p_org_id),
        syncsched._label(p_integration_id)
        using errcode = 'duplicate_object',
            hint = format('change it with select syncsched.alter_integration(%L, %L, ...): omitted fields keep their values',
                p_org_id, p_integration_id);
end
$$;
comment on function syncsched.create_integration(
    text, text, text, text, integer, text, jsonb, boolean, text, interval, integer, interval
) is
'Create an integration; returns its id. Omitted fields take the table''s defaults: no schedule, zone UTC, payload {}, enabled, misfire policy run_once, misfire_grace 15 minutes, max_attempts and max_staleness null (the default_max_attempts setting; stale after the schedule''s next period). An existing one is refused (42710: use alter_integration); a bad field is 22023.'; -- noqa: LT05

create or replace function syncsched.alter_integration(
    p_org_id text,
    p_integration_id text,
    p_integration_type text default null,
    p_cron_schedule text default null,
    p_interval_minutes integer default null,
    p_timezone text default null,
    p_payload jsonb default null,
    p_is_enabled boolean default null,
    p_misfire_policy text default null,
    p_misfire_grace interval default null,
    p_max_attempts integer default null,
    p_max_staleness interval default null,
    p_reset text[] default '{}'
)
returns bigint
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    c_resettable constant text[] := array[
        'cron_schedule', 'interval_minutes', 'timezone', 'payload', 'is_enabled', 'misfire_policy', 'misfire_grace',
        'max_attempts', 'max_staleness'
    ];
    v_id bigint := syncsched._integration_id(p_org_id, p_integration_id);
    v_reset text[] := coalesce(p_reset, '{}');
    v_unknown text;
    v_given text[];
    v_sets text[] := '{}';
begin
    -- Like pg_cron's alter_job: an argument left null keeps the stored value; p_reset names the
    -- fields to put back to their defaults (the table's column defaults). A cron schedule replaces
    -- an interval and vice versa. One UPDATE, checked by the schedule trigger.
    select u.name into v_unknown from unnest(v_reset) as u (name) where u.name is null or not u.name = any(c_resettable)
    limit 1;
    if found then
        raise exception 'syncsched: integration %/% has no field % to reset', syncsched._label(p_org_id),
            syncsched._label(p_integration_id), coalesce('"' || left(v_unknown, 64) || '"', '(null)')
            using errcode = 'invalid_parameter_value', hint = 'fields with a default: ' || array_to_string(c_resettable, ', ');
    end if;
    v_given := array_remove(array[
        case when p_cron_schedule is not null then 'cron_schedule' end,
        case when p_interval_minutes is not null then 'interval_minutes' end,
        case when p_timezone is not null then 'timezone' end,
        case when p_payload is not null then 'payload' end,
        case when p_is_enabled is not null then 'is_enabled' end,
        case when p_misfire_policy is not null then 'misfire_policy' end,
        case when p_misfire_grace is not null then 'misfire_grace' end,
        case when p_max_attempts is not null then 'max_attempts' end,
        case when p_max_staleness is not null then 'max_staleness' end
    ], null);
    select u.name into v_unknown from unnest(v_reset) as u (name) where u.name = any(v_given) limit 1;
    if found then
        raise exception 'syncsched: integration %/% field % is both given and reset', syncsched._label(p_org_id),
            syncsched._label(p_integration_id), v_unknown
            using errcode = 'invalid_parameter_value', hint = 'give a value, or reset it to its default, not both';
    end if;
    if p_integration_type is not null then
        v_sets := v_sets || 'integration_type = $2'::text;
    end if;
    v_sets := v_sets || case
        when 'cron_schedule' = any(v_reset) then 'cron_schedule = default'
        when p_cron_schedule is not null then 'cron_schedule = $3'
        when p_interval_minutes is not null then 'cron_schedule = null'
    end;
    v_sets := v_sets || case
        when 'interval_minutes' = any(v_reset) then 'interval_minutes = default'
        when p_interval_minutes is not null then 'interval_minutes = $4'
        when p_cron_schedule is not null then 'interval_minutes = null'
    end;
    v_sets := v_sets || case when 'timezone' = any(v_reset) then 'timezone = default'
        when p_timezone is not null then 'timezone = $5' end;
    v_sets := v_sets || case when 'payload' = any(v_reset) then 'payload = default'
        when p_payload is not null then 'payload = $6' end;
    v_sets := v_sets || case when 'is_enabled' = any(v_reset) then 'is_enabled = default'
        when p_is_enabled is not null then 'is_enabled = $7' end;
    v_sets := v_sets || case when 'misfire_policy' = any(v_reset) then 'misfire_policy = default'
        when p_misfire_policy is not null then 'misfire_policy = $8' end;
    v_sets := v_sets || case when 'misfire_grace' = any(v_reset) then 'misfire_grace = default'
        when p_misfire_grace is not null then 'misfire_grace = $9' end;
    v_sets := v_sets || case when 'max_attempts' = any(v_reset) then 'max_attempts = default'
        when p_max_attempts is not null then 'max_attempts = $10' end;
    v_sets := v_sets || case when 'max_staleness' = any(v_reset) then 'max_staleness = default'
        when p_max_staleness is not null then 'max_staleness = $11' end;
    v_sets := array_remove(v_sets, null);
    if cardinality(v_sets) > 0 then
        execute format('update syncsched.organization_integrations as o set %s where o.org_id = $12 and o.id = $1',
            array_to_string(v_sets, ', '))
            using v_id, p_integration_type, p_cron_schedule, p_interval_minutes, p_timezone, p_payload, p_is_enabled,
                p_misfire_policy, p_misfire_grace, p_max_attempts, p_max_staleness, p_org_id;
    end if;
    return v_id;
end
$$;
comment on function syncsched.alter_integration(
    text, text, text, text, integer, text, jsonb, boolean, text, interval, integer, interval, text[]
) is
'Change some fields of an integration; returns its id. Every argument left null keeps the stored value; a cron schedule replaces the interval and vice versa; p_reset names fields to put back to their defaults (cron_schedule, interval_minutes, timezone, payload, is_enabled, misfire_policy, misfire_grace, max_attempts, max_staleness). A bad field is 22023.'; -- noqa: LT05

-- Its misfire policy became text (a bad value is 22023, not 22P02): created anew.
drop function if exists syncsched.upsert_integration(
    text, text, text, text, integer, text, jsonb, boolean, syncsched.misfire_policy, integer
);
create or replace function syncsched.upsert_integration(
    p_org_id text,
    p_integration_id text,
    p_integration_type text,
    p_cron_schedule text default null,
    p_interval_minutes integer default null,
    p_timezone text default 'UTC',
    p_payload jsonb default '{}',
    p_is_enabled boolean default true,
    p_misfire_policy text default 'run_once',
    p_max_attempts integer default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_id bigint;
begin
    -- Replace semantics: every field it has an argument for is set, an omitted one to its default.
    insert into syncsched.organization_integrations as o (
        org_id, integration_id, integration_type, cron_schedule, interval_minutes, timezone, payload,
        is_enabled, misfire_policy, max_attempts
    ) values (
        p_org_id, p_integration_id, p_integration_type, p_cron_schedule, p_interval_minutes, p_timezone,
        coalesce(p_payload, '{}'), p_is_enabled, p_misfire_policy, p_max_attempts
    )
    on conflict (org_id, integration_id) do update
    set integration_type = excluded.integration_type,
        cron_schedule = excluded.cron_schedule,
        interval_minutes = excluded.interval_minutes,
        timezone = excluded.timezone,
        payload = excluded.payload,
        is_enabled = excluded.is_enabled,
        misfire_policy = excluded.misfire_policy,
        max_attempts = excluded.max_attempts
    returning o.id into v_id;
    return v_id;
end
$$;
comment on function syncsched.upsert_integration(text, text, text, text, integer, text, jsonb, boolean, text, integer) is
'Create an integration, or replace one: each of its ten fields is set from its argument, an omitted argument meaning the default (so a call with a new cron alone re-enables, sets UTC, empties the payload). misfire_grace and max_staleness, which it has no argument for, are left as stored. To change some fields only, use alter_integration. Returns the id.'; -- noqa: LT05

create or replace function syncsched.set_schedule(
    p_org_id text, p_integration_id text, p_cron_schedule text, p_timezone text default null
)
returns timestamptz
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_cron_schedule, 'p_cron_schedule');
    update syncsched.organization_integrations as o
    set cron_schedule = p_cron_schedule, interval_minutes = null, timezone = coalesce(p_timezone, o.timezone)
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    return syncsched._next_run_at(p_org_id, p_integration_id);
end
$$;
comment on function syncsched.set_schedule(text, text, text, text) is
'Give an integration a cron schedule (and optionally a time zone); returns its next run.';

create or replace function syncsched.set_interval(p_org_id text, p_integration_id text, p_minutes integer)
returns timestamptz
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_minutes, 'p_minutes');
    update syncsched.organization_integrations as o
    set interval_minutes = p_minutes, cron_schedule = null
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    return syncsched._next_run_at(p_org_id, p_integration_id);
end
$$;
comment on function syncsched.set_interval(text, text, integer) is
'Run an integration every p_minutes minutes (aligned to the Unix epoch); returns its next run.';

create or replace function syncsched.enable_integration(p_org_id text, p_integration_id text)
returns timestamptz
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    update syncsched.organization_integrations as o
    set is_enabled = true
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    return syncsched._next_run_at(p_org_id, p_integration_id);
end
$$;
comment on function syncsched.enable_integration(text, text) is
'Enable an integration; its schedule starts from now (missed periods are not caught up). Returns its next run.';

create or replace function syncsched.disable_integration(p_org_id text, p_integration_id text)
returns integer
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_cancelled integer;
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    -- the pending runs the disable trigger is about to cancel
    select count(*)::integer into v_cancelled
    from syncsched.organization_integrations as o
    join syncsched.sync_run_log as r on r.org_id = o.org_id and r.integration_id = o.integration_id
    where o.org_id = p_org_id and o.integration_id = p_integration_id and o.is_enabled and r.status = 'pending';
    update syncsched.organization_integrations as o
    set is_enabled = false
    where o.org_id = p_org_id and o.integration_id = p_integration_id and o.is_enabled;
    return v_cancelled;
end
$$;
comment on function syncsched.disable_integration(text, text) is
'Disable an integration: no more scheduled runs, its pending runs cancelled (returns how many).';

create or replace function syncsched.run_now(p_org_id text, p_integration_id text, p_force boolean default false)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_row syncsched.organization_integrations%rowtype;
    v_live bigint;
    v_run_id bigint;
    v_at timestamptz := clock_timestamp();
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_force, 'p_force');
    select * into v_row
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    -- the tick locks this row too (and skips it while run_now holds it): one run decision at a time
    perform syncsched._lock_schedule(v_row.org_id, v_row.id);
    if not p_force then
        if not v_row.is_enabled then
            raise exception 'syncsched: integration %/% is disabled: it gets no runs', p_org_id, p_integration_id
                using errcode = 'object_not_in_prerequisite_state',
                    hint = format('enable it (select syncsched.enable_integration(%L, %L)), or pass p_force => true '
                        'to run it once anyway', p_org_id, p_integration_id);
        end if;
        select r.run_id into v_live
        from syncsched.sync_run_log as r
        where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status in ('pending', 'running')
        order by r.run_id desc
        limit 1;
        if v_live is not null then
            raise exception 'syncsched: integration %/% already has run % pending or running', p_org_id,
                p_integration_id, v_live
                using errcode = 'object_in_use', hint = 'pass p_force => true to start another run anyway';
        end if;
    end if;
    insert into syncsched.sync_run_log (
        org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger, max_attempts, payload
    ) values (
        v_row.org_id, v_row.integration_id, v_row.integration_type, v_at,
        v_row.org_id || '/' || v_row.integration_id || '/manual/'
            || to_char(v_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'manual', coalesce(v_row.max_attempts, syncsched.setting('default_max_attempts')::integer), v_row.payload
    )
    returning run_id into v_run_id;
    perform syncsched._runs_live_from(v_at);
    perform syncsched._audit('run_now', v_row.org_id, v_row.integration_id, v_row.integration_type, v_run_id,
        jsonb_build_object('forced', p_force, 'enabled', v_row.is_enabled));
    perform pg_notify('syncsched_runs', json_build_object('at', v_at, 'runs', 1)::text);
    return v_run_id;
end
$$;
comment on function syncsched.run_now(text, text, boolean) is
'Queue a manual run now (key org/integration/manual/<timestamp>); returns its id. Refused while the integration is disabled (55000) or has a pending or running run (55006), unless p_force. Audited.'; -- noqa: LT05

create or replace function syncsched.cancel_run(p_run_id bigint)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_run record;
begin
    perform syncsched._require(p_run_id, 'p_run_id');
    update syncsched.sync_run_log as r
    set status = 'cancelled', finished_at = now(), error = format('cancelled by %s', session_user)
    where r.run_id = p_run_id and r.status = 'pending'
    returning r.org_id, r.integration_id, r.integration_type, r.attempt, r.trigger into v_run;
    if found then
        perform syncsched._audit('cancel_run', v_run.org_id, v_run.integration_id, v_run.integration_type, p_run_id,
            jsonb_build_object('attempts_used', v_run.attempt, 'trigger', v_run.trigger));
        return true;
    end if;
    if not exists (select from syncsched.sync_run_log as r where r.run_id = p_run_id) then
        raise exception 'syncsched: no run %', p_run_id using errcode = 'no_data_found';
    end if;
    return false;
end
$$;
comment on function syncsched.cancel_run(bigint) is
'Cancel a pending run (true, audited); false when the run is no longer pending (running runs finish).';

create or replace function syncsched.retry_run(p_run_id bigint)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_run record;
    v_max integer;
begin
    perform syncsched._require(p_run_id, 'p_run_id');
    select r.run_id, r.org_id, r.integration_id, r.integration_type, r.status, r.attempt, r.max_attempts, r.error,
        r.scheduled_for, o.is_enabled
    into v_run
    from syncsched.sync_run_log as r
    left join syncsched.organization_integrations as o on o.org_id = r.org_id and o.integration_id = r.integration_id
    where r.run_id = p_run_id
    for update of r;
    if not found then
        raise exception 'syncsched: no run %', p_run_id using errcode = 'no_data_found';
    end if;
    if v_run.status <> 'failed' then
        raise exception 'syncsched: run % of %/% is %: only a failed run can be retried', p_run_id, v_run.org_id,
            v_run.integration_id, v_run.status
            using errcode = 'invalid_parameter_value',
                hint = case v_run.status
                    when 'pending' then 'it is waiting for a worker already'
                    when 'running' then 'a worker is on it'
                    else format('start a new run: select syncsched.run_now(%L, %L)', v_run.org_id, v_run.integration_id)
                end;
    end if;
    if v_run.attempt >= 100 then
        raise exception 'syncsched: run % of %/% has used % attempts, the most a run may have', p_run_id, v_run.org_id,
            v_run.integration_id, v_run.attempt
            using errcode = 'invalid_parameter_value',
                hint = format('start a new run: select syncsched.run_now(%L, %L)', v_run.org_id, v_run.integration_id);
    end if;
    if not v_run.is_enabled then
        raise exception 'syncsched: run % of %/% is not retried: the integration is disabled', p_run_id, v_run.org_id,
            v_run.integration_id
            using errcode = 'object_not_in_prerequisite_state',
                hint = format('enable it first: select syncsched.enable_integration(%L, %L)', v_run.org_id,
                    v_run.integration_id);
    end if;
    -- The same run and idempotency key, once more: one more attempt allowed, numbered after the last.
    v_max := greatest(v_run.max_attempts, v_run.attempt + 1);
    update syncsched.sync_run_log as r
    set status = 'pending', max_attempts = v_max, not_before = now(), finished_at = null, lease_token = null,
        lease_expires_at = null
    where r.run_id = p_run_id;
    -- (its partition may be history: live again)
    perform syncsched._runs_live_from(v_run.scheduled_for);
    perform syncsched._audit('retry_run', v_run.org_id, v_run.integration_id, v_run.integration_type, p_run_id,
        jsonb_build_object('attempts_used', v_run.attempt, 'max_attempts_before', v_run.max_attempts,
            'max_attempts', v_max, 'error', left(v_run.error, 500)));
    perform pg_notify('syncsched_runs', json_build_object('retry', p_run_id, 'at', now())::text);
    return p_run_id;
end
$$;
comment on function syncsched.retry_run(bigint) is
'Try a failed run again, in place: the same row and idempotency key, pending again, one more attempt allowed (its number follows the last), trigger unchanged; audited as retry_run. Refused (22023) for a run that is not failed. Returns the run id.'; -- noqa: LT05

create or replace function syncsched._set_pause(p_what text, p_integration_type text, p_paused boolean)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_was boolean;
begin
    -- p_what: scheduling (the tick creates no runs) or dispatch (claims hand out none); a type, or
    -- every type (null: the scheduler_paused / dispatch_paused settings). Returns whether it changed.
    if p_integration_type is null then
        select s.value::boolean into v_was
        from syncsched.settings as s
        where s.key = case p_what when 'scheduling' then 'scheduler_paused' else 'dispatch_paused' end
        for update;
        update syncsched.settings as s set value = p_paused::text
        where s.key = case p_what when 'scheduling' then 'scheduler_paused' else 'dispatch_paused' end;
    else
        select case p_what when 'scheduling' then d.scheduling_paused else d.dispatch_paused end into v_was
        from syncsched.dispatch_state as d
        where d.integration_type = p_integration_type
        for update;
        if not found then
            raise exception 'syncsched: unknown integration type "%"', left(p_integration_type, 64)
                using errcode = 'invalid_parameter_value', hint = syncsched._integration_types_hint();
        end if;
        update syncsched.dispatch_state as d
        set scheduling_paused = case when p_what = 'scheduling' then p_paused else d.scheduling_paused end,
            dispatch_paused = case when p_what = 'dispatch' then p_paused else d.dispatch_paused end,
            updated_at = now()
        where d.integration_type = p_integration_type;
    end if;
    perform syncsched._audit(case when p_paused then 'pause_' else 'resume_' end || p_what, null, null,
        p_integration_type, null, jsonb_build_object('global', p_integration_type is null, 'was_paused', v_was));
    if p_what = 'dispatch' and not p_paused and v_was then
        -- the runs it held may go now, not at the workers' next poll
        perform pg_notify('syncsched_runs', json_build_object('resumed', coalesce(p_integration_type, '*'))::text);
    end if;
    return v_was is distinct from p_paused;
end
$$;
comment on function syncsched._set_pause(text, text, boolean) is
'Pause or resume scheduling or dispatch, of one type or (null) of all, audited (a resumed dispatch wakes the workers); returns whether it changed.'; -- noqa: LT05

create or replace function syncsched.pause_scheduling(p_integration_type text default null)
returns boolean
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._set_pause('scheduling', p_integration_type, true)
$$;
comment on function syncsched.pause_scheduling(text) is
'Stop creating runs: the tick records itself but creates none, for one type or (null) for all. Workers keep claiming what is pending and run_now still works. Returns whether it changed; audited.'; -- noqa: LT05

create or replace function syncsched.resume_scheduling(p_integration_type text default null)
returns boolean
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._set_pause('scheduling', p_integration_type, false)
$$;
comment on function syncsched.resume_scheduling(text) is
'Create runs again (one type, or null: all); periods missed while paused follow each integration''s misfire_policy. Returns whether it changed; audited.'; -- noqa: LT05

create or replace function syncsched.pause_dispatch(p_integration_type text default null)
returns boolean
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._set_pause('dispatch', p_integration_type, true)
$$;
comment on function syncsched.pause_dispatch(text) is
'Stop handing runs to workers: claims return none of one type or (null) none at all; the tick still creates runs, which wait, spending no attempt. Runs already running finish. Returns whether it changed; audited.'; -- noqa: LT05

create or replace function syncsched.resume_dispatch(p_integration_type text default null)
returns boolean
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._set_pause('dispatch', p_integration_type, false)
$$;
comment on function syncsched.resume_dispatch(text) is
'Hand runs to workers again (one type, or null: all). Returns whether it changed; audited.';

create or replace function syncsched.pause_scheduler()
returns void
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._set_pause('scheduling', null, true)
$$;
comment on function syncsched.pause_scheduler() is
'pause_scheduling() for every type: ticks keep recording themselves but create no runs until resume_scheduler(). Workers keep claiming; run_now still works.'; -- noqa: LT05

create or replace function syncsched.resume_scheduler()
returns void
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._set_pause('scheduling', null, false)
$$;
comment on function syncsched.resume_scheduler() is
'resume_scheduling() for every type: runs are created again; periods missed while paused follow each integration''s misfire_policy.'; -- noqa: LT05

create or replace function syncsched.delete_integration(
    p_org_id text, p_integration_id text, p_delete_history boolean default false
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_row syncsched.organization_integrations%rowtype;
    v_running bigint;
    v_runs integer;
    v_cancelled bigint[];
    v_by_status jsonb;
    v_deleted integer;
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_delete_history, 'p_delete_history');
    select * into v_row
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id
    for update;
    -- no tick or run_now creates a run meanwhile (both lock this row), no claim takes a pending one
    perform syncsched._lock_schedule(v_row.org_id, v_row.id);
    perform from syncsched.sync_run_log as r
    where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status in ('pending', 'running')
    for update;
    select r.run_id into v_running
    from syncsched.sync_run_log as r
    where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status = 'running'
    limit 1;
    if v_running is not null then
        raise exception 'syncsched: integration %/% is not deleted: its run % is running', p_org_id, p_integration_id,
            v_running
            using errcode = 'object_in_use',
                hint = format('disable it (select syncsched.disable_integration(%L, %L)) so that no run starts, and '
                    'delete it once the run has finished', p_org_id, p_integration_id);
    end if;
    select coalesce(sum(c.n), 0)::integer, coalesce(jsonb_object_agg(c.status, c.n), '{}')
    into v_runs, v_by_status
    from (
        select r.status::text as status, count(*) as n
        from syncsched.sync_run_log as r
        where r.org_id = p_org_id and r.integration_id = p_integration_id
        group by r.status
    ) as c;
    if v_runs > 0 and not p_delete_history then
        raise exception 'syncsched: integration %/% is not deleted: it has % run(s) of history', p_org_id,
            p_integration_id, v_runs
            using errcode = 'object_in_use',
                hint = format('disable it to keep its history (select syncsched.disable_integration(%L, %L)), or '
                    'delete it with its history: select syncsched.delete_integration(%L, %L, p_delete_history => true)',
                    p_org_id, p_integration_id, p_org_id, p_integration_id);
    end if;
    -- pending runs are cancelled first, and named in the audit log (a stale worker's late write for one
    -- of them finds its integration there)
    with cancelled as (
        update syncsched.sync_run_log as r
        set status = 'cancelled', finished_at = now(), error = 'integration deleted'
        where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status = 'pending'
        returning r.run_id
    )
    select coalesce(array_agg(cancelled.run_id order by cancelled.run_id), '{}') into v_cancelled from cancelled;
    delete from syncsched.sync_run_log as r where r.org_id = p_org_id and r.integration_id = p_integration_id;
    get diagnostics v_deleted = row_count;
    delete from syncsched.organization_integrations as o where o.org_id = v_row.org_id and o.id = v_row.id;
    -- its open conditions (failing, stale, invalid_schedule) are over with it
    perform syncsched._resolve_alerts(array(
        select syncsched._alert_key(k.kind, p_org_id, p_integration_id, null)
        from syncsched.alert_kinds as k
        where k.is_condition
    ));
    perform syncsched._audit('delete_integration', p_org_id, p_integration_id, v_row.integration_type, null,
        jsonb_build_object('runs_deleted', v_deleted, 'runs_by_status', v_by_status, 'cancelled_run_ids',
            to_jsonb(v_cancelled), 'configuration', to_jsonb(v_row) - 'payload', 'payload', v_row.payload));
    return jsonb_build_object('deleted', true, 'runs_deleted', v_deleted, 'cancelled', cardinality(v_cancelled));
end
$$;
comment on function syncsched.delete_integration(text, text, boolean) is
'Delete an integration. Refused (55006) while one of its runs is running, and while it has runs unless p_delete_history: then its pending runs are cancelled, its runs and their attempts deleted, its open alerts resolved. Audited with its configuration and the cancelled runs. A plain DELETE of an integration with runs is refused.'; -- noqa: LT05
