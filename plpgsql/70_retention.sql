-- Retention: finished runs (with their attempts), ticks and alerts older than the limit go; the last
-- runs of each integration and every open condition always stay. The run log's partitions whose
-- whole range is older than the limit are dropped (what must stay moves to the DEFAULT partition
-- first; a partition that still holds a pending or running run waits); rows that no partition of
-- one interval holds (the log from before partitioning, the DEFAULT partition) go row by row, in
-- batches of a bounded number of rows per statement.

create or replace function syncsched._retention_keeps_from(
    p_org_id text, p_integration_id text, p_keep_per_integration integer
)
returns timestamptz
language plpgsql
stable
as $$
begin
    -- The scheduled_for from which an integration's finished runs are its last p_keep_per_integration
    -- (NULL: it has no more than that, all stay). (PL/pgSQL: Citus plans no SQL function's parameters.)
    if p_keep_per_integration = 0 then
        return 'infinity';
    end if;
    return (
        select r.scheduled_for
        from syncsched.sync_run_log as r
        where r.org_id = p_org_id and r.integration_id = p_integration_id
            and r.status in ('completed', 'failed', 'cancelled')
        order by r.scheduled_for desc
        offset greatest(p_keep_per_integration - 1, 0)
        limit 1
    );
end
$$;
comment on function syncsched._retention_keeps_from(text, text, integer) is
'Retention keeps an integration''s finished runs scheduled from this time on (its last p_keep_per_integration); NULL keeps them all.'; -- noqa: LT05

drop function if exists syncsched._prune_batch(timestamptz, integer, integer, timestamptz, bigint);
create or replace function syncsched._prune_batch(
    p_cutoff timestamptz,
    p_keep_per_integration integer,
    p_batch_size integer,
    p_ranges_from timestamptz,
    p_ranges_to timestamptz,
    inout p_after_finished_at timestamptz,
    inout p_after_run_id bigint,
    out runs integer,
    out ticks integer,
    out alerts integer,
    out more boolean
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_candidates record;
    v_doomed record;
    v_group text[];
    v_deleted integer;
begin
    -- runs: the next p_batch_size finished before the cutoff (keyset order of finished_at) outside the
    -- partitions of one interval ([p_ranges_from, p_ranges_to): they are dropped whole), minus the
    -- last p_keep_per_integration of each of their integrations. In steps, the deletes by shard
    -- group: on Citus, where the run log is distributed, a statement that deletes runs stays on one
    -- shard (and its attempts' trigger with it); elsewhere one group.
    select count(*)::integer as n, array_agg(c.run_id) as run_ids, array_agg(c.org_id) as orgs,
        array_agg(c.integration_id) as integrations, array_agg(c.scheduled_for) as periods,
        (array_agg(c.finished_at order by c.finished_at desc, c.run_id desc))[1] as last_finished_at,
        (array_agg(c.run_id order by c.finished_at desc, c.run_id desc))[1] as last_run_id
    into v_candidates
    from (
        select r.run_id, r.org_id, r.integration_id, r.scheduled_for, r.finished_at
        from syncsched.sync_run_log as r
        where r.finished_at < p_cutoff and (r.finished_at, r.run_id) > (p_after_finished_at, p_after_run_id)
            and r.status in ('completed', 'failed', 'cancelled')
            and (r.scheduled_for < p_ranges_from or r.scheduled_for >= p_ranges_to)
        order by r.finished_at, r.run_id
        limit p_batch_size
    ) as c;
    p_after_finished_at := v_candidates.last_finished_at;
    p_after_run_id := v_candidates.last_run_id;
    -- (thresholds materialized: one per integration, not one per row)
    with candidates as (
        select c.run_id, c.org_id, c.integration_id, c.scheduled_for
        from unnest(v_candidates.run_ids, v_candidates.orgs, v_candidates.integrations, v_candidates.periods)
            as c (run_id, org_id, integration_id, scheduled_for)
    ),
    kept_from as materialized (
        select k.org_id, k.integration_id,
            syncsched._retention_keeps_from(k.org_id, k.integration_id, p_keep_per_integration) as threshold
        from (select distinct c.org_id, c.integration_id from candidates as c) as k
    )
    select array_agg(c.run_id) as run_ids, array_agg(distinct c.scheduled_for) as periods,
        array_agg(distinct c.org_id) as orgs
    into v_doomed
    from candidates as c
    join kept_from as k on k.org_id = c.org_id and k.integration_id = c.integration_id
    where c.scheduled_for < k.threshold;
    runs := 0;
    for v_group in
        select g.orgs from syncsched._org_groups(case when syncsched._distributed() then v_doomed.orgs end) as g (orgs)
        where v_doomed.run_ids is not null
    loop
        delete from syncsched.sync_run_log as r
        where r.run_id = any(v_doomed.run_ids) and r.scheduled_for = any(v_doomed.periods)
            and (v_group is null or r.org_id = any(v_group));
        get diagnostics v_deleted = row_count;
        runs := runs + v_deleted;
    end loop;
    more := v_candidates.n = p_batch_size;
    delete from syncsched.scheduler_ticks as t
    where t.tick_id in (
        select x.tick_id from syncsched.scheduler_ticks as x where x.at < p_cutoff order by x.at limit p_batch_size
    );
    get diagnostics ticks = row_count;
    delete from syncsched.scheduler_alerts as a
    where a.alert_id in (
        select x.alert_id
        from syncsched.scheduler_alerts as x
        where x.at < p_cutoff and not x.is_open
        order by x.at
        limit p_batch_size
    );
    get diagnostics alerts = row_count;
    more := more or ticks = p_batch_size or alerts = p_batch_size;
end
$$;
comment on function syncsched._prune_batch(timestamptz, integer, integer, timestamptz, timestamptz, timestamptz, bigint) is
'One batch of retention row by row: at most p_batch_size runs outside [p_ranges_from, p_ranges_to) (after the keyset position given), ticks and alerts each; more = another batch may find something.'; -- noqa: LT05

create or replace function syncsched._drop_run_log_partition(
    p_runs regclass, p_attempts regclass, p_cutoff timestamptz, p_keep_per_integration integer
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
-- (dropping a partition locks the run log for a moment: never queued for long behind a long transaction)
set lock_timeout = '5s'
as $$
declare
    v_live bigint;
    v_rows bigint;
    v_kept syncsched.sync_run_log[];
    v_kept_attempts syncsched.sync_run_attempts[];
    v_name text := p_runs::text;
begin
    execute format('select count(*) filter (where r.status in (''pending'', ''running'')), count(*) from %s as r',
        p_runs) into v_live, v_rows;
    if v_live > 0 then
        return jsonb_build_object('partition', v_name, 'deferred', v_live);
    end if;
    -- what retention keeps (finished after the cutoff, or among its integration's last runs) stays,
    -- in the DEFAULT partition once the range is gone
    -- (thresholds materialized: one per integration, not one per row)
    execute format('with kept_from as materialized ('
        '    select k.org_id, k.integration_id, syncsched._retention_keeps_from(k.org_id, k.integration_id, $2) as threshold'
        '    from (select distinct r.org_id, r.integration_id from %s as r) as k'
        ') '
        'select array_agg(r) from %s as r join kept_from as k on k.org_id = r.org_id and k.integration_id = r.integration_id '
        'where r.finished_at >= $1 or (r.scheduled_for >= k.threshold) is not false', p_runs, p_runs)
        into v_kept using p_cutoff, p_keep_per_integration;
    if v_kept is not null then
        execute format('select array_agg(a) from %s as a join unnest($1) as k on k.run_id = a.run_id', p_attempts)
            into v_kept_attempts using v_kept;
    end if;
    if p_attempts is not null then
        execute format('drop table %s', p_attempts);
    end if;
    execute format('drop table %s', p_runs);
    insert into syncsched.sync_run_log overriding system value select * from unnest(v_kept);
    insert into syncsched.sync_run_attempts select * from unnest(v_kept_attempts);
    return jsonb_build_object('partition', v_name, 'runs', v_rows - coalesce(cardinality(v_kept), 0),
        'kept', coalesce(cardinality(v_kept), 0));
end
$$;
comment on function syncsched._drop_run_log_partition(regclass, regclass, timestamptz, integer) is
'Drop a partition of the run log and its attempts whose range is past the cutoff, keeping what retention keeps (moved to the DEFAULT partition); deferred while it holds a pending or running run.'; -- noqa: LT05

create or replace function syncsched._prune_check(p_keep_per_integration integer, p_batch_size integer)
returns void
language plpgsql
immutable
as $$
begin
    if p_keep_per_integration is null or p_keep_per_integration < 0 then
        raise exception 'syncsched: p_keep_per_integration must be 0 or more' using errcode = 'invalid_parameter_value';
    end if;
    if p_batch_size is null or p_batch_size < 1 or p_batch_size > 1000000 then
        raise exception 'syncsched: p_batch_size must be 1-1000000' using errcode = 'invalid_parameter_value';
    end if;
end
$$;

drop function if exists syncsched.prune_run_log(interval, integer);
drop function if exists syncsched.prune_run_log(interval, integer, integer);
create or replace function syncsched.prune_run_log(
    p_older_than interval default null, p_keep_per_integration integer default 100, p_batch_size integer default 10000,
    p_now timestamptz default now()
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_cutoff timestamptz := p_now - coalesce(p_older_than, syncsched.setting('retention')::interval);
    v_partition record;
    v_dropped jsonb[] := '{}';
    v_outcome jsonb;
    v_ranges_from timestamptz;
    v_ranges_to timestamptz;
    v_batch record;
    v_after_at timestamptz := '-infinity';
    v_after_id bigint := 0;
    v_runs bigint := 0;
    v_ticks bigint := 0;
    v_alerts bigint := 0;
    v_batches integer := 0;
begin
    perform syncsched._prune_check(p_keep_per_integration, p_batch_size);
    -- whole partitions first, oldest first
    for v_partition in
        select p.runs_partition, p.attempts_partition
        from syncsched.run_log_partitions() as p
        where not p.is_default and p.to_at <= v_cutoff
        order by p.from_at
    loop
        begin
            v_outcome := syncsched._drop_run_log_partition(v_partition.runs_partition, v_partition.attempts_partition,
                v_cutoff, p_keep_per_integration);
        exception
            when lock_not_available then
                v_outcome := jsonb_build_object('partition', v_partition.runs_partition::text, 'error', sqlerrm);
        end;
        v_dropped := v_dropped || v_outcome;
        v_runs := v_runs + coalesce((v_outcome ->> 'runs')::bigint, 0);
        raise notice 'syncsched: %', case
            when v_outcome ? 'deferred' then format('partition %s kept: %s of its runs are pending or running',
                v_outcome ->> 'partition', v_outcome ->> 'deferred')
            when v_outcome ? 'error' then format('partition %s not dropped now: %s', v_outcome ->> 'partition',
                v_outcome ->> 'error')
            else format('dropped partition %s: %s runs, %s kept', v_outcome ->> 'partition', v_outcome ->> 'runs',
                v_outcome ->> 'kept')
        end;
    end loop;
    -- then row by row what the partitions of one interval do not hold: the log from before
    -- partitioning (the partition from MINVALUE) and the DEFAULT partition
    select coalesce(max(p.to_at) filter (where p.from_at = '-infinity'), min(p.from_at)), max(p.to_at)
    into v_ranges_from, v_ranges_to
    from syncsched.run_log_partitions() as p
    where not p.is_default;
    v_ranges_from := coalesce(v_ranges_from, 'infinity');
    v_ranges_to := coalesce(v_ranges_to, 'infinity');
    loop
        v_batch := syncsched._prune_batch(v_cutoff, p_keep_per_integration, p_batch_size, v_ranges_from, v_ranges_to,
            v_after_at, v_after_id);
        v_batches := v_batches + 1;
        v_runs := v_runs + v_batch.runs;
        v_ticks := v_ticks + v_batch.ticks;
        v_alerts := v_alerts + v_batch.alerts;
        v_after_at := coalesce(v_batch.p_after_finished_at, v_after_at);
        v_after_id := coalesce(v_batch.p_after_run_id, v_after_id);
        exit when not v_batch.more;
        raise notice 'syncsched: pruned % runs, % ticks, % alerts so far (batch %)', v_runs, v_ticks, v_alerts, v_batches;
    end loop;
    return jsonb_build_object('runs', v_runs, 'ticks', v_ticks, 'alerts', v_alerts, 'cutoff', v_cutoff,
        'batches', v_batches, 'partitions', to_jsonb(v_dropped));
end
$$;
comment on function syncsched.prune_run_log(interval, integer, integer, timestamptz) is
'Retention at p_now: drop the run log''s partitions (with their attempts) whose whole range is older than p_older_than (settings.retention), keeping the last p_keep_per_integration runs of each integration and runs finished since (moved to the DEFAULT partition); a partition with a pending or running run waits. Rows outside the partitions of one interval (the log from before partitioning, the DEFAULT partition) are deleted row by row, p_batch_size per statement; older ticks and alerts too (never an open condition). Progress as NOTICEs, all in one transaction; partitions: what became of each.'; -- noqa: LT05
