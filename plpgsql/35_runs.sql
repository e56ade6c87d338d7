-- The run functions of the worker: claim, heartbeat, complete, fail, release; and the reaper.
-- Every write by a worker is fenced: run_id AND status = 'running' AND lease_token. A stale
-- worker's write changes nothing, returns false, and is recorded as a stale_write alert. One
-- exception: a completion whose lease expired before it could be written (the database was out of
-- reach) is still taken while the run has not been claimed again, rather than calling it twice.
-- Attempts are numbered from 1: a claim starts attempt n + 1, and every attempt that ends
-- (completed, failed, lost with its lease, released at shutdown) is kept in sync_run_attempts.
-- These functions read the wall clock, now(): leases, heartbeats and backoffs are its times.

create or replace function syncsched._attempts_left(p_attempt integer, p_max_attempts integer)
returns boolean
language sql
immutable
parallel safe
as $$
    select p_attempt < p_max_attempts
$$;
comment on function syncsched._attempts_left(integer, integer) is
'Whether a run whose attempt number p_attempt just ended may be tried again: the one rule of attempts exhausted.';

create or replace function syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text)
returns void
language plpgsql
immutable
as $$
begin
    -- a NULL is a caller's bug, not a lost lease: refused before anything is written
    if p_run_ids is null or p_lease_tokens is null or cardinality(p_run_ids) <> cardinality(p_lease_tokens)
        or array_position(p_run_ids, null) is not null or array_position(p_lease_tokens, null) is not null then
        raise exception 'syncsched: % needs one run id and one lease token per run, none of them null', p_caller
            using errcode = 'invalid_parameter_value';
    end if;
end
$$;
comment on function syncsched._require_held_runs(bigint[], uuid[], text) is
'Raise unless the run ids and lease tokens of a worker''s write pair up, none null.';

