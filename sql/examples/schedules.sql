-- A DBA's tour: create integrations, preview their runs, run one now, read the overview,
-- disable one. Run as syncsched_admin: psql -f sql/examples/schedules.sql
\set ON_ERROR_STOP on

-- Nightly Xledger export at 02:00 Oslo time (DST handled: 02:00 is 02:00 all year).
select syncsched.upsert_integration(
    p_org_id => 'acme',
    p_integration_id => 'ledger-export',
    p_integration_type => 'xledger',
    p_cron_schedule => '0 2 * * *',
    p_timezone => 'Europe/Oslo',
    p_payload => '{"company": 1042}'
);

-- Dynamics every 15 minutes (aligned to :00, :15, :30, :45 UTC).
select syncsched.upsert_integration('acme', 'crm-sync', 'dynamics', p_interval_minutes => 15);

-- Bufdir on the last weekday of the month, 18:30 local time; a missed month is caught up.
select syncsched.upsert_integration(
    'acme', 'bufdir-report', 'bufdir', '30 18 LW * *', null, 'Europe/Oslo',
    p_misfire_policy => 'catch_up'
);

-- Plain SQL works too: the same trigger validates it.
insert into syncsched.organization_integrations (
    org_id, integration_id, integration_type, cron_schedule, timezone
) values ('globex', 'ledger-export', 'xledger', '30 6 * * mon-fri', 'America/New_York')
on conflict (org_id, integration_id) do nothing;

-- Preview: the next five fire times of a schedule.
select * from syncsched.next_runs('0 2 * * *', 'Europe/Oslo', 5);

-- Is an expression valid? NULL means yes.
select syncsched.cron_validate('0 2 31 2 *') as problem;

-- Run one now (refused while it has a pending or running run, unless p_force => true).
select syncsched.run_now('acme', 'ledger-export') as run_id;

-- What is scheduled, and how it went.
select
    org_id,
    integration_id,
    schedule,
    timezone,
    next_run_at,
    last_status,
    consecutive_failures
from syncsched.schedule_overview
order by org_id, integration_id;

-- Disable one: no more runs, its pending runs are cancelled.
select syncsched.disable_integration('acme', 'ledger-export') as cancelled_runs;
