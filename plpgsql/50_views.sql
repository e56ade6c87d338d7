-- Views for people: what is scheduled and how it went.

create or replace view syncsched.schedule_overview as
select
    o.org_id,
    o.integration_id,
    o.integration_type,
    coalesce(o.cron_schedule, 'every ' || o.interval_minutes || ' minutes') as schedule,
    o.timezone,
    o.is_enabled,
    o.next_run_at,
    last_run.scheduled_for as last_scheduled_for,
    last_run.status as last_status,
    last_run.finished_at as last_finished_at,
    last_success.finished_at as last_success_at,
    coalesce(failures.consecutive, 0) as consecutive_failures,
    durations.average as avg_duration_last_20,
    health.status as endpoint_status,
    health.mode as endpoint_mode
from syncsched.organization_integrations as o
left join syncsched.endpoint_health as health on o.integration_type = health.integration_type
left join lateral (
    select
        r.scheduled_for,
        r.status,
        r.finished_at
    from syncsched.sync_run_log as r
    where r.org_id = o.org_id and r.integration_id = o.integration_id
    order by r.scheduled_for desc, r.run_id desc
    limit 1
) as last_run on true
left join lateral (
    select
        r.scheduled_for,
        r.finished_at
    from syncsched.sync_run_log as r
    where r.org_id = o.org_id and r.integration_id = o.integration_id and r.status = 'completed'
    order by r.scheduled_for desc, r.run_id desc
    limit 1
) as last_success on true
left join lateral (
    select count(*)::integer as consecutive
    from syncsched.sync_run_log as r
    where
        r.org_id = o.org_id and r.integration_id = o.integration_id and r.status = 'failed'
        and r.scheduled_for > coalesce(last_success.scheduled_for, '-infinity')
) as failures on true
left join lateral (
    select avg(d.finished_at - d.started_at) as average
    from (
        select
            r.started_at,
            r.finished_at
        from syncsched.sync_run_log as r
        where r.org_id = o.org_id and r.integration_id = o.integration_id
            and r.status in ('completed', 'failed') and r.started_at is not null
        order by r.scheduled_for desc, r.run_id desc
        limit 20
    ) as d
) as durations on true;
comment on view syncsched.schedule_overview is
'Each integration: schedule, zone, next run, last run and its status, last success, consecutive failures, average duration of the last 20 runs, and the health of its type''s endpoint.'; -- noqa: LT05

create or replace view syncsched.recent_runs as
select
    r.run_id,
    r.org_id,
    r.integration_id,
    r.integration_type,
    r.trigger,
    r.status,
    r.scheduled_for,
    r.enqueued_at,
    r.started_at,
    r.finished_at,
    r.finished_at - r.started_at as duration,
    r.attempt,
    r.max_attempts,
    r.worker_id,
    r.http_status,
    r.error
from syncsched.sync_run_log as r
where r.enqueued_at > now() - interval '24 hours' or r.status in ('pending', 'running');
comment on view syncsched.recent_runs is
'Runs of the last 24 hours and every run still pending or running.';

create or replace view syncsched.alerts_open as
select
    latest.alert_id,
    latest.kind,
    latest.alert_key,
    latest.org_id,
    latest.integration_id,
    latest.integration_type,
    latest.detail,
    latest.at,
    latest.delivery
from (
    select distinct on (a.alert_key) a.*
    from syncsched.scheduler_alerts as a
    order by a.alert_key asc, a.at desc, a.alert_id desc
) as latest
where
    latest.resolved_at is null
    and (
        latest.kind in ('stale', 'failing', 'endpoint_unhealthy', 'endpoint_passive', 'scheduler_silent',
            'invalid_schedule')
        or latest.at > now() - interval '24 hours'
    );
comment on view syncsched.alerts_open is
'The latest alert of each key that is not resolved: conditions (stale, failing, endpoint_unhealthy, endpoint_passive, scheduler_silent, invalid_schedule) until they clear, events of the last 24 hours.'; -- noqa: LT05
