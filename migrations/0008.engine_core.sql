-- depends: 0007.outbound_allowlists
-- The engine's own state, apart from what users configure:
--   * schedule_state: what the tick derives from a schedule (parsed cron, next period, staleness
--     deadline), written only by the owner's trigger and the tick;
--   * typed settings: each key has a type, a default and a range, checked on every write;
--   * sync_run_attempts: every attempt of every run, kept as the audit trail of an export;
--   * alert_kinds: the alert kinds and whether each is a condition (open until it clears);
--   * dispatch_state: where the last claim of each type stopped, for round robin across
--     organizations over the whole backlog.
-- Views and triggers that read the moved columns are dropped here; plpgsql/ creates them anew.

drop view if exists syncsched.schedule_overview;
drop trigger if exists organization_integrations_schedule_change on syncsched.organization_integrations;

-- ---------------------------------------------------------------------------------------------
-- Schedule state
-- ---------------------------------------------------------------------------------------------

create table syncsched.schedule_state (
    id bigint not null,
    cron_spec syncsched.cron_spec,
    next_run_at timestamptz,
    last_tick_at timestamptz,
    stale_check_at timestamptz,
    derived_at timestamptz not null default now(),
    problem text,
    constraint schedule_state_pkey primary key (id),
    constraint schedule_state_integration_fkey foreign key (id)
    references syncsched.organization_integrations (id) on update cascade on delete cascade
);

insert into syncsched.schedule_state (id, cron_spec, next_run_at, last_tick_at, stale_check_at, derived_at)
select
    o.id,
    o.cron_spec,
    o.next_run_at,
    o.last_tick_at,
    o.stale_check_at,
    o.updated_at
from syncsched.organization_integrations as o
where o.is_enabled;
insert into syncsched.schedule_state (id, cron_spec, derived_at)
select
    o.id,
    o.cron_spec,
    o.updated_at
from syncsched.organization_integrations as o
where not o.is_enabled;

alter table syncsched.organization_integrations
drop column cron_spec,
drop column next_run_at,
drop column last_tick_at,
drop column stale_check_at;

create index schedule_state_next_run_at_idx
on syncsched.schedule_state (next_run_at)
where next_run_at is not null;

create index schedule_state_stale_check_at_idx
on syncsched.schedule_state (stale_check_at)
where stale_check_at is not null;

alter table syncsched.schedule_state owner to syncsched_owner;
grant select on syncsched.schedule_state to syncsched_admin, syncsched_tenant;
alter table syncsched.schedule_state enable row level security;
create policy schedule_state_service on syncsched.schedule_state
as permissive for select to syncsched_owner, syncsched_admin, syncsched_reader
using (true);
-- the integration's own row-level security decides: a tenant sees the state of its own rows
create policy schedule_state_tenant on syncsched.schedule_state
as permissive for select to syncsched_tenant
using (exists (
    select from syncsched.organization_integrations as o
    where o.id = schedule_state.id
));

-- ---------------------------------------------------------------------------------------------
-- Typed settings
-- ---------------------------------------------------------------------------------------------

alter table syncsched.settings
add column type text,
add column default_value text,
add column min_value text,
add column max_value text;

update syncsched.settings as s
set type = d.type, default_value = d.default_value, min_value = d.min_value, max_value = d.max_value
from (values
    ('running_skip_window', 'interval', '30 minutes', '0 seconds', '7 days'),
    ('drift_alert_threshold', 'interval', '5 minutes', '1 second', '1 day'),
    ('min_schedule_interval', 'interval', '5 minutes', '1 minute', '1 day'),
    ('lease', 'interval', '60 seconds', '5 seconds', '1 day'),
    ('default_max_attempts', 'integer', '5', '1', '100'),
    ('retention', 'interval', '90 days', '1 day', '100 years'),
    ('retry_backoff_base', 'interval', '10 seconds', '100 milliseconds', '1 day'),
    ('retry_backoff_cap', 'interval', '1 hour', '1 second', '7 days'),
    ('catch_up_limit', 'integer', '24', '1', '10000'),
    ('scheduler_paused', 'boolean', 'false', null, null),
    ('tick_batch_size', 'integer', '1000', '1', '100000'),
    ('passive_failure_threshold', 'integer', '3', '1', '1000'),
    ('health_backoff_cap', 'interval', '4 hours', '1 minute', '7 days'),
    ('health_check_timeout', 'interval', '10 seconds', '1 second', '10 minutes'),
    ('warmup_after', 'interval', '10 minutes', '1 second', '7 days'),
    ('warmup_timeout', 'interval', '30 seconds', '1 second', '10 minutes'),
    ('cold_start_threshold', 'interval', '5 seconds', '10 milliseconds', '10 minutes'),
    ('prewarm_ahead', 'interval', '30 seconds', '0 seconds', '1 hour'),
    ('scheduler_silent_after', 'interval', '3 minutes', '1 minute', '1 day'),
    ('alert_webhook_url', 'url', '', null, null),
    ('alert_repeat_after', 'interval', '1 hour', '0 seconds', '7 days'),
    ('allowed_private_hosts', 'host_list', '', null, null),
    ('allowed_insecure_hosts', 'host_list', '', null, null)
) as d (key, type, default_value, min_value, max_value)
where s.key = d.key;

