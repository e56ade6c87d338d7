-- Retention: finished runs, ticks and alerts older than the limit go; the last runs of
-- each integration always stay.

create or replace function syncsched.prune_run_log(
    p_older_than interval default null, p_keep_per_integration integer default 100
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_cutoff timestamptz := now() - coalesce(p_older_than, syncsched.setting('retention')::interval);
    v_runs integer;
    v_ticks integer;
    v_alerts integer;
begin
    if p_keep_per_integration is null or p_keep_per_integration < 0 then
        raise exception 'syncsched: p_keep_per_integration must be 0 or more' using errcode = 'invalid_parameter_value';
    end if;
    with ranked as (
        select r.run_id,
            row_number() over (partition by r.org_id, r.integration_id order by r.scheduled_for desc, r.run_id desc) as n
        from syncsched.sync_run_log as r
        where r.status in ('completed', 'failed', 'cancelled')
    )
    delete from syncsched.sync_run_log as r
    using ranked
    where r.run_id = ranked.run_id and ranked.n > p_keep_per_integration and r.finished_at < v_cutoff;
    get diagnostics v_runs = row_count;
    delete from syncsched.scheduler_ticks as t where t.at < v_cutoff;
    get diagnostics v_ticks = row_count;
    delete from syncsched.scheduler_alerts as a where a.at < v_cutoff;
    get diagnostics v_alerts = row_count;
    return jsonb_build_object('runs', v_runs, 'ticks', v_ticks, 'alerts', v_alerts, 'cutoff', v_cutoff);
end
$$;
comment on function syncsched.prune_run_log(interval, integer) is
'Delete finished runs older than p_older_than (settings.retention) except the last p_keep_per_integration of each integration, and older ticks and alerts.';
