-- Operator queries: run with `psql -f sql/operator_queries.sql` (read-only).

-- Runs by status over the last 24 hours.
select
    r.status,
    count(*) as runs
from syncsched.sync_run_log as r
where r.enqueued_at > now() - interval '24 hours'
group by r.status
order by r.status;

-- Runs a worker holds right now, with the time left on their lease.
select
    r.run_id,
    r.org_id,
    r.integration_id,
    r.worker_id,
    r.started_at,
    r.lease_expires_at - now() as lease_left
from syncsched.sync_run_log as r
where r.status = 'running'
order by r.started_at;

-- The last ticks: a gap between two rows means the scheduler was silent.
select
    t.at,
    t.due,
    t.triggered,
    t.skipped_running,
    t.invalid,
    t.duration_ms,
    t.lateness
from syncsched.scheduler_ticks as t
order by t.at desc
limit 20;

-- Alerts of the last day.
select
    a.at,
    a.kind,
    a.org_id,
    a.integration_id,
    a.detail
from syncsched.scheduler_alerts as a
where a.at > now() - interval '1 day'
order by a.at desc;

-- The settings in force.
select
    s.key,
    s.value,
    s.description
from syncsched.settings as s
order by s.key;
