-- Views for people: what is scheduled and how it went.

create or replace view syncsched.schedule_overview as
select
    o.org_id,
    o.integration_id,
    o.integration_type,
    coalesce(o.cron_schedule, 'every ' || o.interval_minutes || ' minutes') as schedule,
    o.timezone,
    o.is_enabled,
    state.next_run_at,
    state.problem as schedule_problem,
    last_run.scheduled_for as last_scheduled_for,
    last_run.status as last_status,
    last_run.finished_at as last_finished_at,
    last_success.finished_at as last_success_at,
    coalesce(failures.consecutive, 0) as consecutive_failures,
    durations.average as avg_duration_last_20,
    health.status as endpoint_status,
    health.mode as endpoint_mode,
    nullif(concat_ws(', ',
        case when coalesce(scheduler_paused.value::boolean, false) or dispatch.scheduling_paused then 'scheduling' end,
        case when coalesce(dispatch_paused.value::boolean, false) or dispatch.dispatch_paused then 'dispatch' end
    ), '') as paused,
    case
        when waiting.run_id is null then null
        when coalesce(dispatch_paused.value::boolean, false) or dispatch.dispatch_paused then 'dispatch paused'
        when syncsched._circuit_open(health.mode, health.status)
            then 'circuit open: ' || o.integration_type || ' endpoint unhealthy'
        when dispatch.rate_limited_until > now()
            then 'rate limited (429) until '
                || to_char(dispatch.rate_limited_until at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"')
        when waiting.not_before > now()
            then case when waiting.attempt > 0 then 'retry backoff' else 'spread' end || ' until '
                || to_char(waiting.not_before at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"')
        when syncsched._budget_left(o.integration_type, types.rate_limit, types.rate_window) <= 0
            then format('rate budget spent (%s per %s)', types.rate_limit, types.rate_window)
        when coalesce(running.runs, 0) >= types.max_concurrency then 'type at max_concurrency'
    end as held_reason,
    -- what H resolved to for this integration (the schedule as written otherwise)
    case when syncsched._cron_has_h(o.cron_schedule)
        then syncsched.cron_resolve(o.cron_schedule, syncsched._integration_seed(o.org_id, o.integration_id))
        else coalesce(o.cron_schedule, 'every ' || o.interval_minutes || ' minutes')
    end as resolved_schedule
from syncsched.organization_integrations as o
inner join syncsched.integration_types as types on o.integration_type = types.integration_type
left join syncsched.schedule_state as state on o.org_id = state.org_id and o.id = state.id
left join syncsched.endpoint_health as health on o.integration_type = health.integration_type
left join syncsched.dispatch_state as dispatch on o.integration_type = dispatch.integration_type
left join (
    -- each type's running runs, counted once (on Citus: a subquery correlated by the type, which is not
    -- the distribution column, is not planned)
    select
        r.integration_type,
        count(*) as runs
    from syncsched.sync_run_log as r
    where r.status = 'running'
    group by r.integration_type
) as running on o.integration_type = running.integration_type
-- (the two settings joined by key, not aggregated in a subquery: on Citus such a subquery is computed
-- first and sent to every shard, which made a read of one integration take 28 s instead of 0.2 s)
left join syncsched.settings as scheduler_paused on scheduler_paused.key = 'scheduler_paused'
left join syncsched.settings as dispatch_paused on dispatch_paused.key = 'dispatch_paused'
left join lateral (
    -- the pending run that waits longest
    select
        r.run_id,
        r.not_before,
        r.attempt
    from syncsched.sync_run_log as r
    where r.org_id = o.org_id and r.integration_id = o.integration_id and r.status = 'pending'
        and r.scheduled_for >= (select syncsched._live_from())
    order by r.not_before asc, r.run_id asc
    limit 1
) as waiting on true
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
'Each integration: schedule, zone, next run (or why the tick stopped evaluating it), last run and its status, last success, consecutive failures, average duration of the last 20 runs, the health of its type''s endpoint, what is paused for it (scheduling, dispatch), and why its pending run waits (held_reason: dispatch paused, circuit open, rate limited by a 429, waiting out a retry backoff or its spread offset, rate budget spent, type at max_concurrency; null when it waits for nothing), and the schedule H resolves to for it (resolved_schedule).'; -- noqa: LT05

create or replace view syncsched.run_attempts as
select
    a.run_id,
    r.org_id,
    r.integration_id,
    r.integration_type,
    a.attempt,
    a.outcome,
    a.worker_id,
    a.started_at,
    a.finished_at,
    a.finished_at - a.started_at as duration,
    a.http_status,
    a.error,
    a.response_excerpt
from syncsched.sync_run_attempts as a
inner join syncsched.sync_run_log as r
    on a.run_id = r.run_id and a.scheduled_for = r.scheduled_for and a.org_id = r.org_id
union all
select
    r.run_id,
    r.org_id,
    r.integration_id,
    r.integration_type,
    r.attempt,
    'running' as outcome,
    r.worker_id,
    r.started_at,
    null as finished_at,
    null as duration,
    null as http_status,
    null as error,
    null as response_excerpt
from syncsched.sync_run_log as r
where r.status = 'running';
comment on view syncsched.run_attempts is
'Every attempt of every run: those that ended (completed, failed, lost with the lease, released at shutdown) and those running now. Attempts are numbered from 1.'; -- noqa: LT05

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
    r.error,
    (
        select
            coalesce(jsonb_agg(jsonb_build_object(
                'attempt', a.attempt, 'outcome', a.outcome, 'worker_id', a.worker_id, 'started_at', a.started_at,
                'finished_at', a.finished_at, 'http_status', a.http_status, 'error', left(a.error, 500)
            ) order by a.attempt), '[]'::jsonb)
        from syncsched.sync_run_attempts as a
        where a.run_id = r.run_id and a.scheduled_for = r.scheduled_for and a.org_id = r.org_id
    ) as attempts
from syncsched.sync_run_log as r
where r.enqueued_at > now() - interval '24 hours' or r.status in ('pending', 'running');
comment on view syncsched.recent_runs is
'Runs of the last 24 hours and every run still pending or running, each with its ended attempts (attempts: attempt, outcome, worker, times, HTTP status, error).'; -- noqa: LT05

-- security_invoker: read with the caller's rights, so that a tenant sees its own alerts only
create or replace view syncsched.alerts_open with (security_invoker = true) as
select
    c.alert_id,
    c.kind,
    c.alert_key,
    c.org_id,
    c.integration_id,
    c.integration_type,
    c.detail,
    c.at,
    c.delivery
from (
    -- conditions: until they clear (a handful, read through their partial index)
    select distinct on (a.alert_key) a.*
    from syncsched.scheduler_alerts as a
    where a.is_open
    order by a.alert_key asc, a.at desc, a.alert_id desc
) as c
union all
select
    e.alert_id,
    e.kind,
    e.alert_key,
    e.org_id,
    e.integration_id,
    e.integration_type,
    e.detail,
    e.at,
    e.delivery
from (
    -- events: the latest of each key, for 24 hours
    select distinct on (a.alert_key) a.*
    from syncsched.scheduler_alerts as a
    where not a.is_condition and a.at > now() - interval '24 hours'
    order by a.alert_key asc, a.at desc, a.alert_id desc
) as e;
comment on view syncsched.alerts_open is
'What needs attention: each open condition (stale, failing, endpoint_unhealthy, endpoint_passive, scheduler_silent, invalid_schedule; see alert_kinds) until it clears, and the latest event of each key for 24 hours.'; -- noqa: LT05

create or replace view syncsched.endpoint_overview as
select
    t.integration_type,
    h.status,
    h.mode,
    h.consecutive_failures,
    h.last_check_at,
    h.next_check_at,
    h.last_error,
    t.max_concurrency,
    q.pending,
    q.running,
    q.held,
    nullif(concat_ws(', ',
        case when pauses.scheduling or d.scheduling_paused then 'scheduling' end,
        case when q.dispatch_paused then 'dispatch' end
    ), '') as paused,
    t.spread,
    t.rate_limit,
    t.rate_window,
    t.rate_limit - syncsched._budget_left(t.integration_type, t.rate_limit, t.rate_window) as requests_in_window,
    case when d.rate_limited_until > now() then d.rate_limited_until end as rate_limited_until
from syncsched.integration_types as t
left join syncsched.endpoint_health as h on t.integration_type = h.integration_type
left join syncsched.dispatch_state as d on t.integration_type = d.integration_type
left join syncsched.queue_depth() as q on t.integration_type = q.integration_type
cross join (
    select coalesce(bool_or(s.value::boolean), false) as scheduling
    from syncsched.settings as s
    where s.key = 'scheduler_paused'
) as pauses;
comment on view syncsched.endpoint_overview is
'Each integration type: its endpoint''s health, its runs pending, running and held (not handed out now: dispatch paused, circuit open, rate limited, retry backoff), its max_concurrency, what is paused for it, its spread, its request budget and how much of it the current window used, and until when an answer 429 holds it.'; -- noqa: LT05

create or replace view syncsched.setting_values as
select
    s.key,
    s.type,
    -- a url setting may carry a token (a webhook): shown only as set or empty
    case when s.type = 'url' and s.value <> '' then '(set)' else s.value end as value,
    s.default_value,
    s.min_value,
    s.max_value,
    s.description,
    s.updated_at
from syncsched.settings as s;
comment on view syncsched.setting_values is
'Every setting with its type, default and range, for people and the console: a url value (a webhook) only as (set); the value itself is the admin''s, in syncsched.settings.'; -- noqa: LT05
