-- depends: 0005.health_alerts
-- An optional tenant role: row-level security on integrations, runs and alerts (forced on
-- integrations and alerts), scoped to the organization of set_config('syncsched.org_id', ...).
-- The service roles (the owner, whose SECURITY DEFINER functions run the scheduler, the admin
-- and the reader) see every row.

do $roles$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'syncsched_tenant') then
        create role syncsched_tenant nologin;
    end if;
end
$roles$;

alter table syncsched.organization_integrations enable row level security;
alter table syncsched.organization_integrations force row level security;
-- The run log is enabled, not forced: forced, its owner (the role of every SECURITY DEFINER
-- function on the worker's path) would be under the policies too, and the planner may then not
-- use the statistics of non-leakproof operators such as enum equality: it took status = 'running'
-- for half the table, and a claim scanned the whole log. Tenants are never the owner, so
-- enabled scopes them all the same.
alter table syncsched.sync_run_log enable row level security;
alter table syncsched.scheduler_alerts enable row level security;
alter table syncsched.scheduler_alerts force row level security;

create policy organization_integrations_service on syncsched.organization_integrations
as permissive for all to syncsched_owner, syncsched_admin, syncsched_reader
using (true) with check (true);
create policy organization_integrations_tenant on syncsched.organization_integrations
as permissive for all to syncsched_tenant
using (org_id = current_setting('syncsched.org_id', true))
with check (org_id = current_setting('syncsched.org_id', true));

create policy sync_run_log_service on syncsched.sync_run_log
as permissive for all to syncsched_owner, syncsched_admin, syncsched_reader
using (true) with check (true);
create policy sync_run_log_tenant on syncsched.sync_run_log
as permissive for select to syncsched_tenant
using (org_id = current_setting('syncsched.org_id', true));

create policy scheduler_alerts_service on syncsched.scheduler_alerts
as permissive for all to syncsched_owner, syncsched_admin, syncsched_reader
using (true) with check (true);
create policy scheduler_alerts_tenant on syncsched.scheduler_alerts
as permissive for select to syncsched_tenant
using (org_id = current_setting('syncsched.org_id', true));

comment on policy organization_integrations_tenant on syncsched.organization_integrations is
'A tenant sees, creates, changes and deletes the integrations of its own organization only.';
comment on policy sync_run_log_tenant on syncsched.sync_run_log is
'A tenant reads the runs of its own organization only.';
comment on policy scheduler_alerts_tenant on syncsched.scheduler_alerts is
'A tenant reads the alerts about its own organization only.';

grant usage on schema syncsched to syncsched_tenant;
grant usage on type syncsched.run_status, syncsched.misfire_policy to syncsched_tenant;
grant select, insert, update, delete on syncsched.organization_integrations to syncsched_tenant;
grant select on syncsched.sync_run_log, syncsched.scheduler_alerts to syncsched_tenant;
