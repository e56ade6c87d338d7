-- Retention: finished runs (with their attempts), ticks and alerts older than the limit go, in
-- batches of a bounded number of rows per statement; the last runs of each integration and every
-- open condition always stay.

create or replace function syncsched._prune_batch(
    p_cutoff timestamptz,
    p_keep_per_integration integer,
    p_batch_size integer,
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
    v_scanned integer;
begin
    -- runs: the next p_batch_size finished before the cutoff (keyset order of finished_at), minus
    -- the last p_keep_per_integration of each of their integrations
    with candidates as (
        select r.run_id, r.org_id, r.integration_id, r.scheduled_for, r.finished_at
        from syncsched.sync_run_log as r
        where r.finished_at < p_cutoff and (r.finished_at, r.run_id) > (p_after_finished_at, p_after_run_id)
            and r.status in ('completed', 'failed', 'cancelled')
        order by r.finished_at, r.run_id
        limit p_batch_size
    ),
    kept_from as (
        select k.org_id, k.integration_id,
            case when p_keep_per_integration = 0 then 'infinity'::timestamptz else newest.scheduled_for end as threshold
        from (select distinct c.org_id, c.integration_id from candidates as c) as k
        left join lateral (
            select r.scheduled_for
            from syncsched.sync_run_log as r
            where r.org_id = k.org_id and r.integration_id = k.integration_id
                and r.status in ('completed', 'failed', 'cancelled')
            order by r.scheduled_for desc
            offset greatest(p_keep_per_integration - 1, 0)
            limit 1
        ) as newest on true
    ),
    deleted as (
        delete from syncsched.sync_run_log as r
        using candidates as c
        join kept_from as k on k.org_id = c.org_id and k.integration_id = c.integration_id
        where r.run_id = c.run_id and c.scheduled_for < k.threshold
        returning 1
    )
    select (select count(*) from deleted), (select count(*) from candidates),
        (select c.finished_at from candidates as c order by c.finished_at desc, c.run_id desc limit 1),
        (select c.run_id from candidates as c order by c.finished_at desc, c.run_id desc limit 1)
    into runs, v_scanned, p_after_finished_at, p_after_run_id;
    more := v_scanned = p_batch_size;
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
comment on function syncsched._prune_batch(timestamptz, integer, integer, timestamptz, bigint) is
'One batch of retention: at most p_batch_size runs (after the keyset position given), ticks and alerts each; more = another batch may find something.'; -- noqa: LT05

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
create or replace function syncsched.prune_run_log(
    p_older_than interval default null, p_keep_per_integration integer default 100, p_batch_size integer default 10000
)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_cutoff timestamptz := now() - coalesce(p_older_than, syncsched.setting('retention')::interval);
    v_batch record;
    v_after_at timestamptz := '-infinity';
    v_after_id bigint := 0;
    v_runs bigint := 0;
    v_ticks bigint := 0;
    v_alerts bigint := 0;
    v_batches integer := 0;
begin
    perform syncsched._prune_check(p_keep_per_integration, p_batch_size);
    loop
        v_batch := syncsched._prune_batch(v_cutoff, p_keep_per_integration, p_batch_size, v_after_at, v_after_id);
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
        'batches', v_batches);
end
$$;
comment on function syncsched.prune_run_log(interval, integer, integer) is
'Delete finished runs older than p_older_than (settings.retention) with their attempts, except the last p_keep_per_integration of each integration, and older ticks and alerts (never an open condition); p_batch_size rows per statement, progress as NOTICEs. All in one transaction.'; -- noqa: LT05
