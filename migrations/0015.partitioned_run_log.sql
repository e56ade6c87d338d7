-- depends: 0014.late_outcomes
-- The run log and its attempts, range-partitioned by scheduled_for, so that retention drops whole
-- partitions instead of deleting rows (no dead tuples, no WAL per run) and the queue's hot paths
-- read the recent partitions only.
--   * The primary key and the idempotency key carry the partition key: (run_id, scheduled_for) and
--     (idempotency_key, scheduled_for). The key names its period: the tick computes both from one
--     value (_period_key(period) and period), run_now both from one timestamp, so one key has one
--     scheduled_for and a duplicate period meets its twin in the same partition.
--   * Attempts carry their run's scheduled_for and live in the partition of the same range: a
--     month's runs and attempts are dropped together. No foreign key between them (dropping a
--     partition that a foreign key points at needs a DETACH that checks every referencing row
--     under an exclusive lock): the run functions write attempts of existing runs only, and a
--     statement trigger (plpgsql/25_partitions.sql) deletes a run's attempts with it.
--   * One partition holds every run before the first boundary after now (from MINVALUE): the
--     existing log moves into it as it is. The tick creates the next ones ahead
--     (ensure_run_log_partitions). A DEFAULT partition takes what no range holds (periods beyond the
--     partitions made so far; runs kept when their partition was dropped).
--   * run_log_state.live_from: no pending or running run lies in a range partition below it.
--     Claims and the worker's writes read from there on: the partitions of history are pruned.

insert into syncsched.settings (key, value, description, type, default_value, min_value, max_value) values
    ('run_log_partition_interval', '1 month',
     'The time range of each new partition of sync_run_log and sync_run_attempts (by scheduled_for, in UTC). '
     || 'A change applies to the partitions created after it.',
     'interval', '1 month', '1 day', '1 year'),
    ('run_log_partitions_ahead', '2',
     'How many partitions the tick keeps ready after the one that holds now.',
     'integer', '2', '1', '36');

create table syncsched.run_log_state (
    singleton boolean not null default true,
    live_from timestamptz not null,
    updated_at timestamptz not null default now(),
    constraint run_log_state_pkey primary key (singleton),
    constraint run_log_state_one_row check (singleton)
);
comment on table syncsched.run_log_state is
'Where the live part of the run log starts: no pending or running run lies in a range partition below live_from. Written by the owner only (the tick raises it, creating or retrying a run lowers it).'; -- noqa: LT05
alter table syncsched.run_log_state owner to syncsched_owner;
grant select on syncsched.run_log_state to syncsched_admin, syncsched_reader, syncsched_tenant;
insert into syncsched.run_log_state (live_from) values ('-infinity');
comment on column syncsched.run_log_state.singleton is 'Always true: the table has one row.';
comment on column syncsched.run_log_state.live_from is
'No pending or running run lies in a range partition of the run log below this (-infinity: the whole log is live).';
comment on column syncsched.run_log_state.updated_at is 'When live_from last moved.';
comment on constraint run_log_state_pkey on syncsched.run_log_state is 'One row.';
comment on constraint run_log_state_one_row on syncsched.run_log_state is 'One row.';

-- The views over the run log are made again by plpgsql/50_views.sql.
drop view if exists syncsched.schedule_overview, syncsched.run_attempts, syncsched.recent_runs;

-- The definitions that carry over as they are: indexes other than the keys, checks, comments.
create temporary table run_log_carried on commit drop as
select
    c.relname as table_name,
    'index' as kind,
    i.relname as name,
    pg_get_indexdef(i.oid) as definition,
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

alter table syncsched.sync_run_attempts drop constraint sync_run_attempts_run_fkey;
alter table syncsched.sync_run_log rename to sync_run_log_unpartitioned;
alter table syncsched.sync_run_attempts rename to sync_run_attempts_unpartitioned;
do $rename$
declare
    v_index record;
begin
    for v_index in
        select i.relname
        from pg_catalog.pg_index as x
        join pg_catalog.pg_class as i on i.oid = x.indexrelid
        where x.indrelid in ('syncsched.sync_run_log_unpartitioned'::regclass,
            'syncsched.sync_run_attempts_unpartitioned'::regclass)
    loop
        execute format('alter index syncsched.%I rename to %I', v_index.relname, v_index.relname || '_unpartitioned');
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
    constraint sync_run_log_pkey primary key (run_id, scheduled_for),
    constraint sync_run_log_idempotency_key_key unique (idempotency_key, scheduled_for)
) partition by range (scheduled_for);

