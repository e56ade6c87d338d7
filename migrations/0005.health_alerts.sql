-- depends: 0004.pending_by_type
-- Endpoint health, warm-up, alert resolution and webhook delivery.

insert into syncsched.settings (key, value, description) values
    ('passive_failure_threshold', '3',
     'Passive mode: consecutive failed attempts after which a type is unhealthy.'),
    ('health_backoff_cap', '4 hours',
     'Longest wait between two health checks of a failing endpoint (interval * 2^failures, capped).'),
    ('health_check_timeout', '10 seconds',
     'Time a health check (or warm-up request) may take before it counts as failed.'),
    ('warmup_after', '10 minutes',
     'An endpoint idle for longer than this gets a health request before its next call.'),
    ('warmup_timeout', '30 seconds',
     'How long a call waits for its warm-up request.'),
    ('cold_start_threshold', '5 seconds',
     'A warm-up slower than this (or failing) is recorded as a cold_start alert.'),
    ('prewarm_ahead', '30 seconds',
     'Workers warm idle endpoints up this long before their next scheduled run.'),
    ('scheduler_silent_after', '3 minutes',
     'No tick for this long: workers raise scheduler_silent (pg_cron stopped?).'),
    ('alert_webhook_url', '',
     'Alerts are POSTed here as Slack-compatible JSON; empty = off; env:NAME = the URL is in the '
     || 'workers'' environment variable NAME.'),
    ('alert_repeat_after', '1 hour',
     'An alert is not sent to the webhook again for the same key within this time.');

alter table syncsched.scheduler_alerts
add column delivery text not null default 'none',
add column delivery_attempts integer not null default 0,
add column delivery_not_before timestamptz,
add column delivery_error text,
add constraint scheduler_alerts_delivery_known
check (delivery in ('none', 'pending', 'sent', 'suppressed', 'failed'));
comment on column syncsched.scheduler_alerts.delivery is
'Webhook delivery: none (no webhook when raised), pending, sent, suppressed (same key sent within alert_repeat_after), failed.';

create index scheduler_alerts_delivery_idx
on syncsched.scheduler_alerts (alert_id)
where delivery = 'pending';
comment on index syncsched.scheduler_alerts_delivery_idx is
'Alerts waiting for the webhook.';

create index scheduler_alerts_open_condition_idx
on syncsched.scheduler_alerts (alert_key)
where resolved_at is null and kind in ('stale', 'failing');
comment on index syncsched.scheduler_alerts_open_condition_idx is
'A completed run resolves its integration''s open stale and failing alerts: one probe each.';

alter table syncsched.organization_integrations
add column stale_check_at timestamptz;
comment on column syncsched.organization_integrations.stale_check_at is
'When the tick next checks this integration for staleness: the moment it turns stale without a success, or a period after its last stale alert.'; -- noqa: LT05

create index organization_integrations_stale_check_idx
on syncsched.organization_integrations (stale_check_at)
where is_enabled and stale_check_at is not null;
comment on index syncsched.organization_integrations_stale_check_idx is
'The tick reads the integrations due for a staleness check through this index: O(due), never O(all).';

-- existing schedules: checked at the next tick, which then sets the real time
update syncsched.organization_integrations
set stale_check_at = now()
where is_enabled and (cron_schedule is not null or interval_minutes is not null);
