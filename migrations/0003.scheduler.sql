-- depends: 0002.cron_spec
-- What the tick needs beside the schedule: the parsed cron expression, kept by the
-- schedule trigger, and a narrow index for "does this integration have a live run".

alter table syncsched.organization_integrations
add column cron_spec syncsched.cron_spec;
comment on column syncsched.organization_integrations.cron_spec is
'cron_schedule parsed (see cron_parse), maintained by the schedule trigger so that a tick never parses.';

alter table syncsched.organization_integrations
add column last_tick_at timestamptz;
comment on column syncsched.organization_integrations.last_tick_at is
'p_now of the last tick that handled this row: a tick handles a row once, whatever its batches.';

create index sync_run_log_live_idx
on syncsched.sync_run_log (org_id, integration_id, started_at)
where status in ('pending', 'running');
comment on index syncsched.sync_run_log_live_idx is
'The tick''s overlap rule: pending or running runs of one integration.';

insert into syncsched.settings (key, value, description) values
    ('tick_batch_size', '1000',
     'Due integrations handled per transaction by tick(). Each takes an advisory lock: '
     || 'keep it well under max_locks_per_transaction * max_connections.');
