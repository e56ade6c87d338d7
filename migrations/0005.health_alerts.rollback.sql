-- depends: 0004.pending_by_type
drop index if exists syncsched.organization_integrations_stale_check_idx;
alter table syncsched.organization_integrations drop column if exists stale_check_at;
drop index if exists syncsched.scheduler_alerts_open_condition_idx;
drop index if exists syncsched.scheduler_alerts_delivery_idx;
alter table syncsched.scheduler_alerts
drop constraint if exists scheduler_alerts_delivery_known,
drop column if exists delivery_error,
drop column if exists delivery_not_before,
drop column if exists delivery_attempts,
drop column if exists delivery;
delete from syncsched.settings
where key in (
    'passive_failure_threshold', 'health_backoff_cap', 'health_check_timeout', 'warmup_after', 'warmup_timeout',
    'cold_start_threshold', 'prewarm_ahead', 'scheduler_silent_after', 'alert_webhook_url', 'alert_repeat_after'
);
