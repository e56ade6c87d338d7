-- Alerts: rows of scheduler_alerts, each also sent as a NOTIFY on syncsched_alerts (id, kind,
-- key, severity: no secrets, small). syncsched.alert_kinds says which kinds are conditions (open
-- until what caused them clears: resolved_at) and which are events.

create or replace function syncsched._alert_key(
    p_kind text, p_org_id text, p_integration_id text, p_integration_type text
)
returns text
language sql
immutable
parallel safe
as $$
    select p_kind || ':' || coalesce(p_org_id || '/' || p_integration_id, p_integration_type, '*')
$$;
comment on function syncsched._alert_key(text, text, text, text) is
'Deduplication key of an alert: kind:org/integration, kind:type, or kind:* for the whole scheduler.';

create or replace function syncsched._raise_alerts(
    p_kinds text[],
    p_org_ids text[],
    p_integration_ids text[],
    p_integration_types text[],
    p_details jsonb[],
    p_at timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_delivery text := case when syncsched.setting('alert_webhook_url') <> '' then 'pending' else 'none' end;
    v_count integer;
begin
    -- Many alerts in one statement (the tick, a claim): one row and one NOTIFY each.
    with raised as (
        insert into syncsched.scheduler_alerts (
            kind, alert_key, org_id, integration_id, integration_type, detail, at, is_condition, delivery,
            delivery_not_before
        )
        select a.kind, syncsched._alert_key(a.kind, a.org_id, a.integration_id, a.integration_type), a.org_id,
            a.integration_id, a.integration_type, coalesce(a.detail, '{}'), p_at, k.is_condition, v_delivery, now()
        from unnest(p_kinds, p_org_ids, p_integration_ids, p_integration_types, p_details)
            as a (kind, org_id, integration_id, integration_type, detail)
        left join syncsched.alert_kinds as k on k.kind = a.kind
        returning alert_id, kind, alert_key, at
    )
    select count(pg_notify('syncsched_alerts', json_build_object(
        'alert_id', r.alert_id, 'kind', r.kind, 'key', r.alert_key, 'at', r.at, 'severity', k.severity
    )::text))::integer
    into v_count
    from raised as r
    join syncsched.alert_kinds as k on k.kind = r.kind;
    return v_count;
end
$$;
comment on function syncsched._raise_alerts(text[], text[], text[], text[], jsonb[], timestamptz) is
'Record alerts, one per array element, in one statement, and wake their listeners (pg_notify syncsched_alerts with id, kind, key and severity only). Returns how many.'; -- noqa: LT05

-- It returned the alert's id before alerts were raised in sets: created anew.
drop function if exists syncsched._alert(text, text, text, text, jsonb, timestamptz);
create function syncsched._alert(
    p_kind text,
    p_org_id text,
    p_integration_id text,
    p_integration_type text,
    p_detail jsonb,
    p_at timestamptz default now()
)
returns integer
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._raise_alerts(
        array[p_kind], array[p_org_id], array[p_integration_id], array[p_integration_type], array[p_detail], p_at
    )
$$;
comment on function syncsched._alert(text, text, text, text, jsonb, timestamptz) is
'Record one alert (see _raise_alerts).';

create or replace function syncsched._resolve_alerts(p_keys text[], p_at timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_count integer;
begin
    update syncsched.scheduler_alerts as a
    set resolved_at = p_at
    where a.is_open and a.alert_key = any(p_keys);
    get diagnostics v_count = row_count;
    return v_count;
end
$$;
comment on function syncsched._resolve_alerts(text[], timestamptz) is
'Mark the open conditions of these keys resolved: what caused them has cleared.';

create or replace function syncsched._alert_open(p_key text)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select exists (
        select from syncsched.scheduler_alerts as a
        where a.is_open and a.alert_key = p_key
    )
$$;
comment on function syncsched._alert_open(text) is
'Whether a condition of this key is open (raised, not resolved).';

create or replace function syncsched.check_scheduler(p_since timestamptz default null, p_now timestamptz default now())
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_silent_after interval := syncsched.setting('scheduler_silent_after')::interval;
    v_key text := syncsched._alert_key('scheduler_silent', null, null, null);
    v_last timestamptz;
    v_silent boolean;
    v_raised boolean := false;
begin
    -- Workers call this every few seconds; one at a time decides, so the alert is raised once.
    perform pg_advisory_xact_lock(1398361667, hashtext('check_scheduler'));
    select t.started_at into v_last from syncsched.scheduler_ticks as t order by t.tick_id desc limit 1;
    -- no tick ever: silent once the caller has been watching for longer than the limit
    v_silent := p_now - coalesce(v_last, p_since, p_now) > v_silent_after;
    if v_silent and not syncsched._alert_open(v_key) then
        perform syncsched._alert('scheduler_silent', null, null, null,
            jsonb_build_object('last_tick_at', v_last, 'silent_for_seconds',
                               round(extract(epoch from p_now - coalesce(v_last, p_since)))), p_now);
        v_raised := true;
    elsif not v_silent and v_last is not null then
        perform syncsched._resolve_alerts(array[v_key], p_now);
    end if;
    return jsonb_build_object('last_tick_at', v_last, 'silent', v_silent, 'raised', v_raised);
end
$$;
comment on function syncsched.check_scheduler(timestamptz, timestamptz) is
'Raise scheduler_silent when no tick started for scheduler_silent_after (p_since: when the caller started watching, for a scheduler that never ticked); resolve it when ticks are back. Returns last_tick_at, silent, raised.'; -- noqa: LT05

-- Its result columns grew (severity): created anew; 99_grants.sql grants it again.
drop function if exists syncsched.claim_alert_deliveries(integer);
create function syncsched.claim_alert_deliveries(p_max integer default 20)
returns table (
    alert_id bigint,
    kind text,
    severity text,
    alert_key text,
    org_id text,
    integration_id text,
    integration_type text,
    detail jsonb,
    at timestamptz,
    webhook_url text
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_url text := syncsched.setting('alert_webhook_url');
    v_repeat interval := syncsched.setting('alert_repeat_after')::interval;
    v_ids bigint[];
begin
    if p_max is null or p_max < 1 or p_max > 1000 then
        raise exception 'syncsched: claim_alert_deliveries p_max must be 1-1000' using errcode = 'invalid_parameter_value';
    end if;
    if v_url = '' then
        return;
    end if;
    -- One claimer at a time: the repeat rule must see what the others just sent.
    perform pg_advisory_xact_lock(1398361667, hashtext('claim_alert_deliveries'));
    -- the same key sent within alert_repeat_after, or twice in this batch: not sent again
    with waiting as (
        select a.alert_id, a.alert_key,
            row_number() over (partition by a.alert_key order by a.alert_id) as nth
        from syncsched.scheduler_alerts as a
        where a.delivery = 'pending' and a.delivery_not_before <= now()
        order by a.alert_id
        limit p_max
    ),
    decided as (
        update syncsched.scheduler_alerts as a
        set delivery = case
                when w.nth > 1 or exists (
                    select from syncsched.scheduler_alerts as s
                    where s.alert_key = w.alert_key and s.delivery = 'sent' and s.delivered_at > now() - v_repeat
                ) then 'suppressed'
                else 'sent'
            end,
            delivered_at = now()
        from waiting as w
        where a.alert_id = w.alert_id
        returning a.alert_id, a.delivery
    )
    select array_agg(d.alert_id order by d.alert_id) filter (where d.delivery = 'sent') into v_ids from decided as d;
    return query
    select a.alert_id, a.kind, k.severity, a.alert_key, a.org_id, a.integration_id, a.integration_type, a.detail,
        a.at, v_url
    from syncsched.scheduler_alerts as a
    join syncsched.alert_kinds as k on k.kind = a.kind
    where a.alert_id = any(v_ids)
    order by a.alert_id;
end
$$;
comment on function syncsched.claim_alert_deliveries(integer) is
'Alerts to POST to the webhook now (marked sent at once: at most one delivery each); alerts whose key was sent within alert_repeat_after are marked suppressed instead. Empty while alert_webhook_url is empty.'; -- noqa: LT05

create or replace function syncsched.record_alert_delivery(p_alert_id bigint, p_ok boolean, p_error text default null)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if p_ok then
        return;
    end if;
    -- a failed delivery is tried again later, five times at most, with growing waits
    update syncsched.scheduler_alerts as a
    set delivery = case when a.delivery_attempts + 1 >= 5 then 'failed' else 'pending' end,
        delivery_attempts = a.delivery_attempts + 1,
        delivery_not_before = now() + interval '30 seconds' * power(2, a.delivery_attempts),
        delivery_error = left(p_error, 1000),
        delivered_at = null
    where a.alert_id = p_alert_id and a.delivery = 'sent';
end
$$;
comment on function syncsched.record_alert_delivery(bigint, boolean, text) is
'The outcome of a webhook delivery: a failure is retried later (five attempts), never blocking anything else.';
