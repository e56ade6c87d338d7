-- depends: 0017.net_requests
-- org_id in every key of the per-tenant tables, so that one schema serves plain PostgreSQL and a
-- Citus cluster that distributes these tables by org_id (docs/citus.md): Citus enforces a key only
-- when it holds the distribution column, and routes a statement to one shard only when it names it.
--   * sync_run_log: (run_id, scheduled_for, org_id) and (idempotency_key, scheduled_for, org_id).
--     run_id stays first, so that the run functions' lookups by run_id keep their index. A key
--     begins with its org_id (org/integration/...), so adding org_id to its UNIQUE lets no second
--     run of a period in.
--   * sync_run_attempts and schedule_state get an org_id column (backfilled) and keys with it; the
--     tenant policies of both compare org_id, as the run log's does (no subquery per row).
--   * organization_integrations: UNIQUE (id, org_id) for schedule_state's foreign key, which
--     cascades deletes only: an integration keeps its organization (the schedule trigger refuses to
--     move it; Citus cannot move a row to another distribution value either).
set lock_timeout = '10s';

alter table syncsched.schedule_state drop constraint schedule_state_integration_fkey;
alter table syncsched.organization_integrations
drop constraint organization_integrations_id_key,
add constraint organization_integrations_id_key unique (id, org_id);
comment on constraint organization_integrations_id_key on syncsched.organization_integrations is
'The integration''s id, unique by its identity; with org_id for schedule_state''s foreign key (a key on Citus holds the distribution column).'; -- noqa: LT05

alter table syncsched.schedule_state add column org_id text;
update syncsched.schedule_state as s set org_id = i.org_id
from syncsched.organization_integrations as i
where i.id = s.id;
alter table syncsched.schedule_state
alter column org_id set not null,
drop constraint schedule_state_pkey,
add constraint schedule_state_pkey primary key (id, org_id),
add constraint schedule_state_integration_fkey foreign key (id, org_id)
references syncsched.organization_integrations (id, org_id) on delete cascade;
comment on column syncsched.schedule_state.org_id is 'The integration''s organization.';
comment on constraint schedule_state_pkey on syncsched.schedule_state is 'One state per integration.';
comment on constraint schedule_state_integration_fkey on syncsched.schedule_state is
'The state goes with its integration.';
drop policy schedule_state_tenant on syncsched.schedule_state;
create policy schedule_state_tenant on syncsched.schedule_state
as permissive for select to syncsched_tenant
using (org_id = current_setting('syncsched.org_id', true));
comment on policy schedule_state_tenant on syncsched.schedule_state is
'A tenant reads the state of its own organization''s integrations only.';

alter table syncsched.sync_run_log
drop constraint sync_run_log_pkey,
add constraint sync_run_log_pkey primary key (run_id, scheduled_for, org_id),
drop constraint sync_run_log_idempotency_key_key,
add constraint sync_run_log_idempotency_key_key unique (idempotency_key, scheduled_for, org_id);
comment on constraint sync_run_log_pkey on syncsched.sync_run_log is
'The run: run_id alone is unique too (one identity); scheduled_for is here because a partitioned table''s keys must hold its partition key, org_id because a distributed one''s must hold its distribution column.'; -- noqa: LT05
comment on constraint sync_run_log_idempotency_key_key on syncsched.sync_run_log is
'At most one run per key. A key names its organization and its period (org/integration/<period>, or org/integration/manual/<time> for run_now), computed with scheduled_for from one value: two runs of one key have one scheduled_for and one org_id, so this is UNIQUE (idempotency_key).'; -- noqa: LT05

alter table syncsched.sync_run_attempts add column org_id text;
update syncsched.sync_run_attempts as a set org_id = r.org_id
from syncsched.sync_run_log as r
where r.run_id = a.run_id and r.scheduled_for = a.scheduled_for;
do $orphans$
declare
    v_orphans bigint;
begin
    -- the run functions write attempts of existing runs and a run's attempts go with it: none is
    -- expected; an attempt is never dropped silently
    select count(*) into v_orphans from syncsched.sync_run_attempts where org_id is null;
    if v_orphans > 0 then
        raise exception 'syncsched: % attempt(s) in sync_run_attempts belong to no run of sync_run_log', v_orphans
            using hint = 'find them with: select * from syncsched.sync_run_attempts as a where not exists '
                || '(select from syncsched.sync_run_log as r where r.run_id = a.run_id)';
    end if;
end
$orphans$;
alter table syncsched.sync_run_attempts
alter column org_id set not null,
drop constraint sync_run_attempts_pkey,
add constraint sync_run_attempts_pkey primary key (run_id, scheduled_for, attempt, org_id);
comment on column syncsched.sync_run_attempts.org_id is 'The run''s organization.';
comment on constraint sync_run_attempts_pkey on syncsched.sync_run_attempts is 'One row per attempt of a run.';
drop policy sync_run_attempts_tenant on syncsched.sync_run_attempts;
create policy sync_run_attempts_tenant on syncsched.sync_run_attempts
as permissive for select to syncsched_tenant
using (org_id = current_setting('syncsched.org_id', true));
comment on policy sync_run_attempts_tenant on syncsched.sync_run_attempts is
'A tenant reads the attempts of its own organization''s runs only.';
