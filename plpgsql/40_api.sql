-- The DBA API. Plain INSERT/UPDATE on organization_integrations works as well: the
-- same trigger validates both. Functions that write the run log are SECURITY DEFINER.

create or replace function syncsched._require(p_value anyelement, p_name text)
returns void
language plpgsql
immutable
as $$
begin
    if p_value is null then
        raise exception 'syncsched: % must not be null', p_name using errcode = 'null_value_not_allowed';
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
language sql
stable
as $$
    select s.next_run_at
    from syncsched.schedule_state as s
    join syncsched.organization_integrations as o on o.id = s.id
    where o.org_id = p_org_id and o.integration_id = p_integration_id
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
        raise exception 'syncsched: no integration %/%', left(p_org_id, 128), left(p_integration_id, 128)
            using errcode = 'no_data_found';
    end if;
    return v_id;
end
$$;

create or replace function syncsched.upsert_integration(
    p_org_id text,
    p_integration_id text,
    p_integration_type text,
    p_cron_schedule text default null,
    p_interval_minutes integer default null,
    p_timezone text default 'UTC',
    p_payload jsonb default '{}',
    p_is_enabled boolean default true,
    p_misfire_policy syncsched.misfire_policy default 'run_once',
    p_max_attempts integer default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_id bigint;
begin
    perform syncsched._check_name(p_org_id, 'p_org_id');
    perform syncsched._check_name(p_integration_id, 'p_integration_id');
    perform syncsched._require(p_integration_type, 'p_integration_type');
    perform syncsched._require(p_timezone, 'p_timezone');
    perform syncsched._require(p_is_enabled, 'p_is_enabled');
    perform syncsched._require(p_misfire_policy, 'p_misfire_policy');
    if p_payload is not null and pg_column_size(p_payload) > 65536 then
        raise exception 'syncsched: payload of %/% is % bytes, at most 64 kB', left(p_org_id, 128),
            left(p_integration_id, 128), pg_column_size(p_payload)
            using errcode = 'program_limit_exceeded';
    end if;
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
comment on function syncsched.upsert_integration(
    text, text, text, text, integer, text, jsonb, boolean, syncsched.misfire_policy, integer
) is
'Create or replace an integration of an organization; returns its id. The schedule is validated (SQLSTATE 22023).';

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
    perform from syncsched.schedule_state as s where s.id = v_row.id for update;
    if not p_force then
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
    perform pg_notify('syncsched_runs', json_build_object('at', v_at, 'runs', 1)::text);
    return v_run_id;
end
$$;
comment on function syncsched.run_now(text, text, boolean) is
'Queue a manual run now (key org/integration/manual/<timestamp>). Refused while the integration has a pending or running run, unless p_force.';

create or replace function syncsched.cancel_run(p_run_id bigint)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_status syncsched.run_status;
begin
    perform syncsched._require(p_run_id, 'p_run_id');
    update syncsched.sync_run_log as r
    set status = 'cancelled', finished_at = now(), error = format('cancelled by %s', session_user)
    where r.run_id = p_run_id and r.status = 'pending';
    if found then
        return true;
    end if;
    select r.status into v_status from syncsched.sync_run_log as r where r.run_id = p_run_id;
    if v_status is null then
        raise exception 'syncsched: no run %', p_run_id using errcode = 'no_data_found';
    end if;
    return false;
end
$$;
comment on function syncsched.cancel_run(bigint) is
'Cancel a pending run (true); false when the run is no longer pending (running runs finish).';

create or replace function syncsched.pause_scheduler()
returns void
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    update syncsched.settings set value = 'true', updated_at = now() where key = 'scheduler_paused'
$$;
comment on function syncsched.pause_scheduler() is
'Ticks keep recording themselves but create no runs until resume_scheduler().';

create or replace function syncsched.resume_scheduler()
returns void
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    update syncsched.settings set value = 'false', updated_at = now() where key = 'scheduler_paused'
$$;
comment on function syncsched.resume_scheduler() is
'Resume creating runs; periods missed while paused follow each integration''s misfire_policy.';