update syncsched.settings
set description = 'Due integrations handled per transaction by tick(), which commits between batches.'
where key = 'tick_batch_size';

-- A value stored before settings were typed may be one the tick cannot read: it goes back to its
-- default, and says so. (Later writes are checked by the settings trigger of plpgsql/.)
do $repair$
declare
    v_row record;
    v_ok boolean;
begin
    for v_row in select s.* from syncsched.settings as s order by s.key loop
        begin
            v_ok := case v_row.type
                when 'interval' then v_row.value::interval between v_row.min_value::interval and v_row.max_value::interval
                when 'integer' then v_row.value::integer between v_row.min_value::integer and v_row.max_value::integer
                when 'boolean' then v_row.value::boolean is not null
                else true
            end;
        exception when others then
            v_ok := false;
        end;
        if not v_ok then
            raise warning 'syncsched: setting % had the unusable value %; reset to its default %',
                v_row.key, quote_literal(v_row.value), quote_literal(v_row.default_value);
            update syncsched.settings set value = v_row.default_value, updated_at = now() where key = v_row.key;
        end if;
    end loop;
end
$repair$;

alter table syncsched.settings
alter column type set not null,
alter column default_value set not null,
add constraint settings_type_known
check (type in ('boolean', 'interval', 'integer', 'url', 'host_list')),
add constraint settings_range_only_for_ordered_types
check ((min_value is null and max_value is null) or type in ('interval', 'integer'));

-- Settings are changed through set_setting(), or an UPDATE of value (checked by the same rule);
-- keys, types, defaults and ranges come with migrations only.
revoke insert, update, delete on syncsched.settings from syncsched_admin;
grant update (value) on syncsched.settings to syncsched_admin;

-- ---------------------------------------------------------------------------------------------
-- Attempts
-- ---------------------------------------------------------------------------------------------

create table syncsched.sync_run_attempts (
    run_id bigint not null,
    attempt integer not null,
    outcome text not null,
    worker_id text,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    http_status integer,
    error text,
    response_excerpt text,
    constraint sync_run_attempts_pkey primary key (run_id, attempt),
    constraint sync_run_attempts_run_fkey foreign key (run_id)
    references syncsched.sync_run_log (run_id) on delete cascade,
    constraint sync_run_attempts_attempt_positive check (attempt >= 1),
    constraint sync_run_attempts_outcome_known check (outcome in ('completed', 'failed', 'lost', 'released')),
    constraint sync_run_attempts_http_status_range check (http_status between 100 and 599),
    constraint sync_run_attempts_finished_after_start check (finished_at >= started_at)
);

-- Attempt numbers are 1-based everywhere: a claim starts attempt n + 1. Before, the run log
-- counted attempts spent, so a run that completed, or is running now, was one behind.
update syncsched.sync_run_log
set attempt = attempt + 1
where status in ('completed', 'running') and attempt < max_attempts;

-- The last attempt of each finished run is known from the run itself; earlier ones were not kept.
insert into syncsched.sync_run_attempts (
    run_id, attempt, outcome, worker_id, started_at, finished_at, http_status, error, response_excerpt
)
select
    r.run_id,
    r.attempt,
    case when r.status = 'completed' then 'completed' else 'failed' end as outcome,
    r.worker_id,
    r.started_at,
    greatest(r.finished_at, r.started_at) as finished_at,
    r.http_status,
    r.error,
    r.response_excerpt
from syncsched.sync_run_log as r
where r.status in ('completed', 'failed') and r.started_at is not null and r.attempt >= 1;

