-- The web console and HTTP API: tokens, sessions, and the previews the console shows.
-- The console maps a token to a role and runs every request under it (SET LOCAL ROLE); these
-- functions are the only ones its own login (a member of syncsched_web) may call as itself.

create or replace function syncsched._web_token_hash(p_token text)
returns text
language sql
immutable
parallel safe
as $$
    select encode(sha256(convert_to(p_token, 'UTF8')), 'hex')
$$;
comment on function syncsched._web_token_hash(text) is
'The stored form of a console token: its SHA-256, hex.';

create or replace function syncsched.create_web_token(
    p_role text, p_org_id text default null, p_label text default null
)
returns text
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    -- 244 random bits from two version-4 UUIDs, prefixed so that a leaked token is recognisable
    v_token text := 'ssw_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
begin
    if p_role is null or p_role not in ('admin', 'reader', 'tenant') then
        raise exception 'syncsched: a token''s role is admin, reader or tenant, not %', coalesce(quote_literal(p_role), 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    if p_role = 'tenant' then
        perform syncsched._check_name(p_org_id, 'p_org_id');
    elsif p_org_id is not null then
        raise exception 'syncsched: only a tenant token names an organization'
            using errcode = 'invalid_parameter_value', hint = 'pass p_role => ''tenant''';
    end if;
    if length(p_label) > 200 then
        raise exception 'syncsched: a token label has at most 200 characters' using errcode = 'invalid_parameter_value';
    end if;
    insert into syncsched.web_tokens (label, role, org_id, token_hash)
    values (p_label, p_role, p_org_id, syncsched._web_token_hash(v_token));
    return v_token;
end
$$;
comment on function syncsched.create_web_token(text, text, text) is
'Make a console/API token for role admin, reader or tenant (of p_org_id). Returns the token: it is shown this once, only its hash is kept.';

create or replace function syncsched.list_web_tokens()
returns table (
    token_id bigint, label text, role text, org_id text, created_at timestamptz, created_by text,
    last_used_at timestamptz, revoked_at timestamptz
)
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select t.token_id, t.label, t.role, t.org_id, t.created_at, t.created_by, t.last_used_at, t.revoked_at
    from syncsched.web_tokens as t
    order by t.token_id
$$;
comment on function syncsched.list_web_tokens() is
'The console tokens (never their hashes).';

create or replace function syncsched.revoke_web_token(p_token_id bigint)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    perform syncsched._require(p_token_id, 'p_token_id');
    update syncsched.web_tokens as t set revoked_at = now() where t.token_id = p_token_id and t.revoked_at is null;
    if found then
        return true;
    end if;
    if not exists (select from syncsched.web_tokens as t where t.token_id = p_token_id) then
        raise exception 'syncsched: no token %', p_token_id using errcode = 'no_data_found';
    end if;
    return false;
end
$$;
comment on function syncsched.revoke_web_token(bigint) is
'Revoke a console token (true), or false when it was revoked already.';

-- It takes the token's hash now (the token never reaches the server) and returns its label too (the
-- audit trail names it): the old one goes.
do $drop$
begin
    if exists (
        select from pg_catalog.pg_proc as p
        where p.oid = to_regprocedure('syncsched.web_session(text)') and not 'p_token_hash' = any(p.proargnames)
    ) then
        drop function syncsched.web_session(text);
    end if;
end
$drop$;

create or replace function syncsched.web_session(p_token_hash text)
returns table (token_id bigint, role text, org_id text, label text)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- The hash is looked up, not compared: a wrong token takes the same index probe as a right one.
    return query
    with found as (
        select t.token_id, t.role, t.org_id, t.label, t.last_used_at
        from syncsched.web_tokens as t
        where t.token_hash = p_token_hash and t.revoked_at is null
    ),
    touched as (
        update syncsched.web_tokens as t
        set last_used_at = now()
        from found
        where t.token_id = found.token_id
            and (found.last_used_at is null or found.last_used_at < now() - interval '1 minute')
    )
    select found.token_id, found.role, found.org_id, found.label from found;
end
$$;
comment on function syncsched.web_session(text) is
'The role (and tenant organization) of the console token whose SHA-256 (hex) is p_token_hash, and its label; no row for an unknown or revoked token. The console hashes the token itself: the token never reaches the server (nor its logs).'; -- noqa: LT05

create or replace function syncsched.integration_next_runs(
    p_org_id text, p_integration_id text, p_count integer default 10, p_after timestamptz default now()
)
returns table (at timestamptz, local_time timestamp, utc_offset interval, offset_changed boolean)
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_cron text;
    v_minutes integer;
    v_zone text;
    v_spec syncsched.cron_spec;
    v_at timestamptz := p_after;
    v_previous interval;
begin
    -- Read under the caller's rights: a tenant sees its own integrations only.
    select o.cron_schedule, o.interval_minutes, o.timezone into v_cron, v_minutes, v_zone
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    if not found then
        raise exception 'syncsched: no integration %/%', left(p_org_id, 128), left(p_integration_id, 128)
            using errcode = 'no_data_found';
    end if;
    if p_count is null or p_count < 0 or p_count > 1000 then
        raise exception 'syncsched: p_count must be between 0 and 1000' using errcode = 'invalid_parameter_value';
    end if;
    if v_cron is null and v_minutes is null then
        return;
    end if;
    v_spec := case when v_cron is not null
        then syncsched._cron_parse(v_cron, syncsched._integration_seed(p_org_id, p_integration_id)) end;
    v_previous := syncsched._tz_offset(p_after, v_zone);
    for v_i in 1 .. p_count loop
        v_at := syncsched._schedule_next(v_spec, v_minutes, v_zone, v_at);
        exit when v_at is null;
        at := v_at;
        local_time := v_at at time zone v_zone;
        utc_offset := syncsched._tz_offset(v_at, v_zone);
        offset_changed := utc_offset <> v_previous;  -- a DST change (or another offset change) before it
        v_previous := utc_offset;
        return next;
    end loop;
end
$$;
comment on function syncsched.integration_next_runs(text, text, integer, timestamptz) is
'The next p_count fire times of an integration''s schedule (cron or interval) in UTC and in its zone, with its UTC offset and whether the offset changed since the previous one (DST).'; -- noqa: LT05

create or replace function syncsched.acknowledge_alert(p_alert_id bigint, p_by text default null)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    perform syncsched._require(p_alert_id, 'p_alert_id');
    update syncsched.scheduler_alerts as a
    set acknowledged_at = now(), acknowledged_by = left(coalesce(p_by, session_user), 200)
    where a.alert_id = p_alert_id and a.acknowledged_at is null;
    if found then
        return true;
    end if;
    if not exists (select from syncsched.scheduler_alerts as a where a.alert_id = p_alert_id) then
        raise exception 'syncsched: no alert %', p_alert_id using errcode = 'no_data_found';
    end if;
    return false;
end
$$;
comment on function syncsched.acknowledge_alert(bigint, text) is
'Mark an alert seen (by p_by, else the database role): true, or false when it was acknowledged already. A condition stays open until its cause clears.'; -- noqa: LT05
