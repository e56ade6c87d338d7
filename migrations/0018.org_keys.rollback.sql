-- depends: 0017.net_requests
set lock_timeout = '10s';

alter table syncsched.sync_run_attempts
drop constraint sync_run_attempts_pkey,
add constraint sync_run_attempts_pkey primary key (run_id, scheduled_for, attempt);
comment on constraint sync_run_attempts_pkey on syncsched.sync_run_attempts is 'One row per attempt of a run.';
drop policy sync_run_attempts_tenant on syncsched.sync_run_attempts;
alter table syncsched.sync_run_attempts drop column org_id;
create policy sync_run_attempts_tenant on syncsched.sync_run_attempts
as permissive for select to syncsched_tenant
using (exists (
    select from syncsched.sync_run_log as r
    where r.run_id = sync_run_attempts.run_id and r.scheduled_for = sync_run_attempts.scheduled_for
));

alter table syncsched.sync_run_log
drop constraint sync_run_log_pkey,
add constraint sync_run_log_pkey primary key (run_id, scheduled_for),
drop constraint sync_run_log_idempotency_key_key,
add constraint sync_run_log_idempotency_key_key unique (idempotency_key, scheduled_for);
comment on constraint sync_run_log_pkey on syncsched.sync_run_log is
'The run: run_id alone is unique too (one identity), scheduled_for is here because a partitioned table''s keys must hold its partition key.'; -- noqa: LT05
comment on constraint sync_run_log_idempotency_key_key on syncsched.sync_run_log is
'At most one run per key. A key names its period (org/integration/<period>, or manual/<time> for run_now), computed with scheduled_for from one value: two runs of one key have one scheduled_for, so this is UNIQUE (idempotency_key).'; -- noqa: LT05

drop policy schedule_state_tenant on syncsched.schedule_state;
alter table syncsched.schedule_state
drop constraint schedule_state_integration_fkey,
drop constraint schedule_state_pkey,
add constraint schedule_state_pkey primary key (id),
drop column org_id;
comment on constraint schedule_state_pkey on syncsched.schedule_state is 'One state per integration.';
create policy schedule_state_tenant on syncsched.schedule_state
as permissive for select to syncsched_tenant
using (exists (
    select from syncsched.organization_integrations as o
    where o.id = schedule_state.id
));

alter table syncsched.organization_integrations
drop constraint organization_integrations_id_key,
add constraint organization_integrations_id_key unique (id);
comment on constraint organization_integrations_id_key on syncsched.organization_integrations is
'The stable integer id (schedule_state''s key).';
alter table syncsched.schedule_state
add constraint schedule_state_integration_fkey foreign key (id)
references syncsched.organization_integrations (id) on update cascade on delete cascade;
comment on constraint schedule_state_integration_fkey on syncsched.schedule_state is
'The state goes with its integration.';
