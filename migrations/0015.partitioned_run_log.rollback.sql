-- depends: 0014.late_outcomes
-- Back to one unpartitioned run log and attempts table, every row kept; the views over them are
-- made again by plpgsql/50_views.sql.
drop view if exists syncsched.schedule_overview, syncsched.run_attempts, syncsched.recent_runs;

create temporary table run_log_carried on commit drop as
select
    c.relname as table_name,
    'index' as kind,
    i.relname as name,
    replace(pg_get_indexdef(i.oid), ' ON ONLY ', ' ON ') as definition,
    obj_description(i.oid, 'pg_class') as remark
from pg_catalog.pg_index as x
inner join pg_catalog.pg_class as i on x.indexrelid = i.oid
inner join pg_catalog.pg_class as c on x.indrelid = c.oid
where
    x.indrelid in ('syncsched.sync_run_log'::regclass, 'syncsched.sync_run_attempts'::regclass)
    and not exists (
        select from pg_catalog.pg_constraint as k
        where k.conindid = x.indexrelid
    )
union all
select
    c.relname as table_name,
    'check' as kind,
    k.conname as name,
    pg_get_constraintdef(k.oid) as definition,
    obj_description(k.oid, 'pg_constraint') as remark
from pg_catalog.pg_constraint as k
inner join pg_catalog.pg_class as c on k.conrelid = c.oid
where k.conrelid in ('syncsched.sync_run_log'::regclass, 'syncsched.sync_run_attempts'::regclass) and k.contype = 'c'
union all
select
    c.relname as table_name,
    'column' as kind,
    a.attname as name,
    null as definition,
    col_description(c.oid, a.attnum) as remark
from pg_catalog.pg_attribute as a
inner join pg_catalog.pg_class as c on a.attrelid = c.oid
where
    a.attrelid in ('syncsched.sync_run_log'::regclass, 'syncsched.sync_run_attempts'::regclass) and a.attnum > 0
    and not a.attisdropped and col_description(c.oid, a.attnum) is not null
union all
select
    c.relname as table_name,
    'table' as kind,
    c.relname as name,
    null as definition,
    obj_description(c.oid, 'pg_class') as remark
from pg_catalog.pg_class as c
where c.oid in ('syncsched.sync_run_log'::regclass, 'syncsched.sync_run_attempts'::regclass);

alter table syncsched.sync_run_log rename to sync_run_log_partitioned;
alter table syncsched.sync_run_attempts rename to sync_run_attempts_partitioned;
do $rename$
declare
    v_index record;
begin
    for v_index in
        select i.relname
        from pg_catalog.pg_index as x
        join pg_catalog.pg_class as i on i.oid = x.indexrelid
        where x.indrelid in ('syncsched.sync_run_log_partitioned'::regclass,
            'syncsched.sync_run_attempts_partitioned'::regclass)
    loop
        execute format('alter index syncsched.%I rename to %I', v_index.relname, v_index.relname || '_partitioned');
    end loop;
end
$rename$;

create table syncsched.sync_run_log (
    run_id bigint generated always as identity,
    org_id text not null,
    integration_id text not null,
    integration_type text not null,
    scheduled_for timestamptz not null,
    idempotency_key text not null,
    trigger text not null,
    status syncsched.run_status not null default 'pending',
    attempt integer not null default 0,
    max_attempts integer not null,
    payload jsonb not null default '{}'::jsonb,
    not_before timestamptz not null default now(),
    enqueued_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz,
    worker_id text,
    lease_token uuid,
    lease_expires_at timestamptz,
    drift interval,
    http_status integer,
    error text,
    response_excerpt text,
    constraint sync_run_log_pkey primary key (run_id),
    constraint sync_run_log_idempotency_key_key unique (idempotency_key)
);

create table syncsched.sync_run_attempts (
    run_id bigint not null,
    attempt integer not null,
    outcome text not null,
    worker_id text,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    http_status integer,
    error text,
    response_excerpt text,
    constraint sync_run_attempts_pkey primary key (run_id, attempt),
    constraint sync_run_attempts_run_fkey foreign key (run_id)
    references syncsched.sync_run_log (run_id) on delete cascade
);

do $carry$
declare
    v record;
    v_table text;
