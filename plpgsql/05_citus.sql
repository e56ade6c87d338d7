-- Citus (docs/citus.md): where syncsched's per-tenant tables are distributed by org_id, a statement
-- that locks rows must stay on one shard (Citus refuses FOR UPDATE across shards). The statements
-- that lock are run once per group of organizations whose rows share a shard; elsewhere (plain
-- PostgreSQL, Citus' coordinator mode) once for all. Citus' catalog and functions are named in
-- dynamic SQL of computed text: they exist only where Citus does (plpgsql_check reads constant text).

create or replace function syncsched._distributed()
returns boolean
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
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

create or replace function syncsched._org_groups(p_orgs text[])
returns setof text[]
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if p_orgs is null then
        -- not distributed: one group, every organization
        return next null;
        return;
    end if;
    -- (shard ids of the integrations' table: its colocated tables have their shards on the same nodes
    -- in the same order)
    return query execute format(
        'select array_agg(o order by o) from unnest($1) as o group by %s($2, o) order by min(o)',
        'pg_catalog.get_shard_id_for_distribution_column'
    ) using p_orgs, 'syncsched.organization_integrations'::regclass;
end
$$;
comment on function syncsched._org_groups(text[]) is
'The organizations p_orgs in groups whose rows share a shard (null: one group, null, meaning every organization).';