-- A worker's write for a run it no longer held: the alert names the run's org, integration and type,
-- the worker that wrote, and what became of the run (held by another worker now, finished, or
-- gone: deleted with its integration's history, as the audit log says).
create or replace function syncsched._stale_write(p_action text, p_run_ids bigint[], p_worker_id text default null)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_problems text[];
    v_raised integer;
begin
    if cardinality(p_run_ids) = 0 then
        return;
    end if;
    with stale as (
        select u.id, coalesce(r.org_id, d.org_id) as org_id, coalesce(r.integration_id, d.integration_id) as integration_id,
            coalesce(r.integration_type, d.integration_type) as integration_type, r.status, r.worker_id as held_by,
            case
                when r.run_id is not null and r.status = 'running' then format(
                    'stale %s by worker %s for run %s of %s/%s, which worker %s holds now: the write changed nothing',
                    p_action, coalesce(p_worker_id, '(unnamed)'), u.id, r.org_id, r.integration_id, r.worker_id)
                when r.run_id is not null then format(
                    'stale %s by worker %s for run %s of %s/%s, which is %s now: the write changed nothing',
                    p_action, coalesce(p_worker_id, '(unnamed)'), u.id, r.org_id, r.integration_id, r.status)
                when d.org_id is not null then format(
                    'stale %s by worker %s for run %s of %s/%s, which no longer exists: the integration was deleted with its history',
                    p_action, coalesce(p_worker_id, '(unnamed)'), u.id, d.org_id, d.integration_id)
                else format('stale %s by worker %s for run %s, which no longer exists (its integration is unknown)',
                    p_action, coalesce(p_worker_id, '(unnamed)'), u.id)
            end as problem
        from (select distinct x.id from unnest(p_run_ids) as x (id)) as u
        left join syncsched.sync_run_log as r on r.run_id = u.id
        left join lateral (
            select a.org_id, a.integration_id, a.integration_type
            from syncsched.audit_log as a
            where r.run_id is null and a.action = 'delete_integration'
                and a.detail -> 'cancelled_run_ids' @> to_jsonb(u.id)
            order by a.audit_id desc
            limit 1
        ) as d on true
    )
    select array_agg(s.problem order by s.id),
        syncsched._raise_alerts(array_agg('stale_write'::text), array_agg(s.org_id), array_agg(s.integration_id),
            array_agg(s.integration_type),
            array_agg(jsonb_build_object('action', p_action, 'run_id', s.id, 'worker_id', p_worker_id,
                'status', s.status, 'held_by', case when s.status = 'running' then s.held_by end,
                'problem', s.problem)))
    into v_problems, v_raised
    from stale as s;
    raise log 'syncsched: %', array_to_string(v_problems, '; ');
end
$$;
comment on function syncsched._stale_write(text, bigint[], text) is
'Record the stale writes of a worker (one stale_write alert per run, naming org, integration, the worker and what became of the run).'; -- noqa: LT05

-- Its result columns grew (warm-up): CREATE OR REPLACE cannot change them, so it is created anew
-- (in migrate's transaction; 99_grants.sql grants it again).
drop function if exists syncsched.claim_runs(text, integer, interval);
-- The worker's writes name the worker (a trailing p_worker_id), so that a stale write's alert can
-- say who wrote: created anew with it.
drop function if exists syncsched.complete_run(bigint, uuid, integer, text);
drop function if exists syncsched.complete_runs(bigint[], uuid[], integer[], text[]);
drop function if exists syncsched.fail_run(bigint, uuid, text, integer, boolean, interval);
drop function if exists syncsched.release_run(bigint, uuid);
-- They take the runs' organizations (p_org_id, p_org_ids), which route them to their shards on Citus:
-- created anew with them.
drop function if exists syncsched.heartbeat(text, bigint[], uuid[], interval);
drop function if exists syncsched.complete_runs(bigint[], uuid[], integer[], text[], text);
drop function if exists syncsched.complete_run(bigint, uuid, integer, text, text);
drop function if exists syncsched.complete_and_claim(text, bigint[], uuid[], integer[], text[], integer, interval);
drop function if exists syncsched.fail_run(bigint, uuid, text, integer, boolean, interval, text);
drop function if exists syncsched.release_run(bigint, uuid, text);
-- Its result columns grew (held, dispatch_paused): the old one goes (the new one stays, endpoint_overview reads it).
do $drop$
begin
    if exists (
        select from pg_catalog.pg_proc as p
        where p.oid = to_regprocedure('syncsched.queue_depth()') and not 'held' = any(p.proargnames)
    ) then
        drop function syncsched.queue_depth();
    end if;
end
$drop$;

create or replace function syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer)
returns text[]
language plpgsql
stable
as $$
declare
    v_live_from timestamptz := syncsched._live_from();
begin
    -- (PL/pgSQL, not SQL, here and in the helpers below that a claim calls: its statements' plans
    -- are kept for the session; a SQL function's are made anew at every call.)
    -- The organizations with a ready run (pending, not_before reached) of a type, in org_id order,
    -- after p_after (and up to p_upto), p_count at most: a loose scan of the pending index, one
    -- probe per organization. The first entry of an organization holds its earliest not_before, so
    -- an organization whose runs all wait (backoff) costs one probe and is passed over: it cannot
    -- fill the window and starve the ready ones behind it. At most 10,000 probes per call.
    if syncsched._distributed() then
        -- (Citus plans no recursive walk over a distributed table: each shard's first organizations
        -- with a ready run, merged; an organization's waiting runs are read and passed over)
        return (
            select coalesce(array_agg(o.org_id order by o.org_id), '{}')
            from (
                select distinct r.org_id
                from syncsched.sync_run_log as r
                where r.status = 'pending' and r.integration_type = p_type and r.org_id > p_after
                    and (p_upto is null or r.org_id <= p_upto) and r.not_before <= now()
                    and r.scheduled_for >= v_live_from
                order by r.org_id
                limit p_count
            ) as o
        );
    end if;
    return (with recursive walk (org_id, ready, n_ready, n) as (
        (
            select r.org_id, r.not_before <= now(), (r.not_before <= now())::integer, 1
            from syncsched.sync_run_log as r
            where r.status = 'pending' and r.integration_type = p_type and r.org_id > p_after
                and (p_upto is null or r.org_id <= p_upto) and r.scheduled_for >= v_live_from
            order by r.org_id, r.not_before
            limit 1
        )
        union all
        select nxt.org_id, nxt.ready, w.n_ready + nxt.ready::integer, w.n + 1
        from walk as w
        cross join lateral (
            select r.org_id, r.not_before <= now() as ready
            from syncsched.sync_run_log as r
            where r.status = 'pending' and r.integration_type = p_type and r.org_id > w.org_id
                and (p_upto is null or r.org_id <= p_upto) and r.scheduled_for >= v_live_from
            order by r.org_id, r.not_before
            limit 1
        ) as nxt
        where w.n_ready < p_count and w.n < 10000
    )
    select coalesce(array_agg(walk.org_id order by walk.n) filter (where walk.ready), '{}') from walk);
end
$$;
comment on function syncsched._pending_orgs(text, text, text, integer) is
'Up to p_count organizations with a ready run of type p_type, in org_id order after p_after (up to p_upto): a loose index scan that passes over organizations whose runs all wait.'; -- noqa: LT05

-- It returns the locked row now (a claim decides from what it reads once its turn comes): created anew.
drop function if exists syncsched._lock_type_claims(text);
create function syncsched._lock_type_claims(p_type text)
returns syncsched.dispatch_state
language plpgsql
as $$
declare
    v_state syncsched.dispatch_state;
begin
    -- Claims of one type take turns (and so do the requests they count against its budget): the
    -- type's dispatch_state row (every type has one: its insert trigger), locked until commit; a
    -- row lock, so that no two types share a key as a hash of their names could. Taken in name order
    -- by callers that take several. The row comes back as it is once locked: a 429 or a pause
    -- committed while this claim waited for its turn holds it (what the caller read before the
    -- wait is out of date).
    if syncsched._distributed() then
        -- (Citus: a row lock of a reference table is taken on the coordinator's copy alone, and is let
        -- go when the coordinator commits, before the workers do: the next claim would count running
        -- runs the workers have not committed yet. A write locks every copy until the workers commit.)
        update syncsched.dispatch_state as d set updated_at = d.updated_at where d.integration_type = p_type
        returning * into v_state;
        return v_state;
    end if;
    select * into v_state from syncsched.dispatch_state as d where d.integration_type = p_type for update;
    return v_state;
end
$$;
comment on function syncsched._lock_type_claims(text) is
'The transaction lock that claims of one type (runs, health checks, warm-ups) take in turn: its dispatch_state row, returned as it is once locked.'; -- noqa: LT05

create or replace function syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval)
returns integer
language plpgsql
stable
as $$
begin
    -- What is left of a type's request budget now (NULL: no budget): rate_limit minus what was
    -- handed out in the window, counted one second wider than configured, for the time between a
    -- claim and its requests reaching the endpoint.
    if p_rate_limit is null then
        return null;
    end if;
    return p_rate_limit - coalesce((
        select sum(l.requests)
        from syncsched.request_ledger as l
        where l.integration_type = p_type and l.at > now() - p_window - interval '1 second'
    ), 0)::integer;
end
$$;
comment on function syncsched._budget_left(text, integer, interval) is
'What is left of a type''s rate_limit in its rate_window (plus one second) now; NULL when the type has no budget.';

-- Its arguments grew (p_at): the old one goes.
drop function if exists syncsched._spend_budget(text, integer);
create or replace function syncsched._spend_budget(p_type text, p_requests integer, p_at timestamptz default now())
returns void
language plpgsql
as $$
begin
    -- Counted for budgeted types only, and pruned as it goes: the ledger holds one window. p_at is
    -- the latest the requests may go (a claim's runs wait for their warm-up): they count until p_at
    -- has left the window.
    if p_requests > 0 and exists (
        select from syncsched.integration_types as t where t.integration_type = p_type and t.rate_limit is not null
    ) then
        insert into syncsched.request_ledger (integration_type, at, requests) values (p_type, p_at, p_requests);
        delete from syncsched.request_ledger as l
        using syncsched.integration_types as t
        where t.integration_type = p_type and l.integration_type = p_type
            and l.at < now() - t.rate_window - interval '1 second';
    end if;
end
$$;
comment on function syncsched._spend_budget(text, integer, timestamptz) is
'Count p_requests requests of a type, sent by p_at at the latest, against its budget (nothing without one), pruning what left the window.'; -- noqa: LT05

create or replace function syncsched._take_budget(p_type text, p_requests integer)
returns boolean
language plpgsql
as $$
begin
    -- For requests outside a claim of runs (health checks, pre-warming): they wait while the
    -- type's budget is spent or a 429 holds it, and count against the budget when they go.
    if (syncsched._lock_type_claims(p_type)).rate_limited_until > now() then
        return false;
    end if;
    if coalesce((
        select syncsched._budget_left(p_type, t.rate_limit, t.rate_window)
        from syncsched.integration_types as t where t.integration_type = p_type
    ), p_requests) < p_requests then
        return false;
    end if;
    perform syncsched._spend_budget(p_type, p_requests);
    return true;
end
$$;
comment on function syncsched._take_budget(text, integer) is
'Whether p_requests requests of a type may go now: no 429 holds it, and within its budget (always, without one); if so they are counted.'; -- noqa: LT05

create or replace function syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval)
returns boolean
language sql
stable
as $$
    -- A budgeted type's idle endpoint gets a warm-up request before its runs: it counts too.
    select p_rate_limit is not null and exists (
        select from syncsched.endpoint_health as h
        where h.integration_type = p_type and (h.last_used_at is null or h.last_used_at < now() - p_idle)
    )
$$;
comment on function syncsched._warmup_counted(text, integer, interval) is
'Whether a claim of a budgeted type counts a warm-up against its budget: its endpoint idle for longer than p_idle.';

-- The result of a claim grew into _claim_type (its runs, with their type's endpoint): created anew.
drop function if exists syncsched._claim_type(text, integer, text, interval);

create or replace function syncsched._possible_duplicates(p_runs jsonb[])
returns void
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._raise_alerts(
        array_agg('possible_duplicate'::text), array_agg(c.run ->> 'org_id'), array_agg(c.run ->> 'integration_id'),
        array_agg(c.run ->> 'integration_type'),
        array_agg(c.run || jsonb_build_object('problem', format(
            'run %s of %s/%s (Idempotency-Key %s) claimed again by worker %s after worker %s lost its lease '
            || 'during the call: if %s was still calling, the endpoint sees the key twice',
            c.run ->> 'run_id', c.run ->> 'org_id', c.run ->> 'integration_id', c.run ->> 'idempotency_key',
            c.run ->> 'claimed_by', c.run ->> 'lost_by', c.run ->> 'lost_by'))))
    from unnest(p_runs) as c (run)
    having count(*) > 0
$$;
comment on function syncsched._possible_duplicates(jsonb[]) is
'Raise possible_duplicate for runs claimed again after their lease expired during the call (run_id, org_id, integration_id, integration_type, idempotency_key, attempt, lost_by, claimed_by each).'; -- noqa: LT05

create or replace function syncsched._claim_type(
    p_type text, p_want integer, p_worker_id text, p_lease interval, p_drift_threshold interval, p_idle interval
)
returns table (
    run_id bigint,
    lease_token uuid,
    lease_expires_at timestamptz,
    org_id text,
    integration_id text,
    integration_type text,
    scheduled_for timestamptz,
    idempotency_key text,
    attempt integer,
    max_attempts integer,
    payload jsonb,
    endpoint_url text,
    timeout_ms integer,
    connect_timeout_ms integer,
    auth_secret_env text,
    warmup boolean,
    health_url text,
    health_method text
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
#variable_conflict use_column
declare
    v_type syncsched.integration_types;
    v_room integer;
    v_cursor text;
    v_orgs text[];
    v_per_org integer;
    v_capped boolean;
    v_sharded boolean := syncsched._distributed();
    v_group text[];
    v_cand_ids bigint[];
    v_cand_orgs text[];
    v_cand_pos bigint[];
    v_cand_ranks bigint[];
    v_chosen bigint[];
    v_chosen_orgs text[];
    v_last_org text;
    v_claimed syncsched.sync_run_log[] := '{}';
    v_reclaimed jsonb[] := '{}';
    v_budget_warmup boolean;
    v_cold boolean := false;
    v_state syncsched.dispatch_state;
    v_live_from timestamptz := syncsched._live_from();
begin
    -- Claims of one type take turns (a lock per type, taken in name order by the caller: no
    -- deadlock), so that max_concurrency holds across all workers. A claim is a few
    -- milliseconds: waiting beats coming back empty-handed and sleeping until the next poll.
    -- Whatever paused the type's dispatch or held it for a 429 while this claim waited holds it.
    v_state := syncsched._lock_type_claims(p_type);
    if v_state.dispatch_paused or v_state.rate_limited_until > now() then
        return;
    end if;
    select * into v_type from syncsched.integration_types as t where t.integration_type = p_type;
    v_budget_warmup := syncsched._warmup_counted(p_type, v_type.rate_limit, p_idle);
    v_room := least(p_want, v_type.max_concurrency - (
        select count(*)::integer from syncsched.sync_run_log as r
        where r.status = 'running' and r.integration_type = p_type and r.scheduled_for >= v_live_from
    ), syncsched._budget_left(p_type, v_type.rate_limit, v_type.rate_window) - v_budget_warmup::integer);
    if coalesce(v_room, 0) <= 0 then
        return;
    end if;
    -- Round robin across organizations, over the whole backlog: from the organization after the
    -- one the previous claim of this type stopped at, around to it again; each organization's
    -- runs oldest first. Organizations whose runs all wait (backoff) cost a probe and are passed over.
    v_cursor := v_state.last_org_id;
    v_orgs := syncsched._pending_orgs(p_type, coalesce(v_cursor, ''), null, v_room * 2 + 10);
    if cardinality(v_orgs) < v_room * 2 + 10 and v_cursor is not null then
        v_orgs := v_orgs || syncsched._pending_orgs(p_type, '', v_cursor, v_room * 2 + 10 - cardinality(v_orgs));
    end if;
    if cardinality(v_orgs) = 0 then
        return;
    end if;
    -- The runs chosen are the first v_room in (rank within the organization, organization's turn)
    -- order. Each organization's share of the room is read first; more per organization only when
    -- an organization that has more left the room unfilled: the same choice as reading every
    -- organization's whole backlog, at the cost of what is handed out.
    v_per_org := ceil(v_room::numeric / cardinality(v_orgs))::integer;
    loop
        -- each group of organizations that share a shard in a statement of its own (Citus), then the
        -- choice across them; one group, all of them, elsewhere
        v_cand_ids := '{}';
        v_cand_orgs := '{}';
        v_cand_pos := '{}';
        v_cand_ranks := '{}';
        for v_group in select g.orgs from syncsched._org_groups(case when v_sharded then v_orgs end) as g (orgs) loop
            with orgs as (
                select u.org_id, u.pos from unnest(v_orgs) with ordinality as u (org_id, pos)
                where v_group is null or u.org_id = any(v_group)
            ),
            candidates as (
                select c.run_id, o.org_id, o.pos,
                    row_number() over (partition by o.pos order by c.not_before, c.run_id) as org_rank
                from orgs as o
                cross join lateral (
                    select r.run_id, r.not_before
                    from syncsched.sync_run_log as r
                    where r.status = 'pending' and r.integration_type = p_type and r.org_id = o.org_id
                        and (v_group is null or r.org_id = any(v_group))
                        and r.not_before <= now() and r.scheduled_for >= v_live_from
                    order by r.not_before, r.run_id
                    limit v_per_org
                ) as c
            )
            select v_cand_ids || coalesce(array_agg(c.run_id), '{}'), v_cand_orgs || coalesce(array_agg(c.org_id), '{}'),
                v_cand_pos || coalesce(array_agg(c.pos), '{}'), v_cand_ranks || coalesce(array_agg(c.org_rank), '{}')
            into v_cand_ids, v_cand_orgs, v_cand_pos, v_cand_ranks
            from candidates as c;
        end loop;
        with candidates as (
            select * from unnest(v_cand_ids, v_cand_orgs, v_cand_pos, v_cand_ranks) as c (run_id, org_id, pos, org_rank)
        ),
        chosen as (
            select c.* from candidates as c order by c.org_rank, c.pos limit v_room
        )
        select (select array_agg(chosen.run_id) from chosen), (select array_agg(chosen.org_id) from chosen),
            (select c.org_id from chosen as c order by c.org_rank desc, c.pos desc limit 1),
            (select coalesce(bool_or(c.org_rank = v_per_org), false) from candidates as c)
        into v_chosen, v_chosen_orgs, v_last_org, v_capped;
        exit when coalesce(cardinality(v_chosen), 0) >= v_room or not v_capped or v_per_org >= v_room;
        v_per_org := least(v_room, v_per_org * 4);
    end loop;
    -- Claimed once locked and still pending (another session may have cancelled one meanwhile). The
    -- new values are computed before the UPDATE: Citus refuses a volatile function, and a function
    -- of a column, in an UPDATE of a distributed table.
    for v_group in
        select g.orgs from syncsched._org_groups(case when v_sharded then array(select distinct unnest(v_chosen_orgs)) end) as g (orgs)
    loop
        with locked as (
            select r.run_id, r.scheduled_for, r.org_id, r.lease_token as lost_token, r.worker_id as lost_by,
                gen_random_uuid() as lease_token,
                -- first claim: the tick's lateness plus the time the run waited here once it could start
                -- (after its type's spread offset: not_before)
                case when r.started_at is null
                    then coalesce(r.drift, interval '0') + (now() - greatest(r.enqueued_at, r.not_before))
                    else r.drift end as drift
            from syncsched.sync_run_log as r
            where r.run_id = any(v_chosen) and (v_group is null or r.org_id = any(v_group)) and r.status = 'pending'
                and r.scheduled_for >= v_live_from
            for update skip locked
        ),
        claimed as (
            update syncsched.sync_run_log as r
            set status = 'running',
                attempt = r.attempt + 1,
                started_at = now(),
                heartbeat_at = now(),
                worker_id = p_worker_id,
                lease_token = locked.lease_token,
                lease_expires_at = now() + p_lease,
                drift = locked.drift
            from locked
            where r.run_id = locked.run_id and r.scheduled_for = locked.scheduled_for and r.org_id = locked.org_id
                and r.scheduled_for >= v_live_from
                -- (the group again: Citus would send the UPDATE to every shard, a join of each whole)
                and (v_group is null or r.org_id = any(v_group))
            -- (as the table's row type: where Citus runs the statement on a shard, r is the shard's)
            returning row(r.*)::syncsched.sync_run_log as r, locked.lost_token is not null as lost, locked.lost_by
        )
        select v_claimed || coalesce(array_agg(claimed.r order by (claimed.r).run_id), '{}'),
            v_reclaimed || coalesce(array_agg(jsonb_build_object('run_id', (claimed.r).run_id,
                'org_id', (claimed.r).org_id, 'integration_id', (claimed.r).integration_id,
                'integration_type', (claimed.r).integration_type, 'idempotency_key', (claimed.r).idempotency_key,
                'attempt', (claimed.r).attempt, 'lost_by', claimed.lost_by, 'claimed_by', p_worker_id))
                filter (where claimed.lost), '{}')
        into v_claimed, v_reclaimed
        from claimed;
    end loop;
    if v_last_org is not null then
        update syncsched.dispatch_state as d set last_org_id = v_last_org, updated_at = now()
        where d.integration_type = p_type;
    end if;
    if cardinality(v_claimed) = 0 then
        return;
    end if;
    -- Scheduled runs that started later than drift_alert_threshold (read from the claimed rows in hand).
    perform syncsched._raise_alerts(
        array_agg('drift'::text), array_agg(r.org_id), array_agg(r.integration_id), array_agg(r.integration_type),
        array_agg(jsonb_build_object('run_id', r.run_id, 'scheduled_for', r.scheduled_for, 'started_at', r.started_at,
                                     'drift_seconds', round(extract(epoch from r.drift))))
    )
    from unnest(v_claimed) as r
    where r.attempt = 1 and r.trigger = 'schedule' and r.drift > p_drift_threshold
    having count(*) > 0;
    -- Runs whose lease expired during their call: their first worker may still be calling.
    if cardinality(v_reclaimed) > 0 then
        perform syncsched._possible_duplicates(v_reclaimed);
    end if;
    -- The endpoint is in use now; one idle for longer than warmup_after is warmed up first.
    -- (Written at most once a second per type: the hot path stays light. A claim never waits for
    -- the endpoint's row: whoever holds it, a passive-mode outcome or a health check, may be waiting
    -- for this type's claim lock; the warm-up is then left out once.)
    with previous as (
        select h.integration_type, h.last_used_at
        from syncsched.endpoint_health as h
        where h.integration_type = p_type and (h.last_used_at is null or h.last_used_at < now() - interval '1 second')
        for update of h skip locked
    ),
    touched as (
        update syncsched.endpoint_health as h
        set last_used_at = now()
        from previous
        where h.integration_type = previous.integration_type
        returning previous.last_used_at
    )
    select coalesce(bool_or(touched.last_used_at is null or touched.last_used_at < now() - p_idle), false)
    into v_cold
    from touched;
    -- (runs that wait for a warm-up go out up to warmup_timeout later: counted as late as that)
    perform syncsched._spend_budget(p_type, cardinality(v_claimed) + v_budget_warmup::integer,
        case when v_cold then now() + syncsched.setting('warmup_timeout')::interval else now() end);
    return query
    select r.run_id, r.lease_token, r.lease_expires_at, r.org_id, r.integration_id, r.integration_type,
        r.scheduled_for, r.idempotency_key, r.attempt, r.max_attempts, r.payload, v_type.endpoint_url,
        v_type.timeout_ms, v_type.connect_timeout_ms, v_type.auth_secret_env, v_cold,
        coalesce(v_type.health_url, v_type.endpoint_url), v_type.health_method
    from unnest(v_claimed) as r
    order by r.run_id;
end
$$;
comment on function syncsched._claim_type(text, integer, text, interval, interval, interval) is
'Claim up to p_want ready runs of one type within its max_concurrency and budget: round robin across its organizations from where the previous claim stopped, each organization oldest first. Returns them with their endpoint; raises drift alerts (above p_drift_threshold); warmup when the endpoint was idle for p_idle.'; -- noqa: LT05

create or replace function syncsched._runs_moved(p_what text, p_count integer)
returns void
language plpgsql
as $$
begin
    -- For watchers (the console), not for workers: a run was claimed, completed or failed. One
    -- NOTIFY per statement, on its own channel, so that completions do not wake every worker.
    if p_count > 0 then
        perform pg_notify('syncsched_run_events', json_build_object('what', p_what, 'runs', p_count)::text);
    end if;
end
$$;
comment on function syncsched._runs_moved(text, integer) is
'NOTIFY syncsched_run_events {what, runs} when p_count > 0: runs were claimed, completed or failed (for live views).';

create or replace function syncsched._claim_runs(p_worker_id text, p_max integer, p_lease interval, p_transport text)
returns table (
    run_id bigint,
    lease_token uuid,
    lease_expires_at timestamptz,
    org_id text,
    integration_id text,
    integration_type text,
    scheduled_for timestamptz,
    idempotency_key text,
    attempt integer,
    max_attempts integer,
    payload jsonb,
    endpoint_url text,
    timeout_ms integer,
    connect_timeout_ms integer,
    auth_secret_env text,
    warmup boolean,
    health_url text,
    health_method text
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
-- The worker's hot path: plans made once per session (every statement reads through an index
-- whatever its parameters; making custom plans cost more than running them).
set plan_cache_mode = force_generic_plan
as $$
declare
    v_lease interval := coalesce(p_lease, syncsched.setting('lease')::interval);
    v_threshold interval := syncsched.setting('drift_alert_threshold')::interval;
    v_idle interval := syncsched.setting('warmup_after')::interval;
    v_candidates text[];
    v_types text[];
    v_live_from timestamptz := syncsched._live_from();
    v_type text;
    v_share integer;
    v_count integer := 0;
    v_got integer;
    v_pass integer;
begin
    perform syncsched._plan_for_citus();
    if p_worker_id is null or p_worker_id = '' or length(p_worker_id) > 200 then
        raise exception 'syncsched: claim_runs needs a worker id (1-200 characters)'
            using errcode = 'invalid_parameter_value';
    end if;
    if p_max is null or p_max < 1 or p_max > 10000 then
        raise exception 'syncsched: claim_runs p_max must be 1-10000' using errcode = 'invalid_parameter_value';
    end if;
    if v_lease <= interval '0' or v_lease > interval '1 day' then
        raise exception 'syncsched: lease must be positive and at most a day' using errcode = 'invalid_parameter_value';
    end if;
    -- (Expired leases are reaped on their own cadence, not in every claim: reap_expired_runs, which
    -- every worker calls each poll interval and the tick each minute.)
    -- Dispatch paused for every type (pause_dispatch()): nothing is handed out.
    if syncsched.setting('dispatch_paused')::boolean then
        return;
    end if;
    -- The types with ready work, except those whose circuit is open (unhealthy in active
    -- mode: their runs wait, spending no attempt, until a health check succeeds) and those
    -- whose dispatch is paused (pause_dispatch(type)) or that wait out an answer 429.
    select array_agg(t.integration_type order by t.integration_type) into v_candidates
    from syncsched.integration_types as t
    where t.transport = p_transport
        and not exists (
            select from syncsched.endpoint_health as h
            where h.integration_type = t.integration_type and syncsched._circuit_open(h.mode, h.status)
        )
        and not exists (
            select from syncsched.dispatch_state as d
            where d.integration_type = t.integration_type
                and (d.dispatch_paused or d.rate_limited_until > now())
        );
    -- Of those, the ones with ready work: a probe of the pending index per type (a statement of its
    -- own: on Citus, a distributed table in a subquery correlated to a reference table is refused;
    -- and a select list, which Citus needs in an EXISTS over a distributed table).
    foreach v_type in array coalesce(v_candidates, '{}') loop
        if exists (
            select 1 from syncsched.sync_run_log as r
            where r.status = 'pending' and r.integration_type = v_type and r.not_before <= now()
                and r.scheduled_for >= v_live_from
        ) then
            v_types := array_append(v_types, v_type);
        end if;
    end loop;
    if v_types is null then
        return;
    end if;
    -- Each type its share first, then what is left to the types that have more (in name order
    -- both times, the order of the type locks).
    v_share := ceil(p_max::numeric / cardinality(v_types))::integer;
    for v_pass in 1 .. 2 loop
        foreach v_type in array v_types loop
            exit when v_count >= p_max;
            return query
            select * from syncsched._claim_type(v_type,
                case when v_pass = 1 then least(v_share, p_max - v_count) else p_max - v_count end,
                p_worker_id, v_lease, v_threshold, v_idle);
            get diagnostics v_got = row_count;
            v_count := v_count + v_got;
        end loop;
        exit when v_count >= p_max or cardinality(v_types) = 1;
    end loop;
    perform syncsched._runs_moved('claimed', v_count);
end
$$;
comment on function syncsched._claim_runs(text, integer, interval, text) is
'claim_runs of the types of one transport: worker (claim_runs) or pg_net (net_step).';

create function syncsched.claim_runs(p_worker_id text, p_max integer, p_lease interval default null)
returns table (
    run_id bigint,
    lease_token uuid,
    lease_expires_at timestamptz,
    org_id text,
    integration_id text,
    integration_type text,
    scheduled_for timestamptz,
    idempotency_key text,
    attempt integer,
    max_attempts integer,
    payload jsonb,
    endpoint_url text,
    timeout_ms integer,
    connect_timeout_ms integer,
    auth_secret_env text,
    warmup boolean,
    health_url text,
    health_method text
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- (pg_net types are the database's to send: net_step. PL/pgSQL: its plan is kept for the session.)
    return query select * from syncsched._claim_runs(p_worker_id, p_max, p_lease, 'worker');
end
$$;
comment on function syncsched.claim_runs(text, integer, interval) is
'Claim up to p_max pending runs whose not_before has passed: round robin across organizations over each type''s whole backlog (each organization oldest first), within each type''s max_concurrency across all workers, skipping types whose circuit is open or whose dispatch is paused (all of them while the dispatch_paused setting is true), of types whose transport is worker. Each becomes running with its next attempt number, a fresh lease_token and lease (default: the lease setting). Records drift (alert above drift_alert_threshold); warmup says the endpoint was idle longer than warmup_after. Expired leases are not reaped here: reap_expired_runs.'; -- noqa: LT05

create or replace function syncsched.next_claim_at()
returns timestamptz
language plpgsql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_idle interval;
    v_live_from timestamptz := syncsched._live_from();
    v_types text[];
    v_type text;
    v_at timestamptz;
begin
    -- What time alone releases, the earliest first: a run's retry backoff or spread offset ending,
    -- an answer 429's Retry-After passing, a spent request budget's oldest request leaving its
    -- window. A worker whose claim came back short sleeps until then rather than its whole poll
    -- interval. Paused types and open circuits wait for an event (resume, a health check that
    -- succeeds), which wakes the workers itself. (PL/pgSQL: _circuit_open is defined by a later file.)
    if syncsched.setting('dispatch_paused')::boolean then
        return null;
    end if;
    v_idle := syncsched.setting('warmup_after')::interval;
    select array_agg(t.integration_type) into v_types
    from syncsched.integration_types as t
    left join syncsched.dispatch_state as d on d.integration_type = t.integration_type
    left join syncsched.endpoint_health as h on h.integration_type = t.integration_type
    where t.transport = 'worker' and not coalesce(d.dispatch_paused, false)
        and not coalesce(syncsched._circuit_open(h.mode, h.status), false);
    select min(w.at) into v_at
    from syncsched.integration_types as t
    left join syncsched.dispatch_state as d on d.integration_type = t.integration_type
    cross join lateral (
        select d.rate_limited_until as at
        where d.rate_limited_until > now()
        union all
        select (
            select min(l.at)
            from syncsched.request_ledger as l
            where l.integration_type = t.integration_type and l.at > now() - t.rate_window - interval '1 second'
        ) + t.rate_window + interval '1 second'
        -- (spent: what is left does not cover a claim's first request, and its warm-up if due)
        where t.rate_limit is not null
            and syncsched._budget_left(t.integration_type, t.rate_limit, t.rate_window)
                - syncsched._warmup_counted(t.integration_type, t.rate_limit, v_idle)::integer <= 0
    ) as w
    where t.integration_type = any(v_types);
    -- each type's first run not ready yet, through the pending-by-type index (a statement of its own:
    -- on Citus, the run log is distributed and the types are not)
    foreach v_type in array coalesce(v_types, '{}') loop
        v_at := least(v_at, (
            select r.not_before
            from syncsched.sync_run_log as r
            where r.status = 'pending' and r.integration_type = v_type and r.not_before > now()
                and r.scheduled_for >= v_live_from
            order by r.not_before
            limit 1
        ));
    end loop;
    return v_at;
end
$$;
comment on function syncsched.next_claim_at() is
'When time alone next releases a run of a worker type no claim hands out now (a retry backoff or spread offset ending, a 429''s Retry-After passing, a spent request budget''s window moving on); NULL when nothing waits on time. Workers sleep until then when a claim comes back short.'; -- noqa: LT05

create or replace function syncsched.heartbeat(
    p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_lease interval default null,
    p_org_ids text[] default null
)
returns table (run_id bigint, applied boolean, lease_expires_at timestamptz)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_lease interval := coalesce(p_lease, syncsched.setting('lease')::interval);
    v_live_from timestamptz := syncsched._live_from();
    v_group text[];
    v_renewed_ids bigint[] := '{}';
    v_renewed_until timestamptz[] := '{}';
begin
    perform syncsched._plan_for_citus();
    perform syncsched._require_held_runs(p_run_ids, p_lease_tokens, 'heartbeat');
    -- (on Citus a statement per group of the runs' organizations that share a shard, as complete_runs)
    for v_group in select g.orgs from syncsched._run_groups(p_run_ids, p_org_ids) as g (orgs) loop
        with renewed as (
            update syncsched.sync_run_log as r
            set lease_expires_at = now() + v_lease, heartbeat_at = now()
            from unnest(p_run_ids, p_lease_tokens) as u (id, token)
            where r.run_id = u.id and r.status = 'running' and r.lease_token = u.token and r.scheduled_for >= v_live_from
                -- (the group is of p_org_ids: one condition, as Citus finds the shard of one only)
                and (coalesce(v_group, p_org_ids) is null or r.org_id = any(coalesce(v_group, p_org_ids)))
            returning r.run_id, r.lease_expires_at
        )
        select v_renewed_ids || coalesce(array_agg(renewed.run_id), '{}'),
            v_renewed_until || coalesce(array_agg(renewed.lease_expires_at), '{}')
        into v_renewed_ids, v_renewed_until
        from renewed;
    end loop;
    return query
    select u.id, renewed.run_id is not null, renewed.lease_expires_at
    from unnest(p_run_ids) as u (id)
    left join unnest(v_renewed_ids, v_renewed_until) as renewed (run_id, lease_expires_at) on renewed.run_id = u.id;
end
$$;
comment on function syncsched.heartbeat(text, bigint[], uuid[], interval, text[]) is
'Extend the leases of running runs (fenced by their tokens); applied = false for a run this worker no longer holds. p_org_ids, the runs'' organizations (claim_runs gives them), take the statement to their shards alone on Citus.'; -- noqa: LT05

create or replace function syncsched.complete_runs(
    p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[],
    p_worker_id text default null, p_org_ids text[] default null
)
returns table (run_id bigint, applied boolean)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
-- The worker's hot path: plans made once per session (every statement reads through an index
-- whatever its parameters; making custom plans cost more than running them).
set plan_cache_mode = force_generic_plan
as $$
declare
    v_stale bigint[];
    v_types text[];
    v_keys text[];
    -- (a late completion of a run that failed in a partition that is history since is a stale write)
    v_live_from timestamptz := syncsched._live_from();
    v_group text[];
    v_done_ids bigint[] := '{}';
    v_done_orgs text[] := '{}';
    v_done_integrations text[] := '{}';
    v_done_types text[] := '{}';
begin
    perform syncsched._plan_for_citus();
    perform syncsched._require_held_runs(p_run_ids, p_lease_tokens, 'complete_runs');
    -- one statement for many runs: the worker writes completions in batches (on Citus one per group of
    -- the runs' organizations that share a shard: a statement over several shards would lock them all)
    for v_group in select g.orgs from syncsched._run_groups(p_run_ids, p_org_ids) as g (orgs) loop
        with done as (
            update syncsched.sync_run_log as r
            set status = 'completed', finished_at = now(), http_status = u.http_status,
                response_excerpt = left(u.excerpt, 1048576), error = null, lease_expires_at = null
            from unnest(p_run_ids, p_lease_tokens, p_http_statuses, p_response_excerpts) as u (id, token, http_status, excerpt)
            -- (three statuses: no partial index matches them, and the primary key drives this join. Not
            -- compared as text: Citus refuses a stable function of a column, an enum's output, in an UPDATE.)
            -- A run not running that still holds this token lost its lease and was not claimed again.
            where r.run_id = u.id and r.status in ('running', 'pending', 'failed') and r.lease_token = u.token
                and r.scheduled_for >= v_live_from
                -- (the group is of p_org_ids: one condition, as Citus finds the shard of one only)
                and (coalesce(v_group, p_org_ids) is null or r.org_id = any(coalesce(v_group, p_org_ids)))
            returning r.run_id, r.scheduled_for, r.attempt, r.worker_id, r.started_at, r.finished_at, r.http_status, r.response_excerpt,
                r.org_id, r.integration_id, r.integration_type
        ),
        recorded as (
            insert into syncsched.sync_run_attempts as a (
                run_id, scheduled_for, attempt, org_id, outcome, worker_id, started_at, finished_at, http_status,
                response_excerpt
            )
            select done.run_id, done.scheduled_for, done.attempt, done.org_id, 'completed', done.worker_id, done.started_at,
                done.finished_at, done.http_status, done.response_excerpt
            from done
            -- the attempt the reaper recorded as lost did complete: its outcome came late
            on conflict on constraint sync_run_attempts_pkey do update
            set outcome = 'completed', finished_at = excluded.finished_at, http_status = excluded.http_status,
                response_excerpt = excluded.response_excerpt,
                error = 'completed: the outcome was written after the lease expired'
            where a.outcome = 'lost'
        )
        select v_done_ids || coalesce(array_agg(done.run_id), '{}'), v_done_orgs || coalesce(array_agg(done.org_id), '{}'),
            v_done_integrations || coalesce(array_agg(done.integration_id), '{}'),
            v_done_types || coalesce(array_agg(done.integration_type), '{}')
        into v_done_ids, v_done_orgs, v_done_integrations, v_done_types
        from done;
    end loop;
    with outcome as (
        select u.id, done.org_id, done.integration_id, done.integration_type
        from unnest(p_run_ids) as u (id)
        left join unnest(v_done_ids, v_done_orgs, v_done_integrations, v_done_types)
            as done (run_id, org_id, integration_id, integration_type) on done.run_id = u.id
    )
    select coalesce(array_agg(o.id) filter (where o.org_id is null and k.kind = 'failing'), '{}'),
        array_agg(distinct o.integration_type) filter (where o.org_id is not null),
        array_agg(syncsched._alert_key(k.kind, o.org_id, o.integration_id, null)) filter (where o.org_id is not null)
    into v_stale, v_types, v_keys
    from outcome as o
    cross join (values ('failing'), ('stale')) as k (kind);
    perform syncsched._stale_write('complete', v_stale, p_worker_id);
    perform syncsched._runs_moved('completed', cardinality(p_run_ids) - cardinality(v_stale));
    if v_types is not null then
        perform syncsched._health_from_runs(v_types, true);
        -- a success clears its integration's failing and stale alerts
        perform syncsched._resolve_alerts(v_keys);
    end if;
    return query select u.id, not (u.id = any(v_stale)) from unnest(p_run_ids) as u (id);
end
$$;
comment on function syncsched.complete_runs(bigint[], uuid[], integer[], text[], text, text[]) is
'Mark many running runs completed in one statement (each fenced by its lease token) and record their attempts; applied per run. A run whose lease expired and that was not claimed again still takes its worker''s late completion (the attempt recorded lost becomes completed). Resolves the integrations'' failing and stale alerts; passive-mode types become healthy. p_worker_id names the worker in a stale_write alert; p_org_ids, the runs'' organizations, take the statement to their shards alone on Citus.'; -- noqa: LT05

create or replace function syncsched.complete_run(
    p_run_id bigint, p_lease_token uuid, p_http_status integer default null, p_response_excerpt text default null,
    p_worker_id text default null, p_org_id text default null
)
returns boolean
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select c.applied
    from syncsched.complete_runs(array[p_run_id], array[p_lease_token], array[p_http_status],
                                 array[p_response_excerpt], p_worker_id,
                                 case when p_org_id is not null then array[p_org_id] end) as c
$$;
comment on function syncsched.complete_run(bigint, uuid, integer, text, text, text) is
'Mark a running run completed (fenced by its lease token); false when this worker no longer holds it. p_org_id as complete_runs'' p_org_ids.'; -- noqa: LT05

create or replace function syncsched.complete_and_claim(
    p_worker_id text,
    p_run_ids bigint[],
    p_lease_tokens uuid[],
    p_http_statuses integer[],
    p_response_excerpts text[],
    p_max integer,
    p_lease interval default null,
    p_org_ids text[] default null
)
returns table (
    applied boolean,
    run_id bigint,
    lease_token uuid,
    lease_expires_at timestamptz,
    org_id text,
    integration_id text,
    integration_type text,
    scheduled_for timestamptz,
    idempotency_key text,
    attempt integer,
    max_attempts integer,
    payload jsonb,
    endpoint_url text,
    timeout_ms integer,
    connect_timeout_ms integer,
    auth_secret_env text,
    warmup boolean,
    health_url text,
    health_method text
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- The worker's round trip: what finished is recorded, then the next runs are claimed, in one
    -- transaction. The completions are complete_runs' (fenced by their lease tokens: a stale one
    -- changes nothing and is an alert, the rest are recorded and the claim still goes ahead);
    -- completing first frees their places under max_concurrency for the claim.
    if p_max is null or p_max < 0 or p_max > 10000 then
        raise exception 'syncsched: complete_and_claim p_max must be 0-10000' using errcode = 'invalid_parameter_value';
    end if;
    if p_run_ids is null or cardinality(p_run_ids) > 0 then
        return query
        select c.applied, c.run_id, null::uuid, null::timestamptz, null::text, null::text, null::text,
            null::timestamptz, null::text, null::integer, null::integer, null::jsonb, null::text, null::integer,
            null::integer, null::text, null::boolean, null::text, null::text
        from syncsched.complete_runs(p_run_ids, p_lease_tokens, p_http_statuses, p_response_excerpts, p_worker_id,
            p_org_ids) as c;
    end if;
    if p_max > 0 then
        return query select null::boolean, c.* from syncsched.claim_runs(p_worker_id, p_max, p_lease) as c;
    end if;
end
$$;
comment on function syncsched.complete_and_claim(text, bigint[], uuid[], integer[], text[], integer, interval, text[]) is
'complete_runs of the given runs (fenced by their lease tokens; p_org_ids, their organizations), then claim_runs of up to p_max (none when 0), in one transaction: a worker''s round trip. A completion comes back as (applied, run_id), applied false when stale; a claimed run with applied null and claim_runs'' columns.'; -- noqa: LT05

create or replace function syncsched._backoff(
    p_attempt integer, p_base interval, p_cap interval, p_retry_after interval
)
returns interval
language sql
volatile
as $$
    -- exponential backoff with full jitter; a larger Retry-After from the endpoint wins
    select greatest(least(p_cap, p_base * power(2, least(greatest(p_attempt - 1, 0), 30))) * random(),
        coalesce(p_retry_after, interval '0'))
$$;
comment on function syncsched._backoff(integer, interval, interval, interval) is
'retry_delay of the given retry_backoff_base and retry_backoff_cap (a statement that runs on Citus'' workers reads no setting).'; -- noqa: LT05

create or replace function syncsched.retry_delay(p_attempt integer, p_retry_after interval default null)
returns interval
language plpgsql
volatile
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    return syncsched._backoff(p_attempt, syncsched.setting('retry_backoff_base')::interval,
        syncsched.setting('retry_backoff_cap')::interval, p_retry_after);
end
$$;
comment on function syncsched.retry_delay(integer, interval) is
'Delay after failed attempt number p_attempt (1-based): random in [0, min(cap, base * 2^(attempt - 1))], at least p_retry_after.';

drop function if exists syncsched._end_attempts(bigint[], uuid[], text, boolean, text, integer, interval);
create or replace function syncsched._end_attempts(
    p_run_ids bigint[],
    p_lease_tokens uuid[],
    p_outcome text,
    p_retryable boolean,
    p_error text,
    p_http_status integer default null,
    p_retry_after interval default null,
    p_orgs text[] default null
)
returns table (
    run_id bigint, org_id text, integration_id text, integration_type text, status syncsched.run_status,
    attempt integer, error text, not_before timestamptz
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
#variable_conflict use_column
declare
    -- (read here: on Citus the statement runs on a worker, and run_log_state is the coordinator's)
    v_live_from timestamptz := syncsched._live_from();
    -- each run's token by its id: a join to unnest() of the arrays fails in the statement on Citus
    -- ('invalid input syntax for type bigint: "PGCOPY"'), array_position would be quadratic
    v_tokens jsonb := (
        select jsonb_object_agg(u.id, u.token) from unnest(p_run_ids, p_lease_tokens) as u (id, token)
    );
    -- (settings too: a function that reads one cannot run on a worker)
    v_backoff_base interval := syncsched.setting('retry_backoff_base')::interval;
    v_backoff_cap interval := syncsched.setting('retry_backoff_cap')::interval;
begin
    -- Attempts that end without a success (failed, lost with the lease, released at shutdown), each
    -- fenced by its lease token: recorded in sync_run_attempts; the run goes back to pending while
    -- it may be tried again (after the retry backoff for a failure), else it has failed. On Citus
    -- p_orgs are one shard group's organizations (05_citus.sql); none, none of the runs is left.
    if cardinality(p_orgs) = 0 then
        return;
    end if;
    return query
    with target as (
        -- The new values are computed from the locked row, before the UPDATE: Citus takes no function
        -- of a column, and only immutable ones in a CASE, in an UPDATE of a distributed table.
        select r.run_id, r.scheduled_for, r.org_id,
            case when again.again then 'pending' else 'failed' end::syncsched.run_status as status,
            case when p_outcome = 'failed' and again.again then now() + syncsched._backoff(r.attempt, v_backoff_base,
                    v_backoff_cap, p_retry_after)
                else now() end as not_before,
            case when again.again then null else now() end as finished_at,
            left(coalesce(p_error, format('lease expired (worker %s stopped renewing it)', r.worker_id)), 8192) as error,
            -- a lost lease's token stays until the next claim: its worker's late completion is still taken
            case when p_outcome = 'lost' then r.lease_token end as lease_token
        from syncsched.sync_run_log as r
        cross join lateral (select p_retryable and syncsched._attempts_left(r.attempt, r.max_attempts) as again) as again
        where r.run_id = any(p_run_ids) and r.lease_token = (v_tokens ->> r.run_id::text)::uuid
            and r.status = 'running' and r.scheduled_for >= v_live_from
            and (p_orgs is null or r.org_id = any(p_orgs))
        for update of r
    ),
    ended as (
        update syncsched.sync_run_log as r
        set status = t.status, not_before = t.not_before, finished_at = t.finished_at, error = t.error,
            http_status = p_http_status, lease_token = t.lease_token, lease_expires_at = null
        from target as t
        where r.run_id = t.run_id and r.scheduled_for = t.scheduled_for and r.org_id = t.org_id
            -- (the group again: Citus would send the UPDATE to every shard, a join of each whole)
            and (p_orgs is null or r.org_id = any(p_orgs))
        returning r.run_id, r.scheduled_for, r.org_id, r.integration_id, r.integration_type, r.status, r.attempt,
            r.error, r.not_before, r.worker_id, r.started_at
    ),
    recorded as (
        insert into syncsched.sync_run_attempts (
            run_id, scheduled_for, attempt, org_id, outcome, worker_id, started_at, finished_at, http_status, error
        )
        select e.run_id, e.scheduled_for, e.attempt, e.org_id, p_outcome, e.worker_id, e.started_at,
            greatest(now(), e.started_at), p_http_status, e.error
        from ended as e
    )
    select e.run_id, e.org_id, e.integration_id, e.integration_type, e.status, e.attempt, e.error, e.not_before
    from ended as e;
end
$$;
comment on function syncsched._end_attempts(bigint[], uuid[], text, boolean, text, integer, interval, text[]) is
'End running attempts without a success (fenced by their lease tokens; of the organizations p_orgs, null: any) and record them: pending again while attempts are left and p_retryable, else failed. Returns the runs ended.'; -- noqa: LT05

-- It takes the runs' organizations (p_orgs: on Citus, their shard group): created anew with them.
drop function if exists syncsched._runs_failed(bigint[], integer);
create or replace function syncsched._runs_failed(
    p_run_ids bigint[], p_http_status integer default null, p_orgs text[] default null
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_live_from timestamptz := syncsched._live_from();
    v_kinds text[];
    v_orgs text[];
    v_integrations text[];
    v_types text[];
    v_details jsonb[];
begin
    -- a run out of attempts: a failing alert (a condition, until a run of the integration completes)
    -- (PL/pgSQL: Citus plans no query of a distributed table in a SQL function with parameters)
    select array_agg('failing'::text), array_agg(r.org_id), array_agg(r.integration_id), array_agg(r.integration_type),
        array_agg(jsonb_build_object('run_id', r.run_id, 'attempts', r.attempt, 'http_status', p_http_status,
            'error', left(r.error, 500)))
    into v_kinds, v_orgs, v_integrations, v_types, v_details
    from syncsched.sync_run_log as r
    where r.run_id = any(p_run_ids) and r.status = 'failed' and r.scheduled_for >= v_live_from
        and (p_orgs is null or r.org_id = any(p_orgs));
    if v_kinds is not null then
        perform syncsched._raise_alerts(v_kinds, v_orgs, v_integrations, v_types, v_details);
    end if;
end
$$;
comment on function syncsched._runs_failed(bigint[], integer, text[]) is
'Raise failing for those of these runs that have failed for good.';

create or replace function syncsched._rate_limited(p_type text, p_retry_after interval, p_run_id bigint)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_before timestamptz;
    v_until timestamptz;
begin
    -- An answer 429 is about the API, not the run: every run of the type waits until its Retry-After
    -- (else the type's rate_limited_backoff; a day at most), whichever worker claims it. One alert
    -- per episode: only when the type was not waiting already.
    select d.rate_limited_until into v_before
    from syncsched.dispatch_state as d where d.integration_type = p_type for update;
    update syncsched.dispatch_state as d
    set rate_limited_until = greatest(d.rate_limited_until,
            now() + least(coalesce(p_retry_after, t.rate_limited_backoff), interval '1 day')),
        updated_at = now()
    from syncsched.integration_types as t
    where d.integration_type = p_type and t.integration_type = p_type
    returning d.rate_limited_until into v_until;
    if v_before is null or v_before <= now() then
        perform syncsched._raise_alerts(array['rate_limited'], array[null::text], array[null::text], array[p_type],
            array[jsonb_build_object('until', v_until, 'retry_after_seconds', extract(epoch from p_retry_after),
                'run_id', p_run_id)]);
    end if;
end
$$;
comment on function syncsched._rate_limited(text, interval, bigint) is
'After an answer 429: the whole type waits until p_retry_after (else its rate_limited_backoff) from now; a rate_limited alert when a new wait starts.'; -- noqa: LT05

create or replace function syncsched.fail_run(
    p_run_id bigint,
    p_lease_token uuid,
    p_error text,
    p_http_status integer default null,
    p_retryable boolean default true,
    p_retry_after interval default null,
    p_worker_id text default null,
    p_org_id text default null
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_run record;
begin
    perform syncsched._plan_for_citus();
    perform syncsched._require_held_runs(array[p_run_id], array[p_lease_token], 'fail_run');
    select * into v_run
    from syncsched._end_attempts(array[p_run_id], array[p_lease_token], 'failed', coalesce(p_retryable, false),
        coalesce(p_error, 'failed'), p_http_status, p_retry_after,
        case when p_org_id is not null then array[p_org_id] else syncsched._run_orgs(array[p_run_id]) end);
    if v_run.run_id is null then
        perform syncsched._stale_write('fail', array[p_run_id], p_worker_id);
        return false;
    end if;
    if coalesce(p_retryable, false) then
        -- what a retry would help with is what says something about the endpoint
        perform syncsched._health_from_runs(array[v_run.integration_type], false, v_run.error);
    end if;
    perform syncsched._runs_moved(case when v_run.status = 'failed' then 'failed' else 'retrying' end, 1);
    if p_http_status = 429 then
        perform syncsched._rate_limited(v_run.integration_type, p_retry_after, p_run_id);
    end if;
    if v_run.status = 'failed' then
        perform syncsched._runs_failed(array[p_run_id], p_http_status, array[v_run.org_id]);
    else
        perform pg_notify('syncsched_runs', json_build_object('retry', p_run_id, 'at', v_run.not_before)::text);
    end if;
    return true;
end
$$;
comment on function syncsched.fail_run(bigint, uuid, text, integer, boolean, interval, text, text) is
'A failed attempt (fenced), recorded: retryable and attempts left -> pending after retry_delay; else failed with a failing alert. p_worker_id names the worker in a stale_write alert; p_org_id, the run''s organization, takes the statement to its shard on Citus (found otherwise).'; -- noqa: LT05

create or replace function syncsched.release_run(
    p_run_id bigint, p_lease_token uuid, p_worker_id text default null, p_org_id text default null
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_run record;
begin
    perform syncsched._plan_for_citus();
    perform syncsched._require_held_runs(array[p_run_id], array[p_lease_token], 'release_run');
    -- The call may have reached the endpoint before the worker gave up on it: the attempt counts.
    select * into v_run
    from syncsched._end_attempts(array[p_run_id], array[p_lease_token], 'released', true,
        'released by its worker at shutdown',
        p_orgs => case when p_org_id is not null then array[p_org_id] else syncsched._run_orgs(array[p_run_id]) end);
    if v_run.run_id is null then
        perform syncsched._stale_write('release', array[p_run_id], p_worker_id);
        return false;
    end if;
    if v_run.status = 'failed' then
        perform syncsched._runs_failed(array[p_run_id], null, array[v_run.org_id]);
    else
        perform pg_notify('syncsched_runs', json_build_object('released', p_run_id)::text);
    end if;
    return true;
end
$$;
comment on function syncsched.release_run(bigint, uuid, text, text) is
'Give a running run back at worker shutdown (fenced by its lease token): the attempt is recorded as released and counts; pending again while attempts are left. p_org_id as fail_run''s.'; -- noqa: LT05

create or replace function syncsched.reap_expired_runs(p_now timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_ids bigint[];
    v_tokens uuid[];
    v_failed bigint[];
    v_live_from timestamptz := syncsched._live_from();
    v_orgs text[];
    v_reaped integer := 0;
begin
    -- Liveness comes from the lease: a run whose worker stopped renewing it is taken back. Leases
    -- are wall-clock times, so p_now is the wall clock (a test may pass a later one). On Citus
    -- (tables distributed), one shard group at a time (05_citus.sql).
    for v_orgs in
        select g.orgs from syncsched._org_groups(case when syncsched._distributed() then array(
            select distinct r.org_id from syncsched.sync_run_log as r
            where r.status = 'running' and r.lease_expires_at < p_now and r.scheduled_for >= v_live_from
        ) end) as g (orgs)
    loop
        select array_agg(r.run_id), array_agg(r.lease_token) into v_ids, v_tokens
        from (
            select r.run_id, r.lease_token
            from syncsched.sync_run_log as r
            where r.status = 'running' and r.lease_expires_at < p_now and r.scheduled_for >= v_live_from
                and (v_orgs is null or r.org_id = any(v_orgs))
            for update skip locked
        ) as r;
        continue when v_ids is null;
        select array_agg(e.run_id) filter (where e.status = 'failed') into v_failed
        from syncsched._end_attempts(v_ids, v_tokens, 'lost', true, null, null, null, v_orgs) as e;
        -- the last attempt lost with its worker: as failed as any other
        perform syncsched._runs_failed(v_failed, null, v_orgs);
        v_reaped := v_reaped + cardinality(v_ids);
    end loop;
    if v_reaped > 0 then
        perform pg_notify('syncsched_runs', json_build_object('at', p_now, 'reaped', v_reaped)::text);
    end if;
    return v_reaped;
end
$$;
comment on function syncsched.reap_expired_runs(timestamptz) is
'Running runs whose lease expired before p_now (the wall clock) end their attempt as lost: pending again while attempts are left, else failed with a failing alert. They keep the lost claim''s token until claimed again (its worker''s late completion is still taken; a new claim raises possible_duplicate).'; -- noqa: LT05

create or replace function syncsched.queue_depth()
returns table (integration_type text, pending integer, running integer, held integer, dispatch_paused boolean)
language plpgsql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    -- (read here: on Citus the counts below run on the shards, where run_log_state is not)
    v_live_from timestamptz := syncsched._live_from();
begin
    -- held: pending runs no claim hands out now for a reason other than the type's max_concurrency:
    -- dispatch paused, circuit open (all of them), or waiting out a retry backoff. (PL/pgSQL: the
    -- circuit's rule, _circuit_open, is defined by a later file.)
    return query
    select t.integration_type, coalesce(q.pending, 0), coalesce(r.running, 0),
        case when p.paused or coalesce(syncsched._circuit_open(h.mode, h.status), false)
                or d.rate_limited_until > now() then coalesce(q.pending, 0)
            else coalesce(q.backing_off, 0) end,
        p.paused
    from syncsched.integration_types as t
    left join syncsched.endpoint_health as h on h.integration_type = t.integration_type
    left join syncsched.dispatch_state as d on d.integration_type = t.integration_type
    cross join lateral (
        select coalesce(d.dispatch_paused, false) or s.value::boolean as paused
        from syncsched.settings as s
        where s.key = 'dispatch_paused'
    ) as p
    -- (each type's counts in one pass over its partial index, pending by type, running; in the live
    -- partitions. Grouped, not counted per type: Citus plans no subquery correlated by a column that
    -- is not the distribution column.)
    left join (
        select w.integration_type, count(*)::integer as pending,
            (count(*) filter (where w.not_before > now()))::integer as backing_off
        from syncsched.sync_run_log as w
        where w.status = 'pending' and w.scheduled_for >= v_live_from
        group by w.integration_type
    ) as q on q.integration_type = t.integration_type
    left join (
        select x.integration_type, count(*)::integer as running
        from syncsched.sync_run_log as x
        where x.status = 'running' and x.scheduled_for >= v_live_from
        group by x.integration_type
    ) as r on r.integration_type = t.integration_type
    order by t.integration_type;
end
$$;
comment on function syncsched.queue_depth() is
'Per integration type (the worker''s gauges): pending and running runs; held, the pending runs no claim hands out now (all of them while dispatch is paused, the circuit is open or the type waits out an answer 429, else those in a retry backoff); and whether dispatch is paused.'; -- noqa: LT05
