-- depends: 0002.cron_spec
delete from syncsched.settings
where key = 'tick_batch_size';
drop index if exists syncsched.sync_run_log_live_idx;
alter table syncsched.organization_integrations drop column if exists last_tick_at;
alter table syncsched.organization_integrations drop column if exists cron_spec;
