-- depends: 0007.outbound_allowlists
drop view if exists syncsched.schedule_overview;

create index scheduler_alerts_open_condition_idx
on syncsched.scheduler_alerts (alert_key)
where resolved_at is null and kind in ('stale', 'failing');
drop index syncsched.scheduler_alerts_open_idx;
alter table syncsched.scheduler_alerts
drop column is_open,
drop column is_condition,
drop constraint scheduler_alerts_kind_fkey,
add constraint scheduler_alerts_kind_known check (
    kind in (
        'skipped_overlap', 'invalid_schedule', 'missed', 'drift', 'stale', 'failing',
        'endpoint_unhealthy', 'endpoint_recovered', 'endpoint_passive',
        'scheduler_silent', 'cold_start', 'stale_write'
    )
);
drop table syncsched.alert_kinds;

drop table syncsched.dispatch_state;
create index sync_run_log_pending_type_idx
on syncsched.sync_run_log (integration_type, not_before, run_id)
where status = 'pending';
drop index syncsched.sync_run_log_pending_org_idx;
drop index syncsched.sync_run_log_enqueued_at_idx;

alter table syncsched.sync_run_log drop constraint sync_run_log_pending_has_attempts_left;
update syncsched.sync_run_log
set attempt = attempt - 1
where status in ('completed', 'running') and attempt > 0;
drop table syncsched.sync_run_attempts;

grant insert, update, delete on syncsched.settings to syncsched_admin;
alter table syncsched.settings
drop constraint settings_range_only_for_ordered_types,
drop constraint settings_type_known,
drop column max_value,
drop column min_value,
drop column default_value,
drop column type;

alter table syncsched.organization_integrations
add column cron_spec syncsched.cron_spec,
add column next_run_at timestamptz,
add column last_tick_at timestamptz,
add column stale_check_at timestamptz;
update syncsched.organization_integrations as o
set cron_spec = s.cron_spec, next_run_at = s.next_run_at, last_tick_at = s.last_tick_at,
    stale_check_at = s.stale_check_at
from syncsched.schedule_state as s
where s.id = o.id;
create index organization_integrations_next_run_at_idx
on syncsched.organization_integrations (next_run_at)
where is_enabled and next_run_at is not null;
create index organization_integrations_stale_check_idx
on syncsched.organization_integrations (stale_check_at)
where is_enabled and stale_check_at is not null;
drop table syncsched.schedule_state;
