-- depends: 0018.org_keys
-- In Citus' distributed mode the triggers of the integrations run on the workers' shards, where
-- audit_log and scheduler_alerts are not (they are the coordinator's): what such a trigger would
-- write there goes into shard_outbox, distributed with the integrations, and the coordinator's tick
-- moves it (collect_shard_outbox). Elsewhere it stays empty.
set lock_timeout = '10s';

create table syncsched.shard_outbox (
    org_id text not null,
    entry_id bigint generated always as identity,
    at timestamptz not null default now(),
    actor text not null default session_user,
    on_behalf_of text,
    action text,
    integration_id text not null,
    integration_type text,
    detail jsonb,
    resolves_alert text,
    constraint shard_outbox_pkey primary key (org_id, entry_id),
    constraint shard_outbox_says_something check (action is not null or resolves_alert is not null)
);
alter table syncsched.shard_outbox owner to syncsched_owner;
revoke all on syncsched.shard_outbox from public;
comment on table syncsched.shard_outbox is
'Distributed mode (Citus): audit entries and alert resolutions of the integrations'' triggers on the shards, until the coordinator''s tick moves them into audit_log and scheduler_alerts (collect_shard_outbox). Empty elsewhere.'; -- noqa: LT05
comment on constraint shard_outbox_pkey on syncsched.shard_outbox is
'One row per entry; with org_id, the distribution column (a key on Citus holds it).';
comment on constraint shard_outbox_says_something on syncsched.shard_outbox is
'An entry is an audit entry, an alert to resolve, or both.';
comment on column syncsched.shard_outbox.org_id is 'The integration''s organization (the distribution column).';
comment on column syncsched.shard_outbox.entry_id is 'Order of the entries.';
comment on column syncsched.shard_outbox.at is 'When it was done (the transaction''s time on the shard).';
comment on column syncsched.shard_outbox.actor is
'The role Citus connected to the shard as: the role of the statement on the coordinator.';
comment on column syncsched.shard_outbox.on_behalf_of is 'As audit_log.on_behalf_of (the syncsched.actor setting).';
comment on column syncsched.shard_outbox.action is 'The audit_log action, or NULL: an alert to resolve only.';
comment on column syncsched.shard_outbox.integration_id is 'The integration.';
comment on column syncsched.shard_outbox.integration_type is 'Its type.';
comment on column syncsched.shard_outbox.detail is 'The audit_log detail.';
comment on column syncsched.shard_outbox.resolves_alert is
'The alert_key of an open condition that ended (a schedule made valid again ends invalid_schedule).';

-- a database already distributed (a later migrate): distributed with the integrations now
do $distribute$
declare
    v_distributed boolean := false;
begin
    -- (Citus' catalog named in dynamic SQL: it exists only where Citus does)
    if to_regclass('pg_catalog.pg_dist_partition') is not null then
        execute format('select exists (select from %s where logicalrelid = $1)', 'pg_catalog.pg_dist_partition')
            into v_distributed using 'syncsched.schedule_state'::regclass;
    end if;
    if v_distributed then
        execute format('select %s($1, %L, colocate_with => %L)', 'create_distributed_table', 'org_id',
            'syncsched.organization_integrations')
            using 'syncsched.shard_outbox'::regclass;
    end if;
end
$distribute$;
