-- Alerts: one row in scheduler_alerts and one NOTIFY on syncsched_alerts (no secrets, small).

create or replace function syncsched._alert(
    p_kind text,
    p_org_id text,
    p_integration_id text,
    p_integration_type text,
    p_detail jsonb,
    p_at timestamptz default now()
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_key text := p_kind || ':' || coalesce(p_org_id || '/' || p_integration_id, p_integration_type, '*');
    v_id bigint;
begin
    insert into syncsched.scheduler_alerts (kind, alert_key, org_id, integration_id, integration_type, detail, at)
    values (p_kind, v_key, p_org_id, p_integration_id, p_integration_type, coalesce(p_detail, '{}'), p_at)
    returning alert_id into v_id;
    perform pg_notify('syncsched_alerts', json_build_object(
        'alert_id', v_id, 'kind', p_kind, 'key', v_key, 'at', p_at
    )::text);
    return v_id;
end
$$;
comment on function syncsched._alert(text, text, text, text, jsonb, timestamptz) is
'Record an alert and wake its listeners (pg_notify syncsched_alerts with id, kind and key only).';
