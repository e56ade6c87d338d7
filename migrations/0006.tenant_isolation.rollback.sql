-- depends: 0005.health_alerts
revoke all on syncsched.organization_integrations, syncsched.sync_run_log, syncsched.scheduler_alerts
from syncsched_tenant;
revoke all on type syncsched.run_status, syncsched.misfire_policy from syncsched_tenant;
revoke all on schema syncsched from syncsched_tenant;
drop policy if exists scheduler_alerts_tenant on syncsched.scheduler_alerts;
drop policy if exists scheduler_alerts_service on syncsched.scheduler_alerts;
drop policy if exists sync_run_log_tenant on syncsched.sync_run_log;
drop policy if exists sync_run_log_service on syncsched.sync_run_log;
drop policy if exists organization_integrations_tenant on syncsched.organization_integrations;
drop policy if exists organization_integrations_service on syncsched.organization_integrations;
alter table syncsched.scheduler_alerts no force row level security;
alter table syncsched.scheduler_alerts disable row level security;
alter table syncsched.sync_run_log disable row level security;
alter table syncsched.organization_integrations no force row level security;
alter table syncsched.organization_integrations disable row level security;
