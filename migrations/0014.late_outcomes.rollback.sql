-- depends: 0013.run_log_references
delete from syncsched.scheduler_alerts
where kind = 'possible_duplicate';
delete from syncsched.alert_kinds
where kind = 'possible_duplicate';
update syncsched.sync_run_log set lease_token = null
where status <> 'running' and lease_token is not null;
comment on column syncsched.sync_run_log.lease_token is
'Fencing token of the current claim: every worker write must present it.';
