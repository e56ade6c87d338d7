-- depends: 0010.operator_surface
revoke select on
syncsched.organization_integrations, syncsched.schedule_state, syncsched.sync_run_log, syncsched.sync_run_attempts,
syncsched.scheduler_alerts, syncsched.endpoint_health, syncsched.integration_types, syncsched.scheduler_ticks,
syncsched.dispatch_state
from syncsched_reader;
alter table syncsched.scheduler_alerts drop column if exists acknowledged_by, drop column if exists acknowledged_at;
drop index if exists syncsched.schedule_state_problem_idx;
drop index if exists syncsched.organization_integrations_integration_prefix_idx;
drop index if exists syncsched.organization_integrations_org_prefix_idx;
drop table if exists syncsched.web_tokens;
revoke usage on schema syncsched from syncsched_web;
-- The role and its memberships are kept: roles belong to the cluster, and another database
-- may still run this release (0001's rollback drops the roles once no database uses them).