begin
    for v in select * from run_log_carried as c where c.name <> 'scheduled_for' or c.table_name <> 'sync_run_attempts'
        order by c.kind, c.name
    loop
        v_table := 'syncsched.' || quote_ident(v.table_name);
        case v.kind
            when 'index' then
                execute v.definition;  -- (made when the table had this name: on the new one now)
                execute format('comment on index syncsched.%I is %L', v.name, v.remark);
            when 'check' then
                execute format('alter table %s add constraint %I %s', v_table, v.name, v.definition);
                execute format('comment on constraint %I on %s is %L', v.name, v_table, v.remark);
            when 'column' then
                execute format('comment on column %s.%I is %L', v_table, v.name, v.remark);
            when 'table' then
                execute format('comment on table %s is %L', v_table, v.remark);
        end case;
    end loop;
end
$carry$;

insert into syncsched.sync_run_log (
    run_id, org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger, status, attempt,
    max_attempts, payload, not_before, enqueued_at, started_at, finished_at, heartbeat_at, worker_id, lease_token,
    lease_expires_at, drift, http_status, error, response_excerpt
) overriding system value
select
run_id,
org_id,
integration_id,
integration_type,
scheduled_for,
idempotency_key,
trigger,
status,
attempt,
    max_attempts,
payload,
not_before,
enqueued_at,
started_at,
finished_at,
heartbeat_at,
worker_id,
lease_token,
    lease_expires_at,
drift,
http_status,
error,
response_excerpt
from syncsched.sync_run_log_partitioned;

insert into syncsched.sync_run_attempts (
    run_id, attempt, outcome, worker_id, started_at, finished_at, http_status, error, response_excerpt
)
select
run_id,
attempt,
outcome,
worker_id,
started_at,
finished_at,
http_status,
error,
response_excerpt
from syncsched.sync_run_attempts_partitioned;

do $ids$
begin
    perform setval(pg_get_serial_sequence('syncsched.sync_run_log', 'run_id'),
        greatest((select max(run_id) from syncsched.sync_run_log_partitioned), 1),
        (select max(run_id) from syncsched.sync_run_log_partitioned) is not null);
end
$ids$;

comment on table syncsched.sync_run_log is
'One row per run of an integration: the queue and its history. The UNIQUE idempotency_key guarantees at most one run per integration and period. org_id and integration_id name an integration that exists (its triggers refuse to delete or rename it while it has runs; delete_integration removes its history first).'; -- noqa: LT05
comment on table syncsched.sync_run_attempts is
'Every attempt of every run that has ended (completed, failed, lost with its lease, released at shutdown): the audit trail of an export. The attempt running now is the run itself (view run_attempts shows both).'; -- noqa: LT05
comment on constraint sync_run_log_pkey on syncsched.sync_run_log is 'The run.';
comment on constraint sync_run_attempts_pkey on syncsched.sync_run_attempts is 'One row per attempt of a run.';
comment on constraint sync_run_attempts_run_fkey on syncsched.sync_run_attempts is
'Attempts go with their run (retention).';
comment on constraint sync_run_log_idempotency_key_key on syncsched.sync_run_log is
'At most one run per integration and period: the guarantee that a period is never exported twice by the scheduler.';

drop table syncsched.sync_run_attempts_partitioned;
drop table syncsched.sync_run_log_partitioned;
drop table syncsched.run_log_state;
delete from syncsched.settings
where key in ('run_log_partition_interval', 'run_log_partitions_ahead');

alter table syncsched.sync_run_log owner to syncsched_owner;
alter table syncsched.sync_run_attempts owner to syncsched_owner;
grant select on syncsched.sync_run_log, syncsched.sync_run_attempts
to syncsched_admin, syncsched_tenant, syncsched_reader;
alter table syncsched.sync_run_log enable row level security;
alter table syncsched.sync_run_attempts enable row level security;
create policy sync_run_log_service on syncsched.sync_run_log
as permissive for all to syncsched_owner, syncsched_admin, syncsched_reader
using (true) with check (true);
create policy sync_run_log_tenant on syncsched.sync_run_log
as permissive for select to syncsched_tenant
using (org_id = current_setting('syncsched.org_id', true));
comment on policy sync_run_log_tenant on syncsched.sync_run_log is
'A tenant reads the runs of its own organization only.';
create policy sync_run_attempts_service on syncsched.sync_run_attempts
as permissive for all to syncsched_owner, syncsched_admin, syncsched_reader
using (true) with check (true);
create policy sync_run_attempts_tenant on syncsched.sync_run_attempts
as permissive for select to syncsched_tenant
using (exists (
    select from syncsched.sync_run_log as r
    where r.run_id = sync_run_attempts.run_id
));