create table syncsched.sync_run_attempts (
    run_id bigint not null,
    scheduled_for timestamptz not null,
    attempt integer not null,
    outcome text not null,
    worker_id text,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    http_status integer,
    error text,
    response_excerpt text,
    constraint sync_run_attempts_pkey primary key (run_id, scheduled_for, attempt)
) partition by range (scheduled_for);

do $carry$
declare
    v record;
    v_table text;
begin
    for v in select * from run_log_carried as c order by c.kind, c.name loop
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

comment on table syncsched.sync_run_log is
'One row per run of an integration: the queue and its history, range-partitioned by scheduled_for (run_log_partitions() lists the partitions). UNIQUE (idempotency_key, scheduled_for) guarantees at most one run per integration and period: the key names its period, so a period''s runs share a partition. org_id and integration_id name an integration that exists (its triggers refuse to delete or rename it while it has runs; delete_integration removes its history first).'; -- noqa: LT05
comment on table syncsched.sync_run_attempts is
'Every attempt of every run that has ended (completed, failed, lost with its lease, released at shutdown): the audit trail of an export, partitioned like the run log (scheduled_for is its run''s). The attempt running now is the run itself (view run_attempts shows both).'; -- noqa: LT05
comment on column syncsched.sync_run_attempts.scheduled_for is
'The run''s scheduled_for: the attempt lives in the partition of the same range as its run.';
comment on constraint sync_run_log_idempotency_key_key on syncsched.sync_run_log is
'At most one run per key. A key names its period (org/integration/<period>, or manual/<time> for run_now), computed with scheduled_for from one value: two runs of one key have one scheduled_for, so this is UNIQUE (idempotency_key).'; -- noqa: LT05

comment on constraint sync_run_log_pkey on syncsched.sync_run_log is
'The run: run_id alone is unique too (one identity), scheduled_for is here because a partitioned table''s keys must hold its partition key.'; -- noqa: LT05
comment on constraint sync_run_attempts_pkey on syncsched.sync_run_attempts is 'One row per attempt of a run.';

-- The first partitions: the whole log so far (up to the next boundary after now), and the default.
do $first$
declare
    v_boundary timestamptz := (date_trunc('month', now() at time zone 'UTC') + interval '1 month') at time zone 'UTC';
    v_suffix text;
begin
    foreach v_suffix in array array['log', 'attempts'] loop
        execute format('create table syncsched.sync_run_%s_p_initial partition of syncsched.sync_run_%s '
            'for values from (minvalue) to (%L)', v_suffix, v_suffix, v_boundary);
        execute format('create table syncsched.sync_run_%s_default partition of syncsched.sync_run_%s default',
            v_suffix, v_suffix);
    end loop;
end
$first$;

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
from syncsched.sync_run_log_unpartitioned;

insert into syncsched.sync_run_attempts (
    run_id, scheduled_for, attempt, outcome, worker_id, started_at, finished_at, http_status, error, response_excerpt
)
select
a.run_id,
r.scheduled_for,
a.attempt,
a.outcome,
a.worker_id,
a.started_at,
a.finished_at,
a.http_status,
    a.error,
a.response_excerpt
from syncsched.sync_run_attempts_unpartitioned as a
inner join syncsched.sync_run_log_unpartitioned as r on a.run_id = r.run_id;

-- run ids go on from where they were
do $ids$
begin
    perform setval(pg_get_serial_sequence('syncsched.sync_run_log', 'run_id'),
        greatest((select max(run_id) from syncsched.sync_run_log_unpartitioned), 1),
        (select max(run_id) from syncsched.sync_run_log_unpartitioned) is not null);
end
$ids$;

drop table syncsched.sync_run_attempts_unpartitioned;
drop table syncsched.sync_run_log_unpartitioned;

-- The same privileges and row-level security as before.
alter table syncsched.sync_run_log owner to syncsched_owner;
alter table syncsched.sync_run_attempts owner to syncsched_owner;
alter table syncsched.sync_run_log_p_initial owner to syncsched_owner;
alter table syncsched.sync_run_log_default owner to syncsched_owner;
alter table syncsched.sync_run_attempts_p_initial owner to syncsched_owner;
alter table syncsched.sync_run_attempts_default owner to syncsched_owner;
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
    where r.run_id = sync_run_attempts.run_id and r.scheduled_for = sync_run_attempts.scheduled_for
));