alter table syncsched.sync_run_log
add constraint sync_run_log_pending_has_attempts_left
check (status <> 'pending' or attempt < max_attempts);

alter table syncsched.sync_run_attempts owner to syncsched_owner;
grant select on syncsched.sync_run_attempts to syncsched_admin, syncsched_tenant;
alter table syncsched.sync_run_attempts enable row level security;
create policy sync_run_attempts_service on syncsched.sync_run_attempts
as permissive for all to syncsched_owner, syncsched_admin, syncsched_reader
using (true) with check (true);
create policy sync_run_attempts_tenant on syncsched.sync_run_attempts
as permissive for select to syncsched_tenant
using (exists (
    select from syncsched.sync_run_log as r
    where r.run_id = sync_run_attempts.run_id
));

-- recent_runs reads the last day of runs
create index sync_run_log_enqueued_at_idx on syncsched.sync_run_log (enqueued_at);

-- Claims go round robin across the organizations of a type, each organization oldest first.
create index sync_run_log_pending_org_idx
on syncsched.sync_run_log (integration_type, org_id, not_before, run_id)
where status = 'pending';
drop index syncsched.sync_run_log_pending_type_idx;

create table syncsched.dispatch_state (
    integration_type text not null,
    last_org_id text,
    updated_at timestamptz not null default now(),
    constraint dispatch_state_pkey primary key (integration_type),
    constraint dispatch_state_type_fkey foreign key (integration_type)
    references syncsched.integration_types (integration_type) on update cascade on delete cascade
);
insert into syncsched.dispatch_state (integration_type)
select t.integration_type from syncsched.integration_types as t;
alter table syncsched.dispatch_state owner to syncsched_owner;
grant select on syncsched.dispatch_state to syncsched_admin;

-- ---------------------------------------------------------------------------------------------
-- Alert kinds
-- ---------------------------------------------------------------------------------------------

create table syncsched.alert_kinds (
    kind text not null,
    is_condition boolean not null,
    severity text not null,
    description text not null,
    constraint alert_kinds_pkey primary key (kind),
    constraint alert_kinds_severity_known check (severity in ('warning', 'danger'))
);
insert into syncsched.alert_kinds (kind, is_condition, severity, description) values
    ('drift', false, 'warning', 'A run started more than drift_alert_threshold after its period.'),
    ('missed', false, 'warning', 'Periods that got no run (misfire policy), with how many and the first and last.'),
    ('skipped_overlap', false, 'warning', 'Periods skipped while a run of the integration was pending or running.'),
    ('invalid_schedule', true, 'danger', 'The tick cannot evaluate a schedule; open until the schedule is fixed.'),
    ('failing', true, 'danger', 'A run failed after its last attempt; open until a run of the integration completes.'),
    ('stale', true, 'danger', 'No run completed for the period before the current one (or max_staleness).'),
    ('endpoint_unhealthy', true, 'danger', 'An endpoint is unhealthy; open until it recovers.'),
    ('endpoint_recovered', false, 'warning', 'An endpoint is healthy again.'),
    ('endpoint_passive', true, 'warning', 'A health check answered 429: the type follows run outcomes only.'),
    ('scheduler_silent', true, 'danger', 'No tick for scheduler_silent_after (pg_cron stopped?).'),
    ('cold_start', false, 'warning', 'A warm-up took longer than cold_start_threshold, or failed.'),
    ('stale_write', false, 'warning', 'A worker wrote for a run it no longer held; the write changed nothing.');
alter table syncsched.alert_kinds owner to syncsched_owner;
grant select on syncsched.alert_kinds to syncsched_admin, syncsched_reader, syncsched_tenant;

alter table syncsched.scheduler_alerts
drop constraint scheduler_alerts_kind_known,
add constraint scheduler_alerts_kind_fkey foreign key (kind) references syncsched.alert_kinds (kind),
add column is_condition boolean not null default false;
update syncsched.scheduler_alerts as a
set is_condition = k.is_condition
from syncsched.alert_kinds as k
where k.kind = a.kind and k.is_condition;

-- What an open alert is, written once: a condition not resolved yet.
alter table syncsched.scheduler_alerts
add column is_open boolean generated always as (is_condition and resolved_at is null) stored;

-- Open conditions are a handful however long the history: they are read through this index.
create index scheduler_alerts_open_idx
on syncsched.scheduler_alerts (alert_key, at desc, alert_id desc)
where is_open;
drop index syncsched.scheduler_alerts_open_condition_idx;
