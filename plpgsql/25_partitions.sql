-- Partitions of the run log: sync_run_log and sync_run_attempts are range-partitioned by
-- scheduled_for, with partitions of the same ranges (run_log_partition_interval each, in UTC). The
-- tick keeps run_log_partitions_ahead of them ready after the one that holds now; retention drops
-- them whole (70_retention.sql). Rows no range holds go to each table's DEFAULT partition.
-- run_log_state.live_from bounds the live part of the log: no pending or running run lies below it,
-- so that claims and the worker's writes read the recent partitions only.

create or replace function syncsched._partitions_of(p_parent regclass)
returns table (partition_name regclass, from_at timestamptz, to_at timestamptz, is_default boolean)
language sql
stable
-- (no SET clause, catalog names qualified: inlined into the statements of the tick that read it)
as $$
    -- (the catalog keeps a range as the text of its bound: FROM ('…') TO ('…'), MINVALUE/MAXVALUE)
    select i.inhrelid::regclass, b.bounds[1], b.bounds[2], b.bounds is null
    from pg_catalog.pg_inherits as i
    join pg_catalog.pg_class as c on c.oid = i.inhrelid
    cross join lateral (
        select case when pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT' then array(
            select case v[1] when 'MINVALUE' then '-infinity' when 'MAXVALUE' then 'infinity' else btrim(v[1], '''') end
                ::timestamptz
            from regexp_matches(pg_get_expr(c.relpartbound, c.oid), '\(([^)]*)\)', 'g') as v
        ) end as bounds
    ) as b
    where i.inhparent = p_parent
$$;
comment on function syncsched._partitions_of(regclass) is
'The partitions of a range-partitioned table with their bounds (-infinity for MINVALUE); is_default for the DEFAULT partition.';

create or replace function syncsched.run_log_partitions()
returns table (
    from_at timestamptz, to_at timestamptz, runs_partition regclass, attempts_partition regclass, is_default boolean
)
language sql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select coalesce(r.from_at, a.from_at), coalesce(r.to_at, a.to_at), r.partition_name, a.partition_name,
        coalesce(r.is_default, a.is_default)
    from syncsched._partitions_of('syncsched.sync_run_log') as r
    full join syncsched._partitions_of('syncsched.sync_run_attempts') as a
        on a.is_default = r.is_default and a.from_at is not distinct from r.from_at and a.to_at is not distinct from r.to_at
    order by coalesce(r.is_default, a.is_default), 1
$$;
comment on function syncsched.run_log_partitions() is
'The partitions of the run log: each range (from_at inclusive, to_at exclusive, by scheduled_for) with its runs and attempts partition; the DEFAULT partitions last.'; -- noqa: LT05

create or replace function syncsched._run_log_after_delete()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_orgs text[];
    v_runs bigint[];
    v_periods timestamptz[];
begin
    -- Attempts go with their run. (No foreign key: dropping a partition that one points at needs a
    -- DETACH that checks every referencing row under an exclusive lock. Dropping a partition of runs
    -- drops its partition of attempts too: 70_retention.sql.)
    -- The deleted runs are read first, apart: on a Citus shard the statement over the attempts is
    -- planned by Citus, which cannot read a transition table; by their organizations it stays on
    -- this shard's colocated attempts (their periods prune the partitions everywhere).
    select array_agg(distinct g.org_id), array_agg(g.run_id), array_agg(distinct g.scheduled_for)
    into v_orgs, v_runs, v_periods
    from gone as g;
    delete from syncsched.sync_run_attempts as a
    where a.org_id = any(v_orgs) and a.run_id = any(v_runs) and a.scheduled_for = any(v_periods);
    return null;
end
$$;
comment on function syncsched._run_log_after_delete() is
'Delete the attempts of the runs a statement deleted.';

create or replace trigger sync_run_log_attempts_go
after delete on syncsched.sync_run_log
referencing old table as gone
for each statement execute function syncsched._run_log_after_delete();
comment on trigger sync_run_log_attempts_go on syncsched.sync_run_log is
'Attempts go with their run (what a foreign key with ON DELETE CASCADE did before the log was partitioned).';

create or replace function syncsched._live_from()
returns timestamptz
language sql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select s.live_from from syncsched.run_log_state as s
$$;
comment on function syncsched._live_from() is
'Where the live part of the run log starts: every pending or running run has scheduled_for >= this. A qual scheduled_for >= _live_from() prunes the partitions of history.'; -- noqa: LT05

create or replace function syncsched._runs_live_from(p_scheduled_for timestamptz)
returns void
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    -- Called after runs were created or made pending again: their partitions are live. (After the
    -- write, so that a tick raising live_from either waits for it or sees it: _raise_live_from.)
    update syncsched.run_log_state as s set live_from = p_scheduled_for, updated_at = now()
    where s.live_from > p_scheduled_for
$$;
comment on function syncsched._runs_live_from(timestamptz) is
'Lower live_from to p_scheduled_for (no-op when it is lower already): called after creating or retrying runs.';

create or replace function syncsched._add_run_log_partition(p_from timestamptz, p_to timestamptz)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
set "TimeZone" = 'UTC'
as $$
declare
    v_table text;
    v_name text;
begin
    -- Created apart, then attached: ATTACH locks the parent SHARE UPDATE EXCLUSIVE, so claims and
    -- writes go on (CREATE … PARTITION OF would lock them out). Rows of the new range that the
    -- DEFAULT partition took meanwhile move into it first.
    foreach v_table in array array['sync_run_log', 'sync_run_attempts'] loop
        v_name := format('%s_p%s', v_table, to_char(p_from, 'YYYYMMDD'));
        execute format('create table syncsched.%I (like syncsched.%I including defaults including constraints)',
            v_name, v_table);
        execute format('with moved as (delete from syncsched.%I as d where d.scheduled_for >= $1 and d.scheduled_for < $2 '
            'returning d.*) insert into syncsched.%I select * from moved', v_table || '_default', v_name)
            using p_from, p_to;
        execute format('alter table syncsched.%I attach partition syncsched.%I for values from (%L) to (%L)',
            v_table, v_name, p_from, p_to);
    end loop;
end
$$;
comment on function syncsched._add_run_log_partition(timestamptz, timestamptz) is
'Add the partitions [p_from, p_to) of sync_run_log and sync_run_attempts, moving in the rows of that range the DEFAULT partitions hold.'; -- noqa: LT05

create or replace function syncsched._raise_live_from(p_now timestamptz)
returns timestamptz
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_from timestamptz;
    v_new timestamptz;
    v_partition record;
    v_live boolean;
begin
    -- Past every partition that ended before now and holds no pending or running run. Each is
    -- locked SHARE first (NOWAIT: a busy one ends the walk): a run being created or retried in it
    -- either commits before the look, or waits and lowers live_from again after it (_runs_live_from).
    -- (nothing to pass over is the usual case: decided without the lock, so an idle tick writes nothing)
    select s.live_from into v_from from syncsched.run_log_state as s;
    if not exists (
        select from syncsched._partitions_of('syncsched.sync_run_log') as p
        where not p.is_default and p.to_at > v_from and p.to_at <= p_now
    ) then
        return v_from;
    end if;
    select s.live_from into v_from from syncsched.run_log_state as s for update;
    v_new := v_from;
    for v_partition in
        select p.partition_name, p.to_at
        from syncsched._partitions_of('syncsched.sync_run_log') as p
        where not p.is_default and p.to_at > v_from and p.to_at <= p_now
        order by p.from_at
    loop
        begin
            execute format('lock table %s in share mode nowait', v_partition.partition_name);
        exception
            when lock_not_available then
                exit;
        end;
        execute format('select exists (select from %s as r where r.status = ''pending'') '
            'or exists (select from %s as r where r.status = ''running'')',
            v_partition.partition_name, v_partition.partition_name) into v_live;
        exit when v_live;
        v_new := v_partition.to_at;
    end loop;
    if v_new > v_from then
        -- and not past a live run that no range holds
        begin
            lock table syncsched.sync_run_log_default in share mode nowait;
        exception
            when lock_not_available then
                return v_from;
        end;
        v_new := least(v_new, (
            select min(d.scheduled_for) from syncsched.sync_run_log_default as d where d.status in ('pending', 'running')
        ));
        update syncsched.run_log_state set live_from = v_new, updated_at = now();
    end if;
    return v_new;
end
$$;
comment on function syncsched._raise_live_from(timestamptz) is
'Move live_from past the partitions that ended before p_now and hold no pending or running run; returns it.';

create or replace function syncsched.ensure_run_log_partitions(p_now timestamptz default now())
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
set "TimeZone" = 'UTC'
as $$
declare
    v_interval interval := syncsched.setting('run_log_partition_interval')::interval;
    v_ahead integer := syncsched.setting('run_log_partitions_ahead')::integer;
    v_to timestamptz;
    v_ready integer;
    v_created integer := 0;
begin
    select max(p.to_at), count(*) filter (where p.from_at > p_now)
    into v_to, v_ready
    from syncsched._partitions_of('syncsched.sync_run_log') as p
    where not p.is_default;
    if v_to is null or v_to <= p_now or v_ready < v_ahead then
        -- one at a time (concurrent ticks): the state row is the lock; and again under it
        perform from syncsched.run_log_state for update;
        select max(p.to_at), count(*) filter (where p.from_at > p_now)
        into v_to, v_ready
        from syncsched._partitions_of('syncsched.sync_run_log') as p
        where not p.is_default;
    end if;
    v_to := coalesce(v_to, date_trunc('month', p_now));
    -- (bounded: a year of daily partitions ahead at most, whatever the clock says)
    while (v_to <= p_now or v_ready < v_ahead) and v_created < 400 loop
        perform syncsched._add_run_log_partition(v_to, v_to + v_interval);
        v_ready := v_ready + (v_to > p_now)::integer;
        v_to := v_to + v_interval;
        v_created := v_created + 1;
    end loop;
    if v_created > 0 then
        raise log 'syncsched: created % partition(s) of the run log, up to %', v_created, v_to;
    end if;
    return jsonb_build_object('created', v_created, 'until', v_to, 'live_from', syncsched._raise_live_from(p_now));
end
$$;
comment on function syncsched.ensure_run_log_partitions(timestamptz) is
'Create the partitions of the run log up to run_log_partitions_ahead after the one holding p_now (run_log_partition_interval each, from the last one''s end), and move live_from past the partitions without a pending or running run. Called by tick(); returns created, until and live_from.'; -- noqa: LT05
