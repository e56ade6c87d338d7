-- depends: 0009.catalog_comments
-- (Run after the code is dropped: the views and functions of plpgsql/ read what goes here.)
-- Cron expressions longer than 200 characters may exist by now: the old limit comes back for new
-- rows only (not valid).
alter table syncsched.organization_integrations
drop constraint organization_integrations_misfire_policy_known,
alter column misfire_policy drop default,
alter column misfire_policy type syncsched.misfire_policy using misfire_policy::syncsched.misfire_policy,
alter column misfire_policy set default 'run_once',
add constraint organization_integrations_cron_length check (length(cron_schedule) <= 200) not valid;

drop table syncsched.audit_log;

delete from syncsched.settings
where key = 'dispatch_paused';

alter table syncsched.dispatch_state
drop column scheduling_paused,
drop column dispatch_paused;
