-- depends: 0015.partitioned_run_log
delete from syncsched.audit_log
where action = 'net_secret_set';
alter table syncsched.audit_log drop constraint audit_log_action_known,
add constraint audit_log_action_known check (action in (
    'run_now', 'retry_run', 'cancel_run', 'pause_scheduling', 'resume_scheduling', 'pause_dispatch',
    'resume_dispatch', 'check_endpoint_now', 'endpoint_changed', 'delete_integration',
    'integration_created', 'integration_changed', 'integration_deleted', 'setting_changed'
));
delete from syncsched.scheduler_alerts
where kind = 'pg_net_stalled';
delete from syncsched.alert_kinds
where kind = 'pg_net_stalled';
delete from syncsched.settings
where key in ('net_lease', 'net_batch', 'net_stalled_after');
drop table syncsched.net_secrets;
alter table syncsched.endpoint_health drop column net_request_id, drop column net_warmup_request_id,
drop column net_warmup_sent_at;
alter table syncsched.sync_run_attempts drop column net_request_id;
drop index syncsched.sync_run_log_net_request;
alter table syncsched.sync_run_log drop column net_request_id;
alter table syncsched.integration_types drop constraint integration_types_transport_known,
drop column transport;
comment on constraint audit_log_action_known on syncsched.audit_log is
'The actions that are audited.';
