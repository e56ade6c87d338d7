-- Citus (docs/citus.md): where syncsched's per-tenant tables are distributed by org_id, a statement
-- that locks rows must stay on one shard (Citus refuses FOR UPDATE across shards). The statements
-- that lock are run once per group of organizations whose rows share a shard; elsewhere (plain
-- PostgreSQL, Citus' coordinator mode) once for all. Citus' catalog and functions are named in
-- dynamic SQL of computed text: they exist only where Citus does (plpgsql_check reads constant text).
-- The helpers leave search_path unpinned (every name qualified): the worker's hot path calls them
-- about ten times per round trip, and a SET clause makes each call cost more.

create or replace function syncsched._distributed()
returns boolean
language plpgsql
stable
as $$
declare
    v_distributed boolean := false;
begin
    if to_regclass('pg_catalog.pg_dist_partition') is not null then
        execute format('select exists (select from %s where logicalrelid = $1)', 'pg_catalog.pg_dist_partition')
            into v_distributed using 'syncsched.schedule_state'::regclass;
    end if;
    return v_distributed;
end
$$;
comment on function syncsched._distributed() is
'Whether syncsched''s per-tenant tables are distributed by Citus (distributed mode, docs/citus.md).';

create or replace function syncsched._on_citus_worker()
returns boolean
language plpgsql
stable
as $$
declare
    v_group integer := 0;
begin
    -- Citus fires a distributed table's triggers on its shards and a reference table's on each node's
    -- copy: on a worker, where the coordinator's own tables (audit_log, scheduler_alerts) are absent
    -- and a write that reaches another node is refused. Such triggers leave that work to the
    -- coordinator: its copy of a reference table, or its tick (shard_outbox) for the integrations.
    if to_regclass('pg_catalog.pg_dist_local_group') is not null then
        execute format('select groupid from %s', 'pg_catalog.pg_dist_local_group') into v_group;
    end if;
    return v_group > 0;
end
$$;
comment on function syncsched._on_citus_worker() is
'Whether this node is a Citus worker (where triggers run on shards and reference-table copies, docs/citus.md).';

create or replace function syncsched._local_copy(p_table regclass)
returns regclass
language plpgsql
stable
as $$
declare
    v_copy regclass;
begin
    -- Where Citus made p_table a reference table, this node's copy of it (its one shard): what a
    -- trigger on each copy of another reference table writes. p_table itself elsewhere.
    if to_regclass('pg_catalog.pg_dist_shard') is not null then
        execute format('select %s($1, s.shardid)::regclass from %s as s where s.logicalrelid = $1',
            'pg_catalog.shard_name', 'pg_catalog.pg_dist_shard')
            into v_copy using p_table;
    end if;
    return coalesce(v_copy, p_table);
end
$$;
comment on function syncsched._local_copy(regclass) is
'This node''s copy of a reference table (Citus), else the table itself.';

create or replace function syncsched._org_groups(p_orgs text[])
returns setof text[]
language plpgsql
stable
as $$
begin
    if p_orgs is null then
        -- not distributed: one group, every organization
        return next null;
        return;
    end if;
    -- (shard ids of the integrations' table: its colocated tables have their shards on the same nodes
    -- in the same order. In shard order: statements that lock rows shard by shard take them in the same
    -- order, and wait for each other rather than deadlock.)
    return query execute format(
        'select g.orgs from (select %s($2, o) as shard, array_agg(distinct o order by o) as orgs'
        ' from unnest($1) as o group by 1) as g order by g.shard',
        'pg_catalog.get_shard_id_for_distribution_column'
    ) using p_orgs, 'syncsched.organization_integrations'::regclass;
end
$$;
comment on function syncsched._org_groups(text[]) is
'The organizations p_orgs in groups whose rows share a shard (null: one group, null, meaning every organization).';

create or replace function syncsched._plan_for_citus()
returns void
language plpgsql
stable
as $$
begin
    -- Where the tables are distributed, custom plans for the calling function, until it returns (it
    -- pins plan_cache_mode with a SET clause, which restores it then): Citus plans a distributed
    -- statement with parameters no other way ("Possibly this is caused by the use of parameters in
    -- SQL functions"); the worker's hot path forces generic plans elsewhere.
    if syncsched._distributed() then
        perform set_config('plan_cache_mode', 'auto', true);
    end if;
end
$$;
comment on function syncsched._plan_for_citus() is
'Where syncsched''s tables are distributed (Citus): custom plans for the calling function, whose SET clause restores the setting.'; -- noqa: LT05

create or replace function syncsched._run_orgs(p_run_ids bigint[])
returns text[]
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    -- (read here: the statement below runs on the workers, and run_log_state is the coordinator's)
    v_live_from timestamptz := syncsched._live_from();
begin
    -- Where the run log is distributed, the organizations of these runs, so that a statement that
    -- locks them runs on their shard alone; NULL, every organization, elsewhere.
    if not syncsched._distributed() then
        return null;
    end if;
    -- (read, and the rest of the transaction run, over one connection per worker: Citus refuses to
    -- write a reference table tied by foreign keys to the distributed ones, as the run functions may
    -- next, after a read of shards in parallel)
    perform set_config('citus.multi_shard_modify_mode', 'sequential', true);
    return (
        select coalesce(array_agg(distinct r.org_id), '{}')
        from syncsched.sync_run_log as r
        where r.run_id = any(p_run_ids) and r.scheduled_for >= v_live_from
    );
end
$$;
comment on function syncsched._run_orgs(bigint[]) is
'Where syncsched''s tables are distributed (Citus), the organizations of these runs (empty when none is left); NULL elsewhere.'; -- noqa: LT05

create or replace function syncsched._run_groups(p_run_ids bigint[], p_org_ids text[])
returns setof text[]
language plpgsql
stable
as $$
begin
    -- The shard groups of these runs' organizations (p_org_ids when the caller knows them, else found);
    -- one group, null, where the tables are not distributed: what a run function's writes loop over.
    return query select g.orgs from syncsched._org_groups(
        case when syncsched._distributed() then coalesce(p_org_ids, syncsched._run_orgs(p_run_ids)) end) as g (orgs);
end
$$;
comment on function syncsched._run_groups(bigint[], text[]) is
'The organizations of these runs (p_org_ids, else found) in groups that share a shard (Citus); one null group elsewhere.'; -- noqa: LT05
