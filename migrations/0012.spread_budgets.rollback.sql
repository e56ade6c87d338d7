-- depends: 0011.web_console
-- (Run after the code is dropped: the functions of plpgsql/ read what goes here.)
delete from syncsched.scheduler_alerts
where kind = 'rate_limited';
delete from syncsched.alert_kinds
where kind = 'rate_limited';
drop table syncsched.request_ledger;
alter table syncsched.dispatch_state drop column rate_limited_until;
alter table syncsched.integration_types
drop column rate_limited_backoff,
drop column rate_window,
drop column rate_limit,
drop column spread;
