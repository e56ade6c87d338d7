CREATE SCHEMA syncsched;

ALTER SCHEMA syncsched OWNER TO syncsched_owner;

COMMENT ON SCHEMA syncsched IS 'syncsched: a Postgres-native scheduler for recurring per-tenant sync jobs.';

CREATE TYPE syncsched.cron_spec AS (
	minutes bigint,
	hours bigint,
	days bigint,
	months bigint,
	weekdays bigint,
	day_and boolean,
	any_day boolean,
	fixed_time boolean
);

ALTER TYPE syncsched.cron_spec OWNER TO syncsched_owner;

COMMENT ON TYPE syncsched.cron_spec IS 'Parsed cron expression as bit masks: minutes bits 0-59, hours 0-23, days 1-31 (bit 32 = L, bit 33 = LW), months 1-12, weekdays bits 0-6 (Sunday = 0), bits 8-14 "nL", bits 16 + 5 * weekday + (k - 1) "weekday#k". day_and: both day fields must match (one starts with *). any_day: every day matches. fixed_time: minute and hour fields do not start with * (the DST rules of Debian cron apply).';

CREATE TYPE syncsched.misfire_policy AS ENUM (
    'run_once',
    'catch_up',
    'skip'
);

ALTER TYPE syncsched.misfire_policy OWNER TO syncsched_owner;

COMMENT ON TYPE syncsched.misfire_policy IS 'What a tick does when scheduled periods were missed: run_once = one run for the most recent period; catch_up = one run per missed period, oldest first; skip = run only within misfire_grace, else alert.';

CREATE TYPE syncsched.run_status AS ENUM (
    'pending',
    'running',
    'completed',
    'failed',
    'cancelled'
);

ALTER TYPE syncsched.run_status OWNER TO syncsched_owner;

COMMENT ON TYPE syncsched.run_status IS 'Life of a run: pending -> running -> completed | failed; running -> pending (retry, expired lease, release); pending -> cancelled.';

CREATE FUNCTION syncsched._add_run_log_partition(p_from timestamp with time zone, p_to timestamp with time zone) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    SET "TimeZone" TO 'UTC'
    AS $_$
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
$_$;

ALTER FUNCTION syncsched._add_run_log_partition(p_from timestamp with time zone, p_to timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._add_run_log_partition(p_from timestamp with time zone, p_to timestamp with time zone) IS 'Add the partitions [p_from, p_to) of sync_run_log and sync_run_attempts, moving in the rows of that range the DEFAULT partitions hold.';

CREATE FUNCTION syncsched._address_public(p_address inet) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    -- Globally routable, as the worker's guard reads it (Python's ipaddress is_global, not multicast):
    -- an IPv6 address that embeds an IPv4 one (mapped, 6to4) is that address's.
    select case
        when family(p_address) = 6 and p_address << inet '::ffff:0:0/96' then
            syncsched._address_public(('0.0.0.0'::inet + (p_address - inet '::ffff:0:0'))::inet)
        when family(p_address) = 6 and p_address << inet '2002::/16' then
            -- (the IPv4 address is bits 16-47: read from the /48 written out, the address itself
            -- being too large a number for inet arithmetic)
            syncsched._address_public('0.0.0.0'::inet + (
                'x' || lpad(coalesce(nullif(split_part(host(network(set_masklen(p_address, 48))), ':', 2), ''), '0'), 4, '0')
                || lpad(coalesce(nullif(split_part(host(network(set_masklen(p_address, 48))), ':', 3), ''), '0'), 4, '0')
            )::bit(32)::bigint)
        else not (p_address <<= any(array[
            '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
            '192.0.0.0/24', '192.0.2.0/24', '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15',
            '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
            '::/128', '::1/128', '64:ff9b:1::/48', '100::/64', '2001::/23', '2001:db8::/32', 'fc00::/7',
            'fe80::/10', 'ff00::/8'
        ]::inet[]))
    end
$$;

ALTER FUNCTION syncsched._address_public(p_address inet) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._address_public(p_address inet) IS 'Whether the address is globally routable (not loopback, private, link-local, shared, documentation, multicast or reserved).';

CREATE FUNCTION syncsched._alert(p_kind text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_at timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select syncsched._raise_alerts(
        array[p_kind], array[p_org_id], array[p_integration_id], array[p_integration_type], array[p_detail], p_at
    )
$$;

ALTER FUNCTION syncsched._alert(p_kind text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_at timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._alert(p_kind text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_at timestamp with time zone) IS 'Record one alert (see _raise_alerts).';

CREATE FUNCTION syncsched._alert_key(p_kind text, p_org_id text, p_integration_id text, p_integration_type text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select p_kind || ':' || coalesce(p_org_id || '/' || p_integration_id, p_integration_type, '*')
$$;

ALTER FUNCTION syncsched._alert_key(p_kind text, p_org_id text, p_integration_id text, p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._alert_key(p_kind text, p_org_id text, p_integration_id text, p_integration_type text) IS 'Deduplication key of an alert: kind:org/integration, kind:type, or kind:* for the whole scheduler.';

CREATE FUNCTION syncsched._alert_open(p_key text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select exists (
        select from syncsched.scheduler_alerts as a
        where a.is_open and a.alert_key = p_key
    )
$$;

ALTER FUNCTION syncsched._alert_open(p_key text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._alert_open(p_key text) IS 'Whether a condition of this key is open (raised, not resolved).';

CREATE FUNCTION syncsched._attempts_left(p_attempt integer, p_max_attempts integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select p_attempt < p_max_attempts
$$;

ALTER FUNCTION syncsched._attempts_left(p_attempt integer, p_max_attempts integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._attempts_left(p_attempt integer, p_max_attempts integer) IS 'Whether a run whose attempt number p_attempt just ended may be tried again: the one rule of attempts exhausted.';

CREATE FUNCTION syncsched._audit(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_run_id bigint, p_detail jsonb DEFAULT '{}'::jsonb) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    insert into syncsched.audit_log (on_behalf_of, action, org_id, integration_id, integration_type, run_id, detail)
    values (syncsched._audit_on_behalf_of(), p_action, p_org_id, p_integration_id, p_integration_type, p_run_id,
        coalesce(p_detail, '{}'))
    returning audit_id
$$;

ALTER FUNCTION syncsched._audit(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_run_id bigint, p_detail jsonb) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._audit(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_run_id bigint, p_detail jsonb) IS 'Record an operator''s action in audit_log (actor: session_user; on_behalf_of: the syncsched.actor the session set).';

CREATE FUNCTION syncsched._audit_integrations_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    if syncsched._on_citus_worker() then
        -- a Citus shard, where audit_log is not: for the coordinator
        perform syncsched._shard_outbox_add('integration_changed', c.org_id, c.integration_id, c.integration_type,
            c.changes)
        from (
            select n.org_id, n.integration_id, n.integration_type,
                syncsched._integration_audit_detail(to_jsonb(o), to_jsonb(n)) as changes
            from old_rows as o
            join new_rows as n on n.id = o.id
        ) as c
        where c.changes is not null;
        return null;
    end if;
    -- a write that changed nothing is no entry
    insert into syncsched.audit_log (on_behalf_of, action, org_id, integration_id, integration_type, detail)
    select syncsched._audit_on_behalf_of(), 'integration_changed', c.org_id, c.integration_id, c.integration_type,
        c.changes
    from (
        select n.org_id, n.integration_id, n.integration_type,
            syncsched._integration_audit_detail(to_jsonb(o), to_jsonb(n)) as changes
        from old_rows as o
        join new_rows as n on n.id = o.id
    ) as c
    where c.changes is not null;
    return null;
end
$$;

ALTER FUNCTION syncsched._audit_integrations_changed() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._audit_integrations_changed() IS 'Statement trigger: every integration changed, with the fields that changed (before and after), in audit_log.';

CREATE FUNCTION syncsched._audit_integrations_created() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    if syncsched._on_citus_worker() then
        -- a Citus shard, where audit_log is not: for the coordinator
        perform syncsched._shard_outbox_add('integration_created', n.org_id, n.integration_id, n.integration_type,
            syncsched._integration_audit_detail(null, to_jsonb(n)))
        from new_rows as n;
        return null;
    end if;
    insert into syncsched.audit_log (on_behalf_of, action, org_id, integration_id, integration_type, detail)
    select syncsched._audit_on_behalf_of(), 'integration_created', n.org_id, n.integration_id, n.integration_type,
        syncsched._integration_audit_detail(null, to_jsonb(n))
    from new_rows as n;
    return null;
end
$$;

ALTER FUNCTION syncsched._audit_integrations_created() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._audit_integrations_created() IS 'Statement trigger: every integration created, with its configuration, in audit_log.';

CREATE FUNCTION syncsched._audit_integrations_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    if syncsched._on_citus_worker() then
        -- a Citus shard, where audit_log is not: for the coordinator
        perform syncsched._shard_outbox_add('integration_deleted', o.org_id, o.integration_id, o.integration_type,
            syncsched._integration_audit_detail(to_jsonb(o), null))
        from old_rows as o;
        return null;
    end if;
    insert into syncsched.audit_log (on_behalf_of, action, org_id, integration_id, integration_type, detail)
    select syncsched._audit_on_behalf_of(), 'integration_deleted', o.org_id, o.integration_id, o.integration_type,
        syncsched._integration_audit_detail(to_jsonb(o), null)
    from old_rows as o;
    return null;
end
$$;

ALTER FUNCTION syncsched._audit_integrations_deleted() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._audit_integrations_deleted() IS 'Statement trigger: every integration deleted, with the configuration it had, in audit_log.';

CREATE FUNCTION syncsched._audit_on_behalf_of() RETURNS text
    LANGUAGE sql STABLE
    AS $$
    select nullif(left(current_setting('syncsched.actor', true), 200), '')
$$;

ALTER FUNCTION syncsched._audit_on_behalf_of() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._audit_on_behalf_of() IS 'Who the session says it acts for (the syncsched.actor setting, as the console sets it per request), or NULL.';

CREATE FUNCTION syncsched._audit_setting_writes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    if syncsched._on_citus_worker() then
        return null;  -- a copy of the reference table on a worker: the coordinator's copy records it
    end if;
    -- a url setting may carry a token in its path (a webhook): only whether it is set is recorded
    insert into syncsched.audit_log (on_behalf_of, action, detail)
    select syncsched._audit_on_behalf_of(), 'setting_changed', jsonb_build_object(
        'key', n.key,
        'from', case when n.type = 'url' then case when o.value = '' then '' else '(set)' end else o.value end,
        'to', case when n.type = 'url' then case when n.value = '' then '' else '(set)' end else n.value end
    )
    from old_rows as o
    join new_rows as n on n.key = o.key
    where n.value is distinct from o.value;
    return null;
end
$$;

ALTER FUNCTION syncsched._audit_setting_writes() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._audit_setting_writes() IS 'Statement trigger: every setting whose value changed, in audit_log (url values only as set or empty).';

CREATE FUNCTION syncsched._backoff(p_attempt integer, p_base interval, p_cap interval, p_retry_after interval) RETURNS interval
    LANGUAGE sql
    AS $$
    -- exponential backoff with full jitter; a larger Retry-After from the endpoint wins
    select greatest(least(p_cap, p_base * power(2, least(greatest(p_attempt - 1, 0), 30))) * random(),
        coalesce(p_retry_after, interval '0'))
$$;

ALTER FUNCTION syncsched._backoff(p_attempt integer, p_base interval, p_cap interval, p_retry_after interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._backoff(p_attempt integer, p_base interval, p_cap interval, p_retry_after interval) IS 'retry_delay of the given retry_backoff_base and retry_backoff_cap (a statement that runs on Citus'' workers reads no setting).';

CREATE FUNCTION syncsched._bit_low(p_mask bigint) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- position of the lowest set bit (-1 when none); exact for bits 0-62
    select case when p_mask = 0 then -1
                else round(ln((p_mask & -p_mask)::double precision) / ln(2.0))::integer end
$$;

ALTER FUNCTION syncsched._bit_low(p_mask bigint) OWNER TO syncsched_owner;

CREATE FUNCTION syncsched._bit_next(p_mask bigint, p_from integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- lowest set bit at or above p_from (-1 when none)
    select syncsched._bit_low(p_mask & ~((1::bigint << p_from) - 1))
$$;

ALTER FUNCTION syncsched._bit_next(p_mask bigint, p_from integer) OWNER TO syncsched_owner;

CREATE FUNCTION syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval) RETURNS integer
    LANGUAGE plpgsql STABLE
    AS $$
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

ALTER FUNCTION syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval) IS 'What is left of a type''s rate_limit in its rate_window (plus one second) now; NULL when the type has no budget.';

CREATE FUNCTION syncsched._check_name(p_value text, p_name text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $_$
begin
    perform syncsched._require(p_value, p_name);
    if p_value !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' then
        raise exception 'syncsched: % must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (got %)',
            p_name, case when length(p_value) <= 40 then quote_literal(p_value) else length(p_value) || ' characters' end
            using errcode = 'invalid_parameter_value';
    end if;
end
$_$;

ALTER FUNCTION syncsched._check_name(p_value text, p_name text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._check_name(p_value text, p_name text) IS 'Raise a clear invalid_parameter_value unless p_value is an organization or integration id (the table''s format).';

CREATE FUNCTION syncsched._circuit_open(p_mode text, p_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select p_mode = 'active' and p_status = 'unhealthy'
$$;

ALTER FUNCTION syncsched._circuit_open(p_mode text, p_status text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._circuit_open(p_mode text, p_status text) IS 'The circuit breaker: a type unhealthy in active mode gets no calls (its runs wait, its endpoint is not pre-warmed).';

CREATE FUNCTION syncsched._claim_health_checks(p_worker_id text, p_max integer, p_transport text) RETURNS TABLE(integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_timeout interval := syncsched.setting('health_check_timeout')::interval;
    v_type text;
    v_claimed text[] := '{}';
begin
    if p_worker_id is null or p_worker_id = '' or p_max is null or p_max < 1 or p_max > 1000 then
        raise exception 'syncsched: claim_health_checks needs a worker id and p_max 1-1000'
            using errcode = 'invalid_parameter_value';
    end if;
    -- The types due a check, in name order, each as claims of runs take it: the type's claim lock
    -- and its budget first (a check is a request), then its row, skipped when another worker holds
    -- it. The same order everywhere, so that no claim waits on another in a circle. A type a 429
    -- holds is not checked until its Retry-After has passed.
    for v_type in
        select h.integration_type
        from syncsched.endpoint_health as h
        join syncsched.integration_types as t on t.integration_type = h.integration_type
        where t.transport = p_transport
            and coalesce(h.next_check_at, '-infinity') <= now() and syncsched._health_checked(h.mode, h.integration_type)
            and not syncsched._rate_limited_now(h.integration_type)
        order by h.integration_type
        limit p_max
    loop
        continue when not syncsched._take_budget(v_type, 1);
        perform
        from syncsched.endpoint_health as h
        where h.integration_type = v_type and coalesce(h.next_check_at, '-infinity') <= now()
        for update skip locked;
        continue when not found;
        -- held while the check runs; record_health_check sets the real next check
        update syncsched.endpoint_health as h
        set next_check_at = now() + v_timeout + interval '30 seconds', updated_at = now()
        where h.integration_type = v_type;
        v_claimed := v_claimed || v_type;
    end loop;
    return query select e.* from syncsched._endpoints(v_claimed, v_timeout) as e;
end
$$;

ALTER FUNCTION syncsched._claim_health_checks(p_worker_id text, p_max integer, p_transport text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._claim_health_checks(p_worker_id text, p_max integer, p_transport text) IS 'Health checks due now of the types of one transport (worker or pg_net) (active mode, types with enabled integrations), each claimed by one worker: at most one check per type and interval across all workers.';

CREATE FUNCTION syncsched._claim_runs(p_worker_id text, p_max integer, p_lease interval, p_transport text) RETURNS TABLE(run_id bigint, lease_token uuid, lease_expires_at timestamp with time zone, org_id text, integration_id text, integration_type text, scheduled_for timestamp with time zone, idempotency_key text, attempt integer, max_attempts integer, payload jsonb, endpoint_url text, timeout_ms integer, connect_timeout_ms integer, auth_secret_env text, warmup boolean, health_url text, health_method text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

ALTER FUNCTION syncsched._claim_runs(p_worker_id text, p_max integer, p_lease interval, p_transport text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._claim_runs(p_worker_id text, p_max integer, p_lease interval, p_transport text) IS 'claim_runs of the types of one transport: worker (claim_runs) or pg_net (net_step).';

CREATE FUNCTION syncsched._claim_type(p_type text, p_want integer, p_worker_id text, p_lease interval, p_drift_threshold interval, p_idle interval) RETURNS TABLE(run_id bigint, lease_token uuid, lease_expires_at timestamp with time zone, org_id text, integration_id text, integration_type text, scheduled_for timestamp with time zone, idempotency_key text, attempt integer, max_attempts integer, payload jsonb, endpoint_url text, timeout_ms integer, connect_timeout_ms integer, auth_secret_env text, warmup boolean, health_url text, health_method text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._claim_type(p_type text, p_want integer, p_worker_id text, p_lease interval, p_drift_threshold interval, p_idle interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._claim_type(p_type text, p_want integer, p_worker_id text, p_lease interval, p_drift_threshold interval, p_idle interval) IS 'Claim up to p_want ready runs of one type within its max_concurrency and budget: round robin across its organizations from where the previous claim stopped, each organization oldest first. Returns them with their endpoint; raises drift alerts (above p_drift_threshold); warmup when the endpoint was idle for p_idle.';

CREATE TABLE syncsched.organization_integrations (
    id bigint NOT NULL,
    org_id text NOT NULL,
    integration_id text NOT NULL,
    integration_type text NOT NULL,
    cron_schedule text,
    interval_minutes integer,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    is_enabled boolean DEFAULT true NOT NULL,
    misfire_policy text DEFAULT 'run_once'::text NOT NULL,
    misfire_grace interval DEFAULT '00:15:00'::interval NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    max_attempts integer,
    max_staleness interval,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT organization_integrations_integration_id_format CHECK ((integration_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'::text)),
    CONSTRAINT organization_integrations_interval_range CHECK (((interval_minutes >= 1) AND (interval_minutes <= 525600))),
    CONSTRAINT organization_integrations_max_attempts_range CHECK (((max_attempts >= 1) AND (max_attempts <= 100))),
    CONSTRAINT organization_integrations_max_staleness_positive CHECK ((max_staleness > '00:00:00'::interval)),
    CONSTRAINT organization_integrations_misfire_grace_nonnegative CHECK ((misfire_grace >= '00:00:00'::interval)),
    CONSTRAINT organization_integrations_misfire_policy_known CHECK ((misfire_policy = ANY ((enum_range(NULL::syncsched.misfire_policy))::text[]))),
    CONSTRAINT organization_integrations_one_schedule_kind CHECK (((cron_schedule IS NULL) OR (interval_minutes IS NULL))),
    CONSTRAINT organization_integrations_org_id_format CHECK ((org_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'::text)),
    CONSTRAINT organization_integrations_payload_object CHECK ((jsonb_typeof(payload) = 'object'::text)),
    CONSTRAINT organization_integrations_payload_size CHECK ((pg_column_size(payload) <= 65536)),
    CONSTRAINT organization_integrations_timezone_length CHECK (((length(timezone) >= 1) AND (length(timezone) <= 64)))
);

ALTER TABLE ONLY syncsched.organization_integrations FORCE ROW LEVEL SECURITY;

ALTER TABLE syncsched.organization_integrations OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.organization_integrations IS 'One scheduled integration of one organization. Plain INSERT/UPDATE works: a trigger validates the schedule and maintains next_run_at.';

COMMENT ON COLUMN syncsched.organization_integrations.id IS 'Stable integer id, used as the key of the per-integration advisory lock.';

COMMENT ON COLUMN syncsched.organization_integrations.org_id IS 'The organization (tenant).';

COMMENT ON COLUMN syncsched.organization_integrations.integration_id IS 'The integration''s name within its organization.';

COMMENT ON COLUMN syncsched.organization_integrations.integration_type IS 'Which endpoint it calls (integration_types).';

COMMENT ON COLUMN syncsched.organization_integrations.cron_schedule IS 'Five-field cron expression (Debian cron dialect) evaluated in timezone; null when interval_minutes is used or the integration is not scheduled.';

COMMENT ON COLUMN syncsched.organization_integrations.interval_minutes IS 'Run every N minutes instead of a cron expression.';

COMMENT ON COLUMN syncsched.organization_integrations.timezone IS 'IANA time zone in which cron_schedule is evaluated (DST included).';

COMMENT ON COLUMN syncsched.organization_integrations.is_enabled IS 'Disabled: no scheduled runs, pending runs cancelled.';

COMMENT ON COLUMN syncsched.organization_integrations.misfire_policy IS 'What a tick does with periods that were missed: run_once, catch_up or skip (the labels of the misfire_policy type).';

COMMENT ON COLUMN syncsched.organization_integrations.misfire_grace IS 'With misfire_policy skip: how late a period may still be run.';

COMMENT ON COLUMN syncsched.organization_integrations.payload IS 'JSON object sent to the endpoint with each run (at most 64 kB). Never holds secrets.';

COMMENT ON COLUMN syncsched.organization_integrations.max_attempts IS 'Attempts per run; settings.default_max_attempts when null.';

COMMENT ON COLUMN syncsched.organization_integrations.max_staleness IS 'Alert stale when no run completed for this long; twice the schedule period when null.';

COMMENT ON COLUMN syncsched.organization_integrations.created_at IS 'When the integration was created.';

COMMENT ON COLUMN syncsched.organization_integrations.updated_at IS 'When the integration was last written.';

COMMENT ON CONSTRAINT organization_integrations_integration_id_format ON syncsched.organization_integrations IS 'Integration ids: 1-128 letters, digits, ".", "_", ":" or "-".';

COMMENT ON CONSTRAINT organization_integrations_interval_range ON syncsched.organization_integrations IS 'Intervals from 1 minute to a year (min_schedule_interval is checked by the trigger).';

COMMENT ON CONSTRAINT organization_integrations_max_attempts_range ON syncsched.organization_integrations IS '1 to 100 attempts per run.';

COMMENT ON CONSTRAINT organization_integrations_max_staleness_positive ON syncsched.organization_integrations IS 'A staleness limit is positive.';

COMMENT ON CONSTRAINT organization_integrations_misfire_grace_nonnegative ON syncsched.organization_integrations IS 'A grace is not negative.';

COMMENT ON CONSTRAINT organization_integrations_misfire_policy_known ON syncsched.organization_integrations IS 'A misfire policy is one of the labels of the misfire_policy type (the schedule trigger refuses others first, with 22023).';

COMMENT ON CONSTRAINT organization_integrations_one_schedule_kind ON syncsched.organization_integrations IS 'A cron schedule or an interval, not both.';

COMMENT ON CONSTRAINT organization_integrations_org_id_format ON syncsched.organization_integrations IS 'Organization ids: 1-128 letters, digits, ".", "_", ":" or "-" (they appear in idempotency keys).';

COMMENT ON CONSTRAINT organization_integrations_payload_object ON syncsched.organization_integrations IS 'The payload is a JSON object.';

COMMENT ON CONSTRAINT organization_integrations_payload_size ON syncsched.organization_integrations IS 'The payload is at most 64 kB.';

COMMENT ON CONSTRAINT organization_integrations_timezone_length ON syncsched.organization_integrations IS 'Zone names of 1-64 characters (the trigger checks the zone exists).';

CREATE FUNCTION syncsched._config_problem(p_row syncsched.organization_integrations) RETURNS text[]
    LANGUAGE plpgsql STABLE
    AS $_$
declare
    c_name constant text := '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
    c_name_rule constant text := '1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
    v_policies text[] := enum_range(null::syncsched.misfire_policy)::text[];
    v_zone_problem text;
begin
    -- {problem, hint} of the first field of an integration that cannot be stored (apart from its
    -- schedule, see schedule_problem), or NULL. The table's CHECK constraints say the same; this
    -- says it first, in words, with SQLSTATE 22023.
    if p_row.org_id is null or p_row.org_id !~ c_name then
        return array[format('org_id must be %s', c_name_rule), null];
    end if;
    if p_row.integration_id is null or p_row.integration_id !~ c_name then
        return array[format('integration_id must be %s', c_name_rule), null];
    end if;
    if p_row.integration_type is null then
        return array['has no integration type', syncsched._integration_types_hint()];
    end if;
    if not exists (select from syncsched.integration_types as t where t.integration_type = p_row.integration_type) then
        return array[format('has an unknown integration type "%s"', left(p_row.integration_type, 64)),
            syncsched._integration_types_hint()];
    end if;
    if p_row.timezone is null then
        return array['has no time zone', 'use an IANA name such as Europe/Oslo (the default is UTC)'];
    end if;
    v_zone_problem := syncsched.timezone_validate(p_row.timezone);
    if v_zone_problem is not null then
        return array[v_zone_problem, null];
    end if;
    if p_row.is_enabled is null then
        return array['is_enabled must be true or false', null];
    end if;
    if p_row.misfire_policy is null or not p_row.misfire_policy = any(v_policies) then
        return array[
            format('has an unknown misfire policy %s', coalesce('"' || left(p_row.misfire_policy, 64) || '"', '(null)')),
            'use ' || array_to_string(v_policies, ', ') || ' (the default is run_once)'
        ];
    end if;
    if p_row.misfire_grace is null or p_row.misfire_grace < interval '0' then
        return array[format('misfire_grace must be an interval of zero or more (got %s)',
            coalesce(p_row.misfire_grace::text, 'null')), 'the default is 15 minutes'];
    end if;
    if p_row.payload is null or jsonb_typeof(p_row.payload) <> 'object' then
        return array[format('payload must be a JSON object, not %s', coalesce(jsonb_typeof(p_row.payload), 'SQL NULL')),
            'for example ''{"company": 1042}''; the default is ''{}'''];
    end if;
    if pg_column_size(p_row.payload) > 65536 then
        return array[format('payload is %s bytes, at most 64 kB', pg_column_size(p_row.payload)), null];
    end if;
    if p_row.max_attempts is not null and p_row.max_attempts not between 1 and 100 then
        return array[format('max_attempts must be 1-100 (got %s)', p_row.max_attempts),
            'null: the default_max_attempts setting'];
    end if;
    if p_row.max_staleness is not null and p_row.max_staleness <= interval '0' then
        return array[format('max_staleness must be a positive interval (got %s)', p_row.max_staleness),
            'null: stale after the schedule''s own next period'];
    end if;
    return null;
end
$_$;

ALTER FUNCTION syncsched._config_problem(p_row syncsched.organization_integrations) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._config_problem(p_row syncsched.organization_integrations) IS 'The first configuration field of an integration that cannot be stored, as {problem, hint}, or NULL (the schedule is schedule_problem''s).';

CREATE FUNCTION syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    AS $$
declare
    v_at timestamptz := syncsched._cron_next_spec(p_spec, p_after, p_tz);
begin
    -- The tick's loops over periods advance only through here: a next fire time that is not later
    -- than the one before (an engine fault) stops that schedule's evaluation with a problem (an
    -- invalid_schedule alert), instead of repeating a period or moving next_run_at backwards.
    if v_at <= p_after then
        raise exception 'syncsched: the cron engine answered % after % in %: not later', v_at, p_after, p_tz
            using errcode = 'internal_error';
    end if;
    return v_at;
end
$$;

ALTER FUNCTION syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) IS '_cron_next_spec for the tick''s loops: raises internal_error unless the answer is later than p_after (or NULL).';

CREATE FUNCTION syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select coalesce(string_agg(b::text, ',' order by b), '-')
    from generate_series(p_low, p_high) as b
    where (p_mask >> b) & 1 = 1
$$;

ALTER FUNCTION syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer) IS 'The set bits p_low..p_high of p_mask as a cron list (- when none), for messages.';

CREATE FUNCTION syncsched._cron_day_fires(p_spec syncsched.cron_spec, p_timezone text, p_day date, p_until timestamp with time zone, OUT fires integer, OUT last timestamp with time zone, OUT before_last timestamp with time zone) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
declare
    -- a day before the day's wall-clock midnight: earlier than its first fire, whatever gap or
    -- fold the zone has there (the longest jumps in tzdata are under a day)
    v_at timestamptz := syncsched._cron_next_spec(p_spec, (p_day::timestamp at time zone p_timezone) - interval '1 day',
        p_timezone);
    v_day date;
    v_steps integer := 0;
begin
    fires := 0;
    loop
        exit when v_at is null or v_at > p_until;
        v_day := (v_at at time zone p_timezone)::date;
        exit when v_day > p_day;
        if v_day = p_day then
            fires := fires + 1;
            before_last := last;
            last := v_at;
        end if;
        v_steps := v_steps + 1;
        if v_steps > 10000 then  -- three days of fires at most; more is an engine fault
            raise exception 'syncsched: more than 10000 fire times around % in %', p_day, p_timezone
                using errcode = 'program_limit_exceeded';
        end if;
        v_at := syncsched._cron_after(p_spec, v_at, p_timezone);
    end loop;
end
$$;

ALTER FUNCTION syncsched._cron_day_fires(p_spec syncsched.cron_spec, p_timezone text, p_day date, p_until timestamp with time zone, OUT fires integer, OUT last timestamp with time zone, OUT before_last timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_day_fires(p_spec syncsched.cron_spec, p_timezone text, p_day date, p_until timestamp with time zone, OUT fires integer, OUT last timestamp with time zone, OUT before_last timestamp with time zone) IS 'The fire times of a cron schedule on local day p_day, up to p_until: how many, the last and the one before it.';

CREATE FUNCTION syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_dom integer;
    v_dow integer;
    v_last integer := 0;
    v_last_weekday integer;
    v_dom_ok boolean;
    v_dow_ok boolean;
begin
    if p_spec.any_day then
        return true;
    end if;
    v_dom := date_part('day', p_day)::integer;
    v_dom_ok := (p_spec.days >> v_dom) & 1 = 1;
    if not v_dom_ok and v_dom >= 26 and p_spec.days >= (1::bigint << 32) then
        v_last := date_part('day', date_trunc('month', p_day) + interval '1 month - 1 day')::integer;
        if (p_spec.days >> 32) & 1 = 1 and v_dom = v_last then
            v_dom_ok := true;
        end if;
        if not v_dom_ok and (p_spec.days >> 33) & 1 = 1 then
            v_last_weekday := case date_part('dow', p_day + (v_last - v_dom))::integer
                when 0 then v_last - 2
                when 6 then v_last - 1
                else v_last
            end;
            v_dom_ok := v_dom = v_last_weekday;
        end if;
    end if;
    if p_spec.day_and and not v_dom_ok then
        return false;
    end if;
    if not p_spec.day_and and v_dom_ok then
        return true;
    end if;
    v_dow := date_part('dow', p_day)::integer;
    v_dow_ok := (p_spec.weekdays >> v_dow) & 1 = 1
        or (p_spec.weekdays >> (16 + 5 * v_dow + (v_dom - 1) / 7)) & 1 = 1;
    if not v_dow_ok and (p_spec.weekdays >> (8 + v_dow)) & 1 = 1 then
        if v_last = 0 then
            v_last := date_part('day', date_trunc('month', p_day) + interval '1 month - 1 day')::integer;
        end if;
        v_dow_ok := v_dom + 7 > v_last;
    end if;
    return v_dow_ok;
end
$$;

ALTER FUNCTION syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date) IS 'Whether the day fields of p_spec match p_day (Debian''s rule: AND when a day field starts with *, else OR).';

CREATE FUNCTION syncsched._cron_fail(p_field integer, p_message text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
begin
    raise exception '%: %', (array['minute', 'hour', 'day-of-month', 'month', 'day-of-week'])[p_field], p_message
        using errcode = 'invalid_parameter_value';
end
$$;

ALTER FUNCTION syncsched._cron_fail(p_field integer, p_message text) OWNER TO syncsched_owner;

CREATE FUNCTION syncsched._cron_field(p_text text, p_field integer) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
declare
    v_low integer := case p_field when 3 then 1 when 4 then 1 else 0 end;
    v_high integer := case p_field when 1 then 59 when 2 then 23 when 3 then 31 when 4 then 12 else 7 end;
    v_mask bigint := 0;
    v_term text;
    v_range text;
    v_slash integer;
    v_dash integer;
    v_start integer;
    v_end integer;
    v_step integer;
begin
    -- The plain terms (a value, a range of numbers or names, each with a step), as most
    -- expressions are written, are read here with string functions; any other term, and a
    -- plain one that is out of range or backwards, goes to _cron_term, which names the problem.
    if p_text = '' then
        return syncsched._cron_term(p_text, p_field);  -- raises: empty value
    end if;
    foreach v_term in array string_to_array(p_text, ',') loop
        if v_term ~ '^(\*|[0-9]{1,2}|[A-Z]{3})(-([0-9]{1,2}|[A-Z]{3}))?(/[0-9]{1,2})?$' and left(v_term, 2) <> '*-' then
            v_slash := strpos(v_term, '/');
            v_range := case when v_slash > 0 then left(v_term, v_slash - 1) else v_term end;
            v_step := case when v_slash > 0 then substr(v_term, v_slash + 1)::integer else 1 end;
            v_dash := strpos(v_range, '-');
            v_start := case when v_range = '*' then v_low
                            when v_dash = 0 then syncsched._cron_plain_value(v_range, p_field)
                            else syncsched._cron_plain_value(left(v_range, v_dash - 1), p_field) end;
            v_end := case when v_dash > 0 then syncsched._cron_plain_value(substr(v_range, v_dash + 1), p_field)
                          when v_slash > 0 or v_range = '*' then v_high
                          else v_start end;
            if v_start <= v_end and v_step > 0 then
                if v_step = 1 then
                    v_mask := v_mask | (((1::bigint << (v_end + 1)) - 1) & ~((1::bigint << v_start) - 1));
                else
                    for v_bit in v_start .. v_end by v_step loop
                        v_mask := v_mask | (1::bigint << v_bit);
                    end loop;
                end if;
                continue;
            end if;
        end if;
        v_mask := v_mask | syncsched._cron_term(v_term, p_field);
    end loop;
    return v_mask;
end
$_$;

ALTER FUNCTION syncsched._cron_field(p_text text, p_field integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_field(p_text text, p_field integer) IS 'Bit mask of one upper-cased cron field (1 minute, 2 hour, 3 day-of-month, 4 month, 5 day-of-week); see cron_spec.';

CREATE FUNCTION syncsched._cron_fields(p_expr text, p_seed text DEFAULT NULL::text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
declare
    -- Python's str.split() separators, so that field counting agrees with cronsim.
    c_space constant text := E'[ \\t\\n\\r\\f\\v\\u001c-\\u001f\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+';
    v_fields text[];
begin
    if p_expr is null then
        raise exception 'cron expression is null' using errcode = 'invalid_parameter_value';
    end if;
    if length(p_expr) > 1000 then
        raise exception 'cron expression is too long (% characters, at most 1000)', length(p_expr)
            using errcode = 'invalid_parameter_value';
    end if;
    if p_expr ~ '^[0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+$'
        and strpos(upper(p_expr), 'H') = 0 then
        return string_to_array(upper(p_expr), ' ');  -- the common, well-spaced form, without H
    end if;
    v_fields := array_remove(regexp_split_to_array(upper(p_expr), c_space), '');
    if cardinality(v_fields) = 1 and left(v_fields[1], 1) = '@' then
        v_fields := case v_fields[1]
            when '@YEARLY' then array['0', '0', '1', '1', '*']
            when '@ANNUALLY' then array['0', '0', '1', '1', '*']
            when '@MONTHLY' then array['0', '0', '1', '*', '*']
            when '@WEEKLY' then array['0', '0', '*', '*', '0']
            when '@DAILY' then array['0', '0', '*', '*', '*']
            when '@MIDNIGHT' then array['0', '0', '*', '*', '*']
            when '@HOURLY' then array['0', '*', '*', '*', '*']
        end;
        if v_fields is null then
            raise exception 'unknown macro "%": use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly',
                left(btrim(p_expr), 20)
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    if cardinality(v_fields) <> 5 then
        raise exception 'expected 5 fields, got %', cardinality(v_fields)
            using errcode = 'invalid_parameter_value';
    end if;
    if syncsched._cron_has_h(array_to_string(v_fields, ' ')) then
        if p_seed is null then
            raise exception 'H needs a seed: the integration''s identity (org_id/integration_id), or p_seed'
                using errcode = 'invalid_parameter_value';
        end if;
        for v_position in 1 .. 5 loop
            v_fields[v_position] := syncsched._cron_resolve_field(v_fields[v_position], v_position, p_seed);
        end loop;
    end if;
    return v_fields;
end
$_$;

ALTER FUNCTION syncsched._cron_fields(p_expr text, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_fields(p_expr text, p_seed text) IS 'The five upper-cased fields of a cron expression, macros expanded, H resolved for p_seed; raises invalid_parameter_value.';

CREATE FUNCTION syncsched._cron_fire(p_wall timestamp without time zone, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_lo timestamptz := (p_wall::date - 1)::timestamp at time zone 'UTC';
    v_hi timestamptz := (p_wall::date + 2)::timestamp at time zone 'UTC';
    v_before interval := syncsched._tz_offset(v_lo, p_tz);
    v_after interval := syncsched._tz_offset(v_hi, p_tz);
    v_change timestamp;
begin
    if v_before = v_after then
        return (p_wall - v_before) at time zone 'UTC';
    end if;
    v_change := syncsched._tz_change(v_lo, v_hi, p_tz) at time zone 'UTC';
    if v_after > v_before and p_wall >= v_change + v_before and p_wall < v_change + v_after then
        -- skipped by the gap: the first whole minute after it (cronsim adds minutes until real)
        return (p_wall + ceil(date_part('epoch', v_change + v_after - p_wall) / 60) * interval '1 minute' - v_after)
            at time zone 'UTC';
    end if;
    -- the first occurrence of a repeated time (the new offset applies after the repeated stretch)
    return (p_wall - case when p_wall >= v_change + greatest(v_before, v_after) then v_after else v_before end)
        at time zone 'UTC';
end
$$;

ALTER FUNCTION syncsched._cron_fire(p_wall timestamp without time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_fire(p_wall timestamp without time zone, p_tz text) IS 'When a fixed-time job due at wall time p_wall runs in p_tz, by Debian''s rules: a time skipped by a gap at the first minute after it, a repeated time at its first occurrence.';

CREATE FUNCTION syncsched._cron_fires_between(p_spec syncsched.cron_spec, p_timezone text, p_from timestamp with time zone, p_to timestamp with time zone, OUT fires bigint, OUT last timestamp with time zone, OUT before_last timestamp with time zone) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
declare
    v_first date := (p_from at time zone p_timezone)::date;
    v_last date := (p_to at time zone p_timezone)::date;
    -- on a day without an offset change every (hour, minute) of the expression fires once
    v_per_day integer := bit_count(p_spec.hours::bit(64)) * bit_count(p_spec.minutes::bit(64));
    v_day date;
    v_head record;
    v_early record;
    v_tail record;
begin
    -- Fire times in [p_from, p_to], counted day by day: bounded by the number of days, whatever
    -- the number of fires. Only days with an offset change, and the first and last, are enumerated.
    if p_to - p_from > interval '200 years' then
        raise exception 'syncsched: a silence of more than 200 years is not counted' using errcode = 'program_limit_exceeded';
    end if;
    v_early := syncsched._cron_day_fires(p_spec, p_timezone, v_first, p_from - interval '1 microsecond');
    v_head := syncsched._cron_day_fires(p_spec, p_timezone, v_first, p_to);
    fires := v_head.fires - v_early.fires;
    if v_last = v_first then
        last := v_head.last;
        before_last := case when v_head.before_last >= p_from then v_head.before_last end;
        return;
    end if;
    v_day := v_first + 1;
    while v_day < v_last loop
        if syncsched._cron_day_matches(p_spec, v_day) then
            if syncsched._tz_day_is_plain(v_day, p_timezone) then
                fires := fires + v_per_day;
            else
                fires := fires + (syncsched._cron_day_fires(p_spec, p_timezone, v_day, p_to)).fires;
            end if;
        end if;
        v_day := v_day + 1;
    end loop;
    v_tail := syncsched._cron_day_fires(p_spec, p_timezone, v_last, p_to);
    fires := fires + v_tail.fires;
    last := v_tail.last;
    before_last := v_tail.before_last;
    -- the last two fire times, from the latest days that have any
    v_day := v_last - 1;
    while before_last is null and v_day >= v_first loop
        if syncsched._cron_day_matches(p_spec, v_day) then
            v_tail := syncsched._cron_day_fires(p_spec, p_timezone, v_day, p_to);
            if last is null then
                last := v_tail.last;
                before_last := v_tail.before_last;
            else
                before_last := v_tail.last;
            end if;
        end if;
        v_day := v_day - 1;
    end loop;
    if before_last < p_from then
        before_last := null;
    end if;
end
$$;

ALTER FUNCTION syncsched._cron_fires_between(p_spec syncsched.cron_spec, p_timezone text, p_from timestamp with time zone, p_to timestamp with time zone, OUT fires bigint, OUT last timestamp with time zone, OUT before_last timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_fires_between(p_spec syncsched.cron_spec, p_timezone text, p_from timestamp with time zone, p_to timestamp with time zone, OUT fires bigint, OUT last timestamp with time zone, OUT before_last timestamp with time zone) IS 'How many fire times a cron schedule has in [p_from, p_to], the last and the one before it; counted day by day (bounded by days, not fires).';

CREATE FUNCTION syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
begin
    raise exception 'cron expression "%" in time zone %: %', syncsched._cron_spec_text(p_spec), coalesce(p_tz, 'UTC'),
        case when p_steps = 0 then 'it matches no minute, hour or month'
             else format('no next fire time found within %s steps', p_steps) end
        using errcode = 'program_limit_exceeded',
            hint = 'A valid expression never gets here: the spec was not made by cron_parse.';
end
$$;

ALTER FUNCTION syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer) IS 'Raises program_limit_exceeded (54000) naming the expression and zone: the hard cap of every search loop.';

CREATE FUNCTION syncsched._cron_has_h(p_expr text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- a field or a list term that starts with H (THU and MARCH do not)
    select p_expr ~* '(^|[[:space:],])H'
$$;

ALTER FUNCTION syncsched._cron_has_h(p_expr text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_has_h(p_expr text) IS 'Whether a cron expression uses H (it then resolves per integration, with its identity as the seed).';

CREATE FUNCTION syncsched._cron_hash(p_seed text, p_field integer, p_term integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- The hash behind H, specified so that every server, release and restore agrees: the first
    -- 4 bytes of SHA-256 of the UTF-8 text '<seed>#<field>.<term>' as an unsigned big-endian
    -- integer (field 1-5 as in cron_spec, term the 1-based position in the field's list).
    select ('x00000000' || encode(substr(sha256(convert_to(p_seed || '#' || p_field || '.' || p_term, 'UTF8')), 1, 4),
        'hex'))::bit(64)::bigint
$$;

ALTER FUNCTION syncsched._cron_hash(p_seed text, p_field integer, p_term integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_hash(p_seed text, p_field integer, p_term integer) IS 'The stable hash of H: the first 4 bytes of SHA-256 of ''<seed>#<field>.<term>'' (UTF-8), unsigned big-endian.';

CREATE FUNCTION syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_hour integer;
    v_minute integer;
    v_at integer;
    v_first integer;
    v_previous integer;
    v_gap integer := 1440;
begin
    -- Smallest gap in minutes between two fire times of one day (and across midnight);
    -- stops as soon as it is below p_enough.
    for v_hour in 0 .. 23 loop
        continue when (p_spec.hours >> v_hour) & 1 = 0;
        for v_minute in 0 .. 59 loop
            continue when (p_spec.minutes >> v_minute) & 1 = 0;
            v_at := v_hour * 60 + v_minute;
            if v_previous is not null then
                v_gap := least(v_gap, v_at - v_previous);
                if v_gap < p_enough then
                    return v_gap;
                end if;
            end if;
            v_first := coalesce(v_first, v_at);
            v_previous := v_at;
        end loop;
    end loop;
    return least(v_gap, v_first + 1440 - v_previous);
end
$$;

ALTER FUNCTION syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer) IS 'Smallest gap in minutes between fire times of a cron expression within a day, or below p_enough.';

CREATE FUNCTION syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_last integer := date_part('day', p_month + interval '1 month - 1 day')::integer;
    v_first integer := date_part('dow', p_month)::integer;  -- the weekday of the 1st
    v_valid bigint := (1::bigint << (v_last + 1)) - 2;      -- bits 1 .. v_last
    v_dom bigint := p_spec.days & v_valid;
    v_week bigint;
    v_dow bigint;
    v_more bigint;
    v_bit integer;
    v_day integer;
begin
    if p_spec.days >= (1::bigint << 32) then
        if (p_spec.days >> 32) & 1 = 1 then
            v_dom := v_dom | (1::bigint << v_last);
        end if;
        if (p_spec.days >> 33) & 1 = 1 then
            v_dom := v_dom | (1::bigint << (v_last - case (v_first + v_last - 1) % 7 when 0 then 2 when 6 then 1 else 0 end));
        end if;
    end if;
    -- plain weekdays: the seven bits turned so that bit 0 is the 1st's weekday, repeated over the month
    v_week := (((p_spec.weekdays & 127) >> v_first) | ((p_spec.weekdays & 127) << (7 - v_first))) & 127;
    v_dow := ((v_week | (v_week << 7) | (v_week << 14) | (v_week << 21) | (v_week << 28)) << 1) & v_valid;
    -- nL (bits 8-14) and weekday#k (bits 16-50), one day each: at most 42 rounds
    v_more := p_spec.weekdays >> 8;
    while v_more > 0 loop
        v_bit := syncsched._bit_low(v_more) + 8;
        v_more := v_more & (v_more - 1);
        v_day := case
            when v_bit < 15 then v_last - ((v_first + v_last - 1) % 7 - (v_bit - 8) + 7) % 7
            when v_bit >= 16 then ((v_bit - 16) / 5 - v_first + 7) % 7 + 1 + 7 * ((v_bit - 16) % 5)
        end;
        if v_day <= v_last then
            v_dow := v_dow | (1::bigint << v_day);
        end if;
    end loop;
    return case when p_spec.day_and then v_dom & v_dow else v_dom | v_dow end;
end
$$;

ALTER FUNCTION syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date) IS 'The days of the month starting on p_month that match the day fields of p_spec, as bits 1-31 (same rule as _cron_day_matches).';

CREATE FUNCTION syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    -- cronsim's state: the wall clock and its fold, and the instant they stand for (in UTC)
    v_wall timestamp;
    v_fold integer;
    v_utc timestamp;
    -- the offsets around local day c_day: c_before, and c_after from instant c_change on
    c_day date;
    c_change timestamp;
    c_before interval;
    c_after interval;
    c_back interval;  -- how long the wall clock repeats itself after c_change (0 for a gap)
    v_limit integer;
    v_tried boolean;      -- the shortcut before c_change was tried on this day
    v_mode integer := 0;  -- 0: check the fields; 1, 2, 3: roll the hour, the minute, the second
    v_jump boolean := false;
    v_tick integer;
    v_period integer;
    v_stops bigint;
    v_step interval;
    v_count integer;
    v_ticks integer;
    v_value integer;
    v_day date;
    v_next timestamp;
    v_answer timestamp;
    -- Brent's cycle detection over the states at the field checks
    v_seen_wall timestamp;
    v_seen_fold integer;
    v_power integer := 1;
    v_length integer := 0;
    v_steps integer := 0;
begin
    -- cronsim's algorithm, step for step, with the clock moving in real seconds. Where the
    -- clock runs evenly the rest is wall-clock arithmetic; where cronsim would revisit a
    -- state (and so loop forever) or answers no later than p_after, the README's rule decides.
    v_utc := date_trunc('second', p_after at time zone 'UTC') + interval '1 second';
    v_wall := (v_utc at time zone 'UTC') at time zone p_tz;
    v_limit := date_part('year', v_wall)::integer + 50;
    loop
        -- A step checks the fields, rolls a unit or jumps between days; a cycle is caught
        -- within twice its start and length. The sweep of every tzdata transition needs 8
        -- steps at most: the cap is far above any real search.
        v_steps := v_steps + 1;
        if v_steps > 20000 then
            perform syncsched._cron_give_up(p_spec, p_tz, v_steps);
        end if;
        if c_day is distinct from v_wall::date then
            c_day := v_wall::date;
            v_tried := false;
            -- a change found for the day before or after is this day's too (one per 72 hours)
            if c_change is null or c_change <= (c_day - 1)::timestamp or c_change > (c_day + 2)::timestamp then
                c_before := syncsched._tz_offset((c_day - 1)::timestamp at time zone 'UTC', p_tz);
                c_after := syncsched._tz_offset((c_day + 2)::timestamp at time zone 'UTC', p_tz);
                c_change := case when c_after <> c_before then syncsched._tz_change(
                    (c_day - 1)::timestamp at time zone 'UTC', (c_day + 2)::timestamp at time zone 'UTC', p_tz
                ) at time zone 'UTC' end;
                c_back := greatest(c_before - c_after, interval '0');
            end if;
        end if;
        if v_fold is null then
            v_fold := case when v_utc >= c_change and v_utc < c_change + c_back then 1 else 0 end;
        end if;
        if v_mode = 0 then
            if v_wall = v_seen_wall and v_fold = v_seen_fold then
                exit;  -- cronsim would go round this cycle forever
            end if;
            v_length := v_length + 1;
            if v_length = v_power then
                v_seen_wall := v_wall;
                v_seen_fold := v_fold;
                v_power := v_power * 2;
                v_length := 0;
            end if;
            v_utc := v_wall - case
                when c_change is null then c_before
                when v_wall >= c_change + case when v_fold = 0 then greatest(c_before, c_after)
                                               else least(c_before, c_after) end then c_after
                else c_before
            end;
            if c_change is null
                or (v_utc - interval '1 hour' >= c_change + c_back and v_wall = v_utc + c_after) then
                -- No change this day, or it is over, repeated stretch included: cronsim's steps
                -- (which go back an hour at most) see an even clock, and non-matching days are
                -- skipped on the wall clock, so it lands at the next matching day's midnight.
                v_next := syncsched._cron_next_wall(p_spec, v_wall, v_limit, p_tz);
                if v_next is null then
                    return null;  -- repeated stretches further on start more than a day later
                end if;
                if v_next::date = c_day then
                    v_answer := v_next - c_after;
                    exit;
                end if;
                v_wall := v_next::date::timestamp;
                v_fold := 0;
                continue;
            end if;
            if v_utc < c_change and not v_tried then
                -- Before the change: an answer reached before it, or a day left before it. If
                -- neither, the states up to the change have the same wall-clock answer: try once.
                v_tried := true;
                v_next := syncsched._cron_next_wall(p_spec, v_wall, v_limit, p_tz);
                if v_next::date = c_day and v_next - c_before < c_change then
                    v_answer := v_next - c_before;
                    exit;
                end if;
                if v_next::date > c_day and (c_day + 1)::timestamp - c_before < c_change then
                    v_wall := v_next::date::timestamp;
                    v_fold := 0;
                    continue;
                end if;
            end if;
            v_value := date_part('month', v_wall)::integer;
            if (p_spec.months >> v_value) & 1 = 0 then
                v_day := date_trunc('month', v_wall)::date;
                for v_i in 1 .. 12 loop
                    v_day := (v_day + interval '1 month')::date;
                    exit when (p_spec.months >> date_part('month', v_day)::integer) & 1 = 1;
                end loop;
                v_wall := v_day::timestamp;
                v_fold := 0;
                continue;
            end if;
            if date_part('year', v_wall) > v_limit then
                return null;
            end if;
            v_day := v_wall::date;
            if not syncsched._cron_day_matches(p_spec, v_day) then
                loop
                    v_day := v_day + 1;
                    exit when date_part('day', v_day) = 1 or syncsched._cron_day_matches(p_spec, v_day);
                end loop;
                v_wall := v_day::timestamp;
                v_fold := 0;
                continue;
            end if;
            v_value := date_part('hour', v_wall)::integer;
            if (p_spec.hours >> v_value) & 1 = 0 then
                v_wall := date_trunc('hour', v_wall);
                v_mode := 1;
            else
                v_value := date_part('minute', v_wall)::integer;
                if (p_spec.minutes >> v_value) & 1 = 0 then
                    v_wall := date_trunc('minute', v_wall);
                    v_mode := 2;
                    -- a single minute is reached in one jump first, as in cronsim
                    v_jump := p_spec.minutes & (p_spec.minutes - 1) = 0;
                    v_tick := ((syncsched._bit_low(p_spec.minutes) - v_value + 60) % 60) * 60;
                else
                    v_value := floor(date_part('second', v_wall))::integer;
                    if v_value = 0 then
                        v_answer := v_utc;
                        exit;
                    end if;
                    v_mode := 3;
                    v_tick := 60 - v_value;
                end if;
            end if;
        end if;
        -- the instant of the state, then cronsim's ticks of real time from it
        v_utc := v_wall - case
            when c_change is null then c_before
            when v_wall >= c_change + case when v_fold = 0 then greatest(c_before, c_after)
                                           else least(c_before, c_after) end then c_after
            else c_before
        end;
        if v_mode = 3 or v_jump then
            -- one tick: to the next whole second 0, or the jump to a single minute
            v_utc := v_utc + make_interval(secs => v_tick);
            v_wall := v_utc + case when c_change is null or v_utc < c_change then c_before else c_after end;
            v_fold := case when v_utc >= c_change and v_utc < c_change + c_back then 1 else 0 end;
            if v_mode = 2 then
                v_jump := false;
                if (p_spec.minutes >> date_part('minute', v_wall)::integer) & 1 = 1 then
                    v_mode := 0;
                end if;
            else
                v_tick := 60 - floor(date_part('second', v_wall))::integer;
                if v_tick = 60 then
                    v_mode := 0;
                end if;
            end if;
        else
            -- A roll of whole hours (mode 1) or minutes (mode 2), tick by tick until the unit is
            -- in v_stops, in closed form: the unit counts up one per tick from the wall clock
            -- before the change, and again from the wall clock after it.
            v_period := case when v_mode = 1 then 24 else 60 end;
            v_stops := case when v_mode = 1 then p_spec.hours else p_spec.minutes end | 1;
            v_step := case when v_mode = 1 then interval '1 hour' else interval '1 minute' end;
            v_count := case when c_change > v_utc
                then ceil(date_part('epoch', c_change - v_utc) / date_part('epoch', v_step))::integer end;
            v_value := date_part(case when v_mode = 1 then 'hour' else 'minute' end,
                                 v_utc + case when c_change > v_utc then c_before else c_after end)::integer;
            v_ticks := coalesce(nullif(syncsched._bit_next(v_stops, v_value + 1), -1),
                                syncsched._bit_low(v_stops) + v_period) - v_value;
            if v_ticks >= v_count then
                -- the stop is not before the change: count again from the first tick after it
                v_value := date_part(case when v_mode = 1 then 'hour' else 'minute' end,
                                     v_utc + v_count * v_step + c_after)::integer;
                v_ticks := v_count + coalesce(nullif(syncsched._bit_next(v_stops, v_value), -1),
                                              syncsched._bit_low(v_stops) + v_period) - v_value;
            end if;
            v_utc := v_utc + v_ticks * v_step;
            v_wall := v_utc + case when c_change is null or v_utc < c_change then c_before else c_after end;
            v_fold := case when v_utc >= c_change and v_utc < c_change + c_back then 1 else 0 end;
            v_mode := 0;
        end if;
    end loop;
    if v_answer at time zone 'UTC' > p_after then
        return v_answer at time zone 'UTC';
    end if;
    return syncsched._cron_next_rule(p_spec, p_after, p_tz);
end
$$;

ALTER FUNCTION syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) IS 'Next fire time of a non-fixed-time expression around a DST change: cronsim''s algorithm in real elapsed time where it answers later than p_after, else the first later instant whose wall clock matches.';

CREATE FUNCTION syncsched._cron_next_fixed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text, p_wall timestamp without time zone) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_wall timestamp := p_wall;
    v_limit integer := date_part('year', date_trunc('second', p_after at time zone p_tz) + interval '1 second')::integer + 50;
    v_at timestamptz;
    v_before interval;
    v_after interval;
    v_change timestamp;
begin
    -- p_wall is the first matching wall time after p_after's (cronsim's answer). Its fire
    -- time is earlier than p_after only when p_after is in the second pass of a repeated
    -- stretch: the stretch's times fired in the first pass, so go on after the stretch.
    for v_i in 1 .. 8 loop
        v_at := syncsched._cron_fire(v_wall, p_tz);
        if v_at > p_after then
            return v_at;
        end if;
        v_before := syncsched._tz_offset((v_wall::date - 1)::timestamp at time zone 'UTC', p_tz);
        v_after := syncsched._tz_offset((v_wall::date + 2)::timestamp at time zone 'UTC', p_tz);
        v_change := case when v_before > v_after then syncsched._tz_change(
            (v_wall::date - 1)::timestamp at time zone 'UTC', (v_wall::date + 2)::timestamp at time zone 'UTC', p_tz
        ) at time zone 'UTC' end;
        v_wall := syncsched._cron_next_wall(
            p_spec,
            case when v_wall < v_change + v_before then v_change + v_before else v_wall + interval '1 minute' end,
            v_limit, p_tz
        );
        if v_wall is null then
            return null;
        end if;
    end loop;
    perform syncsched._cron_give_up(p_spec, p_tz, 8);
    return null;
end
$$;

ALTER FUNCTION syncsched._cron_next_fixed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text, p_wall timestamp without time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_next_fixed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text, p_wall timestamp without time zone) IS 'Next fire time of a fixed-time expression around a DST change, from p_wall, the first matching wall time after p_after: strictly later than p_after.';

CREATE FUNCTION syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_at timestamptz := p_after;
    v_strict boolean := true;
    v_limit integer := date_part('year', p_after at time zone p_tz)::integer + 50;
    v_offset interval;
    v_change timestamptz;
    v_from timestamp;
    v_wall timestamp;
    v_next timestamptz;
begin
    -- The first instant after p_after whose wall clock matches, walking the stretches of
    -- constant offset: within one, the first matching wall time is the answer. A window of
    -- 72 hours holds at most one change; offsets within +-15 hours and jumps of at most 24
    -- hours make every instant between 72 hours after v_at and 72 hours before a candidate
    -- show a wall time between theirs, so such stretches are skipped whole. (The sweep of
    -- every tzdata transition needs 2 rounds at most.)
    for v_i in 1 .. 64 loop
        v_offset := syncsched._tz_offset(v_at, p_tz);
        v_change := syncsched._tz_change(v_at, v_at + interval '72 hours', p_tz);
        v_from := v_at at time zone p_tz;
        if v_strict then
            v_from := date_trunc('second', v_from) + interval '1 second';
        end if;
        v_wall := syncsched._cron_next_wall(p_spec, v_from, v_limit, p_tz);
        if v_wall is null then
            -- only a repeated stretch ahead can show earlier wall times again
            if v_change is null or syncsched._tz_offset(v_change, p_tz) > v_offset then
                return null;
            end if;
            v_at := v_change;
        else
            v_next := (v_wall - v_offset) at time zone 'UTC';
            if v_change is null then
                if v_next <= v_at + interval '72 hours' then
                    return v_next;
                end if;
                v_at := greatest(v_at + interval '72 hours', v_next - interval '72 hours');
            elsif v_next < v_change then
                return v_next;
            else
                v_at := v_change;
            end if;
        end if;
        v_strict := false;
    end loop;
    perform syncsched._cron_give_up(p_spec, p_tz, 64);
    return null;
end
$$;

ALTER FUNCTION syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) IS 'The first instant after p_after whose local wall clock in p_tz matches p_spec: the answer where cronsim''s algorithm hangs or goes backwards.';

CREATE FUNCTION syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_from timestamp;
    v_wall timestamp;
    v_at timestamptz;
begin
    if p_after is null or p_tz is null or (p_tz <> 'UTC' and not syncsched._tz_name_ok(p_tz)) then
        perform syncsched._tz_check(p_tz);  -- raises with the message
        raise exception 'the instant to start from is null' using errcode = 'invalid_parameter_value';
    end if;
    v_from := date_trunc('second', p_after at time zone p_tz) + interval '1 second';
    v_wall := syncsched._cron_next_wall(p_spec, v_from, date_part('year', v_from)::integer + 50, p_tz);
    if v_wall is null or p_tz = 'UTC' then
        return v_wall at time zone 'UTC';
    end if;
    -- The wall-clock answer holds on days without an offset change: for fixed-time
    -- expressions on the answer's day, for the others on the first and the last day.
    if syncsched._tz_day_is_plain(v_wall::date, p_tz)
        and (p_spec.fixed_time or v_wall::date = v_from::date or syncsched._tz_day_is_plain(v_from::date, p_tz)) then
        v_at := v_wall at time zone p_tz;
        if v_at > p_after then
            return v_at;
        end if;
    end if;
    if p_spec.fixed_time then
        return syncsched._cron_next_fixed(p_spec, p_after, p_tz, v_wall);
    end if;
    return syncsched._cron_next_elapsed(p_spec, p_after, p_tz);
end
$$;

ALTER FUNCTION syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) IS 'cron_next_spec without its pinned search_path, for the callers inside syncsched (the tick, the schedule trigger), which pin theirs.';

CREATE FUNCTION syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp without time zone, p_limit integer, p_tz text) RETURNS timestamp without time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_at timestamp := date_trunc('minute', p_from);
    v_steps integer := 0;
    v_month integer;
    v_hour integer;
    v_next integer;
    v_day date;
    v_days bigint;
    v_days_of date;
begin
    if v_at < p_from then
        v_at := v_at + interval '1 minute';
    end if;
    if date_part('year', v_at) > p_limit
        or p_spec.minutes & 1152921504606846975 = 0 or p_spec.hours & 16777215 = 0 or p_spec.months & 8190 = 0 then
        if date_part('year', v_at) > p_limit then
            return null;
        end if;
        perform syncsched._cron_give_up(p_spec, p_tz, 0);  -- hand-made: nothing can match
    end if;
    loop
        v_month := date_part('month', v_at)::integer;
        if (p_spec.months >> v_month) & 1 = 1 then
            v_day := v_at::date;
            if not p_spec.any_day then
                -- the next matching day of this month, from the bits of its matching days
                if v_days_of is distinct from v_day - (date_part('day', v_day)::integer - 1) then
                    v_days_of := v_day - (date_part('day', v_day)::integer - 1);
                    v_days := syncsched._cron_month_days(p_spec, v_days_of);
                end if;
                v_next := syncsched._bit_next(v_days, date_part('day', v_day)::integer);
                if v_next < 0 then
                    v_day := null;
                    v_at := (v_days_of + interval '1 month')::timestamp;
                elsif v_next > date_part('day', v_day) then
                    v_day := v_days_of + (v_next - 1);
                    v_at := v_day::timestamp;
                end if;
            end if;
            if v_day is not null then
                -- the day matches: the first matching hour and minute from v_at on, else the next day
                v_hour := date_part('hour', v_at)::integer;
                if (p_spec.hours >> v_hour) & 1 = 1 then
                    v_next := syncsched._bit_next(p_spec.minutes, date_part('minute', v_at)::integer);
                    if v_next >= 0 then
                        return v_day + make_interval(hours => v_hour, mins => v_next);
                    end if;
                end if;
                v_next := syncsched._bit_next(p_spec.hours, v_hour + 1);
                if v_next >= 0 then
                    return v_day + make_interval(hours => v_next, mins => syncsched._bit_low(p_spec.minutes));
                end if;
                v_at := v_day + interval '1 day';
            end if;
        else
            v_next := syncsched._bit_next(p_spec.months, v_month + 1);
            v_at := case
                when v_next < 0 then make_timestamp(date_part('year', v_at)::integer + 1, syncsched._bit_low(p_spec.months), 1, 0, 0, 0)
                else make_timestamp(date_part('year', v_at)::integer, v_next, 1, 0, 0, 0)
            end;
        end if;
        -- Each step moves to the next matching month, the next matching day of the month or
        -- the next day: a few steps per month of the 50 years. The cap is far above that.
        v_steps := v_steps + 1;
        if v_steps > 5000 then
            perform syncsched._cron_give_up(p_spec, p_tz, v_steps);
        end if;
        if date_part('year', v_at) > p_limit then
            return null;
        end if;
    end loop;
end
$$;

ALTER FUNCTION syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp without time zone, p_limit integer, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp without time zone, p_limit integer, p_tz text) IS 'First wall-clock minute at or after p_from that matches p_spec, ignoring time zones; NULL after year p_limit. p_tz only names the zone if the step cap is hit.';

CREATE FUNCTION syncsched._cron_number(p_text text, p_field integer, p_what text) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
begin
    if p_text = '' then
        perform syncsched._cron_fail(p_field, format('empty %s', p_what));
    end if;
    if p_text !~ '^[0-9]+$' then
        perform syncsched._cron_fail(p_field, format('%s "%s" is not a number', p_what, left(p_text, 20)));
    end if;
    if length(ltrim(p_text, '0')) > 6 then
        return 999999;
    end if;
    return p_text::integer;
end
$_$;

ALTER FUNCTION syncsched._cron_number(p_text text, p_field integer, p_what text) OWNER TO syncsched_owner;

CREATE FUNCTION syncsched._cron_parse(p_expr text, p_seed text DEFAULT NULL::text) RETURNS syncsched.cron_spec
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
declare
    v_fields text[] := syncsched._cron_fields(p_expr, p_seed);
    v_minutes bigint;
    v_hours bigint;
    v_days bigint;
    v_months bigint;
    v_weekdays bigint;
    v_day_and boolean;
    v_longest integer := 0;
begin
    -- '*' and a plain number are most fields of most schedules: no call for them
    v_minutes := case
        when v_fields[1] = '*' then 1152921504606846975
        when v_fields[1] ~ '^[0-9]{1,2}$' and v_fields[1]::integer < 60 then 1::bigint << v_fields[1]::integer
        else syncsched._cron_field(v_fields[1], 1)
    end;
    v_hours := case
        when v_fields[2] = '*' then 16777215
        when v_fields[2] ~ '^[0-9]{1,2}$' and v_fields[2]::integer < 24 then 1::bigint << v_fields[2]::integer
        else syncsched._cron_field(v_fields[2], 2)
    end;
    v_days := case when v_fields[3] = '*' then 4294967294 else syncsched._cron_field(v_fields[3], 3) end;
    v_months := case when v_fields[4] = '*' then 8190 else syncsched._cron_field(v_fields[4], 4) end;
    -- weekday 7 is Sunday
    v_weekdays := case when v_fields[5] = '*' then 127 else syncsched._cron_field(v_fields[5], 5) end;
    v_weekdays := (v_weekdays & ~(1::bigint << 7)) | ((v_weekdays >> 7) & 1);
    v_day_and := left(v_fields[3], 1) = '*' or left(v_fields[5], 1) = '*';
    if v_day_and and v_days < 4294967296 and v_days & 1073741823 = 0 then
        -- only days after the 29th (bits 0-29 clear): one of them must occur in one of the months
        for v_month in 1 .. 12 loop
            if (v_months >> v_month) & 1 = 1 then
                v_longest := greatest(v_longest, (array[31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[v_month]);
            end if;
        end loop;
        if syncsched._bit_low(v_days) > v_longest then
            raise exception 'day-of-month: day % never occurs in month %', syncsched._bit_low(v_days), v_fields[4]
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    return row(
        v_minutes, v_hours, v_days, v_months, v_weekdays, v_day_and,
        v_day_and and v_days = 4294967294 and v_weekdays = 127,
        left(v_fields[1], 1) <> '*' and left(v_fields[2], 1) <> '*'
    )::syncsched.cron_spec;
end
$_$;

ALTER FUNCTION syncsched._cron_parse(p_expr text, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_parse(p_expr text, p_seed text) IS 'cron_parse without its pinned search_path, for the callers inside syncsched (which pin theirs).';

CREATE FUNCTION syncsched._cron_plain_value(p_text text, p_field integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    -- a number (one or two digits) or a three-letter name, NULL when it is not a valid value
    select case
        when p_text ~ '^[0-9]+$' then case
            when p_text::integer between (array[0, 0, 1, 1, 0])[p_field] and (array[59, 23, 31, 12, 7])[p_field]
                then p_text::integer
        end
        when p_field = 4 and strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) % 3 = 1
            then (strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) + 2) / 3
        when p_field = 5 and strpos('SUNMONTUEWEDTHUFRISAT', p_text) % 3 = 1
            then (strpos('SUNMONTUEWEDTHUFRISAT', p_text) - 1) / 3
    end
$_$;

ALTER FUNCTION syncsched._cron_plain_value(p_text text, p_field integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_plain_value(p_text text, p_field integer) IS 'One value of cron field p_field (1-5), a number or an upper-case name; NULL when not valid (the long path says why).';

CREATE FUNCTION syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
declare
    -- H alone spans the field's range, but for day-of-month 1-28 (every month has them) and
    -- day-of-week 0-6 (7 is 0 again), as Jenkins does
    v_low integer := (array[0, 0, 1, 1, 0])[p_position];
    v_high integer := (array[59, 23, 31, 12, 7])[p_position];
    v_terms text[] := string_to_array(p_field, ',');
    v_match text[];
    v_from integer;
    v_to integer;
    v_step integer;
    v_hash bigint;
begin
    -- Jenkins' H: H, H(a-b), H/n and H(a-b)/n, alone or in lists, each replaced by plain cron
    -- (a value, or start-end/n with a hashed start) chosen by _cron_hash of the seed, field and term.
    for v_term in 1 .. cardinality(v_terms) loop
        continue when left(v_terms[v_term], 1) <> 'H';
        v_match := regexp_match(v_terms[v_term], '^H(\(([0-9]{1,2})-([0-9]{1,2})\))?(/([0-9]{1,3}))?$');
        if v_match is null then
            perform syncsched._cron_fail(p_position,
                format('"%s": H is written H, H(a-b), H/n or H(a-b)/n', left(v_terms[v_term], 20)));
        end if;
        if v_match[1] is null then
            v_from := v_low;
            v_to := case p_position when 3 then 28 when 5 then 6 else v_high end;
        else
            v_from := v_match[2]::integer;
            v_to := v_match[3]::integer;
            if v_from < v_low or v_to > v_high or v_from > v_to then
                perform syncsched._cron_fail(p_position,
                    format('"%s": H(a-b) needs %s <= a <= b <= %s', left(v_terms[v_term], 20), v_low, v_high));
            end if;
        end if;
        v_hash := syncsched._cron_hash(p_seed, p_position, v_term);
        if v_match[5] is null then
            v_terms[v_term] := (v_from + v_hash % (v_to - v_from + 1))::text;
        else
            v_step := v_match[5]::integer;
            if v_step = 0 then
                perform syncsched._cron_fail(p_position,
                    format('"%s": step must be at least 1', left(v_terms[v_term], 20)));
            end if;
            v_terms[v_term] := format('%s-%s/%s', v_from + v_hash % least(v_step, v_to - v_from + 1), v_to, v_step);
        end if;
    end loop;
    return array_to_string(v_terms, ',');
end
$_$;

ALTER FUNCTION syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text) IS 'One upper-cased cron field (position 1-5) with its H terms replaced by what they resolve to for p_seed.';

CREATE FUNCTION syncsched._cron_spec_text(p_spec syncsched.cron_spec) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select concat_ws(' ',
        case when p_spec.minutes = 1152921504606846975 then '*' else syncsched._cron_bits_text(p_spec.minutes, 0, 59) end,
        case when p_spec.hours = 16777215 then '*' else syncsched._cron_bits_text(p_spec.hours, 0, 23) end,
        case when p_spec.days = 4294967294 then '*' else concat_ws(',',
            nullif(syncsched._cron_bits_text(p_spec.days, 1, 31), '-'),
            case when (p_spec.days >> 32) & 1 = 1 then 'L' end,
            case when (p_spec.days >> 33) & 1 = 1 then 'LW' end) end,
        case when p_spec.months = 8190 then '*' else syncsched._cron_bits_text(p_spec.months, 1, 12) end,
        case when p_spec.weekdays = 127 then '*' else concat_ws(',',
            nullif(syncsched._cron_bits_text(p_spec.weekdays, 0, 6), '-'),
            (select string_agg((b - 8)::text || 'L', ',' order by b)
             from generate_series(8, 14) as b where (p_spec.weekdays >> b) & 1 = 1),
            (select string_agg(((b - 16) / 5)::text || '#' || ((b - 16) % 5 + 1)::text, ',' order by b)
             from generate_series(16, 50) as b where (p_spec.weekdays >> b) & 1 = 1)) end)
$$;

ALTER FUNCTION syncsched._cron_spec_text(p_spec syncsched.cron_spec) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_spec_text(p_spec syncsched.cron_spec) IS 'A cron expression equivalent to p_spec (lists of numbers), for messages about a parsed schedule.';

CREATE FUNCTION syncsched._cron_term(p_text text, p_field integer) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
declare
    -- bits of each field's full range: minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7
    v_high integer := (array[59, 23, 31, 12, 7])[p_field];
    v_full bigint := (array[
        1152921504606846975, 16777215, 4294967294, 8190, 255
    ]::bigint[])[p_field];
    v_mask bigint := 0;
    v_term text;
    v_items bigint;
    v_step integer;
    v_start integer;
    v_end integer;
    v_pos integer;
    v_bit integer;
    v_count integer;
begin
    if p_text = '*' then
        return v_full;
    end if;
    if p_field = 5 and strpos(p_text, 'L') > 0 then
        v_term := left(p_text, -1);
        if v_term !~ '^[0-9]+$' then
            perform syncsched._cron_fail(
                p_field, format('"%s": L needs a weekday number before it, as in 5L', left(p_text, 20))
            );
        end if;
        return 1::bigint << (8 + syncsched._cron_value(v_term, p_field) % 7);
    end if;
    v_pos := strpos(p_text, '#');
    if p_field = 5 and v_pos > 0 then
        v_step := syncsched._cron_number(substr(p_text, v_pos + 1), p_field, 'week number');
        if v_step < 1 or v_step > 5 then
            perform syncsched._cron_fail(
                p_field, format('"%s": the week number after # must be 1-5', left(p_text, 20))
            );
        end if;
        return 1::bigint << (16 + 5 * (syncsched._cron_value(left(p_text, v_pos - 1), p_field) % 7) + v_step - 1);
    end if;
    v_pos := strpos(p_text, '/');
    if v_pos > 0 then
        v_step := syncsched._cron_number(substr(p_text, v_pos + 1), p_field, 'step');
        if v_step = 0 then
            perform syncsched._cron_fail(p_field, format('"%s": step must be at least 1', left(p_text, 20)));
        end if;
        v_items := syncsched._cron_term(left(p_text, v_pos - 1), p_field);
        if p_field = 3 and v_items >= (1::bigint << 32) then
            return v_items;  -- L/n and LW/n are L and LW
        end if;
        v_start := syncsched._bit_low(v_items);
        if v_items & (v_items - 1) = 0 and strpos(left(p_text, v_pos - 1), '-') = 0 then
            -- a single start value runs to the end of the field's range (a range a-a stays a)
            for v_bit in v_start .. v_high by v_step loop
                v_mask := v_mask | (1::bigint << v_bit);
            end loop;
            return v_mask;
        end if;
        v_count := 0;
        for v_bit in v_start .. v_high loop
            if (v_items >> v_bit) & 1 = 1 then
                if v_count % v_step = 0 then
                    v_mask := v_mask | (1::bigint << v_bit);
                end if;
                v_count := v_count + 1;
            end if;
        end loop;
        return v_mask;
    end if;
    v_pos := strpos(p_text, '-');
    if v_pos > 0 then
        v_start := syncsched._cron_value(left(p_text, v_pos - 1), p_field);
        v_end := syncsched._cron_value(substr(p_text, v_pos + 1), p_field);
        if v_end < v_start then
            perform syncsched._cron_fail(p_field, format('range %s goes backwards', left(p_text, 20)));
        end if;
        return ((1::bigint << (v_end + 1)) - 1) & ~((1::bigint << v_start) - 1);
    end if;
    if p_field = 3 and p_text = 'LW' then
        return 1::bigint << 33;
    end if;
    if p_field = 3 and p_text = 'L' then
        return 1::bigint << 32;
    end if;
    return 1::bigint << syncsched._cron_value(p_text, p_field);
end
$_$;

ALTER FUNCTION syncsched._cron_term(p_text text, p_field integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_term(p_text text, p_field integer) IS 'Bit mask of one term of an upper-cased cron field (1 minute, 2 hour, 3 day-of-month, 4 month, 5 day-of-week), every form; raises invalid_parameter_value naming the problem.';

CREATE FUNCTION syncsched._cron_value(p_text text, p_field integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
declare
    v_value integer;
    v_low integer := (array[0, 0, 1, 1, 0])[p_field];
    v_high integer := (array[59, 23, 31, 12, 7])[p_field];
begin
    if p_field = 4 and length(p_text) = 3 then
        v_value := (strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) + 2) / 3;
        if v_value > 0 and (v_value - 1) * 3 + 1 = strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) then
            return v_value;
        end if;
    end if;
    if p_field = 5 and length(p_text) = 3 then
        v_value := strpos('SUNMONTUEWEDTHUFRISAT', p_text);
        if v_value > 0 and v_value % 3 = 1 then
            return (v_value - 1) / 3;
        end if;
    end if;
    if p_field in (4, 5) and p_text ~ '^[A-Z]+$' then
        perform syncsched._cron_fail(p_field, format('unknown name "%s"', left(p_text, 20)));
    end if;
    if p_text = '' then
        perform syncsched._cron_fail(p_field, 'empty value');
    end if;
    v_value := syncsched._cron_number(p_text, p_field, 'value');
    if v_value < v_low or v_value > v_high then
        perform syncsched._cron_fail(p_field, format('%s is out of range %s-%s', left(p_text, 20), v_low, v_high));
    end if;
    return v_value;
end
$_$;

ALTER FUNCTION syncsched._cron_value(p_text text, p_field integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._cron_value(p_text text, p_field integer) IS 'One value of a cron field (number or name), range-checked.';

CREATE FUNCTION syncsched._derive_schedule_state() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_spec syncsched.cron_spec := case when new.cron_schedule is not null
        then syncsched._cron_parse(new.cron_schedule, syncsched._integration_seed(new.org_id, new.integration_id)) end;
    v_next timestamptz := case
        when new.is_enabled then syncsched._schedule_next(v_spec, new.interval_minutes, new.timezone, now())
    end;
begin
    -- The state is always derived from the configuration, from now: the next period, and the
    -- staleness deadline of a schedule that starts now (none while disabled or unscheduled).
    insert into syncsched.schedule_state as s (
        id, org_id, cron_spec, next_run_at, last_tick_at, stale_check_at, derived_at, problem
    )
    values (
        new.id, new.org_id, v_spec, v_next, null,
        case when v_next is not null then syncsched._stale_deadline(v_spec, new.interval_minutes, new.timezone,
            new.max_staleness, now()) end,
        now(), null
    )
    on conflict (id, org_id) do update
    set cron_spec = excluded.cron_spec, next_run_at = excluded.next_run_at, last_tick_at = null,
        stale_check_at = excluded.stale_check_at, derived_at = excluded.derived_at, problem = null;
    if tg_op = 'UPDATE' and syncsched._on_citus_worker() then
        -- (a Citus shard, where the alerts are not: for the coordinator)
        perform syncsched._shard_outbox_add(null, new.org_id, new.integration_id, new.integration_type, null,
            syncsched._alert_key('invalid_schedule', new.org_id, new.integration_id, null));
    elsif tg_op = 'UPDATE' then
        -- a valid schedule again: the tick's invalid_schedule alert is over
        perform syncsched._resolve_alerts(
            array[syncsched._alert_key('invalid_schedule', new.org_id, new.integration_id, null)]
        );
    end if;
    return null;
end
$$;

ALTER FUNCTION syncsched._derive_schedule_state() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._derive_schedule_state() IS 'Derives schedule_state (parsed cron, next period, staleness deadline) from an integration''s schedule when it is created or its schedule changes.';

CREATE FUNCTION syncsched._distributed() RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $_$
declare
    v_distributed boolean := false;
begin
    if to_regclass('pg_catalog.pg_dist_partition') is not null then
        execute format('select exists (select from %s where logicalrelid = $1)', 'pg_catalog.pg_dist_partition')
            into v_distributed using 'syncsched.schedule_state'::regclass;
    end if;
    return v_distributed;
end
$_$;

ALTER FUNCTION syncsched._distributed() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._distributed() IS 'Whether syncsched''s per-tenant tables are distributed by Citus (distributed mode, docs/citus.md).';

CREATE FUNCTION syncsched._drop_run_log_partition(p_runs regclass, p_attempts regclass, p_cutoff timestamp with time zone, p_keep_per_integration integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $_$
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
$_$;

ALTER FUNCTION syncsched._drop_run_log_partition(p_runs regclass, p_attempts regclass, p_cutoff timestamp with time zone, p_keep_per_integration integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._drop_run_log_partition(p_runs regclass, p_attempts regclass, p_cutoff timestamp with time zone, p_keep_per_integration integer) IS 'Drop a partition of the run log and its attempts whose range is past the cutoff, keeping what retention keeps (moved to the DEFAULT partition); deferred while it holds a pending or running run.';

CREATE FUNCTION syncsched._due_periods(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_next_run_at timestamp with time zone, p_now timestamp with time zone, p_policy syncsched.misfire_policy, p_grace interval, p_catch_up_limit integer, OUT periods timestamp with time zone[], OUT missed bigint, OUT first_missed timestamp with time zone, OUT last_missed timestamp with time zone, OUT next_run_at timestamp with time zone, OUT problem text) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
declare
    -- periods stepped through one by one before the silence is counted day by day instead
    c_stepped constant integer := 500;
    v_step interval := make_interval(mins => p_interval_minutes);
    v_at timestamptz := p_next_run_at;
    v_latest timestamptz;
    v_before timestamptz;
    v_total bigint := 0;
    v_counted record;
begin
    -- The periods in [next_run_at, p_now]: which get a run now (the policy decides), how many are
    -- missed (exactly, with the first and last), and the schedule's next period. Never raises: a
    -- schedule that cannot be evaluated comes back with its problem, and only it is skipped.
    periods := '{}';
    missed := 0;
    next_run_at := p_next_run_at;
    if p_next_run_at is null or p_next_run_at > p_now then
        return;
    end if;
    if p_interval_minutes is null and p_spec is null then
        raise exception 'no parsed schedule' using errcode = 'invalid_parameter_value';
    end if;
    if p_interval_minutes is not null then
        -- next_run_at, then the multiples of N minutes since the epoch after it: counted, never enumerated
        v_at := syncsched._interval_next(p_interval_minutes, p_next_run_at);
        v_latest := p_next_run_at;
        v_total := 1;
        if v_at <= p_now then
            v_latest := to_timestamp(floor(extract(epoch from p_now) / (p_interval_minutes * 60)) * (p_interval_minutes * 60));
            v_total := round(extract(epoch from v_latest - v_at) / (p_interval_minutes * 60))::bigint + 2;
            v_before := greatest(v_latest - v_step, p_next_run_at);
        end if;
        if p_policy = 'catch_up' then
            periods := array[p_next_run_at] || array(
                select g from generate_series(v_at, least(v_latest, v_at + (p_catch_up_limit - 2) * v_step), v_step) as g
            );
            periods := periods[1:p_catch_up_limit];
            next_run_at := syncsched._interval_next(p_interval_minutes, periods[cardinality(periods)]);
            return;
        end if;
        next_run_at := syncsched._interval_next(p_interval_minutes, v_latest);
    elsif p_policy = 'catch_up' then
        while v_at <= p_now and cardinality(periods) < p_catch_up_limit loop
            periods := periods || v_at;
            v_at := syncsched._cron_after(p_spec, v_at, p_timezone);
        end loop;
        next_run_at := v_at;
        return;
    else
        while v_at <= p_now and v_total < c_stepped loop
            v_total := v_total + 1;
            v_before := v_latest;
            v_latest := v_at;
            v_at := syncsched._cron_after(p_spec, v_at, p_timezone);
        end loop;
        if v_at <= p_now then
            v_counted := syncsched._cron_fires_between(p_spec, p_timezone, p_next_run_at, p_now);
            v_total := v_counted.fires;
            v_latest := v_counted.last;
            v_before := v_counted.before_last;
            v_at := syncsched._cron_after(p_spec, v_latest, p_timezone);
        end if;
        next_run_at := v_at;
    end if;
    -- run_once: the latest period runs, the ones before it are missed; skip: the same within
    -- misfire_grace, else none runs
    if p_policy = 'skip' and p_now - v_latest > p_grace then
        missed := v_total;
        last_missed := v_latest;
    else
        periods := array[v_latest];
        missed := v_total - 1;
        last_missed := v_before;
    end if;
    first_missed := case when missed > 0 then p_next_run_at end;
exception
    when others then
        periods := '{}';
        missed := 0;
        first_missed := null;
        last_missed := null;
        next_run_at := null;
        problem := sqlerrm;
end
$$;

ALTER FUNCTION syncsched._due_periods(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_next_run_at timestamp with time zone, p_now timestamp with time zone, p_policy syncsched.misfire_policy, p_grace interval, p_catch_up_limit integer, OUT periods timestamp with time zone[], OUT missed bigint, OUT first_missed timestamp with time zone, OUT last_missed timestamp with time zone, OUT next_run_at timestamp with time zone, OUT problem text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._due_periods(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_next_run_at timestamp with time zone, p_now timestamp with time zone, p_policy syncsched.misfire_policy, p_grace interval, p_catch_up_limit integer, OUT periods timestamp with time zone[], OUT missed bigint, OUT first_missed timestamp with time zone, OUT last_missed timestamp with time zone, OUT next_run_at timestamp with time zone, OUT problem text) IS 'The periods of a schedule due at p_now: those that get a run (by misfire policy), how many are missed with the first and last, the next period, or the problem that stops its evaluation. Never raises.';

CREATE FUNCTION syncsched._end_attempts(p_run_ids bigint[], p_lease_tokens uuid[], p_outcome text, p_retryable boolean, p_error text, p_http_status integer DEFAULT NULL::integer, p_retry_after interval DEFAULT NULL::interval, p_orgs text[] DEFAULT NULL::text[]) RETURNS TABLE(run_id bigint, org_id text, integration_id text, integration_type text, status syncsched.run_status, attempt integer, error text, not_before timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._end_attempts(p_run_ids bigint[], p_lease_tokens uuid[], p_outcome text, p_retryable boolean, p_error text, p_http_status integer, p_retry_after interval, p_orgs text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._end_attempts(p_run_ids bigint[], p_lease_tokens uuid[], p_outcome text, p_retryable boolean, p_error text, p_http_status integer, p_retry_after interval, p_orgs text[]) IS 'End running attempts without a success (fenced by their lease tokens; of the organizations p_orgs, null: any) and record them: pending again while attempts are left and p_retryable, else failed. Returns the runs ended.';

CREATE FUNCTION syncsched._endpoints(p_integration_types text[], p_timeout_cap interval DEFAULT NULL::interval) RETURNS TABLE(integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select t.integration_type, coalesce(t.health_url, t.endpoint_url), t.health_method,
        least(t.timeout_ms, (extract(epoch from p_timeout_cap) * 1000)::integer), t.connect_timeout_ms
    from syncsched.integration_types as t
    where t.integration_type = any(p_integration_types)
$$;

ALTER FUNCTION syncsched._endpoints(p_integration_types text[], p_timeout_cap interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._endpoints(p_integration_types text[], p_timeout_cap interval) IS 'Where a health check or warm-up of these types goes: health_url (else endpoint_url), method and timeouts.';

CREATE FUNCTION syncsched._has_runs(p_org_id text, p_integration_id text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $$
begin
    -- (PL/pgSQL: on a Citus shard, where its trigger calls it, Citus plans no SQL function's parameters)
    return exists (
        select 1 from syncsched.sync_run_log as r where r.org_id = p_org_id and r.integration_id = p_integration_id
    );
end
$$;

ALTER FUNCTION syncsched._has_runs(p_org_id text, p_integration_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._has_runs(p_org_id text, p_integration_id text) IS 'Whether an integration has runs (history that names it).';

CREATE FUNCTION syncsched._health_changed(p_integration_type text, p_from text, p_to text, p_detail jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    if p_to = 'unhealthy' and p_from <> 'unhealthy' then
        perform syncsched._alert('endpoint_unhealthy', null, null, p_integration_type, p_detail);
    elsif p_to = 'healthy' and p_from = 'unhealthy' then
        perform syncsched._resolve_alerts(
            array[syncsched._alert_key('endpoint_unhealthy', null, null, p_integration_type)]
        );
        perform syncsched._alert('endpoint_recovered', null, null, p_integration_type, p_detail);
        -- the circuit closed: the runs it held may go now, not at the workers' next poll
        perform pg_notify('syncsched_runs', json_build_object('recovered', p_integration_type)::text);
    end if;
end
$$;

ALTER FUNCTION syncsched._health_changed(p_integration_type text, p_from text, p_to text, p_detail jsonb) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._health_changed(p_integration_type text, p_from text, p_to text, p_detail jsonb) IS 'Alerts of a health transition: endpoint_unhealthy when a type turns unhealthy, endpoint_recovered (resolving it, and waking the workers) when it is healthy again.';

CREATE FUNCTION syncsched._health_checked(p_mode text, p_integration_type text) RETURNS boolean
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
begin
    -- active mode, and in use: an unconfigured example type is never pinged (PL/pgSQL: Citus plans
    -- no distributed query in a SQL function with parameters)
    return p_mode = 'active' and exists (
        select 1 from syncsched.organization_integrations as o
        where o.integration_type = p_integration_type and o.is_enabled
    );
end
$$;

ALTER FUNCTION syncsched._health_checked(p_mode text, p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._health_checked(p_mode text, p_integration_type text) IS 'Whether the workers send health checks to a type: active mode, and an enabled integration of that type.';

CREATE FUNCTION syncsched._health_from_runs(p_integration_types text[], p_ok boolean, p_error text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_threshold integer;
    v_change record;
    v_now timestamptz := now();  -- (Citus allows no now() in a CASE of a reference table's UPDATE)
begin
    -- Passive mode only, and only rows that change: nothing is written while all is well, and
    -- nothing is read past this check on the hot path when no type is passive.
    if not exists (
        select from syncsched.endpoint_health as h
        where h.integration_type = any(p_integration_types) and h.mode = 'passive'
    ) then
        return;
    end if;
    v_threshold := syncsched.setting('passive_failure_threshold')::integer;
    for v_change in
        with previous as (
            select h.integration_type, h.status
            from syncsched.endpoint_health as h
            where h.integration_type = any(p_integration_types) and h.mode = 'passive'
                and (not p_ok or h.status <> 'healthy' or h.consecutive_failures > 0)
            for update
        )
        update syncsched.endpoint_health as h
        set consecutive_failures = case when p_ok then 0 else h.consecutive_failures + 1 end,
            status = case
                when p_ok then 'healthy'
                when h.consecutive_failures + 1 >= v_threshold then 'unhealthy'
                else h.status
            end,
            last_success_at = case when p_ok then v_now else h.last_success_at end,
            last_error = case when p_ok then null else left(p_error, 1000) end,
            updated_at = now()
        from previous
        where h.integration_type = previous.integration_type
        returning h.integration_type, previous.status as was, h.status as now_is, h.consecutive_failures
    loop
        perform syncsched._health_changed(v_change.integration_type, v_change.was, v_change.now_is,
            jsonb_build_object('mode', 'passive', 'consecutive_failures', v_change.consecutive_failures,
                               'error', left(p_error, 500)));
    end loop;
end
$$;

ALTER FUNCTION syncsched._health_from_runs(p_integration_types text[], p_ok boolean, p_error text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._health_from_runs(p_integration_types text[], p_ok boolean, p_error text) IS 'Passive mode: a completed run makes its type healthy; passive_failure_threshold failed attempts in a row make it unhealthy.';

CREATE FUNCTION syncsched._host_allowed(p_host text, p_setting text) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select p_host = any(
        select lower(rtrim(btrim(btrim(h), '[]'), '.'))
        from unnest(string_to_array(syncsched.setting(p_setting), ',')) as h
        where btrim(h) <> ''
    )
$$;

ALTER FUNCTION syncsched._host_allowed(p_host text, p_setting text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._host_allowed(p_host text, p_setting text) IS 'Whether the host (lower case, no brackets, no trailing dot) is in the comma-separated host list of the setting.';

CREATE FUNCTION syncsched._integration_after_disable() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    update syncsched.sync_run_log as r
    set status = 'cancelled', finished_at = now(), error = 'integration disabled'
    where r.org_id = new.org_id and r.integration_id = new.integration_id and r.status = 'pending';
    return null;
end
$$;

ALTER FUNCTION syncsched._integration_after_disable() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_after_disable() IS 'Disabling an integration cancels its pending runs.';

CREATE FUNCTION syncsched._integration_audit_detail(p_old jsonb, p_new jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$
    -- Created or deleted: the configuration (id, created_at and updated_at say nothing the entry does
    -- not). Changed: only the fields that changed, each as [before, after]; NULL when none did.
    select case
        when p_old is null then p_new - '{id,created_at,updated_at}'::text[]
        when p_new is null then p_old - '{id,created_at,updated_at}'::text[]
        else (
            select jsonb_object_agg(f.key, jsonb_build_array(f.value, p_new -> f.key))
            from jsonb_each(p_old - '{created_at,updated_at}'::text[]) as f
            where f.value is distinct from p_new -> f.key
        )
    end
$$;

ALTER FUNCTION syncsched._integration_audit_detail(p_old jsonb, p_new jsonb) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_audit_detail(p_old jsonb, p_new jsonb) IS 'The detail of an integration''s audit entry: its configuration when created or deleted, the fields that changed ([before, after]) otherwise, NULL when nothing did.';

CREATE FUNCTION syncsched._integration_before_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- Runs are history: a plain DELETE does not take them along (delete_integration does, when asked).
    -- The schedule's state row first: a tick or run_now creating a run for it holds it until commit,
    -- so that the run is seen here (the runs have no foreign key to keep them company).
    perform syncsched._lock_schedule(old.org_id, old.id);
    if syncsched._has_runs(old.org_id, old.integration_id) then
        raise exception 'syncsched: integration %/% has runs: deleting it would delete their history',
            syncsched._label(old.org_id), syncsched._label(old.integration_id)
            using errcode = 'object_in_use',
                hint = format('disable it to keep its history (select syncsched.disable_integration(%L, %L)), or '
                    'delete it with its history: select syncsched.delete_integration(%L, %L, p_delete_history => true)',
                    old.org_id, old.integration_id, old.org_id, old.integration_id);
    end if;
    return old;
end
$$;

ALTER FUNCTION syncsched._integration_before_delete() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_before_delete() IS 'Refuses to delete an integration that has runs (SQLSTATE 55006, with a hint): disable it, or delete_integration(..., p_delete_history => true).';

CREATE FUNCTION syncsched._integration_before_write() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_problem text[];
    v_canonical text;
begin
    -- The one place where a configuration is checked, for plain SQL and the API alike: SQLSTATE
    -- 22023 naming org, integration and the problem, with a hint where one helps; nothing written.
    new.updated_at := now();
    if tg_op = 'INSERT' or new.timezone is distinct from old.timezone then
        -- a zone name in another case is stored as its canonical name (the workers' labels need it)
        v_canonical := syncsched._tz_canonical(new.timezone);
        if v_canonical <> new.timezone and lower(v_canonical) = lower(new.timezone) then
            new.timezone := v_canonical;
        end if;
    end if;
    if tg_op = 'UPDATE' and new.org_id is distinct from old.org_id then
        -- org_id is in every key of its state and runs, and on Citus it is the distribution column
        raise exception 'syncsched: integration %/% cannot move to organization %: an integration keeps its organization',
            syncsched._label(old.org_id), syncsched._label(old.integration_id), syncsched._label(new.org_id)
            using errcode = 'invalid_parameter_value',
                hint = 'create an integration in the other organization and disable or delete this one';
    end if;
    if tg_op = 'UPDATE' and new.integration_id is distinct from old.integration_id then
        -- its runs name it (and their idempotency keys): an integration with history keeps its name
        perform syncsched._lock_schedule(old.org_id, old.id);
        if syncsched._has_runs(old.org_id, old.integration_id) then
            raise exception 'syncsched: integration %/% has runs: it cannot be renamed',
                syncsched._label(old.org_id), syncsched._label(old.integration_id)
                using errcode = 'object_in_use',
                    hint = 'create an integration of the new name and disable this one (its history stays)';
        end if;
    end if;
    -- (as the table's row type: on a Citus shard, NEW is the shard's)
    v_problem := syncsched._config_problem(row(new.*)::syncsched.organization_integrations);
    if v_problem is null and (
        tg_op = 'INSERT'
        or new.cron_schedule is distinct from old.cron_schedule
        or new.interval_minutes is distinct from old.interval_minutes
        or new.timezone is distinct from old.timezone
        or new.is_enabled is distinct from old.is_enabled
        or new.integration_id is distinct from old.integration_id
    ) then
        -- (an unchanged schedule was valid when written; a renamed one may resolve H anew)
        v_problem := array[
            syncsched.schedule_problem(new.cron_schedule, new.interval_minutes, new.timezone, new.is_enabled,
                syncsched._integration_seed(new.org_id, new.integration_id)), null
        ];
    end if;
    if v_problem[2] is not null then
        raise exception 'syncsched: integration %/% %', syncsched._label(new.org_id),
            syncsched._label(new.integration_id), v_problem[1]
            using errcode = 'invalid_parameter_value', hint = v_problem[2];
    elsif v_problem[1] is not null then
        raise exception 'syncsched: integration %/% %', syncsched._label(new.org_id),
            syncsched._label(new.integration_id), v_problem[1]
            using errcode = 'invalid_parameter_value';
    end if;
    return new;
end
$$;

ALTER FUNCTION syncsched._integration_before_write() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_before_write() IS 'Checks every integration written, plain SQL or API (SQLSTATE 22023 naming org, integration and problem, with a hint); stores zone names in their canonical spelling; refuses to move one to another organization (22023) or to rename one with runs (55006).';

CREATE FUNCTION syncsched._integration_id(p_org_id text, p_integration_id text) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_id bigint;
begin
    perform syncsched._require(p_org_id, 'p_org_id');
    perform syncsched._require(p_integration_id, 'p_integration_id');
    select o.id into v_id
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    if v_id is null then
        raise exception 'syncsched: no integration %/%', syncsched._label(p_org_id), syncsched._label(p_integration_id)
            using errcode = 'no_data_found',
                hint = format('the integrations of %s: select integration_id from syncsched.schedule_overview'
                    ' where org_id = %L', syncsched._label(p_org_id), p_org_id);
    end if;
    return v_id;
end
$$;

ALTER FUNCTION syncsched._integration_id(p_org_id text, p_integration_id text) OWNER TO syncsched_owner;

CREATE FUNCTION syncsched._integration_seed(p_org_id text, p_integration_id text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select p_org_id || '/' || p_integration_id
$$;

ALTER FUNCTION syncsched._integration_seed(p_org_id text, p_integration_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_seed(p_org_id text, p_integration_id text) IS 'What H in an integration''s cron schedule is resolved with: ''org_id/integration_id''.';

CREATE FUNCTION syncsched._integration_type_after_endpoint_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- (this node's copy of the health where Citus made it a reference table: each copy of the types
    -- fires this, and a write from here to every node's would wait on this statement's own locks)
    perform syncsched._reset_endpoint_health(new.integration_type, 'endpoint_changed', jsonb_build_object(
        'endpoint_url', jsonb_build_object('from', old.endpoint_url, 'to', new.endpoint_url),
        'health_url', jsonb_build_object('from', old.health_url, 'to', new.health_url)
    ), syncsched._local_copy('syncsched.endpoint_health'));
    return null;
end
$$;

ALTER FUNCTION syncsched._integration_type_after_endpoint_change() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_type_after_endpoint_change() IS 'A type whose endpoint_url or health_url changed starts its health over, as check_endpoint_now does.';

CREATE FUNCTION syncsched._integration_type_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
begin
    -- (into this node's copies where Citus made them reference tables, as each copy of the types
    -- fires this: a write from here to every node's would wait on this statement's own locks)
    execute format('insert into %s (integration_type) values ($1) on conflict (integration_type) do nothing',
        syncsched._local_copy('syncsched.endpoint_health'))
        using new.integration_type;
    execute format('insert into %s (integration_type) values ($1) on conflict (integration_type) do nothing',
        syncsched._local_copy('syncsched.dispatch_state'))
        using new.integration_type;
    return null;
end
$_$;

ALTER FUNCTION syncsched._integration_type_after_insert() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_type_after_insert() IS 'A new integration type gets its endpoint_health row (status unknown, active mode) and its dispatch_state row.';

CREATE FUNCTION syncsched._integration_type_transport_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_problem text;
begin
    -- (on a Citus worker's copy of the types, not: pg_net serves the coordinator, whose copy checks)
    if new.transport = 'pg_net' and not syncsched._on_citus_worker() then
        v_problem := coalesce(
            case when syncsched._distributed() then
                'not supported in distributed mode (Citus): use the worker transport (docs/citus.md)' end,
            syncsched._net_problem(), syncsched._url_refusal(new.endpoint_url), syncsched._url_refusal(new.health_url)
        );
        if v_problem is not null then
            raise exception 'syncsched: integration type %: transport pg_net: %', new.integration_type, v_problem
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    return new;
end
$$;

ALTER FUNCTION syncsched._integration_type_transport_check() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_type_transport_check() IS 'Trigger: a type whose transport is pg_net needs pg_net here, serving this database, and URLs the guard lets through; not in Citus'' distributed mode.';

CREATE FUNCTION syncsched._integration_types_hint() RETURNS text
    LANGUAGE sql STABLE
    AS $$
    select 'valid types: ' || coalesce(string_agg(t.integration_type, ', ' order by t.integration_type), 'none')
        || ' (rows of syncsched.integration_types)'
    from syncsched.integration_types as t
$$;

ALTER FUNCTION syncsched._integration_types_hint() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._integration_types_hint() IS 'The HINT of an unknown integration type: the valid ones.';

CREATE FUNCTION syncsched._interval_next(p_minutes integer, p_after timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- Every N minutes, aligned to the Unix epoch: stateless, the same on every tick.
    select to_timestamp(((floor(extract(epoch from p_after) / 60)::bigint / p_minutes) + 1) * p_minutes * 60)
$$;

ALTER FUNCTION syncsched._interval_next(p_minutes integer, p_after timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._interval_next(p_minutes integer, p_after timestamp with time zone) IS 'First multiple of p_minutes minutes since the Unix epoch strictly after p_after.';

CREATE FUNCTION syncsched._iso_timestamp(p_at timestamp with time zone) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    -- as the worker writes it (Python's isoformat in UTC): microseconds only when there are some
    select to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || case when extract(microseconds from p_at)::bigint % 1000000 <> 0
            then to_char(p_at at time zone 'UTC', '.US') else '' end
        || '+00:00'
$$;

ALTER FUNCTION syncsched._iso_timestamp(p_at timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._iso_timestamp(p_at timestamp with time zone) IS 'The timestamp in ISO 8601 at UTC, as the worker writes it (microseconds only when not zero).';

CREATE FUNCTION syncsched._label(p_value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- an identifier as messages show it: short ones whole, long ones cut and counted
    select case
        when p_value is null then '(null)'
        when length(p_value) <= 64 then p_value
        else left(p_value, 40) || '... (' || length(p_value) || ' characters)'
    end
$$;

ALTER FUNCTION syncsched._label(p_value text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._label(p_value text) IS 'An organization or integration id as error messages show it: whole up to 64 characters, else cut and counted.';

CREATE FUNCTION syncsched._live_from() RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select s.live_from from syncsched.run_log_state as s
$$;

ALTER FUNCTION syncsched._live_from() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._live_from() IS 'Where the live part of the run log starts: every pending or running run has scheduled_for >= this. A qual scheduled_for >= _live_from() prunes the partitions of history.';

CREATE FUNCTION syncsched._local_copy(p_table regclass) RETURNS regclass
    LANGUAGE plpgsql STABLE
    AS $_$
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
$_$;

ALTER FUNCTION syncsched._local_copy(p_table regclass) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._local_copy(p_table regclass) IS 'This node''s copy of a reference table (Citus), else the table itself.';

CREATE FUNCTION syncsched._lock_schedule(p_org_id text, p_id bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
begin
    -- what the tick (FOR UPDATE SKIP LOCKED) and run_now (FOR UPDATE) lock while they create runs
    perform from syncsched.schedule_state as s where s.org_id = p_org_id and s.id = p_id for update;
end
$$;

ALTER FUNCTION syncsched._lock_schedule(p_org_id text, p_id bigint) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._lock_schedule(p_org_id text, p_id bigint) IS 'Wait for the tick or run_now creating runs for this integration (its schedule_state row lock), and keep them out.';

CREATE TABLE syncsched.dispatch_state (
    integration_type text NOT NULL,
    last_org_id text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    scheduling_paused boolean DEFAULT false NOT NULL,
    dispatch_paused boolean DEFAULT false NOT NULL,
    rate_limited_until timestamp with time zone
);

ALTER TABLE syncsched.dispatch_state OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.dispatch_state IS 'Per integration type, where the last claim stopped in its round robin across organizations (owner-written).';

COMMENT ON COLUMN syncsched.dispatch_state.integration_type IS 'The integration type.';

COMMENT ON COLUMN syncsched.dispatch_state.last_org_id IS 'The organization the last claim of this type served last: the next claim starts after it.';

COMMENT ON COLUMN syncsched.dispatch_state.updated_at IS 'When a claim last moved it.';

COMMENT ON COLUMN syncsched.dispatch_state.scheduling_paused IS 'The tick creates no runs for this type (pause_scheduling(type)); its periods follow the misfire policy when resumed.';

COMMENT ON COLUMN syncsched.dispatch_state.dispatch_paused IS 'Claims hand out no run of this type (pause_dispatch(type)); its pending runs wait, spending no attempt.';

COMMENT ON COLUMN syncsched.dispatch_state.rate_limited_until IS 'After an answer 429: no run of the type is handed out before this time (its Retry-After, else rate_limited_backoff).';

CREATE FUNCTION syncsched._lock_type_claims(p_type text) RETURNS syncsched.dispatch_state
    LANGUAGE plpgsql
    AS $$
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

ALTER FUNCTION syncsched._lock_type_claims(p_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._lock_type_claims(p_type text) IS 'The transaction lock that claims of one type (runs, health checks, warm-ups) take in turn: its dispatch_state row, returned as it is once locked.';

CREATE FUNCTION syncsched._net_collect() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_response record;
    v_ids bigint[] := '{}';
begin
    -- each response applied once: it is deleted with its run's outcome
    for v_response in select * from syncsched._net_responses() loop
        perform syncsched._net_outcome(v_response.run_id, v_response.lease_token, v_response.running,
            v_response.status_code, v_response.content, v_response.headers, v_response.timed_out,
            v_response.error_msg, v_response.timeout_ms, syncsched._net_secret(v_response.auth_secret_env));
        update syncsched.sync_run_attempts as a
        set net_request_id = v_response.id
        where a.run_id = v_response.run_id and a.scheduled_for = v_response.scheduled_for
            and a.attempt = v_response.attempt;
        update syncsched.sync_run_log as r
        set net_request_id = null
        where r.run_id = v_response.run_id and r.scheduled_for = v_response.scheduled_for
            and r.net_request_id = v_response.id;
        v_ids := v_ids || v_response.id;
    end loop;
    execute format('delete from %I._http_response where id = any($1)', 'net') using v_ids;
    -- (and the requests whose response pg_net has forgotten unread: pg_net.ttl)
    delete from syncsched.net_requests as n where n.id = any(v_ids);
    delete from syncsched.net_requests as n
    where n.sent_at < now() - coalesce(current_setting('pg_net.ttl', true), '6 hours')::interval;
    return cardinality(v_ids);
end
$_$;

ALTER FUNCTION syncsched._net_collect() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_collect() IS 'Read the responses of runs sent through pg_net and apply each (completed, retried or failed), forgetting them and the requests pg_net has forgotten (pg_net.ttl); returns how many.';

CREATE FUNCTION syncsched._net_dispatch() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_claimed record;
    v_warming text[] := '{}';
    v_run record;
    v_type text;
    v_problem text;
    v_request bigint;
    v_sent integer := 0;
begin
    -- Claimed runs are held (running, no request yet) while their type warms up: the claim says
    -- when the endpoint was idle for warmup_after; a GET to its health URL goes first, as the
    -- worker's HEAD does, and the runs follow once it answered (_net_warmups).
    for v_claimed in
        select * from syncsched._claim_runs('pg_net', syncsched.setting('net_batch')::integer,
            syncsched.setting('net_lease')::interval, 'pg_net')
    loop
        -- a run claimed again drops the request of its lost attempt: a late answer to it is not taken
        update syncsched.sync_run_log as r
        set net_request_id = null
        where r.run_id = v_claimed.run_id and r.scheduled_for = v_claimed.scheduled_for
            and r.net_request_id is not null;
        continue when not v_claimed.warmup or v_claimed.integration_type = any(v_warming)
            or syncsched._url_refusal(v_claimed.health_url) is not null;  -- (the runs will say why)
        begin
            execute format('select %I.http_get(url := $1, timeout_milliseconds := $2)', 'net') into v_request
            using v_claimed.health_url, v_claimed.timeout_ms;
            perform syncsched._net_sent(v_request, 'warmup', v_claimed.integration_type);
        exception when internal_error then  -- (a cold_start alert; the runs go unwarmed)
            perform syncsched.record_warmup(v_claimed.integration_type, false, null, syncsched._net_refused(sqlerrm), true);
        end;
        v_warming := v_warming || v_claimed.integration_type;  -- (one warm-up, or one refusal, a type)
    end loop;
    -- One type at a time, in a block of its own: a URL that pg_net's libcurl refuses fails that
    -- type's runs, not the step (nor the other types' runs and responses). (A block per type, not
    -- per run: a transaction with more than 64 subtransactions slows every snapshot taken beside it.)
    foreach v_type in array (
        select coalesce(array_agg(distinct r.integration_type), '{}') from syncsched._net_unsent() as r
    ) loop
        begin
            v_sent := v_sent + syncsched._net_send(v_type);
        exception when internal_error then  -- (pg_net's: invalid URL; anything else ends the step)
            v_problem := syncsched._net_refused(sqlerrm);
            for v_run in select * from syncsched._net_unsent() as r where r.integration_type = v_type loop
                perform syncsched.fail_run(v_run.run_id, v_run.lease_token, v_problem, null, false, null, 'pg_net');
            end loop;
        end;
    end loop;
    return v_sent;
end
$_$;

ALTER FUNCTION syncsched._net_dispatch() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_dispatch() IS 'Claim ready runs of pg_net types (at most net_batch, leased for net_lease; a GET warm-up first for a type idle longer than warmup_after, its runs held until it answers) and send every claimed run not held and still leased, a type at a time, through net.http_post with the worker''s JSON body, Idempotency-Key and Authorization, recording the request (a URL the guard refuses or a missing secret fails the run; a URL pg_net refuses fails the type''s runs of this step); returns how many were sent.';

CREATE FUNCTION syncsched._net_health_answers() RETURNS TABLE(integration_type text, id bigint, status_code integer, timed_out boolean, error_msg text, duration_ms integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    return query execute format(
        'select h.integration_type, x.id, x.status_code, x.timed_out, x.error_msg, null::integer
         from syncsched.endpoint_health as h
         join syncsched.net_requests as n on n.id = h.net_request_id and n.kind = ''health''
             and n.integration_type = h.integration_type
         join %I._http_response as x on x.id = n.id', 'net');
end
$$;

ALTER FUNCTION syncsched._net_health_answers() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_health_answers() IS 'The pg_net responses to the health checks of pg_net types that arrived (pg_net records no response time: duration null).';

CREATE FUNCTION syncsched._net_health_checks() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_answer record;
    v_check record;
    v_refusal text;
    v_request bigint;
    v_sent integer := 0;
begin
    -- pg_net has no HEAD: health checks of pg_net types are GETs, under the worker's rules
    -- (claimed as a worker claims them, up below 500, recorded by record_health_check).
    for v_answer in select * from syncsched._net_health_answers() loop
        perform syncsched.record_health_check(v_answer.integration_type, coalesce(v_answer.status_code < 500, false),
            v_answer.status_code,
            case when v_answer.timed_out then 'timeout'
                when v_answer.status_code is null then left('connection error: ' || v_answer.error_msg, 500)
                when v_answer.status_code >= 500 then 'HTTP ' || v_answer.status_code end,
            v_answer.duration_ms);
        update syncsched.endpoint_health as h set net_request_id = null
        where h.integration_type = v_answer.integration_type;
        delete from syncsched.net_requests as n where n.id = v_answer.id;
        execute format('delete from %I._http_response where id = $1', 'net') using v_answer.id;
    end loop;
    for v_check in select * from syncsched._claim_health_checks('pg_net', 10, 'pg_net') loop
        v_refusal := syncsched._url_refusal(v_check.url);
        if v_refusal is not null then
            perform syncsched.record_health_check(v_check.integration_type, false, null, v_refusal, 0);
            continue;
        end if;
        begin
            execute format('select %I.http_get(url := $1, timeout_milliseconds := $2)', 'net') into v_request
            using v_check.url, v_check.timeout_ms;
            perform syncsched._net_sent(v_request, 'health', v_check.integration_type);
            v_sent := v_sent + 1;
        exception when internal_error then
            perform syncsched.record_health_check(v_check.integration_type, false, null, syncsched._net_refused(sqlerrm), 0);
        end;
    end loop;
    return v_sent;
end
$_$;

ALTER FUNCTION syncsched._net_health_checks() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_health_checks() IS 'Record the answers to the health checks of pg_net types sent before, then send (GET) those due now.';

CREATE FUNCTION syncsched._net_outcome(p_run_id bigint, p_lease_token uuid, p_running boolean, p_status_code integer, p_content text, p_headers jsonb, p_timed_out boolean, p_error_msg text, p_timeout_ms integer, p_secret text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_excerpt text := p_content;
    v_error text;
begin
    -- The worker's outcome rules: 2xx completes; 408, 425, 429, 5xx, timeouts and connection errors
    -- are retried (Retry-After honoured); any other status fails at once. An endpoint that echoes
    -- the secret does not put it in the run log. Only a completion is taken from a run no longer
    -- running (its lease expired and it was not claimed again: the late outcome, as the worker's).
    if p_secret is not null then
        foreach v_error in array array[p_secret, split_part(p_secret, ' ', 2)] loop
            if length(v_error) >= 4 then
                v_excerpt := replace(v_excerpt, v_error, '[redacted]');
            end if;
        end loop;
    end if;
    if p_status_code between 200 and 299 then
        perform syncsched.complete_run(p_run_id, p_lease_token, p_status_code, v_excerpt, 'pg_net');
        return;
    elsif not p_running then
        return;
    elsif p_timed_out then
        v_error := format('timeout after %s ms', p_timeout_ms);
    elsif p_status_code is null then
        v_error := left(format('connection error: %s', coalesce(p_error_msg, 'no response')), 500);
    else
        v_error := format('HTTP %s: %s', p_status_code, left(coalesce(v_excerpt, ''), 200));
    end if;
    perform syncsched.fail_run(p_run_id, p_lease_token, v_error, p_status_code,
        p_status_code is null or p_status_code in (408, 425, 429) or p_status_code >= 500,
        syncsched._retry_after(p_headers), 'pg_net');
end
$$;

ALTER FUNCTION syncsched._net_outcome(p_run_id bigint, p_lease_token uuid, p_running boolean, p_status_code integer, p_content text, p_headers jsonb, p_timed_out boolean, p_error_msg text, p_timeout_ms integer, p_secret text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_outcome(p_run_id bigint, p_lease_token uuid, p_running boolean, p_status_code integer, p_content text, p_headers jsonb, p_timed_out boolean, p_error_msg text, p_timeout_ms integer, p_secret text) IS 'Apply one pg_net response to its run with the worker''s rules, through complete_run and fail_run (fenced by the lease token).';

CREATE FUNCTION syncsched._net_privileges_missing() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_missing text[] := '{}';
    v_sequence text := pg_get_serial_sequence('net.http_request_queue', 'id');
begin
    -- What syncsched's owner role needs of pg_net (net.http_post and http_get insert into the queue
    -- as their caller): where PUBLIC's grants were narrowed (Supabase), the grants to make.
    if not has_schema_privilege('syncsched_owner', 'net', 'usage') then
        v_missing := v_missing || 'usage on schema net'::text;
    else
        if (
            select count(distinct p.proname) from pg_proc as p
            where p.pronamespace = to_regnamespace('net') and p.proname in ('http_post', 'http_get')
                and has_function_privilege('syncsched_owner', p.oid, 'execute')
        ) < 2 then
            v_missing := v_missing || 'execute on net.http_post and net.http_get'::text;
        end if;
        if not has_table_privilege('syncsched_owner', 'net.http_request_queue', 'select, insert') then
            v_missing := v_missing || 'select, insert on net.http_request_queue'::text;
        end if;
        if v_sequence is not null and not has_sequence_privilege('syncsched_owner', v_sequence, 'usage') then
            v_missing := v_missing || format('usage on sequence %s', v_sequence);
        end if;
        if not has_table_privilege('syncsched_owner', 'net._http_response', 'select, delete') then
            v_missing := v_missing || 'select, delete on net._http_response'::text;
        end if;
    end if;
    if cardinality(v_missing) = 0 then
        return null;
    end if;
    return format('the role syncsched_owner cannot use pg_net: grant %s to syncsched_owner',
        array_to_string(v_missing, '; '));
end
$$;

ALTER FUNCTION syncsched._net_privileges_missing() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_privileges_missing() IS 'The grants of pg_net''s schema, functions, queue, sequence and response table that syncsched_owner lacks (as one message naming them), or null.';

CREATE FUNCTION syncsched._net_problem() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_database text := current_setting('pg_net.database_name', true);
begin
    if not exists (select from pg_catalog.pg_extension where extname = 'pg_net') then
        return format('the pg_net extension is not installed in database %s (shared_preload_libraries = '
            '''pg_net'', pg_net.database_name = ''%s'', then CREATE EXTENSION pg_net)',
            current_database(), current_database());
    end if;
    if v_database is null then
        return 'pg_net is not in shared_preload_libraries: its worker, which sends the requests, is not running';
    end if;
    if v_database <> current_database() then
        return format('pg_net''s worker serves database %s, not %s (set pg_net.database_name = ''%s'' and '
            'call net.worker_restart())', v_database, current_database(), current_database());
    end if;
    return syncsched._net_privileges_missing();
end
$$;

ALTER FUNCTION syncsched._net_problem() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_problem() IS 'Why this database cannot send through pg_net (not installed here, not preloaded, its worker serving another database, the owner role without the privileges it needs), or null.';

CREATE FUNCTION syncsched._net_refused(p_error text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    -- (pg_net quotes the URL, which may carry user:password@ and quotes of its own: all from the
    -- first quote to the last goes)
    select 'pg_net refused the request: ' || left(regexp_replace(p_error, '".*"', '(the URL)'), 500)
$$;

ALTER FUNCTION syncsched._net_refused(p_error text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_refused(p_error text) IS 'The error of a request pg_net would not queue (its libcurl refused the URL), without the URL.';

CREATE FUNCTION syncsched._net_responses() RETURNS TABLE(id bigint, status_code integer, content text, headers jsonb, timed_out boolean, error_msg text, run_id bigint, scheduled_for timestamp with time zone, lease_token uuid, attempt integer, running boolean, timeout_ms integer, auth_secret_env text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- The responses of runs' requests (driven from pg_net's table, which holds only recent
    -- requests), their runs locked.
    return query execute format(
        'select x.id, x.status_code, x.content, x.headers, x.timed_out, x.error_msg, r.run_id, r.scheduled_for,
                r.lease_token, r.attempt, r.status = ''running'', t.timeout_ms, t.auth_secret_env
         from %I._http_response as x
         join syncsched.net_requests as n on n.id = x.id and n.kind = ''run''
         join syncsched.sync_run_log as r on r.run_id = n.run_id and r.scheduled_for = n.scheduled_for
             and r.attempt = n.attempt and r.net_request_id = x.id and r.scheduled_for >= syncsched._live_from()
         join syncsched.integration_types as t on t.integration_type = r.integration_type
         where r.status in (''running'', ''pending'', ''failed'') and r.lease_token is not null
         order by x.id
         for update of r', 'net');
end
$$;

ALTER FUNCTION syncsched._net_responses() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_responses() IS 'The pg_net responses to runs'' requests that arrived, each to the attempt net_requests says it is the call of, with what applying them needs (their runs locked).';

CREATE FUNCTION syncsched._net_secret(p_name text) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_secret text;
begin
    if p_name is null then
        return null;
    end if;
    -- Supabase Vault first, where it is installed (the owner role needs SELECT on
    -- vault.decrypted_secrets), then the owner-only net_secrets table.
    if exists (select from pg_catalog.pg_namespace where nspname = 'vault')
        and pg_catalog.has_table_privilege('vault.decrypted_secrets', 'select') then
        execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault')
        into v_secret using p_name;
    end if;
    return coalesce(v_secret, (select s.secret from syncsched.net_secrets as s where s.name = p_name));
end
$_$;

ALTER FUNCTION syncsched._net_secret(p_name text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_secret(p_name text) IS 'The Authorization value named p_name: from Supabase Vault (vault.decrypted_secrets) where readable, else from net_secrets.';

CREATE FUNCTION syncsched._net_send(p_integration_type text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_run record;
    v_secret text;
    v_problem text;
    v_request bigint;
    v_lease interval := syncsched.setting('net_lease')::interval;
    v_sent integer := 0;
begin
    for v_run in select * from syncsched._net_unsent() as r where r.integration_type = p_integration_type loop
        -- A refused URL or a missing secret is configuration, not weather: the run fails at once,
        -- as the worker's does.
        v_secret := syncsched._net_secret(v_run.auth_secret_env);
        v_problem := coalesce(syncsched._url_refusal(v_run.endpoint_url),
            case when v_run.auth_secret_env is not null and v_secret is null then
                format('the secret %s is neither in Supabase Vault nor set with set_net_secret()', v_run.auth_secret_env)
            end);
        if v_problem is not null then
            perform syncsched.fail_run(v_run.run_id, v_run.lease_token, v_problem, null, false, null, 'pg_net');
            continue;
        end if;
        -- the worker's JSON body and headers
        execute format('select %I.http_post(url := $1, body := $2, headers := $3, timeout_milliseconds := $4)', 'net')
        into v_request
        using v_run.endpoint_url,
            jsonb_build_object('run_id', v_run.run_id, 'org_id', v_run.org_id, 'integration_id', v_run.integration_id,
                'integration_type', v_run.integration_type,
                'scheduled_for', syncsched._iso_timestamp(v_run.scheduled_for), 'attempt', v_run.attempt,
                'idempotency_key', v_run.idempotency_key, 'payload', v_run.payload),
            -- (no User-Agent: pg_net sends its own, and a second one is a 400 at strict servers)
            jsonb_build_object('Content-Type', 'application/json', 'Idempotency-Key', v_run.idempotency_key)
            || coalesce(jsonb_build_object('Authorization', v_secret), '{}'),
            v_run.timeout_ms;
        perform syncsched._net_sent(v_request, 'run', p_integration_type, v_run.run_id, v_run.scheduled_for,
            v_run.attempt, v_lease);
        v_sent := v_sent + 1;
    end loop;
    return v_sent;
end
$_$;

ALTER FUNCTION syncsched._net_send(p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_send(p_integration_type text) IS 'Send the unsent runs of one pg_net type through net.http_post with the worker''s JSON body, Idempotency-Key and Authorization (a refused URL or a missing secret fails the run); returns how many were sent.';

CREATE FUNCTION syncsched._net_sent(p_id bigint, p_kind text, p_integration_type text, p_run_id bigint DEFAULT NULL::bigint, p_scheduled_for timestamp with time zone DEFAULT NULL::timestamp with time zone, p_attempt integer DEFAULT NULL::integer, p_lease interval DEFAULT NULL::interval) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- recorded where its response is looked for (net_requests: only this server's requests since it
    -- started or was promoted), and on the run or the type's health for whoever reads them
    insert into syncsched.net_requests as n (id, kind, integration_type, run_id, scheduled_for, attempt)
    values (p_id, p_kind, p_integration_type, p_run_id, p_scheduled_for, p_attempt)
    on conflict (id) do update set kind = excluded.kind, integration_type = excluded.integration_type,
        run_id = excluded.run_id, scheduled_for = excluded.scheduled_for, attempt = excluded.attempt,
        sent_at = excluded.sent_at;
    if p_kind = 'run' then  -- (its lease from now: it may have waited for a warm-up)
        update syncsched.sync_run_log as r
        set net_request_id = p_id,
            lease_expires_at = greatest(r.lease_expires_at, now() + p_lease)
        where r.run_id = p_run_id and r.scheduled_for = p_scheduled_for and r.attempt = p_attempt;
    elsif p_kind = 'health' then
        update syncsched.endpoint_health as h set net_request_id = p_id where h.integration_type = p_integration_type;
    else
        update syncsched.endpoint_health as h set net_warmup_request_id = p_id, net_warmup_sent_at = now()
        where h.integration_type = p_integration_type;
    end if;
end
$$;

ALTER FUNCTION syncsched._net_sent(p_id bigint, p_kind text, p_integration_type text, p_run_id bigint, p_scheduled_for timestamp with time zone, p_attempt integer, p_lease interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_sent(p_id bigint, p_kind text, p_integration_type text, p_run_id bigint, p_scheduled_for timestamp with time zone, p_attempt integer, p_lease interval) IS 'Record a request queued through pg_net (a run''s call, of its attempt, leased p_lease from now; a health check; a warm-up): in net_requests, where its response is matched, and on its run or its type''s health.';

CREATE FUNCTION syncsched._net_stalled(p_problem text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_oldest timestamptz;
    v_key text := syncsched._alert_key('pg_net_stalled', null, null, null);
    v_problem text := p_problem;
begin
    -- pg_net's liveness, as the runs see it: pg_net able to send for this database, and no request
    -- of a run waiting in its queue (the worker takes a batch each second) for net_stalled_after.
    if v_problem is null then
        -- (from the queue, which holds only what waits, to net_requests by its key: no run is read)
        execute format('select min(n.sent_at) from %I.http_request_queue as q
            join syncsched.net_requests as n on n.id = q.id and n.kind = ''run''', 'net')
        into v_oldest;
        if v_oldest < now() - syncsched.setting('net_stalled_after')::interval then
            v_problem := format('a request has waited in net.http_request_queue since %s: pg_net''s worker is '
                'not sending', v_oldest);
        end if;
    end if;
    if v_problem is null then
        perform syncsched._resolve_alerts(array[v_key]);
    elsif not syncsched._alert_open(v_key) then
        perform syncsched._alert('pg_net_stalled', null, null, null, jsonb_build_object('problem', v_problem));
    end if;
end
$$;

ALTER FUNCTION syncsched._net_stalled(p_problem text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_stalled(p_problem text) IS 'Raise pg_net_stalled (or resolve it) as pg_net cannot send for this database (p_problem: _net_problem()) or its queue does not move, or does again.';

CREATE FUNCTION syncsched._net_unsent() RETURNS TABLE(run_id bigint, lease_token uuid, org_id text, integration_id text, integration_type text, scheduled_for timestamp with time zone, attempt integer, idempotency_key text, payload jsonb, endpoint_url text, timeout_ms integer, auth_secret_env text)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    -- claimed by pg_net, not sent yet, and not held behind its type's warm-up; still leased (one
    -- held past its lease is the reaper's: it goes again under a new claim). Locked: a reaper that
    -- takes a run back meanwhile waits, or went first and the run is not here.
    select r.run_id, r.lease_token, r.org_id, r.integration_id, r.integration_type, r.scheduled_for, r.attempt,
        r.idempotency_key, r.payload, t.endpoint_url, t.timeout_ms, t.auth_secret_env
    from syncsched.sync_run_log as r
    join syncsched.integration_types as t on t.integration_type = r.integration_type
    left join syncsched.endpoint_health as h on h.integration_type = r.integration_type
    where r.status = 'running' and r.worker_id = 'pg_net' and r.net_request_id is null
        and r.lease_expires_at > now() and r.scheduled_for >= syncsched._live_from()
        and h.net_warmup_request_id is null
    order by r.run_id
    for update of r skip locked
$$;

ALTER FUNCTION syncsched._net_unsent() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_unsent() IS 'The runs pg_net claimed and has not sent yet, still leased, except those held behind their type''s warm-up; locked.';

CREATE FUNCTION syncsched._net_warmup_answers() RETURNS TABLE(integration_type text, id bigint, status_code integer, error_msg text, duration_ms integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
begin
    return query execute format(
        'select h.integration_type, x.id, x.status_code, case when x.timed_out then ''timeout'' else x.error_msg end,
                case when x.id is null then (extract(epoch from now() - h.net_warmup_sent_at) * 1000)::integer end
         from syncsched.endpoint_health as h
         left join syncsched.net_requests as n on n.id = h.net_warmup_request_id and n.kind = ''warmup''
             and n.integration_type = h.integration_type
         left join %I._http_response as x on x.id = n.id
         where h.net_warmup_request_id is not null
             and (x.id is not null or h.net_warmup_sent_at < now() - $1)', 'net')
    using syncsched.setting('warmup_timeout')::interval;
end
$_$;

ALTER FUNCTION syncsched._net_warmup_answers() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_warmup_answers() IS 'The warm-ups of pg_net types that answered (pg_net records no response time: duration null), or that waited longer than warmup_timeout (id null).';

CREATE FUNCTION syncsched._net_warmups() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_answer record;
begin
    -- Warm-ups that answered, or that waited warmup_timeout: recorded as the worker's are (a failed
    -- one is a cold_start alert; a slow one only past warmup_timeout: pg_net records no response
    -- time, and the step's period is no measure of one); the runs that waited go in this step.
    for v_answer in select * from syncsched._net_warmup_answers() loop
        perform syncsched.record_warmup(v_answer.integration_type, coalesce(v_answer.status_code < 500, false),
            v_answer.duration_ms,
            case when v_answer.status_code is null then coalesce(left(v_answer.error_msg, 500), 'timeout')
                when v_answer.status_code >= 500 then 'HTTP ' || v_answer.status_code end,
            true);
        update syncsched.endpoint_health as h
        set net_warmup_request_id = null, net_warmup_sent_at = null
        where h.integration_type = v_answer.integration_type;
        if v_answer.id is not null then
            delete from syncsched.net_requests as n where n.id = v_answer.id;
            execute format('delete from %I._http_response where id = $1', 'net') using v_answer.id;
        end if;
    end loop;
end
$_$;

ALTER FUNCTION syncsched._net_warmups() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._net_warmups() IS 'Record the warm-ups of pg_net types that answered or timed out (warmup_timeout); their types'' runs go next.';

CREATE FUNCTION syncsched._next_run_at(p_org_id text, p_integration_id text) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    AS $$
begin
    -- (PL/pgSQL, joined on org_id too: Citus plans neither an SQL function's parameters nor a join of
    -- its distributed tables off their distribution column)
    return (
        select s.next_run_at
        from syncsched.schedule_state as s
        join syncsched.organization_integrations as o on o.org_id = s.org_id and o.id = s.id
        where o.org_id = p_org_id and o.integration_id = p_integration_id
    );
end
$$;

ALTER FUNCTION syncsched._next_run_at(p_org_id text, p_integration_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._next_run_at(p_org_id text, p_integration_id text) IS 'The next run of an integration, as its schedule state says (read under the caller''s row-level security).';

CREATE FUNCTION syncsched._on_citus_worker() RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $$
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

ALTER FUNCTION syncsched._on_citus_worker() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._on_citus_worker() IS 'Whether this node is a Citus worker (where triggers run on shards and reference-table copies, docs/citus.md).';

CREATE FUNCTION syncsched._org_groups(p_orgs text[]) RETURNS SETOF text[]
    LANGUAGE plpgsql STABLE
    AS $_$
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
$_$;

ALTER FUNCTION syncsched._org_groups(p_orgs text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._org_groups(p_orgs text[]) IS 'The organizations p_orgs in groups whose rows share a shard (null: one group, null, meaning every organization).';

CREATE FUNCTION syncsched._partitions_of(p_parent regclass) RETURNS TABLE(partition_name regclass, from_at timestamp with time zone, to_at timestamp with time zone, is_default boolean)
    LANGUAGE sql STABLE
    AS $$
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

ALTER FUNCTION syncsched._partitions_of(p_parent regclass) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._partitions_of(p_parent regclass) IS 'The partitions of a range-partitioned table with their bounds (-infinity for MINVALUE); is_default for the DEFAULT partition.';

CREATE FUNCTION syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer) RETURNS text[]
    LANGUAGE plpgsql STABLE
    AS $$
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

ALTER FUNCTION syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer) IS 'Up to p_count organizations with a ready run of type p_type, in org_id order after p_after (up to p_upto): a loose index scan that passes over organizations whose runs all wait.';

CREATE FUNCTION syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    select p_org_id || '/' || p_integration_id || '/'
        || to_char(p_period at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')
$$;

ALTER FUNCTION syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamp with time zone) IS 'Idempotency key of a scheduled period: org_id/integration_id/<period in UTC, ISO minute>. Stable like to_char, so that the planner inlines it.';

CREATE FUNCTION syncsched._plan_for_citus() RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
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

ALTER FUNCTION syncsched._plan_for_citus() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._plan_for_citus() IS 'Where syncsched''s tables are distributed (Citus): custom plans for the calling function, whose SET clause restores the setting.';

CREATE FUNCTION syncsched._possible_duplicates(p_runs jsonb[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._possible_duplicates(p_runs jsonb[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._possible_duplicates(p_runs jsonb[]) IS 'Raise possible_duplicate for runs claimed again after their lease expired during the call (run_id, org_id, integration_id, integration_type, idempotency_key, attempt, lost_by, claimed_by each).';

CREATE FUNCTION syncsched._prune_batch(p_cutoff timestamp with time zone, p_keep_per_integration integer, p_batch_size integer, p_ranges_from timestamp with time zone, p_ranges_to timestamp with time zone, INOUT p_after_finished_at timestamp with time zone, INOUT p_after_run_id bigint, OUT runs integer, OUT ticks integer, OUT alerts integer, OUT more boolean) RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._prune_batch(p_cutoff timestamp with time zone, p_keep_per_integration integer, p_batch_size integer, p_ranges_from timestamp with time zone, p_ranges_to timestamp with time zone, INOUT p_after_finished_at timestamp with time zone, INOUT p_after_run_id bigint, OUT runs integer, OUT ticks integer, OUT alerts integer, OUT more boolean) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._prune_batch(p_cutoff timestamp with time zone, p_keep_per_integration integer, p_batch_size integer, p_ranges_from timestamp with time zone, p_ranges_to timestamp with time zone, INOUT p_after_finished_at timestamp with time zone, INOUT p_after_run_id bigint, OUT runs integer, OUT ticks integer, OUT alerts integer, OUT more boolean) IS 'One batch of retention row by row: at most p_batch_size runs outside [p_ranges_from, p_ranges_to) (after the keyset position given), ticks and alerts each; more = another batch may find something.';

CREATE FUNCTION syncsched._prune_check(p_keep_per_integration integer, p_batch_size integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
begin
    if p_keep_per_integration is null or p_keep_per_integration < 0 then
        raise exception 'syncsched: p_keep_per_integration must be 0 or more' using errcode = 'invalid_parameter_value';
    end if;
    if p_batch_size is null or p_batch_size < 1 or p_batch_size > 1000000 then
        raise exception 'syncsched: p_batch_size must be 1-1000000' using errcode = 'invalid_parameter_value';
    end if;
end
$$;

ALTER FUNCTION syncsched._prune_check(p_keep_per_integration integer, p_batch_size integer) OWNER TO syncsched_owner;

CREATE FUNCTION syncsched._raise_alerts(p_kinds text[], p_org_ids text[], p_integration_ids text[], p_integration_types text[], p_details jsonb[], p_at timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_delivery text := case when syncsched.setting('alert_webhook_url') <> '' then 'pending' else 'none' end;
    v_count integer;
begin
    -- Many alerts in one statement (the tick, a claim): one row and one NOTIFY each.
    with raised as (
        insert into syncsched.scheduler_alerts (
            kind, alert_key, org_id, integration_id, integration_type, detail, at, is_condition, delivery,
            delivery_not_before
        )
        select a.kind, syncsched._alert_key(a.kind, a.org_id, a.integration_id, a.integration_type), a.org_id,
            a.integration_id, a.integration_type, coalesce(a.detail, '{}'), p_at, k.is_condition, v_delivery, now()
        from unnest(p_kinds, p_org_ids, p_integration_ids, p_integration_types, p_details)
            as a (kind, org_id, integration_id, integration_type, detail)
        left join syncsched.alert_kinds as k on k.kind = a.kind
        returning alert_id, kind, alert_key, at
    )
    select count(pg_notify('syncsched_alerts', json_build_object(
        'alert_id', r.alert_id, 'kind', r.kind, 'key', r.alert_key, 'at', r.at, 'severity', k.severity
    )::text))::integer
    into v_count
    from raised as r
    join syncsched.alert_kinds as k on k.kind = r.kind;
    return v_count;
end
$$;

ALTER FUNCTION syncsched._raise_alerts(p_kinds text[], p_org_ids text[], p_integration_ids text[], p_integration_types text[], p_details jsonb[], p_at timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._raise_alerts(p_kinds text[], p_org_ids text[], p_integration_ids text[], p_integration_types text[], p_details jsonb[], p_at timestamp with time zone) IS 'Record alerts, one per array element, in one statement, and wake their listeners (pg_notify syncsched_alerts with id, kind, key and severity only). Returns how many.';

CREATE FUNCTION syncsched._raise_live_from(p_now timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._raise_live_from(p_now timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._raise_live_from(p_now timestamp with time zone) IS 'Move live_from past the partitions that ended before p_now and hold no pending or running run; returns it.';

CREATE FUNCTION syncsched._rate_limited(p_type text, p_retry_after interval, p_run_id bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._rate_limited(p_type text, p_retry_after interval, p_run_id bigint) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._rate_limited(p_type text, p_retry_after interval, p_run_id bigint) IS 'After an answer 429: the whole type waits until p_retry_after (else its rate_limited_backoff) from now; a rate_limited alert when a new wait starts.';

CREATE FUNCTION syncsched._rate_limited_now(p_integration_type text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    -- an answer 429 holds the whole type: runs, health checks and warm-ups
    select exists (
        select from syncsched.dispatch_state as d
        where d.integration_type = p_integration_type and d.rate_limited_until > now()
    )
$$;

ALTER FUNCTION syncsched._rate_limited_now(p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._rate_limited_now(p_integration_type text) IS 'Whether an answer 429 holds the type now (dispatch_state.rate_limited_until not passed).';

CREATE FUNCTION syncsched._require(p_value anyelement, p_name text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
begin
    if p_value is null then
        raise exception 'syncsched: % must not be null', p_name using errcode = 'invalid_parameter_value';
    end if;
end
$$;

ALTER FUNCTION syncsched._require(p_value anyelement, p_name text) OWNER TO syncsched_owner;

CREATE FUNCTION syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
begin
    -- a NULL is a caller's bug, not a lost lease: refused before anything is written
    if p_run_ids is null or p_lease_tokens is null or cardinality(p_run_ids) <> cardinality(p_lease_tokens)
        or array_position(p_run_ids, null) is not null or array_position(p_lease_tokens, null) is not null then
        raise exception 'syncsched: % needs one run id and one lease token per run, none of them null', p_caller
            using errcode = 'invalid_parameter_value';
    end if;
end
$$;

ALTER FUNCTION syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text) IS 'Raise unless the run ids and lease tokens of a worker''s write pair up, none null.';

CREATE TABLE syncsched.endpoint_health (
    integration_type text NOT NULL,
    status text DEFAULT 'unknown'::text NOT NULL,
    mode text DEFAULT 'active'::text NOT NULL,
    consecutive_failures integer DEFAULT 0 NOT NULL,
    last_check_at timestamp with time zone,
    next_check_at timestamp with time zone,
    last_success_at timestamp with time zone,
    last_used_at timestamp with time zone,
    last_error text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    net_request_id bigint,
    net_warmup_request_id bigint,
    net_warmup_sent_at timestamp with time zone,
    CONSTRAINT endpoint_health_failures_nonnegative CHECK ((consecutive_failures >= 0)),
    CONSTRAINT endpoint_health_mode_known CHECK ((mode = ANY (ARRAY['active'::text, 'passive'::text]))),
    CONSTRAINT endpoint_health_status_known CHECK ((status = ANY (ARRAY['healthy'::text, 'unhealthy'::text, 'unknown'::text])))
);

ALTER TABLE syncsched.endpoint_health OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.endpoint_health IS 'Health of each integration type endpoint, shared by all workers.';

COMMENT ON COLUMN syncsched.endpoint_health.integration_type IS 'The integration type.';

COMMENT ON COLUMN syncsched.endpoint_health.status IS 'healthy, unhealthy or unknown.';

COMMENT ON COLUMN syncsched.endpoint_health.mode IS 'active: the worker sends health checks; passive: health follows run outcomes only.';

COMMENT ON COLUMN syncsched.endpoint_health.consecutive_failures IS 'Failed checks (active) or failed attempts (passive) in a row.';

COMMENT ON COLUMN syncsched.endpoint_health.last_check_at IS 'When the last health check ended.';

COMMENT ON COLUMN syncsched.endpoint_health.next_check_at IS 'No worker checks before this time (interval, backed off after failures).';

COMMENT ON COLUMN syncsched.endpoint_health.last_success_at IS 'When a check or a run last succeeded.';

COMMENT ON COLUMN syncsched.endpoint_health.last_used_at IS 'Last time a run was sent to the endpoint: an endpoint idle for longer than warmup_after is warmed up first.';

COMMENT ON COLUMN syncsched.endpoint_health.last_error IS 'Why the last check or attempt failed.';

COMMENT ON COLUMN syncsched.endpoint_health.updated_at IS 'When the row was last written.';

COMMENT ON COLUMN syncsched.endpoint_health.net_request_id IS 'pg_net transport: the net.http_get request id of the health check in flight (null when none is).';

COMMENT ON COLUMN syncsched.endpoint_health.net_warmup_request_id IS 'pg_net transport: the net.http_get request id of the warm-up in flight; the claimed runs of the type wait for it.';

COMMENT ON COLUMN syncsched.endpoint_health.net_warmup_sent_at IS 'pg_net transport: when the warm-up in flight was sent (it is given up after warmup_timeout).';

COMMENT ON CONSTRAINT endpoint_health_failures_nonnegative ON syncsched.endpoint_health IS 'A count of failures.';

COMMENT ON CONSTRAINT endpoint_health_mode_known ON syncsched.endpoint_health IS 'active or passive.';

COMMENT ON CONSTRAINT endpoint_health_status_known ON syncsched.endpoint_health IS 'healthy, unhealthy or unknown.';

CREATE FUNCTION syncsched._reset_endpoint_health(p_integration_type text, p_action text, p_detail jsonb, p_health regclass DEFAULT 'syncsched.endpoint_health'::regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_before syncsched.endpoint_health%rowtype;
    v_now timestamptz := now();  -- (Citus allows no now() in a CASE of a reference table's UPDATE)
begin
    -- Health starts over: unknown (the circuit is closed: runs are claimed again), a check due at
    -- once in active mode (the workers look at the health schedule at least every 15 seconds).
    execute format('select * from %s as h where h.integration_type = $1 for update', p_health)
        into v_before using p_integration_type;
    execute format('update %s as h set status = %L, consecutive_failures = 0, last_error = null, updated_at = $2,'
        ' next_check_at = case when h.mode = %L then $2 end where h.integration_type = $1', p_health, 'unknown', 'active')
        using p_integration_type, v_now;
    if syncsched._on_citus_worker() then
        return;  -- a worker's copy: the alert and the audit entry are the coordinator's (its copy does them)
    end if;
    perform syncsched._resolve_alerts(
        array[syncsched._alert_key('endpoint_unhealthy', null, null, p_integration_type)]
    );
    perform syncsched._audit(p_action, null, null, p_integration_type, null,
        coalesce(p_detail, '{}') || jsonb_build_object('status_before', v_before.status, 'mode', v_before.mode,
            'consecutive_failures_before', v_before.consecutive_failures));
end
$_$;

ALTER FUNCTION syncsched._reset_endpoint_health(p_integration_type text, p_action text, p_detail jsonb, p_health regclass) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._reset_endpoint_health(p_integration_type text, p_action text, p_detail jsonb, p_health regclass) IS 'Start a type''s health over (unknown, a check due at once in active mode, its endpoint_unhealthy alert resolved), audited.';

CREATE FUNCTION syncsched._resolve_alerts(p_keys text[], p_at timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_count integer;
begin
    update syncsched.scheduler_alerts as a
    set resolved_at = p_at
    where a.is_open and a.alert_key = any(p_keys);
    get diagnostics v_count = row_count;
    return v_count;
end
$$;

ALTER FUNCTION syncsched._resolve_alerts(p_keys text[], p_at timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._resolve_alerts(p_keys text[], p_at timestamp with time zone) IS 'Mark the open conditions of these keys resolved: what caused them has cleared.';

CREATE FUNCTION syncsched._retention_keeps_from(p_org_id text, p_integration_id text, p_keep_per_integration integer) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    AS $$
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

ALTER FUNCTION syncsched._retention_keeps_from(p_org_id text, p_integration_id text, p_keep_per_integration integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._retention_keeps_from(p_org_id text, p_integration_id text, p_keep_per_integration integer) IS 'Retention keeps an integration''s finished runs scheduled from this time on (its last p_keep_per_integration); NULL keeps them all.';

CREATE FUNCTION syncsched._retry_after(p_headers jsonb) RETURNS interval
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_value text := (select h.value from jsonb_each_text(p_headers) as h where lower(h.key) = 'retry-after' limit 1);
begin
    -- Retry-After in seconds or as an HTTP date; null when absent or unreadable (the worker's rule)
    v_value := btrim(v_value);
    if v_value is null or v_value = '' then
        return null;
    elsif v_value ~ '^[0-9]{1,9}$' then
        return v_value::integer * interval '1 second';
    end if;
    return greatest(v_value::timestamptz - now(), interval '0');
exception when others then
    return null;
end
$_$;

ALTER FUNCTION syncsched._retry_after(p_headers jsonb) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._retry_after(p_headers jsonb) IS 'The Retry-After of response headers (seconds or an HTTP date) as an interval; null when absent or unreadable.';

CREATE FUNCTION syncsched._run_groups(p_run_ids bigint[], p_org_ids text[]) RETURNS SETOF text[]
    LANGUAGE plpgsql STABLE
    AS $$
begin
    -- The shard groups of these runs' organizations (p_org_ids when the caller knows them, else found);
    -- one group, null, where the tables are not distributed: what a run function's writes loop over.
    return query select g.orgs from syncsched._org_groups(
        case when syncsched._distributed() then coalesce(p_org_ids, syncsched._run_orgs(p_run_ids)) end) as g (orgs);
end
$$;

ALTER FUNCTION syncsched._run_groups(p_run_ids bigint[], p_org_ids text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._run_groups(p_run_ids bigint[], p_org_ids text[]) IS 'The organizations of these runs (p_org_ids, else found) in groups that share a shard (Citus); one null group elsewhere.';

CREATE FUNCTION syncsched._run_log_after_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._run_log_after_delete() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._run_log_after_delete() IS 'Delete the attempts of the runs a statement deleted.';

CREATE FUNCTION syncsched._run_orgs(p_run_ids bigint[]) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._run_orgs(p_run_ids bigint[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._run_orgs(p_run_ids bigint[]) IS 'Where syncsched''s tables are distributed (Citus), the organizations of these runs (empty when none is left); NULL elsewhere.';

CREATE FUNCTION syncsched._runs_failed(p_run_ids bigint[], p_http_status integer DEFAULT NULL::integer, p_orgs text[] DEFAULT NULL::text[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._runs_failed(p_run_ids bigint[], p_http_status integer, p_orgs text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._runs_failed(p_run_ids bigint[], p_http_status integer, p_orgs text[]) IS 'Raise failing for those of these runs that have failed for good.';

CREATE FUNCTION syncsched._runs_live_from(p_scheduled_for timestamp with time zone) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    -- Called after runs were created or made pending again: their partitions are live. (After the
    -- write, so that a tick raising live_from either waits for it or sees it: _raise_live_from.)
    update syncsched.run_log_state as s set live_from = p_scheduled_for, updated_at = now()
    where s.live_from > p_scheduled_for
$$;

ALTER FUNCTION syncsched._runs_live_from(p_scheduled_for timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._runs_live_from(p_scheduled_for timestamp with time zone) IS 'Lower live_from to p_scheduled_for (no-op when it is lower already): called after creating or retrying runs.';

CREATE FUNCTION syncsched._runs_moved(p_what text, p_count integer) RETURNS void
    LANGUAGE plpgsql
    AS $$
begin
    -- For watchers (the console), not for workers: a run was claimed, completed or failed. One
    -- NOTIFY per statement, on its own channel, so that completions do not wake every worker.
    if p_count > 0 then
        perform pg_notify('syncsched_run_events', json_build_object('what', p_what, 'runs', p_count)::text);
    end if;
end
$$;

ALTER FUNCTION syncsched._runs_moved(p_what text, p_count integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._runs_moved(p_what text, p_count integer) IS 'NOTIFY syncsched_run_events {what, runs} when p_count > 0: runs were claimed, completed or failed (for live views).';

CREATE FUNCTION syncsched._schedule_batch(p_now timestamp with time zone, p_limit integer, p_orgs text[], p_paused_types text[], OUT due integer, OUT attempted integer, OUT triggered integer, OUT oldest_created timestamp with time zone, OUT held integer, OUT invalid integer) RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_skip_window interval := syncsched.setting('running_skip_window')::interval;
    v_catch_up_limit integer := syncsched.setting('catch_up_limit')::integer;
    v_default_attempts integer := syncsched.setting('default_max_attempts')::integer;
    v_kinds text[];
    v_orgs text[];
    v_integrations text[];
    v_types text[];
    v_details jsonb[];
    v_warnings text[];
    v_warning text;
begin
    -- One statement: the due schedules (through the next_run_at index, oldest first, rows another
    -- tick or run_now holds skipped), each distinct schedule evaluated once, the runs inserted (at
    -- most one per period: the UNIQUE idempotency key), the schedules advanced; the alerts to raise
    -- come back as arrays. On Citus every table in it is read in the shard of p_orgs' group.
    with batch as (
        select s.id, s.org_id, s.next_run_at, s.cron_spec
        from syncsched.schedule_state as s
        where s.next_run_at <= p_now and s.last_tick_at is distinct from p_now
            and (p_orgs is null or s.org_id = any(p_orgs))
            and (cardinality(p_paused_types) = 0 or not exists (
                select from syncsched.organization_integrations as paused
                where paused.id = s.id and paused.org_id = s.org_id and paused.integration_type = any(p_paused_types)
            ))
        order by s.next_run_at
        limit p_limit
        for update skip locked
    ),
    due as (
        select b.id, b.next_run_at, b.cron_spec, o.org_id, o.integration_id, o.integration_type, o.cron_schedule,
            o.interval_minutes, o.timezone, o.misfire_policy, o.misfire_grace, o.payload, o.max_attempts,
            t.spread,
            -- the overlap rule: a pending run, or a running one that is alive (lease) or recent
            exists (
                select from syncsched.sync_run_log as r
                where r.org_id = o.org_id and r.integration_id = o.integration_id
                    and r.status in ('pending', 'running')
                    and (r.status = 'pending' or r.lease_expires_at > now() or r.started_at > now() - v_skip_window)
            ) as held
        from batch as b
        join syncsched.organization_integrations as o on o.id = b.id and o.org_id = b.org_id
        join syncsched.integration_types as t on t.integration_type = o.integration_type
    ),
    -- Rows with the same schedule, zone, next period and policy share one evaluation; their own
    -- columns travel along as arrays, so that no join (and no plan choice) is needed to get back
    -- to them. Materialized: evaluated once per schedule whatever the planner's estimates.
    schedules as materialized (
        select d.cron_spec, d.interval_minutes, d.timezone, d.next_run_at, d.misfire_policy, d.misfire_grace,
            array_agg(d.id) as ids, array_agg(d.org_id) as org_ids, array_agg(d.integration_id) as integration_ids,
            array_agg(d.integration_type) as types, array_agg(d.cron_schedule) as crons,
            array_agg(d.payload) as payloads, array_agg(d.max_attempts) as max_attempts, array_agg(d.held) as helds,
            array_agg(d.spread) as spreads
        from due as d
        group by d.cron_spec, d.interval_minutes, d.timezone, d.next_run_at, d.misfire_policy, d.misfire_grace
    ),
    decided as (
        select u.*, s.interval_minutes, s.timezone, s.misfire_policy, s.misfire_grace, p.periods, p.missed,
            p.first_missed, p.last_missed, p.next_run_at as new_next_run_at, p.problem
        from schedules as s
        cross join lateral syncsched._due_periods(s.cron_spec, s.interval_minutes, s.timezone, s.next_run_at, p_now,
            s.misfire_policy::syncsched.misfire_policy, s.misfire_grace, v_catch_up_limit) as p
        cross join lateral unnest(s.ids, s.org_ids, s.integration_ids, s.types, s.crons, s.payloads,
            s.max_attempts, s.helds, s.spreads)
            as u (id, org_id, integration_id, integration_type, cron_schedule, payload, max_attempts, held,
                spread)
    ),
    runs as (
        insert into syncsched.sync_run_log (
            org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
            max_attempts, payload, not_before, enqueued_at, drift
        )
        select x.org_id, x.integration_id, x.integration_type, p.period,
            syncsched._period_key(x.org_id, x.integration_id, p.period),
            -- a period run later than the tick after it is a catch-up (late by design)
            case when x.misfire_policy = 'catch_up' and p_now - p.period >= interval '1 minute'
                then 'catch_up' else 'schedule' end,
            -- a type's spread: each integration's run waits until its own offset after the period (the
            -- wait left at p_now, on the workers' clock); within half the way to its next period, so
            -- that a spread longer than a schedule's period never makes its next period an overlap
            coalesce(x.max_attempts, v_default_attempts), x.payload,
            now() + greatest(p.period + case when x.spread is not null then syncsched._spread_offset(
                syncsched._integration_seed(x.org_id, x.integration_id),
                least(x.spread, coalesce((x.new_next_run_at - p.period) / 2, x.spread))
            ) end - p_now, interval '0'),
            now(), p_now - p.period
        from decided as x
        cross join lateral unnest(x.periods) as p (period)
        where x.problem is null and not x.held
        order by p.period, x.id
        on conflict (idempotency_key, scheduled_for, org_id) do nothing
        returning scheduled_for
    ),
    advanced as (
        update syncsched.schedule_state as s
        set next_run_at = case
                when x.problem is not null then null  -- not due again until the schedule is fixed
                when x.held and x.misfire_policy = 'catch_up' then s.next_run_at  -- the periods stay owed
                else x.new_next_run_at
            end,
            last_tick_at = p_now,
            problem = x.problem,
            stale_check_at = case when x.problem is null then s.stale_check_at end
        from decided as x
        where s.id = x.id and s.org_id = x.org_id  -- (by its key: Citus refuses a ctid here)
        returning 1
    ),
    alerts as (
        select 'invalid_schedule' as kind, x.org_id, x.integration_id, x.integration_type,
            jsonb_build_object('error', x.problem, 'cron_schedule', x.cron_schedule, 'interval_minutes',
                x.interval_minutes, 'timezone', x.timezone) as detail
        from decided as x
        where x.problem is not null
        union all
        select 'missed', x.org_id, x.integration_id, x.integration_type,
            jsonb_build_object('policy', x.misfire_policy, 'missed', x.missed, 'first', x.first_missed,
                'last', x.last_missed)
        from decided as x
        where x.problem is null and x.missed > 0
        union all
        select 'skipped_overlap', x.org_id, x.integration_id, x.integration_type,
            jsonb_build_object('periods', to_jsonb(x.periods))
        from decided as x
        where x.problem is null and x.held and cardinality(x.periods) > 0
    )
    select
        (select count(*) from decided),
        (select coalesce(sum(cardinality(x.periods)), 0) from decided as x where x.problem is null and not x.held),
        (select count(*) from runs),
        (select min(runs.scheduled_for) from runs),
        (select count(*) from decided as x where x.problem is null and x.held and cardinality(x.periods) > 0),
        (select count(*) from decided as x where x.problem is not null),
        array_agg(a.kind), array_agg(a.org_id), array_agg(a.integration_id), array_agg(a.integration_type),
        array_agg(a.detail),
        array_agg(format('syncsched: integration %s/%s skipped: %s', a.org_id, a.integration_id, a.detail ->> 'error'))
            filter (where a.kind = 'invalid_schedule')
    into due, attempted, triggered, oldest_created, held, invalid, v_kinds, v_orgs, v_integrations, v_types,
        v_details, v_warnings
    from alerts as a;

    if v_kinds[1] is not null then
        perform syncsched._raise_alerts(v_kinds, v_orgs, v_integrations, v_types, v_details, p_now);
    end if;
    foreach v_warning in array coalesce(v_warnings, '{}') loop
        raise warning '%', v_warning;
    end loop;
end
$$;

ALTER FUNCTION syncsched._schedule_batch(p_now timestamp with time zone, p_limit integer, p_orgs text[], p_paused_types text[], OUT due integer, OUT attempted integer, OUT triggered integer, OUT oldest_created timestamp with time zone, OUT held integer, OUT invalid integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._schedule_batch(p_now timestamp with time zone, p_limit integer, p_orgs text[], p_paused_types text[], OUT due integer, OUT attempted integer, OUT triggered integer, OUT oldest_created timestamp with time zone, OUT held integer, OUT invalid integer) IS 'The statement of run_scheduled_jobs for the schedules of the organizations p_orgs (null: all) not of a type in p_paused_types, at most p_limit: runs created, schedules advanced, alerts raised. Returns its counts.';

CREATE FUNCTION syncsched._schedule_next(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    select case
        when p_interval_minutes is not null then syncsched._interval_next(p_interval_minutes, p_after)
        else syncsched._cron_next_spec(p_spec, p_after, p_timezone)
    end
$$;

ALTER FUNCTION syncsched._schedule_next(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._schedule_next(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone) IS 'schedule_next without its pinned search_path, for the callers inside syncsched (the tick, per due row).';

CREATE FUNCTION syncsched._schedule_next_or_null(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone, p_seed text) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    AS $$
begin
    return syncsched._schedule_next(
        case when p_cron_schedule is not null then syncsched._cron_parse(p_cron_schedule, p_seed) end,
        p_interval_minutes, p_timezone, p_after
    );
exception
    when others then
        raise warning 'syncsched: schedule "%" in % left out: %', coalesce(p_cron_schedule,
            'every ' || p_interval_minutes || ' minutes'), p_timezone, sqlerrm;
        return null;
end
$$;

ALTER FUNCTION syncsched._schedule_next_or_null(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._schedule_next_or_null(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone, p_seed text) IS 'The next period of a schedule given as configured, or NULL with a WARNING when it cannot be evaluated.';

CREATE FUNCTION syncsched._set_pause(p_what text, p_integration_type text, p_paused boolean) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_was boolean;
begin
    -- p_what: scheduling (the tick creates no runs) or dispatch (claims hand out none); a type, or
    -- every type (null: the scheduler_paused / dispatch_paused settings). Returns whether it changed.
    if p_integration_type is null then
        select s.value::boolean into v_was
        from syncsched.settings as s
        where s.key = case p_what when 'scheduling' then 'scheduler_paused' else 'dispatch_paused' end
        for update;
        update syncsched.settings as s set value = p_paused::text
        where s.key = case p_what when 'scheduling' then 'scheduler_paused' else 'dispatch_paused' end;
    else
        select case p_what when 'scheduling' then d.scheduling_paused else d.dispatch_paused end into v_was
        from syncsched.dispatch_state as d
        where d.integration_type = p_integration_type
        for update;
        if not found then
            raise exception 'syncsched: unknown integration type "%"', left(p_integration_type, 64)
                using errcode = 'invalid_parameter_value', hint = syncsched._integration_types_hint();
        end if;
        update syncsched.dispatch_state as d
        set scheduling_paused = case when p_what = 'scheduling' then p_paused else d.scheduling_paused end,
            dispatch_paused = case when p_what = 'dispatch' then p_paused else d.dispatch_paused end,
            updated_at = now()
        where d.integration_type = p_integration_type;
    end if;
    perform syncsched._audit(case when p_paused then 'pause_' else 'resume_' end || p_what, null, null,
        p_integration_type, null, jsonb_build_object('global', p_integration_type is null, 'was_paused', v_was));
    if p_what = 'dispatch' and not p_paused and v_was then
        -- the runs it held may go now, not at the workers' next poll
        perform pg_notify('syncsched_runs', json_build_object('resumed', coalesce(p_integration_type, '*'))::text);
    end if;
    return v_was is distinct from p_paused;
end
$$;

ALTER FUNCTION syncsched._set_pause(p_what text, p_integration_type text, p_paused boolean) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._set_pause(p_what text, p_integration_type text, p_paused boolean) IS 'Pause or resume scheduling or dispatch, of one type or (null) of all, audited (a resumed dispatch wakes the workers); returns whether it changed.';

CREATE FUNCTION syncsched._setting_expected(p_type text, p_min text, p_max text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select case p_type
        when 'interval' then format('an interval from %s to %s, such as ''5 minutes''', p_min, p_max)
        when 'integer' then format('a whole number from %s to %s', p_min, p_max)
        when 'boolean' then 'true or false'
        when 'url' then 'empty (off), an http(s) URL, or env:NAME (the URL is in the workers'' variable NAME)'
        when 'host_list' then 'empty, or host names and addresses separated by commas'
    end
$$;

ALTER FUNCTION syncsched._setting_expected(p_type text, p_min text, p_max text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._setting_expected(p_type text, p_min text, p_max text) IS 'The form a setting of this type and range takes, as error messages say it.';

CREATE FUNCTION syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $_$
declare
    v_value text := btrim(p_value);
begin
    -- NULL when the value does not fit the type and range, else the value as it is stored.
    if p_value is null then
        return null;
    end if;
    case p_type
        when 'interval' then
            if v_value::interval not between p_min::interval and p_max::interval then
                return null;
            end if;
            return v_value;
        when 'integer' then
            if v_value !~ '^[+-]?[0-9]{1,9}$' or v_value::integer not between p_min::integer and p_max::integer then
                return null;
            end if;
            return v_value::integer::text;
        when 'boolean' then
            return v_value::boolean::text;
        when 'url' then
            if v_value = '' or v_value ~ '^env:[A-Z_][A-Z0-9_]*$' or v_value ~* '^https?://[^/?#\s]+[^\s]*$' then
                return v_value;
            end if;
            return null;
        when 'host_list' then
            if v_value = '' then
                return '';
            end if;
            if exists (
                select from unnest(string_to_array(v_value, ',')) as h
                where btrim(h) !~ '^[A-Za-z0-9._:\[\]-]{1,253}$'
            ) then
                return null;
            end if;
            return array_to_string(array(select btrim(h) from unnest(string_to_array(v_value, ',')) as h), ',');
        else
            return null;
    end case;
exception
    when invalid_datetime_format or datetime_field_overflow or interval_field_overflow
        or invalid_text_representation or numeric_value_out_of_range then
        return null;
end
$_$;

ALTER FUNCTION syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text) IS 'The value as stored (trimmed; booleans and integers in canonical form), or NULL when it does not fit the type and range.';

CREATE FUNCTION syncsched._settings_before_write() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_value text := syncsched._setting_normalized(new.type, new.value, new.min_value, new.max_value);
begin
    if v_value is null then
        raise exception 'syncsched: setting %: % is not %', new.key, coalesce(quote_literal(left(new.value, 200)), 'NULL'),
            syncsched._setting_expected(new.type, new.min_value, new.max_value)
            using errcode = 'invalid_parameter_value',
                hint = format('the default is %s', quote_literal(new.default_value));
    end if;
    new.value := v_value;
    new.updated_at := now();
    return new;
end
$$;

ALTER FUNCTION syncsched._settings_before_write() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._settings_before_write() IS 'Refuses a setting value that does not fit its type and range (SQLSTATE 22023 naming key, value and the expected form).';

CREATE FUNCTION syncsched._shard_outbox_add(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_resolves_alert text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql
    AS $$
begin
    -- On a Citus shard (distributed mode), what a trigger would write into audit_log or resolve in
    -- scheduler_alerts, the coordinator's tables: into the shard's outbox, beside the integration
    -- (a trigger may write its own shard only), for the coordinator's tick to move.
    insert into syncsched.shard_outbox (
        org_id, on_behalf_of, action, integration_id, integration_type, detail, resolves_alert
    ) values (
        p_org_id, syncsched._audit_on_behalf_of(), p_action, p_integration_id, p_integration_type, p_detail,
        p_resolves_alert
    );
end
$$;

ALTER FUNCTION syncsched._shard_outbox_add(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_resolves_alert text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._shard_outbox_add(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_resolves_alert text) IS 'On a Citus shard: an audit entry (p_action, p_detail) or an alert to resolve (p_resolves_alert) for the coordinator, in shard_outbox.';

CREATE FUNCTION syncsched._spend_budget(p_type text, p_requests integer, p_at timestamp with time zone DEFAULT now()) RETURNS void
    LANGUAGE plpgsql
    AS $$
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

ALTER FUNCTION syncsched._spend_budget(p_type text, p_requests integer, p_at timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._spend_budget(p_type text, p_requests integer, p_at timestamp with time zone) IS 'Count p_requests requests of a type, sent by p_at at the latest, against its budget (nothing without one), pruning what left the window.';

CREATE FUNCTION syncsched._spread_offset(p_seed text, p_spread interval) RETURNS interval
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- An integration's place in its type's spread window: H's hash (field 0, term 0) of its
    -- identity, in whole seconds below the window. NULL without a spread.
    select make_interval(secs => syncsched._cron_hash(p_seed, 0, 0) % ceil(extract(epoch from p_spread))::bigint)
$$;

ALTER FUNCTION syncsched._spread_offset(p_seed text, p_spread interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._spread_offset(p_seed text, p_spread interval) IS 'How long after its period an integration''s run may start when its type has a spread: _cron_hash(seed, 0, 0) seconds modulo the spread.';

CREATE FUNCTION syncsched._stale_deadline(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval, p_since timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    -- A schedule is stale when the period after its last success has passed without a success:
    -- by the start of the period after that one (max_staleness after the last success when set).
    -- The schedule's own fire times decide, so a weekday or month-end schedule is not stale over
    -- a weekend or a short month.
    select case
        when p_max_staleness is not null then p_since + p_max_staleness
        else syncsched._schedule_next(p_spec, p_interval_minutes, p_timezone,
            syncsched._schedule_next(p_spec, p_interval_minutes, p_timezone, p_since))
    end
$$;

ALTER FUNCTION syncsched._stale_deadline(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval, p_since timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._stale_deadline(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval, p_since timestamp with time zone) IS 'When an integration whose last success served p_since (or whose schedule started then) turns stale: at the second fire time after p_since, or p_since + max_staleness.';

CREATE FUNCTION syncsched._stale_write(p_action text, p_run_ids bigint[], p_worker_id text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched._stale_write(p_action text, p_run_ids bigint[], p_worker_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._stale_write(p_action text, p_run_ids bigint[], p_worker_id text) IS 'Record the stale writes of a worker (one stale_write alert per run, naming org, integration, the worker and what became of the run).';

CREATE FUNCTION syncsched._take_budget(p_type text, p_requests integer) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
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

ALTER FUNCTION syncsched._take_budget(p_type text, p_requests integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._take_budget(p_type text, p_requests integer) IS 'Whether p_requests requests of a type may go now: no 429 holds it, and within its budget (always, without one); if so they are counted.';

CREATE FUNCTION syncsched._tick_done(p_result jsonb, p_limit integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select (p_result ->> 'due')::integer < p_limit or (p_result ->> 'remaining')::integer = 0
$$;

ALTER FUNCTION syncsched._tick_done(p_result jsonb, p_limit integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tick_done(p_result jsonb, p_limit integer) IS 'Whether a batch of the tick was its last: it was not full (what is left is held by another tick), or nothing remains.';

CREATE FUNCTION syncsched._tz_canonical(p_tz text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET "TimeZone" TO 'UTC'
    AS $$
begin
    -- PostgreSQL finds a zone whatever the case of its name and knows its canonical spelling (the
    -- name of its tzdata file). The SET clause confines the session's zone change to this call.
    -- NULL when PostgreSQL does not know the name.
    if p_tz is null or not syncsched._tz_name_ok(p_tz) then
        return null;
    end if;
    perform set_config('timezone', p_tz, true);
    return current_setting('timezone');
exception when invalid_parameter_value then
    return null;
end
$$;

ALTER FUNCTION syncsched._tz_canonical(p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_canonical(p_tz text) IS 'The canonical spelling of an IANA zone name given in any case (europe/oslo -> Europe/Oslo), or NULL when PostgreSQL knows no such zone.';

CREATE FUNCTION syncsched._tz_change(p_lo timestamp with time zone, p_hi timestamp with time zone, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_before interval := syncsched._tz_offset(p_lo, p_tz);
    -- whole seconds since the epoch: tzdata's changes fall on whole seconds
    v_lo double precision := floor(date_part('epoch', p_lo at time zone 'UTC'));
    v_hi double precision := ceil(date_part('epoch', p_hi at time zone 'UTC'));
    v_step double precision;
    v_a double precision;
    v_b double precision;
    v_mid double precision;
begin
    if syncsched._tz_offset(p_hi, p_tz) = v_before then
        return null;
    end if;
    -- Bisection on a grid of hours, then of minutes, then of seconds: most changes fall
    -- on a whole hour or minute of UTC, where the finer grids are not needed. Invariant:
    -- the offset at v_lo is v_before, the offset at v_hi is not.
    foreach v_step in array array[3600, 60, 1]::double precision[] loop
        v_a := floor(v_lo / v_step);
        v_b := ceil(v_hi / v_step);
        while v_b - v_a > 1 loop
            v_mid := floor((v_a + v_b) / 2);
            if syncsched._tz_offset(to_timestamp(v_mid * v_step), p_tz) = v_before then
                v_a := v_mid;
            else
                v_b := v_mid;
            end if;
        end loop;
        v_lo := greatest(v_lo, v_a * v_step);
        v_hi := least(v_hi, v_b * v_step);
        exit when v_hi - v_lo <= 1;
        if syncsched._tz_offset(to_timestamp(v_hi - 1), p_tz) = v_before then
            exit;  -- exactly on this grid
        end if;
        v_hi := v_hi - 1;
    end loop;
    return to_timestamp(v_hi);
end
$$;

ALTER FUNCTION syncsched._tz_change(p_lo timestamp with time zone, p_hi timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_change(p_lo timestamp with time zone, p_hi timestamp with time zone, p_tz text) IS 'The instant in (p_lo, p_hi] at which the UTC offset of p_tz changes, NULL when it is the same at both ends. The window must hold at most one change (72 hours do).';

CREATE FUNCTION syncsched._tz_check(p_tz text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
begin
    -- Cheap checks for the hot path; an unknown name then fails in AT TIME ZONE with
    -- PostgreSQL's own message. timezone_validate is the thorough check.
    if p_tz is null or p_tz = '' then
        raise exception 'time zone is empty' using errcode = 'invalid_parameter_value';
    end if;
    if not syncsched._tz_name_ok(p_tz) then
        raise exception 'unknown time zone "%": use an IANA name such as Europe/Oslo', left(p_tz, 64)
            using errcode = 'invalid_parameter_value';
    end if;
end
$$;

ALTER FUNCTION syncsched._tz_check(p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_check(p_tz text) IS 'Raises invalid_parameter_value when p_tz is empty or not shaped like an IANA name.';

CREATE FUNCTION syncsched._tz_day_is_plain(p_day date, p_tz text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- The local day lies within [day - 1, day + 2] in UTC for any offset of -24..+24 h;
    -- 72 hours hold at most one change, so equal offsets at both ends mean none.
    select syncsched._tz_offset((p_day - 1)::timestamp at time zone 'UTC', p_tz)
         = syncsched._tz_offset((p_day + 2)::timestamp at time zone 'UTC', p_tz)
$$;

ALTER FUNCTION syncsched._tz_day_is_plain(p_day date, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_day_is_plain(p_day date, p_tz text) IS 'True when p_tz has no offset change around local day p_day (the UTC window from the day before to two days after).';

CREATE FUNCTION syncsched._tz_fold(p_at timestamp with time zone, p_tz text) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    -- a repeated stretch lasts at most 24 hours
    v_change timestamptz := syncsched._tz_change(p_at - interval '25 hours', p_at, p_tz);
    v_back interval;
begin
    if v_change is null then
        return 0;
    end if;
    v_back := syncsched._tz_offset(v_change - interval '1 second', p_tz) - syncsched._tz_offset(v_change, p_tz);
    return case when p_at < v_change + v_back then 1 else 0 end;
end
$$;

ALTER FUNCTION syncsched._tz_fold(p_at timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_fold(p_at timestamp with time zone, p_tz text) IS '1 when instant p_at is the second occurrence of its local wall time in p_tz, else 0.';

CREATE FUNCTION syncsched._tz_name_ok(p_tz text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    -- The shape of an IANA name: a first component without digits (POSIX offsets such as
    -- UTC+3 or EST5 are not IANA names, though PostgreSQL takes them), at most 64 characters.
    select length(p_tz) <= 64
        and (p_tz ~ '^[A-Za-z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+)*$'
             or p_tz in ('EST5EDT', 'CST6CDT', 'MST7MDT', 'PST8PDT'))
$_$;

ALTER FUNCTION syncsched._tz_name_ok(p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_name_ok(p_tz text) IS 'Whether p_tz has the shape of an IANA time zone name (existence is checked separately).';

CREATE FUNCTION syncsched._tz_offset(p_at timestamp with time zone, p_tz text) RETURNS interval
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select (p_at at time zone p_tz) - (p_at at time zone 'UTC')
$$;

ALTER FUNCTION syncsched._tz_offset(p_at timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_offset(p_at timestamp with time zone, p_tz text) IS 'UTC offset of time zone p_tz at instant p_at.';

CREATE FUNCTION syncsched._tz_to_utc(p_wall timestamp without time zone, p_fold integer, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
declare
    v_lo timestamptz := (p_wall::date - 1)::timestamp at time zone 'UTC';
    v_hi timestamptz := (p_wall::date + 2)::timestamp at time zone 'UTC';
    v_before interval := syncsched._tz_offset(v_lo, p_tz);
    v_after interval := syncsched._tz_offset(v_hi, p_tz);
    v_change timestamp;
begin
    if v_before = v_after then
        return (p_wall - v_before) at time zone 'UTC';
    end if;
    v_change := syncsched._tz_change(v_lo, v_hi, p_tz) at time zone 'UTC';
    -- Python's zoneinfo: with fold 0 the new offset applies from the later of the two wall
    -- times of the change on, with fold 1 from the earlier one. A repeated wall time is
    -- thus its first occurrence with fold 0, and a skipped one takes the offset before.
    return (p_wall - case
        when p_wall >= v_change + case when p_fold = 0 then greatest(v_before, v_after) else least(v_before, v_after) end
            then v_after
        else v_before
    end) at time zone 'UTC';
end
$$;

ALTER FUNCTION syncsched._tz_to_utc(p_wall timestamp without time zone, p_fold integer, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._tz_to_utc(p_wall timestamp without time zone, p_fold integer, p_tz text) IS 'The instant of local wall time p_wall in p_tz, resolving gaps and repeated times as Python''s zoneinfo does for fold p_fold.';

CREATE FUNCTION syncsched._url_refusal(p_url text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_parts text[];
    v_scheme text;
    v_host text;
    v_address inet;
begin
    -- The worker's URL guard, before anything is queued: https (http for allowed_insecure_hosts),
    -- and a host given as an address must be public unless it is in allowed_private_hosts. The
    -- worker also refuses names that resolve to private addresses; the database cannot resolve
    -- names (pg_net's libcurl does, when it sends): README, "pg_net / Supabase".
    if p_url is null then
        return null;
    end if;
    -- (the URL is never repeated: it may carry user:password@)
    if p_url ~ '[[:space:][:cntrl:]]' then
        return 'refused: the URL has spaces or control characters';
    end if;
    v_parts := regexp_match(p_url, '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#]*@)?(\[[^]]*\]|[^:/?#]*)(:[^/?#]*)?([/?#]|$)');
    if v_parts is null or v_parts[2] = '' then
        return 'refused: the URL has no host';
    end if;
    v_scheme := lower(v_parts[1]);
    v_host := lower(rtrim(btrim(v_parts[2], '[]'), '.'));
    -- What libcurl would read otherwise than the guard does: %-escapes in the host, an IPv6 zone
    -- (%25eth0), a second @; a port out of range. (The worker's guard reads them as curl does.)
    if v_host !~ '^([a-z0-9_-]+(\.[a-z0-9_-]+)*|[0-9a-f:.]+)$' then
        return format('refused: host %s is not a plain name or address', left(v_host, 100));
    end if;
    if v_parts[3] is not null and v_parts[3] <> ':' and (case when v_parts[3] ~ '^:[0-9]{1,5}$'
        then ltrim(v_parts[3], ':')::integer not between 1 and 65535 else true end) then
        return format('refused: port %s of %s is not 1-65535', left(ltrim(v_parts[3], ':'), 10), v_host);
    end if;
    if v_scheme <> 'https' and not (v_scheme = 'http' and syncsched._host_allowed(v_host, 'allowed_insecure_hosts')) then
        return format('refused: %s:// to %s (https only, http for allowed_insecure_hosts)', v_scheme, v_host);
    end if;
    if syncsched._host_allowed(v_host, 'allowed_private_hosts') then
        return null;
    end if;
    -- the one name whose addresses are known without asking (RFC 6761): loopback
    if v_host = 'localhost' or v_host like '%.localhost' then
        return format('refused: %s is not a public address (allowed_private_hosts)', v_host);
    end if;
    -- a part with a leading zero is octal to libcurl (0177.0.0.1 is 127.0.0.1), decimal to inet
    if v_host ~ '^[0-9.]+$' and v_host ~ '(^|\.)0[0-9]' then
        return format('refused: %s is an address the guard cannot read', v_host);
    end if;
    begin
        v_address := v_host::inet;
    exception when invalid_text_representation then
        -- other spellings of an address that libcurl reads (2130706433, 0x7f000001, 127.1)
        if v_host ~ '^((0x[0-9a-f]*|[0-9]+)\.?){1,4}$' then
            return format('refused: %s is an address the guard cannot read', v_host);
        end if;
        return null;
    end;
    if not syncsched._address_public(v_address) then
        return format('refused: %s is not a public address (allowed_private_hosts)', v_host);
    end if;
    return null;
end
$_$;

ALTER FUNCTION syncsched._url_refusal(p_url text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._url_refusal(p_url text) IS 'Why the URL guard refuses the URL (spaces or control characters; no host; scheme; a host libcurl would read otherwise, or not a plain name or address; a port outside 1-65535; a host given as an address that is not public, unless allowed), or null. Never repeats the URL.';

CREATE FUNCTION syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    -- A budgeted type's idle endpoint gets a warm-up request before its runs: it counts too.
    select p_rate_limit is not null and exists (
        select from syncsched.endpoint_health as h
        where h.integration_type = p_type and (h.last_used_at is null or h.last_used_at < now() - p_idle)
    )
$$;

ALTER FUNCTION syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval) IS 'Whether a claim of a budgeted type counts a warm-up against its budget: its endpoint idle for longer than p_idle.';

CREATE FUNCTION syncsched._web_token_hash(p_token text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select encode(sha256(convert_to(p_token, 'UTF8')), 'hex')
$$;

ALTER FUNCTION syncsched._web_token_hash(p_token text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched._web_token_hash(p_token text) IS 'The stored form of a console token: its SHA-256, hex.';

CREATE FUNCTION syncsched.acknowledge_alert(p_alert_id bigint, p_by text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    perform syncsched._require(p_alert_id, 'p_alert_id');
    update syncsched.scheduler_alerts as a
    set acknowledged_at = now(), acknowledged_by = left(coalesce(p_by, session_user), 200)
    where a.alert_id = p_alert_id and a.acknowledged_at is null;
    if found then
        return true;
    end if;
    if not exists (select from syncsched.scheduler_alerts as a where a.alert_id = p_alert_id) then
        raise exception 'syncsched: no alert %', p_alert_id using errcode = 'no_data_found';
    end if;
    return false;
end
$$;

ALTER FUNCTION syncsched.acknowledge_alert(p_alert_id bigint, p_by text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.acknowledge_alert(p_alert_id bigint, p_by text) IS 'Mark an alert seen (by p_by, else the database role): true, or false when it was acknowledged already. A condition stays open until its cause clears.';

CREATE FUNCTION syncsched.alter_integration(p_org_id text, p_integration_id text, p_integration_type text DEFAULT NULL::text, p_cron_schedule text DEFAULT NULL::text, p_interval_minutes integer DEFAULT NULL::integer, p_timezone text DEFAULT NULL::text, p_payload jsonb DEFAULT NULL::jsonb, p_is_enabled boolean DEFAULT NULL::boolean, p_misfire_policy text DEFAULT NULL::text, p_misfire_grace interval DEFAULT NULL::interval, p_max_attempts integer DEFAULT NULL::integer, p_max_staleness interval DEFAULT NULL::interval, p_reset text[] DEFAULT '{}'::text[]) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    c_resettable constant text[] := array[
        'cron_schedule', 'interval_minutes', 'timezone', 'payload', 'is_enabled', 'misfire_policy', 'misfire_grace',
        'max_attempts', 'max_staleness'
    ];
    v_id bigint := syncsched._integration_id(p_org_id, p_integration_id);
    v_reset text[] := coalesce(p_reset, '{}');
    v_unknown text;
    v_given text[];
    v_sets text[] := '{}';
begin
    -- Like pg_cron's alter_job: an argument left null keeps the stored value; p_reset names the
    -- fields to put back to their defaults (the table's column defaults). A cron schedule replaces
    -- an interval and vice versa. One UPDATE, checked by the schedule trigger.
    select u.name into v_unknown from unnest(v_reset) as u (name) where u.name is null or not u.name = any(c_resettable)
    limit 1;
    if found then
        raise exception 'syncsched: integration %/% has no field % to reset', syncsched._label(p_org_id),
            syncsched._label(p_integration_id), coalesce('"' || left(v_unknown, 64) || '"', '(null)')
            using errcode = 'invalid_parameter_value', hint = 'fields with a default: ' || array_to_string(c_resettable, ', ');
    end if;
    v_given := array_remove(array[
        case when p_cron_schedule is not null then 'cron_schedule' end,
        case when p_interval_minutes is not null then 'interval_minutes' end,
        case when p_timezone is not null then 'timezone' end,
        case when p_payload is not null then 'payload' end,
        case when p_is_enabled is not null then 'is_enabled' end,
        case when p_misfire_policy is not null then 'misfire_policy' end,
        case when p_misfire_grace is not null then 'misfire_grace' end,
        case when p_max_attempts is not null then 'max_attempts' end,
        case when p_max_staleness is not null then 'max_staleness' end
    ], null);
    select u.name into v_unknown from unnest(v_reset) as u (name) where u.name = any(v_given) limit 1;
    if found then
        raise exception 'syncsched: integration %/% field % is both given and reset', syncsched._label(p_org_id),
            syncsched._label(p_integration_id), v_unknown
            using errcode = 'invalid_parameter_value', hint = 'give a value, or reset it to its default, not both';
    end if;
    if p_integration_type is not null then
        v_sets := v_sets || 'integration_type = $2'::text;
    end if;
    v_sets := v_sets || case
        when 'cron_schedule' = any(v_reset) then 'cron_schedule = default'
        when p_cron_schedule is not null then 'cron_schedule = $3'
        when p_interval_minutes is not null then 'cron_schedule = null'
    end;
    v_sets := v_sets || case
        when 'interval_minutes' = any(v_reset) then 'interval_minutes = default'
        when p_interval_minutes is not null then 'interval_minutes = $4'
        when p_cron_schedule is not null then 'interval_minutes = null'
    end;
    v_sets := v_sets || case when 'timezone' = any(v_reset) then 'timezone = default'
        when p_timezone is not null then 'timezone = $5' end;
    v_sets := v_sets || case when 'payload' = any(v_reset) then 'payload = default'
        when p_payload is not null then 'payload = $6' end;
    v_sets := v_sets || case when 'is_enabled' = any(v_reset) then 'is_enabled = default'
        when p_is_enabled is not null then 'is_enabled = $7' end;
    v_sets := v_sets || case when 'misfire_policy' = any(v_reset) then 'misfire_policy = default'
        when p_misfire_policy is not null then 'misfire_policy = $8' end;
    v_sets := v_sets || case when 'misfire_grace' = any(v_reset) then 'misfire_grace = default'
        when p_misfire_grace is not null then 'misfire_grace = $9' end;
    v_sets := v_sets || case when 'max_attempts' = any(v_reset) then 'max_attempts = default'
        when p_max_attempts is not null then 'max_attempts = $10' end;
    v_sets := v_sets || case when 'max_staleness' = any(v_reset) then 'max_staleness = default'
        when p_max_staleness is not null then 'max_staleness = $11' end;
    v_sets := array_remove(v_sets, null);
    if cardinality(v_sets) > 0 then
        execute format('update syncsched.organization_integrations as o set %s where o.org_id = $12 and o.id = $1',
            array_to_string(v_sets, ', '))
            using v_id, p_integration_type, p_cron_schedule, p_interval_minutes, p_timezone, p_payload, p_is_enabled,
                p_misfire_policy, p_misfire_grace, p_max_attempts, p_max_staleness, p_org_id;
    end if;
    return v_id;
end
$_$;

ALTER FUNCTION syncsched.alter_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval, p_reset text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.alter_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval, p_reset text[]) IS 'Change some fields of an integration; returns its id. Every argument left null keeps the stored value; a cron schedule replaces the interval and vice versa; p_reset names fields to put back to their defaults (cron_schedule, interval_minutes, timezone, payload, is_enabled, misfire_policy, misfire_grace, max_attempts, max_staleness). A bad field is 22023.';

CREATE FUNCTION syncsched.cancel_run(p_run_id bigint) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_run record;
begin
    perform syncsched._require(p_run_id, 'p_run_id');
    update syncsched.sync_run_log as r
    set status = 'cancelled', finished_at = now(), error = format('cancelled by %s', session_user)
    where r.run_id = p_run_id and r.status = 'pending'
    returning r.org_id, r.integration_id, r.integration_type, r.attempt, r.trigger into v_run;
    if found then
        perform syncsched._audit('cancel_run', v_run.org_id, v_run.integration_id, v_run.integration_type, p_run_id,
            jsonb_build_object('attempts_used', v_run.attempt, 'trigger', v_run.trigger));
        return true;
    end if;
    if not exists (select from syncsched.sync_run_log as r where r.run_id = p_run_id) then
        raise exception 'syncsched: no run %', p_run_id using errcode = 'no_data_found';
    end if;
    return false;
end
$$;

ALTER FUNCTION syncsched.cancel_run(p_run_id bigint) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.cancel_run(p_run_id bigint) IS 'Cancel a pending run (true, audited); false when the run is no longer pending (running runs finish).';

CREATE FUNCTION syncsched.check_endpoint_now(p_integration_type text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    if p_integration_type is null or not exists (
        select from syncsched.integration_types as t where t.integration_type = p_integration_type
    ) then
        raise exception 'syncsched: unknown integration type %', coalesce('"' || left(p_integration_type, 64) || '"', '(null)')
            using errcode = 'invalid_parameter_value', hint = syncsched._integration_types_hint();
    end if;
    perform syncsched._reset_endpoint_health(p_integration_type, 'check_endpoint_now', '{}');
end
$$;

ALTER FUNCTION syncsched.check_endpoint_now(p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.check_endpoint_now(p_integration_type text) IS 'After fixing an endpoint: its health starts over as unknown (the circuit breaker lets its runs through again) and a health check is due at once (active mode). Audited.';

CREATE FUNCTION syncsched.check_scheduler(p_since timestamp with time zone DEFAULT NULL::timestamp with time zone, p_now timestamp with time zone DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_silent_after interval := syncsched.setting('scheduler_silent_after')::interval;
    v_key text := syncsched._alert_key('scheduler_silent', null, null, null);
    v_last timestamptz;
    v_silent boolean;
    v_raised boolean := false;
begin
    -- Workers call this every few seconds; one at a time decides, so the alert is raised once.
    perform pg_advisory_xact_lock(1398361667, hashtext('check_scheduler'));
    select t.started_at into v_last from syncsched.scheduler_ticks as t order by t.tick_id desc limit 1;
    -- no tick ever: silent once the caller has been watching for longer than the limit
    v_silent := p_now - coalesce(v_last, p_since, p_now) > v_silent_after;
    if v_silent and not syncsched._alert_open(v_key) then
        perform syncsched._alert('scheduler_silent', null, null, null,
            jsonb_build_object('last_tick_at', v_last, 'silent_for_seconds',
                               round(extract(epoch from p_now - coalesce(v_last, p_since)))), p_now);
        v_raised := true;
    elsif not v_silent and v_last is not null then
        perform syncsched._resolve_alerts(array[v_key], p_now);
    end if;
    return jsonb_build_object('last_tick_at', v_last, 'silent', v_silent, 'raised', v_raised);
end
$$;

ALTER FUNCTION syncsched.check_scheduler(p_since timestamp with time zone, p_now timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.check_scheduler(p_since timestamp with time zone, p_now timestamp with time zone) IS 'Raise scheduler_silent when no tick started for scheduler_silent_after (p_since: when the caller started watching, for a scheduler that never ticked); resolve it when ticks are back. Returns last_tick_at, silent, raised.';

CREATE FUNCTION syncsched.check_staleness(p_now timestamp with time zone DEFAULT now(), p_limit integer DEFAULT 5000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_kinds text[];
    v_orgs text[];
    v_integrations text[];
    v_types text[];
    v_details jsonb[];
    v_orgs_due text[];
    v_raised integer := 0;
    v_judged integer;
    v_judged_all integer := 0;
begin
    -- The integrations whose staleness deadline has passed, through the stale_check_at index: O(due).
    -- Each is judged by its last success: not stale yet, it gets the deadline that success gives;
    -- stale, the alert is raised (once: a condition, until a run completes), and the next look is
    -- at its next period. An integration whose scheduling is paused (its type's, or all) gets no
    -- runs on purpose: it is not judged until scheduling resumes.
    if syncsched.setting('scheduler_paused')::boolean then
        return 0;
    end if;
    -- (on Citus, tables distributed: one statement per shard group, 05_citus.sql)
    for v_orgs_due in
        select g.orgs from syncsched._org_groups(case when syncsched._distributed() then array(
            select distinct s.org_id from syncsched.schedule_state as s
            where s.stale_check_at <= p_now and s.next_run_at is not null
        ) end) as g (orgs)
    loop
        exit when v_judged_all >= p_limit;  -- (p_limit for all the groups together)
        with due as (
            select s.id, s.cron_spec, s.derived_at, s.next_run_at, o.org_id, o.integration_id, o.integration_type,
                o.interval_minutes, o.timezone, o.max_staleness, last_success.scheduled_for as last_success_for
            from syncsched.schedule_state as s
            join syncsched.organization_integrations as o on o.id = s.id and o.org_id = s.org_id
            -- (in this statement, not after it: on Citus a lateral join to a distributed table must
            -- stay in the single-shard statement; the lateral reads only the rows the limit keeps)
            left join lateral (
                select r.scheduled_for
                from syncsched.sync_run_log as r
                where r.org_id = o.org_id and r.integration_id = o.integration_id and r.status = 'completed'
                    and (v_orgs_due is null or r.org_id = any(v_orgs_due))
                order by r.scheduled_for desc
                limit 1
            ) as last_success on true
            where s.stale_check_at <= p_now and s.next_run_at is not null
                -- (on each table: Citus prunes each by a condition of its own)
                and (v_orgs_due is null or s.org_id = any(v_orgs_due) and o.org_id = any(v_orgs_due))
                and not exists (
                    select from syncsched.dispatch_state as d
                    where d.integration_type = o.integration_type and d.scheduling_paused
                )
            order by s.stale_check_at
            limit p_limit - v_judged_all
            for update of s skip locked
        ),
        judged as (
            select due.*, syncsched._stale_deadline(due.cron_spec, due.interval_minutes, due.timezone,
                due.max_staleness, greatest(due.last_success_for, due.derived_at)) as deadline
            from due
        ),
        rescheduled as (
            update syncsched.schedule_state as s
            set stale_check_at = case when j.deadline > p_now then j.deadline else greatest(j.next_run_at, p_now) end
            from judged as j
            where s.id = j.id and s.org_id = j.org_id
            returning j.*
        )
        select count(*)::integer, array_agg('stale'::text) filter (where j.stale),
            array_agg(x.org_id) filter (where j.stale), array_agg(x.integration_id) filter (where j.stale),
            array_agg(x.integration_type) filter (where j.stale),
            array_agg(jsonb_build_object('last_success_for', x.last_success_for, 'stale_since', x.deadline))
                filter (where j.stale)
        into v_judged, v_kinds, v_orgs, v_integrations, v_types, v_details
        from rescheduled as x
        cross join lateral (
            select x.deadline <= p_now
                and not syncsched._alert_open(syncsched._alert_key('stale', x.org_id, x.integration_id, null)) as stale
        ) as j;
        v_judged_all := v_judged_all + v_judged;
        if v_kinds is not null then
            v_raised := v_raised + syncsched._raise_alerts(v_kinds, v_orgs, v_integrations, v_types, v_details, p_now);
        end if;
    end loop;
    return v_raised;
end
$$;

ALTER FUNCTION syncsched.check_staleness(p_now timestamp with time zone, p_limit integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.check_staleness(p_now timestamp with time zone, p_limit integer) IS 'Raise stale for integrations whose period after their last success has passed without a success (or max_staleness), once until a run completes; each is looked at when its deadline passes, none while its scheduling is paused. Called by tick(); returns how many turned stale.';

CREATE FUNCTION syncsched.claim_alert_deliveries(p_max integer DEFAULT 20) RETURNS TABLE(alert_id bigint, kind text, severity text, alert_key text, org_id text, integration_id text, integration_type text, detail jsonb, at timestamp with time zone, webhook_url text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_url text := syncsched.setting('alert_webhook_url');
    v_repeat interval := syncsched.setting('alert_repeat_after')::interval;
    v_ids bigint[];
begin
    if p_max is null or p_max < 1 or p_max > 1000 then
        raise exception 'syncsched: claim_alert_deliveries p_max must be 1-1000' using errcode = 'invalid_parameter_value';
    end if;
    if v_url = '' then
        return;
    end if;
    -- One claimer at a time: the repeat rule must see what the others just sent.
    perform pg_advisory_xact_lock(1398361667, hashtext('claim_alert_deliveries'));
    -- the same key sent within alert_repeat_after, or twice in this batch: not sent again
    with waiting as (
        select a.alert_id, a.alert_key,
            row_number() over (partition by a.alert_key order by a.alert_id) as nth
        from syncsched.scheduler_alerts as a
        where a.delivery = 'pending' and a.delivery_not_before <= now()
        order by a.alert_id
        limit p_max
    ),
    decided as (
        update syncsched.scheduler_alerts as a
        set delivery = case
                when w.nth > 1 or exists (
                    select from syncsched.scheduler_alerts as s
                    where s.alert_key = w.alert_key and s.delivery = 'sent' and s.delivered_at > now() - v_repeat
                ) then 'suppressed'
                else 'sent'
            end,
            delivered_at = now()
        from waiting as w
        where a.alert_id = w.alert_id
        returning a.alert_id, a.delivery
    )
    select array_agg(d.alert_id order by d.alert_id) filter (where d.delivery = 'sent') into v_ids from decided as d;
    return query
    select a.alert_id, a.kind, k.severity, a.alert_key, a.org_id, a.integration_id, a.integration_type, a.detail,
        a.at, v_url
    from syncsched.scheduler_alerts as a
    join syncsched.alert_kinds as k on k.kind = a.kind
    where a.alert_id = any(v_ids)
    order by a.alert_id;
end
$$;

ALTER FUNCTION syncsched.claim_alert_deliveries(p_max integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.claim_alert_deliveries(p_max integer) IS 'Alerts to POST to the webhook now (marked sent at once: at most one delivery each); alerts whose key was sent within alert_repeat_after are marked suppressed instead. Empty while alert_webhook_url is empty.';

CREATE FUNCTION syncsched.claim_health_checks(p_worker_id text, p_max integer DEFAULT 10) RETURNS TABLE(integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    return query select * from syncsched._claim_health_checks(p_worker_id, p_max, 'worker');
end
$$;

ALTER FUNCTION syncsched.claim_health_checks(p_worker_id text, p_max integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.claim_health_checks(p_worker_id text, p_max integer) IS 'Health checks due now of types whose transport is worker (active mode, types with enabled integrations), each claimed by one worker: at most one check per type and interval across all workers.';

CREATE FUNCTION syncsched.claim_prewarm(p_within interval DEFAULT NULL::interval) RETURNS TABLE(integration_type text, url text, method text, timeout_ms integer, connect_timeout_ms integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_within interval := coalesce(p_within, syncsched.setting('prewarm_ahead')::interval);
    v_idle interval := syncsched.setting('warmup_after')::interval;
    v_type text;
    v_warmed text[] := '{}';
begin
    -- Marking the endpoint used is the claim: another worker re-reading the row finds it fresh.
    -- In name order, the type's claim lock and budget before its row, as claim_health_checks.
    for v_type in
        select distinct u.integration_type
        from syncsched.upcoming_runs(v_within) as u
        join syncsched.endpoint_health as h on h.integration_type = u.integration_type
        join syncsched.integration_types as t on t.integration_type = u.integration_type
        where t.transport = 'worker' and (h.last_used_at is null or h.last_used_at < now() - v_idle)
            and not syncsched._circuit_open(h.mode, h.status)
            and not syncsched._rate_limited_now(h.integration_type)
        order by 1
    loop
        continue when not syncsched._take_budget(v_type, 1);
        update syncsched.endpoint_health as h
        set last_used_at = now(), updated_at = now()
        where h.integration_type = v_type and (h.last_used_at is null or h.last_used_at < now() - v_idle)
            and h.ctid = (
                select x.ctid from syncsched.endpoint_health as x where x.integration_type = v_type
                for update skip locked
            );
        if found then
            v_warmed := v_warmed || v_type;
        end if;
    end loop;
    return query select e.* from syncsched._endpoints(v_warmed) as e;
end
$$;

ALTER FUNCTION syncsched.claim_prewarm(p_within interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.claim_prewarm(p_within interval) IS 'Idle endpoints (unused for warmup_after) of runs scheduled within p_within (prewarm_ahead): each returned to one worker, which warms it up.';

CREATE FUNCTION syncsched.claim_runs(p_worker_id text, p_max integer, p_lease interval DEFAULT NULL::interval) RETURNS TABLE(run_id bigint, lease_token uuid, lease_expires_at timestamp with time zone, org_id text, integration_id text, integration_type text, scheduled_for timestamp with time zone, idempotency_key text, attempt integer, max_attempts integer, payload jsonb, endpoint_url text, timeout_ms integer, connect_timeout_ms integer, auth_secret_env text, warmup boolean, health_url text, health_method text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- (pg_net types are the database's to send: net_step. PL/pgSQL: its plan is kept for the session.)
    return query select * from syncsched._claim_runs(p_worker_id, p_max, p_lease, 'worker');
end
$$;

ALTER FUNCTION syncsched.claim_runs(p_worker_id text, p_max integer, p_lease interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.claim_runs(p_worker_id text, p_max integer, p_lease interval) IS 'Claim up to p_max pending runs whose not_before has passed: round robin across organizations over each type''s whole backlog (each organization oldest first), within each type''s max_concurrency across all workers, skipping types whose circuit is open or whose dispatch is paused (all of them while the dispatch_paused setting is true), of types whose transport is worker. Each becomes running with its next attempt number, a fresh lease_token and lease (default: the lease setting). Records drift (alert above drift_alert_threshold); warmup says the endpoint was idle longer than warmup_after. Expired leases are not reaped here: reap_expired_runs.';

CREATE FUNCTION syncsched.collect_shard_outbox() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_entry record;
    v_count integer := 0;
begin
    -- Distributed mode (Citus): what the integrations' triggers on the shards left for the
    -- coordinator, moved in the order it was written: the audit entries into audit_log (at the time
    -- of the change), the alerts they ended resolved. Taken by a DELETE: two ticks at once move each
    -- entry once. Nothing to do elsewhere.
    if not syncsched._distributed() then
        return 0;
    end if;
    for v_entry in
        with taken as (delete from syncsched.shard_outbox returning *)
        select * from taken order by taken.at, taken.org_id, taken.entry_id
    loop
        if v_entry.action is not null then
            insert into syncsched.audit_log (
                at, actor, on_behalf_of, action, org_id, integration_id, integration_type, detail
            ) values (
                v_entry.at, v_entry.actor, v_entry.on_behalf_of, v_entry.action, v_entry.org_id,
                v_entry.integration_id, v_entry.integration_type, coalesce(v_entry.detail, '{}')
            );
        end if;
        -- (an alert raised after the change, which the coordinator learns of later, stays open)
        if v_entry.resolves_alert is not null and exists (
            select from syncsched.scheduler_alerts as a
            where a.is_open and a.alert_key = v_entry.resolves_alert and a.at <= v_entry.at
        ) then
            perform syncsched._resolve_alerts(array[v_entry.resolves_alert], v_entry.at);
        end if;
        v_count := v_count + 1;
    end loop;
    return v_count;
end
$$;

ALTER FUNCTION syncsched.collect_shard_outbox() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.collect_shard_outbox() IS 'Distributed mode (Citus): move what the integrations'' triggers left on the shards (shard_outbox) into audit_log and scheduler_alerts; the tick calls it. Returns how many entries it moved; 0 elsewhere.';

CREATE FUNCTION syncsched.complete_and_claim(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_max integer, p_lease interval DEFAULT NULL::interval, p_org_ids text[] DEFAULT NULL::text[]) RETURNS TABLE(applied boolean, run_id bigint, lease_token uuid, lease_expires_at timestamp with time zone, org_id text, integration_id text, integration_type text, scheduled_for timestamp with time zone, idempotency_key text, attempt integer, max_attempts integer, payload jsonb, endpoint_url text, timeout_ms integer, connect_timeout_ms integer, auth_secret_env text, warmup boolean, health_url text, health_method text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.complete_and_claim(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_max integer, p_lease interval, p_org_ids text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.complete_and_claim(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_max integer, p_lease interval, p_org_ids text[]) IS 'complete_runs of the given runs (fenced by their lease tokens; p_org_ids, their organizations), then claim_runs of up to p_max (none when 0), in one transaction: a worker''s round trip. A completion comes back as (applied, run_id), applied false when stale; a claimed run with applied null and claim_runs'' columns.';

CREATE FUNCTION syncsched.complete_run(p_run_id bigint, p_lease_token uuid, p_http_status integer DEFAULT NULL::integer, p_response_excerpt text DEFAULT NULL::text, p_worker_id text DEFAULT NULL::text, p_org_id text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select c.applied
    from syncsched.complete_runs(array[p_run_id], array[p_lease_token], array[p_http_status],
                                 array[p_response_excerpt], p_worker_id,
                                 case when p_org_id is not null then array[p_org_id] end) as c
$$;

ALTER FUNCTION syncsched.complete_run(p_run_id bigint, p_lease_token uuid, p_http_status integer, p_response_excerpt text, p_worker_id text, p_org_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.complete_run(p_run_id bigint, p_lease_token uuid, p_http_status integer, p_response_excerpt text, p_worker_id text, p_org_id text) IS 'Mark a running run completed (fenced by its lease token); false when this worker no longer holds it. p_org_id as complete_runs'' p_org_ids.';

CREATE FUNCTION syncsched.complete_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_worker_id text DEFAULT NULL::text, p_org_ids text[] DEFAULT NULL::text[]) RETURNS TABLE(run_id bigint, applied boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

ALTER FUNCTION syncsched.complete_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_worker_id text, p_org_ids text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.complete_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_worker_id text, p_org_ids text[]) IS 'Mark many running runs completed in one statement (each fenced by its lease token) and record their attempts; applied per run. A run whose lease expired and that was not claimed again still takes its worker''s late completion (the attempt recorded lost becomes completed). Resolves the integrations'' failing and stale alerts; passive-mode types become healthy. p_worker_id names the worker in a stale_write alert; p_org_ids, the runs'' organizations, take the statement to their shards alone on Citus.';

CREATE FUNCTION syncsched.create_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text DEFAULT NULL::text, p_interval_minutes integer DEFAULT NULL::integer, p_timezone text DEFAULT 'UTC'::text, p_payload jsonb DEFAULT '{}'::jsonb, p_is_enabled boolean DEFAULT true, p_misfire_policy text DEFAULT 'run_once'::text, p_misfire_grace interval DEFAULT '00:15:00'::interval, p_max_attempts integer DEFAULT NULL::integer, p_max_staleness interval DEFAULT NULL::interval) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_id bigint;
begin
    -- Every field is checked by the schedule trigger (SQLSTATE 22023 naming org, integration, problem),
    -- once it is known that the integration is new (an existing one is the first thing to say).
    if exists (
        select from syncsched.organization_integrations as o
        where o.org_id = p_org_id and o.integration_id = p_integration_id
    ) then
        raise unique_violation;
    end if;
    insert into syncsched.organization_integrations as o (
        org_id, integration_id, integration_type, cron_schedule, interval_minutes, timezone, payload, is_enabled,
        misfire_policy, misfire_grace, max_attempts, max_staleness
    ) values (
        p_org_id, p_integration_id, p_integration_type, p_cron_schedule, p_interval_minutes, p_timezone, p_payload,
        p_is_enabled, p_misfire_policy, p_misfire_grace, p_max_attempts, p_max_staleness
    )
    returning o.id into v_id;
    return v_id;
exception when unique_violation then
    raise exception 'syncsched: integration %/% exists already', syncsched._label(p_org_id),
        syncsched._label(p_integration_id)
        using errcode = 'duplicate_object',
            hint = format('change it with select syncsched.alter_integration(%L, %L, ...): omitted fields keep their values',
                p_org_id, p_integration_id);
end
$$;

ALTER FUNCTION syncsched.create_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.create_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval) IS 'Create an integration; returns its id. Omitted fields take the table''s defaults: no schedule, zone UTC, payload {}, enabled, misfire policy run_once, misfire_grace 15 minutes, max_attempts and max_staleness null (the default_max_attempts setting; stale after the schedule''s next period). An existing one is refused (42710: use alter_integration); a bad field is 22023.';

CREATE FUNCTION syncsched.create_web_token(p_role text, p_org_id text DEFAULT NULL::text, p_label text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    -- 244 random bits from two version-4 UUIDs, prefixed so that a leaked token is recognisable
    v_token text := 'ssw_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
begin
    if p_role is null or p_role not in ('admin', 'reader', 'tenant') then
        raise exception 'syncsched: a token''s role is admin, reader or tenant, not %', coalesce(quote_literal(p_role), 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    if p_role = 'tenant' then
        perform syncsched._check_name(p_org_id, 'p_org_id');
    elsif p_org_id is not null then
        raise exception 'syncsched: only a tenant token names an organization'
            using errcode = 'invalid_parameter_value', hint = 'pass p_role => ''tenant''';
    end if;
    if length(p_label) > 200 then
        raise exception 'syncsched: a token label has at most 200 characters' using errcode = 'invalid_parameter_value';
    end if;
    insert into syncsched.web_tokens (label, role, org_id, token_hash)
    values (p_label, p_role, p_org_id, syncsched._web_token_hash(v_token));
    return v_token;
end
$$;

ALTER FUNCTION syncsched.create_web_token(p_role text, p_org_id text, p_label text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.create_web_token(p_role text, p_org_id text, p_label text) IS 'Make a console/API token for role admin, reader or tenant (of p_org_id). Returns the token: it is shown this once, only its hash is kept.';

CREATE FUNCTION syncsched.cron_matches(p_expr text, p_at timestamp with time zone, p_tz text DEFAULT 'UTC'::text, p_seed text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    return syncsched._cron_next_spec(syncsched._cron_parse(p_expr, p_seed), date_trunc('minute', p_at) - interval '1 second',
        p_tz) = date_trunc('minute', p_at);
end
$$;

ALTER FUNCTION syncsched.cron_matches(p_expr text, p_at timestamp with time zone, p_tz text, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.cron_matches(p_expr text, p_at timestamp with time zone, p_tz text, p_seed text) IS 'Whether the minute containing p_at is a fire time of p_expr in p_tz.';

CREATE FUNCTION syncsched.cron_next(p_expr text, p_after timestamp with time zone, p_tz text DEFAULT 'UTC'::text, p_seed text DEFAULT NULL::text) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    return syncsched._cron_next_spec(syncsched._cron_parse(p_expr, p_seed), p_after, p_tz);
end
$$;

ALTER FUNCTION syncsched.cron_next(p_expr text, p_after timestamp with time zone, p_tz text, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.cron_next(p_expr text, p_after timestamp with time zone, p_tz text, p_seed text) IS 'First fire time of cron expression p_expr (H resolved for p_seed) after p_after, evaluated in IANA time zone p_tz (DST as Debian cron). Raises invalid_parameter_value for a bad expression or zone.';

CREATE FUNCTION syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    return syncsched._cron_next_spec(p_spec, p_after, p_tz);
end
$$;

ALTER FUNCTION syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) IS 'cron_next for an already parsed expression (see cron_parse).';

CREATE FUNCTION syncsched.cron_parse(p_expr text, p_seed text DEFAULT NULL::text) RETURNS syncsched.cron_spec
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    return syncsched._cron_parse(p_expr, p_seed);
end
$$;

ALTER FUNCTION syncsched.cron_parse(p_expr text, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.cron_parse(p_expr text, p_seed text) IS 'The parsed form of a cron expression (H resolved for p_seed); raises invalid_parameter_value with the cron_validate message.';

CREATE FUNCTION syncsched.cron_resolve(p_expr text, p_seed text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- an expression without H is shown as written
    if not syncsched._cron_has_h(p_expr) then
        perform syncsched._cron_fields(p_expr);
        return p_expr;
    end if;
    return array_to_string(syncsched._cron_fields(p_expr, p_seed), ' ');
end
$$;

ALTER FUNCTION syncsched.cron_resolve(p_expr text, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.cron_resolve(p_expr text, p_seed text) IS 'The expression H resolves to for p_seed (an integration''s seed is ''org_id/integration_id''): H 2 * * * -> 37 2 * * *, the same on every server.';

CREATE FUNCTION syncsched.cron_validate(p_expr text, p_seed text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- H is checked with any seed when none is given: every seed resolves a valid H to valid fields
    perform syncsched._cron_parse(p_expr, coalesce(p_seed, ''));
    return null;
exception
    when invalid_parameter_value then
        return sqlerrm;
    when others then
        return format('invalid cron expression (%s)', sqlerrm);
end
$$;

ALTER FUNCTION syncsched.cron_validate(p_expr text, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.cron_validate(p_expr text, p_seed text) IS 'NULL when p_expr is a valid cron expression (H included; resolved for p_seed when given), else one message naming the field and the bad value. Never raises.';

CREATE FUNCTION syncsched.delete_integration(p_org_id text, p_integration_id text, p_delete_history boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_row syncsched.organization_integrations%rowtype;
    v_running bigint;
    v_runs integer;
    v_cancelled bigint[];
    v_by_status jsonb;
    v_deleted integer;
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_delete_history, 'p_delete_history');
    select * into v_row
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id
    for update;
    -- no tick or run_now creates a run meanwhile (both lock this row), no claim takes a pending one
    perform syncsched._lock_schedule(v_row.org_id, v_row.id);
    perform from syncsched.sync_run_log as r
    where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status in ('pending', 'running')
    for update;
    select r.run_id into v_running
    from syncsched.sync_run_log as r
    where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status = 'running'
    limit 1;
    if v_running is not null then
        raise exception 'syncsched: integration %/% is not deleted: its run % is running', p_org_id, p_integration_id,
            v_running
            using errcode = 'object_in_use',
                hint = format('disable it (select syncsched.disable_integration(%L, %L)) so that no run starts, and '
                    'delete it once the run has finished', p_org_id, p_integration_id);
    end if;
    select coalesce(sum(c.n), 0)::integer, coalesce(jsonb_object_agg(c.status, c.n), '{}')
    into v_runs, v_by_status
    from (
        select r.status::text as status, count(*) as n
        from syncsched.sync_run_log as r
        where r.org_id = p_org_id and r.integration_id = p_integration_id
        group by r.status
    ) as c;
    if v_runs > 0 and not p_delete_history then
        raise exception 'syncsched: integration %/% is not deleted: it has % run(s) of history', p_org_id,
            p_integration_id, v_runs
            using errcode = 'object_in_use',
                hint = format('disable it to keep its history (select syncsched.disable_integration(%L, %L)), or '
                    'delete it with its history: select syncsched.delete_integration(%L, %L, p_delete_history => true)',
                    p_org_id, p_integration_id, p_org_id, p_integration_id);
    end if;
    -- pending runs are cancelled first, and named in the audit log (a stale worker's late write for one
    -- of them finds its integration there)
    with cancelled as (
        update syncsched.sync_run_log as r
        set status = 'cancelled', finished_at = now(), error = 'integration deleted'
        where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status = 'pending'
        returning r.run_id
    )
    select coalesce(array_agg(cancelled.run_id order by cancelled.run_id), '{}') into v_cancelled from cancelled;
    delete from syncsched.sync_run_log as r where r.org_id = p_org_id and r.integration_id = p_integration_id;
    get diagnostics v_deleted = row_count;
    delete from syncsched.organization_integrations as o where o.org_id = v_row.org_id and o.id = v_row.id;
    -- its open conditions (failing, stale, invalid_schedule) are over with it
    perform syncsched._resolve_alerts(array(
        select syncsched._alert_key(k.kind, p_org_id, p_integration_id, null)
        from syncsched.alert_kinds as k
        where k.is_condition
    ));
    perform syncsched._audit('delete_integration', p_org_id, p_integration_id, v_row.integration_type, null,
        jsonb_build_object('runs_deleted', v_deleted, 'runs_by_status', v_by_status, 'cancelled_run_ids',
            to_jsonb(v_cancelled), 'configuration', to_jsonb(v_row) - 'payload', 'payload', v_row.payload));
    return jsonb_build_object('deleted', true, 'runs_deleted', v_deleted, 'cancelled', cardinality(v_cancelled));
end
$$;

ALTER FUNCTION syncsched.delete_integration(p_org_id text, p_integration_id text, p_delete_history boolean) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.delete_integration(p_org_id text, p_integration_id text, p_delete_history boolean) IS 'Delete an integration. Refused (55006) while one of its runs is running, and while it has runs unless p_delete_history: then its pending runs are cancelled, its runs and their attempts deleted, its open alerts resolved. Audited with its configuration and the cancelled runs. A plain DELETE of an integration with runs is refused.';

CREATE FUNCTION syncsched.disable_integration(p_org_id text, p_integration_id text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_cancelled integer;
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    -- the pending runs the disable trigger is about to cancel
    select count(*)::integer into v_cancelled
    from syncsched.organization_integrations as o
    join syncsched.sync_run_log as r on r.org_id = o.org_id and r.integration_id = o.integration_id
    where o.org_id = p_org_id and o.integration_id = p_integration_id and o.is_enabled and r.status = 'pending';
    update syncsched.organization_integrations as o
    set is_enabled = false
    where o.org_id = p_org_id and o.integration_id = p_integration_id and o.is_enabled;
    return v_cancelled;
end
$$;

ALTER FUNCTION syncsched.disable_integration(p_org_id text, p_integration_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.disable_integration(p_org_id text, p_integration_id text) IS 'Disable an integration: no more scheduled runs, its pending runs cancelled (returns how many).';

CREATE FUNCTION syncsched.due_integrations(p_at timestamp with time zone DEFAULT now()) RETURNS TABLE(org_id text, integration_id text, integration_type text, scheduled_for timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    -- Stateless: the configuration only, by cron semantics, each distinct schedule evaluated once.
    -- A schedule that cannot be evaluated (its zone gone from tzdata) is left out with a WARNING.
    with schedules as (
        -- (a schedule with H is one per integration: it resolves with the integration's identity)
        select o.cron_schedule, o.interval_minutes, o.timezone,
            case when syncsched._cron_has_h(o.cron_schedule)
                then syncsched._integration_seed(o.org_id, o.integration_id) end
                as seed,
            array_agg(o.id) as ids
        from syncsched.organization_integrations as o
        where o.is_enabled and (o.cron_schedule is not null or o.interval_minutes is not null)
        group by 1, 2, 3, 4
    ),
    firing as (
        select s.ids
        from schedules as s
        where syncsched._schedule_next_or_null(s.cron_schedule, s.interval_minutes, s.timezone,
            date_trunc('minute', p_at) - interval '1 second', s.seed) = date_trunc('minute', p_at)
    )
    select o.org_id, o.integration_id, o.integration_type, date_trunc('minute', p_at)
    from firing as f
    cross join lateral unnest(f.ids) as u (id)
    join syncsched.organization_integrations as o on o.id = u.id
    order by o.org_id, o.integration_id
$$;

ALTER FUNCTION syncsched.due_integrations(p_at timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.due_integrations(p_at timestamp with time zone) IS 'Enabled integrations whose schedule fires in the minute containing p_at (stateless: reads the configuration only). Schedules that cannot be evaluated are left out with a WARNING.';

CREATE FUNCTION syncsched.enable_integration(p_org_id text, p_integration_id text) RETURNS timestamp with time zone
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    update syncsched.organization_integrations as o
    set is_enabled = true
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    return syncsched._next_run_at(p_org_id, p_integration_id);
end
$$;

ALTER FUNCTION syncsched.enable_integration(p_org_id text, p_integration_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.enable_integration(p_org_id text, p_integration_id text) IS 'Enable an integration; its schedule starts from now (missed periods are not caught up). Returns its next run.';

CREATE FUNCTION syncsched.endpoint_states() RETURNS TABLE(integration_type text, status text, mode text, consecutive_failures integer, circuit_open boolean, rate_limited boolean, scheduling_paused boolean, rate_limit integer, requests_in_window integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select t.integration_type, coalesce(h.status, 'unknown'), coalesce(h.mode, 'active'),
        coalesce(h.consecutive_failures, 0), coalesce(syncsched._circuit_open(h.mode, h.status), false),
        coalesce(d.rate_limited_until > now(), false),
        coalesce(d.scheduling_paused, false) or syncsched.setting('scheduler_paused')::boolean,
        t.rate_limit, t.rate_limit - syncsched._budget_left(t.integration_type, t.rate_limit, t.rate_window)
    from syncsched.integration_types as t
    left join syncsched.endpoint_health as h on t.integration_type = h.integration_type
    left join syncsched.dispatch_state as d on t.integration_type = d.integration_type
    order by t.integration_type
$$;

ALTER FUNCTION syncsched.endpoint_states() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.endpoint_states() IS 'Per integration type (the worker''s gauges): its endpoint''s health status and mode, consecutive failures, whether the circuit breaker holds its runs, whether a 429 holds them (rate_limited_until not passed), whether its scheduling is paused, and its request budget with what the current window used of it (NULL: no budget).';

CREATE FUNCTION syncsched.ensure_run_log_partitions(p_now timestamp with time zone DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    SET "TimeZone" TO 'UTC'
    AS $$
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

ALTER FUNCTION syncsched.ensure_run_log_partitions(p_now timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.ensure_run_log_partitions(p_now timestamp with time zone) IS 'Create the partitions of the run log up to run_log_partitions_ahead after the one holding p_now (run_log_partition_interval each, from the last one''s end), and move live_from past the partitions without a pending or running run. Called by tick(); returns created, until and live_from.';

CREATE FUNCTION syncsched.fail_run(p_run_id bigint, p_lease_token uuid, p_error text, p_http_status integer DEFAULT NULL::integer, p_retryable boolean DEFAULT true, p_retry_after interval DEFAULT NULL::interval, p_worker_id text DEFAULT NULL::text, p_org_id text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.fail_run(p_run_id bigint, p_lease_token uuid, p_error text, p_http_status integer, p_retryable boolean, p_retry_after interval, p_worker_id text, p_org_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.fail_run(p_run_id bigint, p_lease_token uuid, p_error text, p_http_status integer, p_retryable boolean, p_retry_after interval, p_worker_id text, p_org_id text) IS 'A failed attempt (fenced), recorded: retryable and attempts left -> pending after retry_delay; else failed with a failing alert. p_worker_id names the worker in a stale_write alert; p_org_id, the run''s organization, takes the statement to its shard on Citus (found otherwise).';

CREATE FUNCTION syncsched.heartbeat(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_lease interval DEFAULT NULL::interval, p_org_ids text[] DEFAULT NULL::text[]) RETURNS TABLE(run_id bigint, applied boolean, lease_expires_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.heartbeat(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_lease interval, p_org_ids text[]) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.heartbeat(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_lease interval, p_org_ids text[]) IS 'Extend the leases of running runs (fenced by their tokens); applied = false for a run this worker no longer holds. p_org_ids, the runs'' organizations (claim_runs gives them), take the statement to their shards alone on Citus.';

CREATE FUNCTION syncsched.install_cron(p_schedule text DEFAULT '* * * * *'::text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_tick bigint;
    v_prune bigint;
    v_net bigint;
    v_problem text;
begin
    perform syncsched._require(p_schedule, 'p_schedule');
    v_problem := case when p_schedule !~ '^\s*[0-9]+ seconds\s*$' then syncsched.cron_validate(p_schedule) end;
    if v_problem is not null then
        raise exception 'syncsched: invalid tick schedule "%": %', left(p_schedule, 100), v_problem
            using errcode = 'invalid_parameter_value';
    end if;
    if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
        raise exception 'syncsched: pg_cron is not installed in database %', current_database()
            using errcode = 'undefined_object',
                hint = format(
                    'pg_cron lives in the database named by cron.database_name (%s). Run there: '
                    'select cron.schedule_in_database(''syncsched_tick'', %L, ''CALL syncsched.tick()'', %L);',
                    coalesce(current_setting('cron.database_name', true), 'postgres'), p_schedule, current_database()
                );
    end if;
    -- pg_cron runs each job as the role that scheduled it: the caller. (Dynamic SQL: the
    -- cron schema exists only where pg_cron is installed.)
    execute format('select %I.schedule_in_database($1, $2, $3, $4)', 'cron')
        into v_tick using 'syncsched_tick', p_schedule, 'CALL syncsched.tick()', current_database();
    execute format('select %I.schedule_in_database($1, $2, $3, $4)', 'cron')
        into v_prune using 'syncsched_prune', '17 3 * * *', 'select syncsched.prune_run_log()', current_database();
    -- The pg_net transport's collector, where pg_cron has sub-minute schedules (1.5 on): responses
    -- read and runs sent every 5 seconds. With pg_cron 1.4 the tick does it once a minute.
    if syncsched._net_problem() is null and (
        select string_to_array(split_part(e.extversion, '-', 1), '.')::integer[] >= array[1, 5]
        from pg_catalog.pg_extension as e where e.extname = 'pg_cron'
    ) then
        execute format('select %I.schedule_in_database($1, $2, $3, $4)', 'cron')
            into v_net using 'syncsched_net', '5 seconds', 'select syncsched.net_step()', current_database();
    end if;
    return jsonb_build_object('tick_job', v_tick, 'prune_job', v_prune, 'net_job', v_net, 'schedule', p_schedule);
end
$_$;

ALTER FUNCTION syncsched.install_cron(p_schedule text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.install_cron(p_schedule text) IS 'Schedule CALL syncsched.tick() (default every minute) and a daily prune_run_log() in pg_cron, as the calling role, and where pg_net serves this database and pg_cron is 1.5 or later, net_step() every 5 seconds (the pg_net transport''s collector). Idempotent.';

CREATE FUNCTION syncsched.integration_next_runs(p_org_id text, p_integration_id text, p_count integer DEFAULT 10, p_after timestamp with time zone DEFAULT now()) RETURNS TABLE(at timestamp with time zone, local_time timestamp without time zone, utc_offset interval, offset_changed boolean)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_cron text;
    v_minutes integer;
    v_zone text;
    v_spec syncsched.cron_spec;
    v_at timestamptz := p_after;
    v_previous interval;
begin
    -- Read under the caller's rights: a tenant sees its own integrations only.
    select o.cron_schedule, o.interval_minutes, o.timezone into v_cron, v_minutes, v_zone
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    if not found then
        raise exception 'syncsched: no integration %/%', left(p_org_id, 128), left(p_integration_id, 128)
            using errcode = 'no_data_found';
    end if;
    if p_count is null or p_count < 0 or p_count > 1000 then
        raise exception 'syncsched: p_count must be between 0 and 1000' using errcode = 'invalid_parameter_value';
    end if;
    if v_cron is null and v_minutes is null then
        return;
    end if;
    v_spec := case when v_cron is not null
        then syncsched._cron_parse(v_cron, syncsched._integration_seed(p_org_id, p_integration_id)) end;
    v_previous := syncsched._tz_offset(p_after, v_zone);
    for v_i in 1 .. p_count loop
        v_at := syncsched._schedule_next(v_spec, v_minutes, v_zone, v_at);
        exit when v_at is null;
        at := v_at;
        local_time := v_at at time zone v_zone;
        utc_offset := syncsched._tz_offset(v_at, v_zone);
        offset_changed := utc_offset <> v_previous;  -- a DST change (or another offset change) before it
        v_previous := utc_offset;
        return next;
    end loop;
end
$$;

ALTER FUNCTION syncsched.integration_next_runs(p_org_id text, p_integration_id text, p_count integer, p_after timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.integration_next_runs(p_org_id text, p_integration_id text, p_count integer, p_after timestamp with time zone) IS 'The next p_count fire times of an integration''s schedule (cron or interval) in UTC and in its zone, with its UTC offset and whether the offset changed since the previous one (DST).';

CREATE FUNCTION syncsched.list_web_tokens() RETURNS TABLE(token_id bigint, label text, role text, org_id text, created_at timestamp with time zone, created_by text, last_used_at timestamp with time zone, revoked_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select t.token_id, t.label, t.role, t.org_id, t.created_at, t.created_by, t.last_used_at, t.revoked_at
    from syncsched.web_tokens as t
    order by t.token_id
$$;

ALTER FUNCTION syncsched.list_web_tokens() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.list_web_tokens() IS 'The console tokens (never their hashes).';

CREATE FUNCTION syncsched.net_step() RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_problem text;
    v_collected integer;
    v_checks integer;
begin
    -- Collect first (completions free their places under max_concurrency), then send. One step at
    -- a time (the tick and the collector job may meet): the other returns at once. The requests go
    -- out when the caller's transaction commits.
    if not exists (select from syncsched.integration_types where transport = 'pg_net')
        or not pg_try_advisory_xact_lock(hashtext('syncsched.net_step')) then
        return jsonb_build_object('collected', 0, 'sent', 0, 'health_checks', 0);
    end if;
    -- Without a worker, the syncsched_net job (pg_cron 1.5 on) is what runs when the tick does not:
    -- it watches for scheduler_silent as the workers do.
    perform syncsched.check_scheduler();
    v_problem := syncsched._net_problem();
    perform syncsched._net_stalled(v_problem);
    if v_problem is not null then  -- (alerted: pg_net_stalled)
        return jsonb_build_object('collected', 0, 'sent', 0, 'health_checks', 0);
    end if;
    v_collected := syncsched._net_collect();
    perform syncsched._net_warmups();
    v_checks := syncsched._net_health_checks();
    return jsonb_build_object('collected', v_collected, 'sent', syncsched._net_dispatch(), 'health_checks', v_checks);
end
$$;

ALTER FUNCTION syncsched.net_step() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.net_step() IS 'The pg_net transport''s step: check_scheduler, raise or resolve pg_net_stalled, apply the responses that arrived (runs, warm-ups), send the health checks due, claim and send the ready runs of pg_net types. Called by the tick and, where pg_cron has sub-minute schedules, by the syncsched_net job. Requests leave when the transaction commits.';

CREATE FUNCTION syncsched.next_claim_at() RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.next_claim_at() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.next_claim_at() IS 'When time alone next releases a run of a worker type no claim hands out now (a retry backoff or spread offset ending, a 429''s Retry-After passing, a spent request budget''s window moving on); NULL when nothing waits on time. Workers sleep until then when a claim comes back short.';

CREATE FUNCTION syncsched.next_health_check_at() RETURNS timestamp with time zone
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select min(coalesce(h.next_check_at, now()))
    from syncsched.endpoint_health as h
    join syncsched.integration_types as t on t.integration_type = h.integration_type
    where t.transport = 'worker' and syncsched._health_checked(h.mode, h.integration_type)
$$;

ALTER FUNCTION syncsched.next_health_check_at() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.next_health_check_at() IS 'When the next health check of a worker type is due (null: none in active mode); workers sleep until then.';

CREATE FUNCTION syncsched.next_runs(p_expr text, p_tz text DEFAULT 'UTC'::text, p_count integer DEFAULT 5, p_after timestamp with time zone DEFAULT now(), p_seed text DEFAULT NULL::text) RETURNS SETOF timestamp with time zone
    LANGUAGE plpgsql STABLE ROWS 5 PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_spec syncsched.cron_spec := syncsched._cron_parse(p_expr, p_seed);
    v_at timestamptz := p_after;
begin
    if p_count is null or p_count < 0 or p_count > 10000 then
        raise exception 'p_count must be between 0 and 10000' using errcode = 'invalid_parameter_value';
    end if;
    -- cron_next is strictly later than its instant: p_count steps at most
    for v_i in 1 .. p_count loop
        v_at := syncsched._cron_next_spec(v_spec, v_at, p_tz);
        exit when v_at is null;
        return next v_at;
    end loop;
end
$$;

ALTER FUNCTION syncsched.next_runs(p_expr text, p_tz text, p_count integer, p_after timestamp with time zone, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.next_runs(p_expr text, p_tz text, p_count integer, p_after timestamp with time zone, p_seed text) IS 'The next p_count fire times of p_expr (H resolved for p_seed) in p_tz after p_after: a preview for DBAs.';

CREATE FUNCTION syncsched.pause_dispatch(p_integration_type text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select syncsched._set_pause('dispatch', p_integration_type, true)
$$;

ALTER FUNCTION syncsched.pause_dispatch(p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.pause_dispatch(p_integration_type text) IS 'Stop handing runs to workers: claims return none of one type or (null) none at all; the tick still creates runs, which wait, spending no attempt. Runs already running finish. Returns whether it changed; audited.';

CREATE FUNCTION syncsched.pause_scheduler() RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select syncsched._set_pause('scheduling', null, true)
$$;

ALTER FUNCTION syncsched.pause_scheduler() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.pause_scheduler() IS 'pause_scheduling() for every type: ticks keep recording themselves but create no runs until resume_scheduler(). Workers keep claiming; run_now still works.';

CREATE FUNCTION syncsched.pause_scheduling(p_integration_type text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select syncsched._set_pause('scheduling', p_integration_type, true)
$$;

ALTER FUNCTION syncsched.pause_scheduling(p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.pause_scheduling(p_integration_type text) IS 'Stop creating runs: the tick records itself but creates none, for one type or (null) for all. Workers keep claiming what is pending and run_now still works. Returns whether it changed; audited.';

CREATE FUNCTION syncsched.prune_run_log(p_older_than interval DEFAULT NULL::interval, p_keep_per_integration integer DEFAULT 100, p_batch_size integer DEFAULT 10000, p_now timestamp with time zone DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.prune_run_log(p_older_than interval, p_keep_per_integration integer, p_batch_size integer, p_now timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.prune_run_log(p_older_than interval, p_keep_per_integration integer, p_batch_size integer, p_now timestamp with time zone) IS 'Retention at p_now: drop the run log''s partitions (with their attempts) whose whole range is older than p_older_than (settings.retention), keeping the last p_keep_per_integration runs of each integration and runs finished since (moved to the DEFAULT partition); a partition with a pending or running run waits. Rows outside the partitions of one interval (the log from before partitioning, the DEFAULT partition) are deleted row by row, p_batch_size per statement; older ticks and alerts too (never an open condition). Progress as NOTICEs, all in one transaction; partitions: what became of each.';

CREATE FUNCTION syncsched.queue_depth() RETURNS TABLE(integration_type text, pending integer, running integer, held integer, dispatch_paused boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.queue_depth() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.queue_depth() IS 'Per integration type (the worker''s gauges): pending and running runs; held, the pending runs no claim hands out now (all of them while dispatch is paused, the circuit is open or the type waits out an answer 429, else those in a retry backoff); and whether dispatch is paused.';

CREATE FUNCTION syncsched.reap_expired_runs(p_now timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.reap_expired_runs(p_now timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.reap_expired_runs(p_now timestamp with time zone) IS 'Running runs whose lease expired before p_now (the wall clock) end their attempt as lost: pending again while attempts are left, else failed with a failing alert. They keep the lost claim''s token until claimed again (its worker''s late completion is still taken; a new claim raises possible_duplicate).';

CREATE FUNCTION syncsched.record_alert_delivery(p_alert_id bigint, p_ok boolean, p_error text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    if p_ok then
        return;
    end if;
    -- a failed delivery is tried again later, five times at most, with growing waits
    update syncsched.scheduler_alerts as a
    set delivery = case when a.delivery_attempts + 1 >= 5 then 'failed' else 'pending' end,
        delivery_attempts = a.delivery_attempts + 1,
        delivery_not_before = now() + interval '30 seconds' * power(2, a.delivery_attempts),
        delivery_error = left(p_error, 1000),
        delivered_at = null
    where a.alert_id = p_alert_id and a.delivery = 'sent';
end
$$;

ALTER FUNCTION syncsched.record_alert_delivery(p_alert_id bigint, p_ok boolean, p_error text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.record_alert_delivery(p_alert_id bigint, p_ok boolean, p_error text) IS 'The outcome of a webhook delivery: a failure is retried later (five attempts), never blocking anything else.';

CREATE FUNCTION syncsched.record_health_check(p_integration_type text, p_ok boolean, p_http_status integer DEFAULT NULL::integer, p_error text DEFAULT NULL::text, p_duration_ms integer DEFAULT NULL::integer) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_prev syncsched.endpoint_health%rowtype;
    v_interval interval;
    v_cap interval := syncsched.setting('health_backoff_cap')::interval;
    v_status text;
    v_detail jsonb;
begin
    select * into v_prev from syncsched.endpoint_health as h where h.integration_type = p_integration_type for update;
    if not found or p_ok is null then
        raise exception 'syncsched: record_health_check needs a known type and p_ok' using errcode = 'invalid_parameter_value';
    end if;
    select t.health_check_interval into v_interval
    from syncsched.integration_types as t
    where t.integration_type = p_integration_type;
    v_detail := jsonb_build_object('http_status', p_http_status, 'error', left(p_error, 500),
        'duration_ms', p_duration_ms, 'consecutive_failures', v_prev.consecutive_failures + 1);
    if p_http_status = 429 then
        -- the health check itself is rate-limited: stop pinging, follow run outcomes instead
        update syncsched.endpoint_health as h
        set mode = 'passive', next_check_at = null, last_check_at = now(), updated_at = now(),
            last_error = 'health check answered 429: switched to passive mode'
        where h.integration_type = p_integration_type;
        perform syncsched._alert('endpoint_passive', null, null, p_integration_type, v_detail);
        return v_prev.status;
    end if;
    if v_prev.mode <> 'active' then
        return v_prev.status;  -- switched to passive while the check ran
    end if;
    if p_ok then
        update syncsched.endpoint_health as h
        set status = 'healthy', consecutive_failures = 0, last_check_at = now(), last_success_at = now(),
            next_check_at = now() + v_interval, last_error = null, updated_at = now()
        where h.integration_type = p_integration_type
        returning h.status into v_status;
    else
        -- back off: interval * 2^failures, capped
        update syncsched.endpoint_health as h
        set status = 'unhealthy', consecutive_failures = h.consecutive_failures + 1, last_check_at = now(),
            next_check_at = now() + least(v_cap, v_interval * power(2, least(h.consecutive_failures + 1, 30))),
            last_error = left(coalesce(p_error, 'HTTP ' || p_http_status, 'failed'), 1000), updated_at = now()
        where h.integration_type = p_integration_type
        returning h.status into v_status;
    end if;
    perform syncsched._health_changed(p_integration_type, v_prev.status, v_status, v_detail);
    return v_status;
end
$$;

ALTER FUNCTION syncsched.record_health_check(p_integration_type text, p_ok boolean, p_http_status integer, p_error text, p_duration_ms integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.record_health_check(p_integration_type text, p_ok boolean, p_http_status integer, p_error text, p_duration_ms integer) IS 'The outcome of an active health check: healthy (next check after the type''s interval) or unhealthy (next after interval * 2^failures, at most health_backoff_cap); 429 switches the type to passive mode. Returns the status.';

CREATE FUNCTION syncsched.record_warmup(p_integration_type text, p_ok boolean, p_duration_ms integer, p_error text DEFAULT NULL::text, p_claimed boolean DEFAULT false) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_threshold interval := syncsched.setting('cold_start_threshold')::interval;
    v_cold boolean := not coalesce(p_ok, false) or p_duration_ms * interval '1 millisecond' > v_threshold;
begin
    if not exists (select from syncsched.integration_types as t where t.integration_type = p_integration_type) then
        raise exception 'syncsched: no integration type %', left(p_integration_type, 100) using errcode = 'no_data_found';
    end if;
    if v_cold then
        perform syncsched._alert('cold_start', null, null, p_integration_type,
            jsonb_build_object('duration_ms', p_duration_ms, 'ok', p_ok, 'error', left(p_error, 500)));
    end if;
    if p_claimed then
        -- The claim's runs were counted against the budget as late as they might go (warmup_timeout
        -- after the claim: one cold claim per idle spell); they go now, and count from now.
        update syncsched.request_ledger as l set at = now()
        where l.integration_type = p_integration_type and l.at > now();
    end if;
    return v_cold;
end
$$;

ALTER FUNCTION syncsched.record_warmup(p_integration_type text, p_ok boolean, p_duration_ms integer, p_error text, p_claimed boolean) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.record_warmup(p_integration_type text, p_ok boolean, p_duration_ms integer, p_error text, p_claimed boolean) IS 'The outcome of a warm-up request: slower than cold_start_threshold, or failing, is a cold_start alert. p_claimed: the warm-up of a claim, whose runs go now (the budget counts them from now). Returns whether it was cold.';

CREATE FUNCTION syncsched.release_run(p_run_id bigint, p_lease_token uuid, p_worker_id text DEFAULT NULL::text, p_org_id text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
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

ALTER FUNCTION syncsched.release_run(p_run_id bigint, p_lease_token uuid, p_worker_id text, p_org_id text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.release_run(p_run_id bigint, p_lease_token uuid, p_worker_id text, p_org_id text) IS 'Give a running run back at worker shutdown (fenced by its lease token): the attempt is recorded as released and counts; pending again while attempts are left. p_org_id as fail_run''s.';

CREATE FUNCTION syncsched.reset_setting(p_key text) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_value text;
begin
    perform syncsched.setting(p_key);
    update syncsched.settings as s set value = s.default_value where s.key = p_key returning s.value into v_value;
    return v_value;
end
$$;

ALTER FUNCTION syncsched.reset_setting(p_key text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.reset_setting(p_key text) IS 'Set a setting back to its default; returns it.';

CREATE FUNCTION syncsched.resume_dispatch(p_integration_type text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select syncsched._set_pause('dispatch', p_integration_type, false)
$$;

ALTER FUNCTION syncsched.resume_dispatch(p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.resume_dispatch(p_integration_type text) IS 'Hand runs to workers again (one type, or null: all). Returns whether it changed; audited.';

CREATE FUNCTION syncsched.resume_scheduler() RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select syncsched._set_pause('scheduling', null, false)
$$;

ALTER FUNCTION syncsched.resume_scheduler() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.resume_scheduler() IS 'resume_scheduling() for every type: runs are created again; periods missed while paused follow each integration''s misfire_policy.';

CREATE FUNCTION syncsched.resume_scheduling(p_integration_type text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select syncsched._set_pause('scheduling', p_integration_type, false)
$$;

ALTER FUNCTION syncsched.resume_scheduling(p_integration_type text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.resume_scheduling(p_integration_type text) IS 'Create runs again (one type, or null: all); periods missed while paused follow each integration''s misfire_policy. Returns whether it changed; audited.';

CREATE FUNCTION syncsched.retry_delay(p_attempt integer, p_retry_after interval DEFAULT NULL::interval) RETURNS interval
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    return syncsched._backoff(p_attempt, syncsched.setting('retry_backoff_base')::interval,
        syncsched.setting('retry_backoff_cap')::interval, p_retry_after);
end
$$;

ALTER FUNCTION syncsched.retry_delay(p_attempt integer, p_retry_after interval) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.retry_delay(p_attempt integer, p_retry_after interval) IS 'Delay after failed attempt number p_attempt (1-based): random in [0, min(cap, base * 2^(attempt - 1))], at least p_retry_after.';

CREATE FUNCTION syncsched.retry_run(p_run_id bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_run record;
    v_max integer;
begin
    perform syncsched._require(p_run_id, 'p_run_id');
    select r.run_id, r.org_id, r.integration_id, r.integration_type, r.status, r.attempt, r.max_attempts, r.error,
        r.scheduled_for, o.is_enabled
    into v_run
    from syncsched.sync_run_log as r
    left join syncsched.organization_integrations as o on o.org_id = r.org_id and o.integration_id = r.integration_id
    where r.run_id = p_run_id
    for update of r;
    if not found then
        raise exception 'syncsched: no run %', p_run_id using errcode = 'no_data_found';
    end if;
    if v_run.status <> 'failed' then
        raise exception 'syncsched: run % of %/% is %: only a failed run can be retried', p_run_id, v_run.org_id,
            v_run.integration_id, v_run.status
            using errcode = 'invalid_parameter_value',
                hint = case v_run.status
                    when 'pending' then 'it is waiting for a worker already'
                    when 'running' then 'a worker is on it'
                    else format('start a new run: select syncsched.run_now(%L, %L)', v_run.org_id, v_run.integration_id)
                end;
    end if;
    if v_run.attempt >= 100 then
        raise exception 'syncsched: run % of %/% has used % attempts, the most a run may have', p_run_id, v_run.org_id,
            v_run.integration_id, v_run.attempt
            using errcode = 'invalid_parameter_value',
                hint = format('start a new run: select syncsched.run_now(%L, %L)', v_run.org_id, v_run.integration_id);
    end if;
    if not v_run.is_enabled then
        raise exception 'syncsched: run % of %/% is not retried: the integration is disabled', p_run_id, v_run.org_id,
            v_run.integration_id
            using errcode = 'object_not_in_prerequisite_state',
                hint = format('enable it first: select syncsched.enable_integration(%L, %L)', v_run.org_id,
                    v_run.integration_id);
    end if;
    -- The same run and idempotency key, once more: one more attempt allowed, numbered after the last.
    v_max := greatest(v_run.max_attempts, v_run.attempt + 1);
    update syncsched.sync_run_log as r
    set status = 'pending', max_attempts = v_max, not_before = now(), finished_at = null, lease_token = null,
        lease_expires_at = null
    where r.run_id = p_run_id;
    -- (its partition may be history: live again)
    perform syncsched._runs_live_from(v_run.scheduled_for);
    perform syncsched._audit('retry_run', v_run.org_id, v_run.integration_id, v_run.integration_type, p_run_id,
        jsonb_build_object('attempts_used', v_run.attempt, 'max_attempts_before', v_run.max_attempts,
            'max_attempts', v_max, 'error', left(v_run.error, 500)));
    perform pg_notify('syncsched_runs', json_build_object('retry', p_run_id, 'at', now())::text);
    return p_run_id;
end
$$;

ALTER FUNCTION syncsched.retry_run(p_run_id bigint) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.retry_run(p_run_id bigint) IS 'Try a failed run again, in place: the same row and idempotency key, pending again, one more attempt allowed (its number follows the last), trigger unchanged; audited as retry_run. Refused (22023) for a run that is not failed. Returns the run id.';

CREATE FUNCTION syncsched.revoke_web_token(p_token_id bigint) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    perform syncsched._require(p_token_id, 'p_token_id');
    update syncsched.web_tokens as t set revoked_at = now() where t.token_id = p_token_id and t.revoked_at is null;
    if found then
        return true;
    end if;
    if not exists (select from syncsched.web_tokens as t where t.token_id = p_token_id) then
        raise exception 'syncsched: no token %', p_token_id using errcode = 'no_data_found';
    end if;
    return false;
end
$$;

ALTER FUNCTION syncsched.revoke_web_token(p_token_id bigint) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.revoke_web_token(p_token_id bigint) IS 'Revoke a console token (true), or false when it was revoked already.';

CREATE FUNCTION syncsched.run_log_partitions() RETURNS TABLE(from_at timestamp with time zone, to_at timestamp with time zone, runs_partition regclass, attempts_partition regclass, is_default boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select coalesce(r.from_at, a.from_at), coalesce(r.to_at, a.to_at), r.partition_name, a.partition_name,
        coalesce(r.is_default, a.is_default)
    from syncsched._partitions_of('syncsched.sync_run_log') as r
    full join syncsched._partitions_of('syncsched.sync_run_attempts') as a
        on a.is_default = r.is_default and a.from_at is not distinct from r.from_at and a.to_at is not distinct from r.to_at
    order by coalesce(r.is_default, a.is_default), 1
$$;

ALTER FUNCTION syncsched.run_log_partitions() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.run_log_partitions() IS 'The partitions of the run log: each range (from_at inclusive, to_at exclusive, by scheduled_for) with its runs and attempts partition; the DEFAULT partitions last.';

CREATE FUNCTION syncsched.run_now(p_org_id text, p_integration_id text, p_force boolean DEFAULT false) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_row syncsched.organization_integrations%rowtype;
    v_live bigint;
    v_run_id bigint;
    v_at timestamptz := clock_timestamp();
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_force, 'p_force');
    select * into v_row
    from syncsched.organization_integrations as o
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    -- the tick locks this row too (and skips it while run_now holds it): one run decision at a time
    perform syncsched._lock_schedule(v_row.org_id, v_row.id);
    if not p_force then
        if not v_row.is_enabled then
            raise exception 'syncsched: integration %/% is disabled: it gets no runs', p_org_id, p_integration_id
                using errcode = 'object_not_in_prerequisite_state',
                    hint = format('enable it (select syncsched.enable_integration(%L, %L)), or pass p_force => true '
                        'to run it once anyway', p_org_id, p_integration_id);
        end if;
        select r.run_id into v_live
        from syncsched.sync_run_log as r
        where r.org_id = p_org_id and r.integration_id = p_integration_id and r.status in ('pending', 'running')
        order by r.run_id desc
        limit 1;
        if v_live is not null then
            raise exception 'syncsched: integration %/% already has run % pending or running', p_org_id,
                p_integration_id, v_live
                using errcode = 'object_in_use', hint = 'pass p_force => true to start another run anyway';
        end if;
    end if;
    insert into syncsched.sync_run_log (
        org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger, max_attempts, payload
    ) values (
        v_row.org_id, v_row.integration_id, v_row.integration_type, v_at,
        v_row.org_id || '/' || v_row.integration_id || '/manual/'
            || to_char(v_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'manual', coalesce(v_row.max_attempts, syncsched.setting('default_max_attempts')::integer), v_row.payload
    )
    returning run_id into v_run_id;
    perform syncsched._runs_live_from(v_at);
    perform syncsched._audit('run_now', v_row.org_id, v_row.integration_id, v_row.integration_type, v_run_id,
        jsonb_build_object('forced', p_force, 'enabled', v_row.is_enabled));
    perform pg_notify('syncsched_runs', json_build_object('at', v_at, 'runs', 1)::text);
    return v_run_id;
end
$$;

ALTER FUNCTION syncsched.run_now(p_org_id text, p_integration_id text, p_force boolean) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.run_now(p_org_id text, p_integration_id text, p_force boolean) IS 'Queue a manual run now (key org/integration/manual/<timestamp>); returns its id. Refused while the integration is disabled (55000) or has a pending or running run (55006), unless p_force. Audited.';

CREATE FUNCTION syncsched.run_scheduled_jobs(p_now timestamp with time zone DEFAULT now(), p_limit integer DEFAULT 5000) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_started timestamptz := clock_timestamp();
    v_paused boolean := syncsched.setting('scheduler_paused')::boolean;
    -- types whose scheduling is paused (pause_scheduling(type)): their due rows wait, unchanged
    v_paused_types text[] := array(
        select d.integration_type from syncsched.dispatch_state as d where d.scheduling_paused
        order by d.integration_type
    );
    v_orgs text[];
    v_batch record;
    v_due integer := 0;
    v_attempted integer := 0;
    v_triggered integer := 0;
    v_oldest_created timestamptz;
    v_held integer := 0;
    v_invalid integer := 0;
    v_left integer := 0;
    v_result jsonb;
begin
    if p_now is null or p_limit is null or p_limit < 1 then
        raise exception 'run_scheduled_jobs: p_now must be given and p_limit at least 1'
            using errcode = 'invalid_parameter_value';
    end if;

    -- One statement for all organizations; on Citus (tables distributed), one per shard group.
    for v_orgs in
        select g.orgs from syncsched._org_groups(case when syncsched._distributed() and not v_paused then array(
            select distinct s.org_id from syncsched.schedule_state as s
            where s.next_run_at <= p_now and s.last_tick_at is distinct from p_now
        ) end) as g (orgs)
    loop
        exit when v_paused or v_due >= p_limit;
        v_batch := syncsched._schedule_batch(p_now, p_limit - v_due, v_orgs, v_paused_types);
        v_due := v_due + v_batch.due;
        v_attempted := v_attempted + v_batch.attempted;
        v_triggered := v_triggered + v_batch.triggered;
        v_oldest_created := least(v_oldest_created, v_batch.oldest_created);
        v_held := v_held + v_batch.held;
        v_invalid := v_invalid + v_batch.invalid;
    end loop;

    -- what is still due after this batch: beyond its limit, or held by another tick
    select count(*)::integer into v_left
    from syncsched.schedule_state as s
    where s.next_run_at <= p_now and s.last_tick_at is distinct from p_now and not v_paused
        and (cardinality(v_paused_types) = 0 or not exists (
            select from syncsched.organization_integrations as paused
            where paused.id = s.id and paused.org_id = s.org_id and paused.integration_type = any(v_paused_types)
        ));
    if v_triggered > 0 then
        -- (a catch-up may have created a run in a partition of history: it is live again)
        perform syncsched._runs_live_from(v_oldest_created);
        perform pg_notify('syncsched_runs', json_build_object('at', p_now, 'runs', v_triggered)::text);
    end if;

    v_result := jsonb_build_object(
        'at', p_now,
        'due', v_due,
        'triggered', v_triggered,
        'skipped_locked', case when v_due < p_limit then v_left else 0 end,
        'skipped_running', v_held,
        'skipped_duplicate', v_attempted - v_triggered,
        'invalid', v_invalid,
        'remaining', case when v_due < p_limit then 0 else v_left end,
        'duration_ms', round(extract(epoch from clock_timestamp() - v_started)::numeric * 1000, 3)
    );
    if v_paused then
        v_result := v_result || jsonb_build_object('paused', true);
    end if;
    if cardinality(v_paused_types) > 0 then
        v_result := v_result || jsonb_build_object('paused_types', to_jsonb(v_paused_types));
    end if;
    insert into syncsched.scheduler_ticks (
        at, started_at, finished_at, due, triggered, skipped_locked, skipped_running, skipped_duplicate,
        invalid, remaining, duration_ms, lateness
    ) values (
        p_now, v_started, clock_timestamp(), v_due, v_triggered, (v_result ->> 'skipped_locked')::integer, v_held,
        v_attempted - v_triggered, v_invalid, (v_result ->> 'remaining')::integer,
        (v_result ->> 'duration_ms')::numeric, p_now - date_trunc('minute', p_now)
    );
    return v_result;
end
$$;

ALTER FUNCTION syncsched.run_scheduled_jobs(p_now timestamp with time zone, p_limit integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.run_scheduled_jobs(p_now timestamp with time zone, p_limit integer) IS 'One batch of the tick: turn due schedules into pending runs (at most one per period: UNIQUE idempotency key), apply misfire policies and the overlap rule, advance next_run_at, NOTIFY syncsched_runs, record the batch in scheduler_ticks. Returns the counts. A few set-based statements per batch, each distinct schedule evaluated once; a schedule that cannot be evaluated is skipped with a warning and an invalid_schedule alert. Nothing is created while scheduler_paused is true; the due rows of types whose scheduling is paused stay due, untouched.';

CREATE FUNCTION syncsched.schedule_problem(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean, p_seed text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_problem text;
    -- (read through setting_values: a reader may preview a schedule, not read every setting)
    v_min interval := (select v.value from syncsched.setting_values as v where v.key = 'min_schedule_interval')::interval;
    v_min_minutes integer := ceil(extract(epoch from v_min) / 60)::integer;
    v_gap integer;
begin
    if p_cron_schedule is not null and p_interval_minutes is not null then
        return 'has both a cron schedule and an interval: set one of them';
    end if;
    if p_cron_schedule is null and p_interval_minutes is null then
        return case when p_is_enabled then 'is enabled but has no schedule: set cron_schedule or interval_minutes' end;
    end if;
    v_problem := syncsched.timezone_validate(p_timezone);
    if v_problem is not null then
        return v_problem;
    end if;
    if p_interval_minutes is not null then
        if p_interval_minutes < 1 or p_interval_minutes * interval '1 minute' < v_min then
            return format('interval of %s minutes is shorter than min_schedule_interval (%s minutes)',
                p_interval_minutes, v_min_minutes);
        end if;
        if p_interval_minutes > 525600 then
            return format('interval of %s minutes is longer than a year (525600 minutes)', p_interval_minutes);
        end if;
        return null;
    end if;
    v_problem := syncsched.cron_validate(p_cron_schedule, p_seed);
    if v_problem is not null then
        return format('has an invalid cron schedule "%s": %s', left(p_cron_schedule, 100), v_problem);
    end if;
    v_gap := syncsched._cron_min_gap(syncsched._cron_parse(p_cron_schedule, coalesce(p_seed, '')), v_min_minutes);
    if v_gap < v_min_minutes then
        return format('cron schedule "%s" fires %s minute(s) apart, more often than min_schedule_interval (%s minutes)',
            left(p_cron_schedule, 100), v_gap, v_min_minutes);
    end if;
    return null;
end
$$;

ALTER FUNCTION syncsched.schedule_problem(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean, p_seed text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.schedule_problem(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean, p_seed text) IS 'NULL when a schedule is acceptable, else what is wrong with it (the schedule trigger raises it); H resolved for p_seed.';

CREATE FUNCTION syncsched.set_endpoint_mode(p_integration_type text, p_mode text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_now timestamptz := now();  -- (Citus allows no now() in a CASE of a reference table's UPDATE)
begin
    if p_mode is null or p_mode not in ('active', 'passive') then
        raise exception 'syncsched: endpoint mode must be active or passive' using errcode = 'invalid_parameter_value';
    end if;
    update syncsched.endpoint_health as h
    set mode = p_mode, status = 'unknown', consecutive_failures = 0, updated_at = now(),
        next_check_at = case when p_mode = 'active' then v_now end
    where h.integration_type = p_integration_type;
    if not found then
        raise exception 'syncsched: no integration type %', left(p_integration_type, 100) using errcode = 'no_data_found';
    end if;
    perform syncsched._resolve_alerts(array[
        syncsched._alert_key('endpoint_passive', null, null, p_integration_type),
        syncsched._alert_key('endpoint_unhealthy', null, null, p_integration_type)
    ]);
end
$$;

ALTER FUNCTION syncsched.set_endpoint_mode(p_integration_type text, p_mode text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.set_endpoint_mode(p_integration_type text, p_mode text) IS 'Switch a type''s health to active (checked by the workers, circuit breaker on) or passive (run outcomes only); the status starts over as unknown.';

CREATE FUNCTION syncsched.set_interval(p_org_id text, p_integration_id text, p_minutes integer) RETURNS timestamp with time zone
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_minutes, 'p_minutes');
    update syncsched.organization_integrations as o
    set interval_minutes = p_minutes, cron_schedule = null
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    return syncsched._next_run_at(p_org_id, p_integration_id);
end
$$;

ALTER FUNCTION syncsched.set_interval(p_org_id text, p_integration_id text, p_minutes integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.set_interval(p_org_id text, p_integration_id text, p_minutes integer) IS 'Run an integration every p_minutes minutes (aligned to the Unix epoch); returns its next run.';

CREATE FUNCTION syncsched.set_net_secret(p_name text, p_secret text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
begin
    if p_name is null or p_name !~ '^[A-Z_][A-Z0-9_]{0,62}$' then
        raise exception 'syncsched: set_net_secret: name % must be upper case letters, digits and _ (as auth_secret_env)',
            coalesce(quote_literal(p_name), 'null')
            using errcode = 'invalid_parameter_value';
    end if;
    if p_secret is null or p_secret = '' then
        delete from syncsched.net_secrets where name = p_name;
    else
        insert into syncsched.net_secrets as s (name, secret) values (p_name, p_secret)
        on conflict (name) do update set secret = excluded.secret, updated_at = now();
    end if;
    perform syncsched._audit('net_secret_set', null, null, null, null, jsonb_build_object('name', p_name, 'removed', coalesce(p_secret, '') = ''));
end
$_$;

ALTER FUNCTION syncsched.set_net_secret(p_name text, p_secret text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.set_net_secret(p_name text, p_secret text) IS 'Store (or with null, remove) the Authorization value that pg_net types naming p_name in auth_secret_env send, where Supabase Vault is absent. Never returned by any function.';

CREATE FUNCTION syncsched.set_schedule(p_org_id text, p_integration_id text, p_cron_schedule text, p_timezone text DEFAULT NULL::text) RETURNS timestamp with time zone
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    perform syncsched._integration_id(p_org_id, p_integration_id);
    perform syncsched._require(p_cron_schedule, 'p_cron_schedule');
    update syncsched.organization_integrations as o
    set cron_schedule = p_cron_schedule, interval_minutes = null, timezone = coalesce(p_timezone, o.timezone)
    where o.org_id = p_org_id and o.integration_id = p_integration_id;
    return syncsched._next_run_at(p_org_id, p_integration_id);
end
$$;

ALTER FUNCTION syncsched.set_schedule(p_org_id text, p_integration_id text, p_cron_schedule text, p_timezone text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.set_schedule(p_org_id text, p_integration_id text, p_cron_schedule text, p_timezone text) IS 'Give an integration a cron schedule (and optionally a time zone); returns its next run.';

CREATE FUNCTION syncsched.set_setting(p_key text, p_value text) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_value text;
begin
    perform syncsched.setting(p_key);  -- an unknown key is a clear error
    update syncsched.settings as s set value = p_value where s.key = p_key returning s.value into v_value;
    return v_value;
end
$$;

ALTER FUNCTION syncsched.set_setting(p_key text, p_value text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.set_setting(p_key text, p_value text) IS 'Change a setting; the value is checked against the key''s type and range (SQLSTATE 22023 when it does not fit, nothing written). Returns the value stored.';

CREATE FUNCTION syncsched.setting(p_key text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_value text;
begin
    select s.value into v_value from syncsched.settings as s where s.key = p_key;
    if not found then
        raise exception 'syncsched: unknown setting "%"', p_key
            using errcode = 'invalid_parameter_value';
    end if;
    return v_value;
end
$$;

ALTER FUNCTION syncsched.setting(p_key text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.setting(p_key text) IS 'The value of a setting (text, checked against its type when written); raises invalid_parameter_value for an unknown key.';

CREATE PROCEDURE syncsched.tick(IN p_now timestamp with time zone DEFAULT NULL::timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
declare
    -- A procedure that commits can be neither SECURITY DEFINER nor pin its search_path: it
    -- calls the functions that do, and names nothing that a caller's search_path could
    -- replace (qualified functions and types, keyword casts).
    v_now timestamp with time zone := coalesce(p_now, pg_catalog.now());
    v_batch integer := syncsched.setting('tick_batch_size')::integer;
    v_result pg_catalog.jsonb;
begin
    -- The partitions of the run log, ahead of time (on the wall clock, whatever p_now says). A
    -- failure here stops nothing: runs go to the DEFAULT partition until the next tick succeeds.
    begin
        perform syncsched.ensure_run_log_partitions();
    exception
        when others then
            raise warning 'syncsched: the run log''s partitions were not made ready: %', sqlerrm;
    end;
    commit;
    loop
        v_result := syncsched.run_scheduled_jobs(v_now, v_batch);
        commit;  -- each batch is its own transaction
        exit when syncsched._tick_done(v_result, v_batch);
    end loop;
    perform syncsched.check_staleness(v_now);
    perform syncsched.reap_expired_runs();
    commit;
    -- The audit entries the shards left (Citus' distributed mode); a failure here holds up nothing above.
    begin
        perform syncsched.collect_shard_outbox();
    exception
        when others then
            raise warning 'syncsched: the shards'' outbox was not collected: %', sqlerrm;
    end;
    commit;
    -- Runs of pg_net types go out from here (and from the syncsched_net job where pg_cron has
    -- sub-minute schedules); a failure there holds up nothing above.
    begin
        perform syncsched.net_step();
    exception
        when others then
            raise warning 'syncsched: the pg_net step failed: %', sqlerrm;
    end;
end
$$;

ALTER PROCEDURE syncsched.tick(IN p_now timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON PROCEDURE syncsched.tick(IN p_now timestamp with time zone) IS 'What pg_cron calls every minute: ensure_run_log_partitions, then run_scheduled_jobs in batches of tick_batch_size, committing between them, then check_staleness (at p_now), reap_expired_runs (at the wall clock: leases are) and collect_shard_outbox (distributed mode on Citus), then net_step (the pg_net transport). Call it outside an explicit transaction.';

CREATE FUNCTION syncsched.timezone_validate(p_tz text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_probe timestamptz;
begin
    if p_tz is null or p_tz = '' then
        return 'time zone is empty';
    end if;
    if p_tz in ('UTC', 'Etc/UTC', 'Europe/Oslo') then
        return null;  -- the common cases, without a catalog lookup
    end if;
    if not syncsched._tz_name_ok(p_tz) then
        return format('unknown time zone "%s": use an IANA name such as Europe/Oslo', left(p_tz, 64));
    end if;
    begin
        v_probe := (timestamp '2000-01-01' at time zone p_tz);
    exception when invalid_parameter_value or feature_not_supported then
        return format('unknown time zone "%s"', p_tz);
    end;
    -- Names without a slash may be mere abbreviations (CEST, AEDT): those are not zones.
    if p_tz !~ '/' and not exists (select from pg_catalog.pg_timezone_names as n where n.name = p_tz) then
        return format('unknown time zone "%s": use an IANA name such as Europe/Oslo', p_tz);
    end if;
    -- A zone that is also an abbreviation (CET, EET, EST, HST, MET, MST, WET) is read by
    -- AT TIME ZONE as the abbreviation's fixed offset, without its DST and history.
    if p_tz !~ '/' and p_tz not in ('GMT', 'UCT', 'Zulu')
        and exists (select from pg_catalog.pg_timezone_abbrevs as a where lower(a.abbrev) = lower(p_tz)) then
        return format(
            'time zone "%s" is also an abbreviation, which PostgreSQL reads as a fixed offset without DST:'
            ' use the name of a place, such as Europe/Paris', p_tz);
    end if;
    return null;
end
$$;

ALTER FUNCTION syncsched.timezone_validate(p_tz text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.timezone_validate(p_tz text) IS 'NULL when p_tz is an IANA time zone known to this server, else a message saying why not.';

CREATE FUNCTION syncsched.uninstall_cron() RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $_$
declare
    v_name text;
    v_removed integer := 0;
    v_count integer;
begin
    if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
        return 0;
    end if;
    foreach v_name in array array['syncsched_tick', 'syncsched_prune', 'syncsched_net'] loop
        execute format('select %I.unschedule(j.jobid) from %I.job as j where j.jobname = $1 and j.username = $2',
            'cron', 'cron')
            using v_name, current_user;
        get diagnostics v_count = row_count;  -- EXECUTE does not set FOUND
        v_removed := v_removed + v_count;
    end loop;
    return v_removed;
end
$_$;

ALTER FUNCTION syncsched.uninstall_cron() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.uninstall_cron() IS 'Remove the jobs install_cron scheduled (for the calling role); returns how many.';

CREATE FUNCTION syncsched.upcoming_runs(p_within interval DEFAULT '00:01:00'::interval, p_now timestamp with time zone DEFAULT now()) RETURNS TABLE(org_id text, integration_id text, integration_type text, next_run_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- (PL/pgSQL: Citus plans no SQL function's parameters)
    return query
    select o.org_id, o.integration_id, o.integration_type, s.next_run_at
    from syncsched.schedule_state as s
    join syncsched.organization_integrations as o on o.org_id = s.org_id and o.id = s.id
    where s.next_run_at <= p_now + p_within
    order by s.next_run_at, s.id;
end
$$;

ALTER FUNCTION syncsched.upcoming_runs(p_within interval, p_now timestamp with time zone) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.upcoming_runs(p_within interval, p_now timestamp with time zone) IS 'Integrations whose next scheduled run is within p_within (or overdue), soonest first; read through the next_run_at index.';

CREATE FUNCTION syncsched.upsert_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text DEFAULT NULL::text, p_interval_minutes integer DEFAULT NULL::integer, p_timezone text DEFAULT 'UTC'::text, p_payload jsonb DEFAULT '{}'::jsonb, p_is_enabled boolean DEFAULT true, p_misfire_policy text DEFAULT 'run_once'::text, p_max_attempts integer DEFAULT NULL::integer) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
declare
    v_id bigint;
begin
    -- Replace semantics: every field it has an argument for is set, an omitted one to its default.
    insert into syncsched.organization_integrations as o (
        org_id, integration_id, integration_type, cron_schedule, interval_minutes, timezone, payload,
        is_enabled, misfire_policy, max_attempts
    ) values (
        p_org_id, p_integration_id, p_integration_type, p_cron_schedule, p_interval_minutes, p_timezone,
        coalesce(p_payload, '{}'), p_is_enabled, p_misfire_policy, p_max_attempts
    )
    on conflict (org_id, integration_id) do update
    set integration_type = excluded.integration_type,
        cron_schedule = excluded.cron_schedule,
        interval_minutes = excluded.interval_minutes,
        timezone = excluded.timezone,
        payload = excluded.payload,
        is_enabled = excluded.is_enabled,
        misfire_policy = excluded.misfire_policy,
        max_attempts = excluded.max_attempts
    returning o.id into v_id;
    return v_id;
end
$$;

ALTER FUNCTION syncsched.upsert_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_max_attempts integer) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.upsert_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_max_attempts integer) IS 'Create an integration, or replace one: each of its ten fields is set from its argument, an omitted argument meaning the default (so a call with a new cron alone re-enables, sets UTC, empties the payload). misfire_grace and max_staleness, which it has no argument for, are left as stored. To change some fields only, use alter_integration. Returns the id.';

CREATE FUNCTION syncsched.web_session(p_token_hash text) RETURNS TABLE(token_id bigint, role text, org_id text, label text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
begin
    -- The hash is looked up, not compared: a wrong token takes the same index probe as a right one.
    return query
    with found as (
        select t.token_id, t.role, t.org_id, t.label, t.last_used_at
        from syncsched.web_tokens as t
        where t.token_hash = p_token_hash and t.revoked_at is null
    ),
    touched as (
        update syncsched.web_tokens as t
        set last_used_at = now()
        from found
        where t.token_id = found.token_id
            and (found.last_used_at is null or found.last_used_at < now() - interval '1 minute')
    )
    select found.token_id, found.role, found.org_id, found.label from found;
end
$$;

ALTER FUNCTION syncsched.web_session(p_token_hash text) OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.web_session(p_token_hash text) IS 'The role (and tenant organization) of the console token whose SHA-256 (hex) is p_token_hash, and its label; no row for an unknown or revoked token. The console hashes the token itself: the token never reaches the server (nor its logs).';

CREATE FUNCTION syncsched.worker_config() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'syncsched', 'pg_temp'
    AS $$
    select jsonb_build_object(
        'lease', extract(epoch from syncsched.setting('lease')::interval),
        'health_check_timeout', extract(epoch from syncsched.setting('health_check_timeout')::interval),
        'warmup_timeout', extract(epoch from syncsched.setting('warmup_timeout')::interval),
        'scheduler_silent_after', extract(epoch from syncsched.setting('scheduler_silent_after')::interval),
        'allowed_private_hosts', syncsched.setting('allowed_private_hosts'),
        'allowed_insecure_hosts', syncsched.setting('allowed_insecure_hosts')
    )
$$;

ALTER FUNCTION syncsched.worker_config() OWNER TO syncsched_owner;

COMMENT ON FUNCTION syncsched.worker_config() IS 'The settings a worker needs: lease, health_check_timeout, warmup_timeout, scheduler_silent_after (seconds), and the SSRF guard''s allowed_private_hosts and allowed_insecure_hosts.';

CREATE TABLE syncsched.alert_kinds (
    kind text NOT NULL,
    is_condition boolean NOT NULL,
    severity text NOT NULL,
    description text NOT NULL,
    CONSTRAINT alert_kinds_severity_known CHECK ((severity = ANY (ARRAY['warning'::text, 'danger'::text])))
);

ALTER TABLE syncsched.alert_kinds OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.alert_kinds IS 'The kinds of alert: whether each is a condition (open until what caused it clears) or an event, and its severity.';

COMMENT ON COLUMN syncsched.alert_kinds.kind IS 'Name of the kind, as in scheduler_alerts.kind.';

COMMENT ON COLUMN syncsched.alert_kinds.is_condition IS 'Conditions stay open until resolved; events are shown for 24 hours.';

COMMENT ON COLUMN syncsched.alert_kinds.severity IS 'danger (someone must act) or warning; the colour of the webhook message and the log level of the workers.';

COMMENT ON COLUMN syncsched.alert_kinds.description IS 'When it is raised and when it is resolved.';

COMMENT ON CONSTRAINT alert_kinds_severity_known ON syncsched.alert_kinds IS 'danger or warning.';

CREATE TABLE syncsched.scheduler_alerts (
    alert_id bigint NOT NULL,
    kind text NOT NULL,
    alert_key text NOT NULL,
    org_id text,
    integration_id text,
    integration_type text,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    resolved_at timestamp with time zone,
    delivered_at timestamp with time zone,
    delivery text DEFAULT 'none'::text NOT NULL,
    delivery_attempts integer DEFAULT 0 NOT NULL,
    delivery_not_before timestamp with time zone,
    delivery_error text,
    is_condition boolean DEFAULT false NOT NULL,
    is_open boolean GENERATED ALWAYS AS ((is_condition AND (resolved_at IS NULL))) STORED,
    acknowledged_at timestamp with time zone,
    acknowledged_by text,
    CONSTRAINT scheduler_alerts_delivery_known CHECK ((delivery = ANY (ARRAY['none'::text, 'pending'::text, 'sent'::text, 'suppressed'::text, 'failed'::text])))
);

ALTER TABLE ONLY syncsched.scheduler_alerts FORCE ROW LEVEL SECURITY;

ALTER TABLE syncsched.scheduler_alerts OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.scheduler_alerts IS 'Things a person should know about: skipped or missed periods, drift, failures, endpoint health.';

COMMENT ON COLUMN syncsched.scheduler_alerts.alert_id IS 'The alert.';

COMMENT ON COLUMN syncsched.scheduler_alerts.kind IS 'What happened (alert_kinds).';

COMMENT ON COLUMN syncsched.scheduler_alerts.alert_key IS 'Deduplication key: kind plus what it is about (org/integration or type).';

COMMENT ON COLUMN syncsched.scheduler_alerts.org_id IS 'The organization it is about, if any.';

COMMENT ON COLUMN syncsched.scheduler_alerts.integration_id IS 'The integration it is about, if any.';

COMMENT ON COLUMN syncsched.scheduler_alerts.integration_type IS 'The integration type it is about, if any.';

COMMENT ON COLUMN syncsched.scheduler_alerts.detail IS 'The details (counts, periods, errors), as JSON.';

COMMENT ON COLUMN syncsched.scheduler_alerts.at IS 'When it was raised (the clock of what raised it: the tick''s p_now, or now()).';

COMMENT ON COLUMN syncsched.scheduler_alerts.resolved_at IS 'Set when the condition behind the alert has cleared.';

COMMENT ON COLUMN syncsched.scheduler_alerts.delivered_at IS 'When the alert was sent to the webhook, if one is configured.';

COMMENT ON COLUMN syncsched.scheduler_alerts.delivery IS 'Webhook delivery: none (no webhook when raised), pending, sent, suppressed (same key sent within alert_repeat_after), failed.';

COMMENT ON COLUMN syncsched.scheduler_alerts.delivery_attempts IS 'Failed webhook deliveries so far.';

COMMENT ON COLUMN syncsched.scheduler_alerts.delivery_not_before IS 'The next webhook delivery is not tried before this time.';

COMMENT ON COLUMN syncsched.scheduler_alerts.delivery_error IS 'Why the last webhook delivery failed.';

COMMENT ON COLUMN syncsched.scheduler_alerts.is_condition IS 'A condition (open until resolved_at) rather than an event, as alert_kinds said when it was raised.';

COMMENT ON COLUMN syncsched.scheduler_alerts.is_open IS 'An open alert: a condition not resolved yet (generated: the one place this rule is written).';

COMMENT ON COLUMN syncsched.scheduler_alerts.acknowledged_at IS 'When someone acknowledged the alert (it stays open until its cause clears).';

COMMENT ON COLUMN syncsched.scheduler_alerts.acknowledged_by IS 'Who acknowledged it: the console token''s role and label, or the database role.';

COMMENT ON CONSTRAINT scheduler_alerts_delivery_known ON syncsched.scheduler_alerts IS 'Webhook delivery states.';

CREATE VIEW syncsched.alerts_open WITH (security_invoker='true') AS
 SELECT c.alert_id,
    c.kind,
    c.alert_key,
    c.org_id,
    c.integration_id,
    c.integration_type,
    c.detail,
    c.at,
    c.delivery
   FROM ( SELECT DISTINCT ON (a.alert_key) a.alert_id,
            a.kind,
            a.alert_key,
            a.org_id,
            a.integration_id,
            a.integration_type,
            a.detail,
            a.at,
            a.resolved_at,
            a.delivered_at,
            a.delivery,
            a.delivery_attempts,
            a.delivery_not_before,
            a.delivery_error,
            a.is_condition,
            a.is_open,
            a.acknowledged_at,
            a.acknowledged_by
           FROM syncsched.scheduler_alerts a
          WHERE a.is_open
          ORDER BY a.alert_key, a.at DESC, a.alert_id DESC) c
UNION ALL
 SELECT e.alert_id,
    e.kind,
    e.alert_key,
    e.org_id,
    e.integration_id,
    e.integration_type,
    e.detail,
    e.at,
    e.delivery
   FROM ( SELECT DISTINCT ON (a.alert_key) a.alert_id,
            a.kind,
            a.alert_key,
            a.org_id,
            a.integration_id,
            a.integration_type,
            a.detail,
            a.at,
            a.resolved_at,
            a.delivered_at,
            a.delivery,
            a.delivery_attempts,
            a.delivery_not_before,
            a.delivery_error,
            a.is_condition,
            a.is_open,
            a.acknowledged_at,
            a.acknowledged_by
           FROM syncsched.scheduler_alerts a
          WHERE ((NOT a.is_condition) AND (a.at > (now() - '24:00:00'::interval)))
          ORDER BY a.alert_key, a.at DESC, a.alert_id DESC) e;

ALTER TABLE syncsched.alerts_open OWNER TO syncsched_owner;

COMMENT ON VIEW syncsched.alerts_open IS 'What needs attention: each open condition (stale, failing, endpoint_unhealthy, endpoint_passive, scheduler_silent, invalid_schedule; see alert_kinds) until it clears, and the latest event of each key for 24 hours.';

CREATE TABLE syncsched.audit_log (
    audit_id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text DEFAULT SESSION_USER NOT NULL,
    on_behalf_of text,
    action text NOT NULL,
    org_id text,
    integration_id text,
    integration_type text,
    run_id bigint,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT audit_log_action_known CHECK ((action = ANY (ARRAY['run_now'::text, 'retry_run'::text, 'cancel_run'::text, 'pause_scheduling'::text, 'resume_scheduling'::text, 'pause_dispatch'::text, 'resume_dispatch'::text, 'check_endpoint_now'::text, 'endpoint_changed'::text, 'delete_integration'::text, 'integration_created'::text, 'integration_changed'::text, 'integration_deleted'::text, 'setting_changed'::text, 'net_secret_set'::text])))
);

ALTER TABLE syncsched.audit_log OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.audit_log IS 'What operators did: the API''s actions (run now, retry, cancel, pause and resume, endpoint checks, deletes) and every change of an integration or a setting, whatever wrote it; written by the owner''s functions and triggers only, never pruned.';

COMMENT ON COLUMN syncsched.audit_log.audit_id IS 'Order of the entries.';

COMMENT ON COLUMN syncsched.audit_log.at IS 'When it was done (the transaction''s time).';

COMMENT ON COLUMN syncsched.audit_log.actor IS 'The login role that did it (session_user: the caller, not the owner the function runs as).';

COMMENT ON COLUMN syncsched.audit_log.on_behalf_of IS 'Who the login acted for, as it said (the console names the user of its token in syncsched.actor); any session may say so, so trust it as far as the login.';

COMMENT ON COLUMN syncsched.audit_log.action IS 'The API function, or what a write did whatever its path: integration_created / _changed / _deleted, setting_changed (endpoint_changed: an UPDATE of a type''s endpoint_url or health_url reset its health).';

COMMENT ON COLUMN syncsched.audit_log.org_id IS 'The organization acted on, if any.';

COMMENT ON COLUMN syncsched.audit_log.integration_id IS 'The integration acted on, if any.';

COMMENT ON COLUMN syncsched.audit_log.integration_type IS 'The integration type acted on (pauses, endpoint checks), or the type of the integration or run; null for global pauses.';

COMMENT ON COLUMN syncsched.audit_log.run_id IS 'The run acted on (retry, cancel, run now), if any.';

COMMENT ON COLUMN syncsched.audit_log.detail IS 'What else there is to know: the state before, counts, the runs a delete cancelled and removed.';

COMMENT ON CONSTRAINT audit_log_action_known ON syncsched.audit_log IS 'The actions that are audited.';

ALTER TABLE syncsched.audit_log ALTER COLUMN audit_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME syncsched.audit_log_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE syncsched.integration_types (
    integration_type text NOT NULL,
    endpoint_url text NOT NULL,
    health_url text,
    health_method text DEFAULT 'HEAD'::text NOT NULL,
    timeout_ms integer DEFAULT 30000 NOT NULL,
    connect_timeout_ms integer DEFAULT 5000 NOT NULL,
    max_concurrency integer DEFAULT 5 NOT NULL,
    auth_secret_env text,
    health_check_interval interval DEFAULT '00:15:00'::interval NOT NULL,
    description text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    spread interval,
    rate_limit integer,
    rate_window interval DEFAULT '00:01:00'::interval NOT NULL,
    rate_limited_backoff interval DEFAULT '00:01:00'::interval NOT NULL,
    transport text DEFAULT 'worker'::text NOT NULL,
    CONSTRAINT integration_types_auth_secret_env_name CHECK (((auth_secret_env IS NULL) OR (auth_secret_env ~ '^[A-Z_][A-Z0-9_]*$'::text))),
    CONSTRAINT integration_types_connect_timeout_positive CHECK (((connect_timeout_ms >= 1) AND (connect_timeout_ms <= 600000))),
    CONSTRAINT integration_types_endpoint_url_http CHECK ((endpoint_url ~* '^https?://[^/?#]+'::text)),
    CONSTRAINT integration_types_health_check_interval_positive CHECK ((health_check_interval > '00:00:00'::interval)),
    CONSTRAINT integration_types_health_method_known CHECK ((health_method = ANY (ARRAY['HEAD'::text, 'GET'::text]))),
    CONSTRAINT integration_types_health_url_http CHECK (((health_url IS NULL) OR (health_url ~* '^https?://[^/?#]+'::text))),
    CONSTRAINT integration_types_max_concurrency_positive CHECK (((max_concurrency >= 1) AND (max_concurrency <= 10000))),
    CONSTRAINT integration_types_name_format CHECK ((integration_type ~ '^[a-z][a-z0-9_]{0,62}$'::text)),
    CONSTRAINT integration_types_rate_limit_range CHECK ((rate_limit >= 2)),
    CONSTRAINT integration_types_rate_limited_backoff_range CHECK (((rate_limited_backoff >= '00:00:01'::interval) AND (rate_limited_backoff <= '1 day'::interval))),
    CONSTRAINT integration_types_rate_window_range CHECK (((rate_window >= '00:00:01'::interval) AND (rate_window <= '1 day'::interval))),
    CONSTRAINT integration_types_spread_range CHECK (((spread > '00:00:00'::interval) AND (spread <= '1 day'::interval))),
    CONSTRAINT integration_types_timeout_positive CHECK (((timeout_ms >= 1) AND (timeout_ms <= 3600000))),
    CONSTRAINT integration_types_transport_known CHECK ((transport = ANY (ARRAY['worker'::text, 'pg_net'::text])))
);

ALTER TABLE syncsched.integration_types OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.integration_types IS 'One row per kind of integration. Endpoint URLs are controlled by the DBA here; tenants never supply hosts.';

COMMENT ON COLUMN syncsched.integration_types.integration_type IS 'Name of the type (lower case), referenced by the integrations.';

COMMENT ON COLUMN syncsched.integration_types.endpoint_url IS 'URL the worker POSTs each run to.';

COMMENT ON COLUMN syncsched.integration_types.health_url IS 'URL of the lightweight health check; endpoint_url when null.';

COMMENT ON COLUMN syncsched.integration_types.health_method IS 'HEAD or GET: the method of health checks and warm-ups.';

COMMENT ON COLUMN syncsched.integration_types.timeout_ms IS 'Longest time a call may take, in milliseconds.';

COMMENT ON COLUMN syncsched.integration_types.connect_timeout_ms IS 'Longest time to connect to the endpoint, in milliseconds.';

COMMENT ON COLUMN syncsched.integration_types.max_concurrency IS 'Most runs of this type in flight at once, across all workers.';

COMMENT ON COLUMN syncsched.integration_types.auth_secret_env IS 'Name of the environment variable, on the worker, that holds the Authorization header value. The secret itself is never stored.';

COMMENT ON COLUMN syncsched.integration_types.health_check_interval IS 'How often one of the workers checks the endpoint in active mode (backed off after failures).';

COMMENT ON COLUMN syncsched.integration_types.description IS 'What the type is, for people.';

COMMENT ON COLUMN syncsched.integration_types.created_at IS 'When the type was added.';

COMMENT ON COLUMN syncsched.integration_types.updated_at IS 'Set when the row is created; whoever changes the row may set it (nothing does automatically).';

COMMENT ON COLUMN syncsched.integration_types.spread IS 'Runs of this type start up to this long after their period (at most half the way to the next one), each integration at its own offset (a hash of its identity): the type''s API sees the tenants of one schedule spread over the window instead of all at once. NULL: no spread.';

COMMENT ON COLUMN syncsched.integration_types.rate_limit IS 'At most this many requests to the type''s endpoints (runs, health checks, warm-ups) in any rate_window, across every worker; NULL: no budget.';

COMMENT ON COLUMN syncsched.integration_types.rate_window IS 'The sliding window rate_limit counts requests in.';

COMMENT ON COLUMN syncsched.integration_types.rate_limited_backoff IS 'How long the whole type waits after an answer 429 without a Retry-After header.';

COMMENT ON COLUMN syncsched.integration_types.transport IS 'Who calls the endpoint: worker (syncsched worker processes claim the runs) or pg_net (the database sends them itself with net.http_post from the tick and the collector job; the worker never claims them).';

COMMENT ON CONSTRAINT integration_types_auth_secret_env_name ON syncsched.integration_types IS 'The secret''s variable has an environment-variable name (the secret itself is never stored).';

COMMENT ON CONSTRAINT integration_types_connect_timeout_positive ON syncsched.integration_types IS 'Connecting may take 1 ms to 10 minutes.';

COMMENT ON CONSTRAINT integration_types_endpoint_url_http ON syncsched.integration_types IS 'Endpoints are http(s) URLs with a host (the worker''s guard decides which it may call).';

COMMENT ON CONSTRAINT integration_types_health_check_interval_positive ON syncsched.integration_types IS 'Health checks are some time apart.';

COMMENT ON CONSTRAINT integration_types_health_method_known ON syncsched.integration_types IS 'Health checks are HEAD or GET.';

COMMENT ON CONSTRAINT integration_types_health_url_http ON syncsched.integration_types IS 'Health URLs are http(s) URLs with a host.';

COMMENT ON CONSTRAINT integration_types_max_concurrency_positive ON syncsched.integration_types IS '1 to 10,000 runs of a type in flight.';

COMMENT ON CONSTRAINT integration_types_name_format ON syncsched.integration_types IS 'Type names are lower-case identifiers (they appear in URLs, metrics and lock keys).';

COMMENT ON CONSTRAINT integration_types_rate_limit_range ON syncsched.integration_types IS 'A budget allows at least two requests: a warm-up and the run it precedes.';

COMMENT ON CONSTRAINT integration_types_rate_limited_backoff_range ON syncsched.integration_types IS 'The wait after a 429 without Retry-After is one second to one day.';

COMMENT ON CONSTRAINT integration_types_rate_window_range ON syncsched.integration_types IS 'A budget''s window is one second to one day.';

COMMENT ON CONSTRAINT integration_types_spread_range ON syncsched.integration_types IS 'A spread is positive and at most a day.';

COMMENT ON CONSTRAINT integration_types_timeout_positive ON syncsched.integration_types IS 'A call may take 1 ms to 1 hour.';

COMMENT ON CONSTRAINT integration_types_transport_known ON syncsched.integration_types IS 'A type is called by the worker or through pg_net.';

CREATE TABLE syncsched.settings (
    key text NOT NULL,
    value text NOT NULL,
    description text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    type text NOT NULL,
    default_value text NOT NULL,
    min_value text,
    max_value text,
    CONSTRAINT settings_key_format CHECK ((key ~ '^[a-z][a-z0-9_]*$'::text)),
    CONSTRAINT settings_range_only_for_ordered_types CHECK ((((min_value IS NULL) AND (max_value IS NULL)) OR (type = ANY (ARRAY['interval'::text, 'integer'::text])))),
    CONSTRAINT settings_type_known CHECK ((type = ANY (ARRAY['boolean'::text, 'interval'::text, 'integer'::text, 'url'::text, 'host_list'::text])))
);

ALTER TABLE syncsched.settings OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.settings IS 'Key/value configuration of the scheduler, read by the SQL functions and the worker. Values are text, cast by their readers.';

COMMENT ON COLUMN syncsched.settings.key IS 'Name of the setting.';

COMMENT ON COLUMN syncsched.settings.value IS 'Current value, as text; checked against type and range on every write.';

COMMENT ON COLUMN syncsched.settings.description IS 'What the setting does.';

COMMENT ON COLUMN syncsched.settings.updated_at IS 'When the value was last written.';

COMMENT ON COLUMN syncsched.settings.type IS 'boolean, interval, integer, url (empty, http(s) URL or env:NAME) or host_list (comma-separated hosts).';

COMMENT ON COLUMN syncsched.settings.default_value IS 'The default: the value a fresh install has, and reset_setting() restores.';

COMMENT ON COLUMN syncsched.settings.min_value IS 'Smallest value allowed (interval and integer settings).';

COMMENT ON COLUMN syncsched.settings.max_value IS 'Largest value allowed (interval and integer settings).';

COMMENT ON CONSTRAINT settings_key_format ON syncsched.settings IS 'Keys are lower-case identifiers.';

COMMENT ON CONSTRAINT settings_range_only_for_ordered_types ON syncsched.settings IS 'Only intervals and integers have a range.';

COMMENT ON CONSTRAINT settings_type_known ON syncsched.settings IS 'The types the settings trigger checks.';

CREATE VIEW syncsched.endpoint_overview AS
 SELECT t.integration_type,
    h.status,
    h.mode,
    h.consecutive_failures,
    h.last_check_at,
    h.next_check_at,
    h.last_error,
    t.max_concurrency,
    q.pending,
    q.running,
    q.held,
    NULLIF(concat_ws(', '::text,
        CASE
            WHEN (pauses.scheduling OR d.scheduling_paused) THEN 'scheduling'::text
            ELSE NULL::text
        END,
        CASE
            WHEN q.dispatch_paused THEN 'dispatch'::text
            ELSE NULL::text
        END), ''::text) AS paused,
    t.spread,
    t.rate_limit,
    t.rate_window,
    (t.rate_limit - syncsched._budget_left(t.integration_type, t.rate_limit, t.rate_window)) AS requests_in_window,
        CASE
            WHEN (d.rate_limited_until > now()) THEN d.rate_limited_until
            ELSE NULL::timestamp with time zone
        END AS rate_limited_until
   FROM ((((syncsched.integration_types t
     LEFT JOIN syncsched.endpoint_health h ON ((t.integration_type = h.integration_type)))
     LEFT JOIN syncsched.dispatch_state d ON ((t.integration_type = d.integration_type)))
     LEFT JOIN syncsched.queue_depth() q(integration_type, pending, running, held, dispatch_paused) ON ((t.integration_type = q.integration_type)))
     CROSS JOIN ( SELECT COALESCE(bool_or((s.value)::boolean), false) AS scheduling
           FROM syncsched.settings s
          WHERE (s.key = 'scheduler_paused'::text)) pauses);

ALTER TABLE syncsched.endpoint_overview OWNER TO syncsched_owner;

COMMENT ON VIEW syncsched.endpoint_overview IS 'Each integration type: its endpoint''s health, its runs pending, running and held (not handed out now: dispatch paused, circuit open, rate limited, retry backoff), its max_concurrency, what is paused for it, its spread, its request budget and how much of it the current window used, and until when an answer 429 holds it.';

CREATE UNLOGGED TABLE syncsched.net_requests (
    id bigint NOT NULL,
    kind text NOT NULL,
    integration_type text NOT NULL,
    run_id bigint,
    scheduled_for timestamp with time zone,
    attempt integer,
    sent_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT net_requests_kind_known CHECK ((kind = ANY (ARRAY['run'::text, 'health'::text, 'warmup'::text]))),
    CONSTRAINT net_requests_run_given CHECK (((kind = 'run'::text) = ((run_id IS NOT NULL) AND (scheduled_for IS NOT NULL) AND (attempt IS NOT NULL))))
);

ALTER TABLE syncsched.net_requests OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.net_requests IS 'The requests sent through pg_net since this server started or was promoted (UNLOGGED, as pg_net''s queue, responses and request ids are: after a crash or failover all start again together, and a request id kept on a run from before matches nothing). A response is applied only to the run, health check or warm-up recorded here with its id.';

COMMENT ON COLUMN syncsched.net_requests.id IS 'pg_net''s request id (net._http_response.id).';

COMMENT ON COLUMN syncsched.net_requests.kind IS 'run, health or warmup.';

COMMENT ON COLUMN syncsched.net_requests.integration_type IS 'The type whose endpoint it went to.';

COMMENT ON COLUMN syncsched.net_requests.run_id IS 'The run, for a run''s call.';

COMMENT ON COLUMN syncsched.net_requests.scheduled_for IS 'The run''s scheduled_for, for a run''s call.';

COMMENT ON COLUMN syncsched.net_requests.attempt IS 'The run''s attempt it is the call of: its response is that attempt''s (a run claimed again since, by a worker, has another).';

COMMENT ON COLUMN syncsched.net_requests.sent_at IS 'When it was queued; forgotten after pg_net.ttl, when pg_net has forgotten its response too.';

COMMENT ON CONSTRAINT net_requests_kind_known ON syncsched.net_requests IS 'A run''s call, a health check or a warm-up.';

COMMENT ON CONSTRAINT net_requests_run_given ON syncsched.net_requests IS 'A run''s call names its run and attempt.';

CREATE TABLE syncsched.net_secrets (
    name text NOT NULL,
    secret text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT net_secrets_name_format CHECK ((name ~ '^[A-Z_][A-Z0-9_]{0,62}$'::text))
);

ALTER TABLE syncsched.net_secrets OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.net_secrets IS 'Authorization values of pg_net integration types by the name in integration_types.auth_secret_env, where Supabase Vault is absent. Owner-only: written by set_net_secret(), read by the dispatch alone.';

COMMENT ON COLUMN syncsched.net_secrets.name IS 'The name integration_types.auth_secret_env gives.';

COMMENT ON COLUMN syncsched.net_secrets.secret IS 'The Authorization header''s value (for example Bearer ...).';

COMMENT ON COLUMN syncsched.net_secrets.updated_at IS 'When it was last set.';

COMMENT ON CONSTRAINT net_secrets_name_format ON syncsched.net_secrets IS 'Names as in integration_types.auth_secret_env.';

ALTER TABLE syncsched.organization_integrations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME syncsched.organization_integrations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE syncsched.sync_run_attempts (
    run_id bigint NOT NULL,
    scheduled_for timestamp with time zone NOT NULL,
    attempt integer NOT NULL,
    outcome text NOT NULL,
    worker_id text,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    http_status integer,
    error text,
    response_excerpt text,
    net_request_id bigint,
    org_id text NOT NULL,
    CONSTRAINT sync_run_attempts_attempt_positive CHECK ((attempt >= 1)),
    CONSTRAINT sync_run_attempts_finished_after_start CHECK ((finished_at >= started_at)),
    CONSTRAINT sync_run_attempts_http_status_range CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT sync_run_attempts_outcome_known CHECK ((outcome = ANY (ARRAY['completed'::text, 'failed'::text, 'lost'::text, 'released'::text])))
)
PARTITION BY RANGE (scheduled_for);

ALTER TABLE syncsched.sync_run_attempts OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.sync_run_attempts IS 'Every attempt of every run that has ended (completed, failed, lost with its lease, released at shutdown): the audit trail of an export, partitioned like the run log (scheduled_for is its run''s). The attempt running now is the run itself (view run_attempts shows both).';

COMMENT ON COLUMN syncsched.sync_run_attempts.run_id IS 'The run.';

COMMENT ON COLUMN syncsched.sync_run_attempts.scheduled_for IS 'The run''s scheduled_for: the attempt lives in the partition of the same range as its run.';

COMMENT ON COLUMN syncsched.sync_run_attempts.attempt IS 'Attempt number, from 1, as the worker logs it and sends it in the POST body.';

COMMENT ON COLUMN syncsched.sync_run_attempts.outcome IS 'completed (2xx), failed (an error or non-2xx answer), lost (the lease expired: the worker stopped), released (given back at shutdown).';

COMMENT ON COLUMN syncsched.sync_run_attempts.worker_id IS 'The worker that made the attempt.';

COMMENT ON COLUMN syncsched.sync_run_attempts.started_at IS 'When the attempt was claimed.';

COMMENT ON COLUMN syncsched.sync_run_attempts.finished_at IS 'When it ended (for lost: when it was found lost).';

COMMENT ON COLUMN syncsched.sync_run_attempts.http_status IS 'HTTP status of the endpoint''s answer, if one came.';

COMMENT ON COLUMN syncsched.sync_run_attempts.error IS 'What went wrong; null for a completed attempt.';

COMMENT ON COLUMN syncsched.sync_run_attempts.response_excerpt IS 'Start of the endpoint''s answer to a completed attempt (capped by the worker).';

COMMENT ON COLUMN syncsched.sync_run_attempts.net_request_id IS 'pg_net transport: the net.http_post request id of this attempt.';

COMMENT ON COLUMN syncsched.sync_run_attempts.org_id IS 'The run''s organization.';

COMMENT ON CONSTRAINT sync_run_attempts_attempt_positive ON syncsched.sync_run_attempts IS 'Attempts count from 1.';

COMMENT ON CONSTRAINT sync_run_attempts_finished_after_start ON syncsched.sync_run_attempts IS 'An attempt ends after it starts.';

COMMENT ON CONSTRAINT sync_run_attempts_http_status_range ON syncsched.sync_run_attempts IS 'HTTP statuses are 100-599.';

COMMENT ON CONSTRAINT sync_run_attempts_outcome_known ON syncsched.sync_run_attempts IS 'How an attempt can end.';

CREATE TABLE syncsched.sync_run_log (
    run_id bigint NOT NULL,
    org_id text NOT NULL,
    integration_id text NOT NULL,
    integration_type text NOT NULL,
    scheduled_for timestamp with time zone NOT NULL,
    idempotency_key text NOT NULL,
    trigger text NOT NULL,
    status syncsched.run_status DEFAULT 'pending'::syncsched.run_status NOT NULL,
    attempt integer DEFAULT 0 NOT NULL,
    max_attempts integer NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    not_before timestamp with time zone DEFAULT now() NOT NULL,
    enqueued_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    heartbeat_at timestamp with time zone,
    worker_id text,
    lease_token uuid,
    lease_expires_at timestamp with time zone,
    drift interval,
    http_status integer,
    error text,
    response_excerpt text,
    net_request_id bigint,
    CONSTRAINT sync_run_log_attempt_range CHECK (((attempt >= 0) AND (attempt <= max_attempts))),
    CONSTRAINT sync_run_log_final_has_finished_at CHECK (((status <> ALL (ARRAY['completed'::syncsched.run_status, 'failed'::syncsched.run_status, 'cancelled'::syncsched.run_status])) OR (finished_at IS NOT NULL))),
    CONSTRAINT sync_run_log_http_status_range CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT sync_run_log_max_attempts_range CHECK (((max_attempts >= 1) AND (max_attempts <= 100))),
    CONSTRAINT sync_run_log_pending_has_attempts_left CHECK (((status <> 'pending'::syncsched.run_status) OR (attempt < max_attempts))),
    CONSTRAINT sync_run_log_running_has_lease CHECK (((status <> 'running'::syncsched.run_status) OR ((lease_token IS NOT NULL) AND (lease_expires_at IS NOT NULL) AND (started_at IS NOT NULL)))),
    CONSTRAINT sync_run_log_trigger_known CHECK ((trigger = ANY (ARRAY['schedule'::text, 'manual'::text, 'catch_up'::text])))
)
PARTITION BY RANGE (scheduled_for);

ALTER TABLE syncsched.sync_run_log OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.sync_run_log IS 'One row per run of an integration: the queue and its history, range-partitioned by scheduled_for (run_log_partitions() lists the partitions). UNIQUE (idempotency_key, scheduled_for) guarantees at most one run per integration and period: the key names its period, so a period''s runs share a partition. org_id and integration_id name an integration that exists (its triggers refuse to delete or rename it while it has runs; delete_integration removes its history first).';

COMMENT ON COLUMN syncsched.sync_run_log.run_id IS 'The run.';

COMMENT ON COLUMN syncsched.sync_run_log.org_id IS 'The organization of the integration.';

COMMENT ON COLUMN syncsched.sync_run_log.integration_id IS 'The integration.';

COMMENT ON COLUMN syncsched.sync_run_log.integration_type IS 'The integration''s type when the run was created: where it is sent.';

COMMENT ON COLUMN syncsched.sync_run_log.scheduled_for IS 'The period this run serves (the fire time), or the request time of a manual run.';

COMMENT ON COLUMN syncsched.sync_run_log.idempotency_key IS 'org_id/integration_id/<scheduled_for in UTC, ISO minute>; manual runs: org_id/integration_id/manual/<timestamp>. Sent to the endpoint as the Idempotency-Key header.';

COMMENT ON COLUMN syncsched.sync_run_log.trigger IS 'What created the run: schedule, manual (run_now) or catch_up (a missed period).';

COMMENT ON COLUMN syncsched.sync_run_log.status IS 'pending, running, completed, failed or cancelled (see the type run_status).';

COMMENT ON COLUMN syncsched.sync_run_log.attempt IS 'Number of the current or last attempt, from 1; 0 for a run never claimed.';

COMMENT ON COLUMN syncsched.sync_run_log.max_attempts IS 'Attempts this run may make (the integration''s max_attempts, else settings.default_max_attempts).';

COMMENT ON COLUMN syncsched.sync_run_log.payload IS 'Snapshot of the integration payload when the run was created.';

COMMENT ON COLUMN syncsched.sync_run_log.not_before IS 'A pending run is not claimed before this time (retry backoff).';

COMMENT ON COLUMN syncsched.sync_run_log.enqueued_at IS 'When the run was created (wall clock).';

COMMENT ON COLUMN syncsched.sync_run_log.started_at IS 'When its current (or last) attempt was claimed.';

COMMENT ON COLUMN syncsched.sync_run_log.finished_at IS 'When it reached completed, failed or cancelled.';

COMMENT ON COLUMN syncsched.sync_run_log.heartbeat_at IS 'Last heartbeat of the worker holding it.';

COMMENT ON COLUMN syncsched.sync_run_log.worker_id IS 'The worker of the current (or last) attempt.';

COMMENT ON COLUMN syncsched.sync_run_log.lease_token IS 'Fencing token of the current claim: every worker write must present it. A run whose lease expired keeps its lost claim''s token until it is claimed again: that worker''s late completion is still taken, and a claim of the run raises possible_duplicate.';

COMMENT ON COLUMN syncsched.sync_run_log.lease_expires_at IS 'A running run whose lease expired is taken back by the tick (liveness comes from the heartbeat, not from age).';

COMMENT ON COLUMN syncsched.sync_run_log.drift IS 'How late the run started after its period: the tick''s lateness when it created the run plus the time the run waited to be claimed.';

COMMENT ON COLUMN syncsched.sync_run_log.http_status IS 'HTTP status of the last attempt''s answer.';

COMMENT ON COLUMN syncsched.sync_run_log.error IS 'The last attempt''s error; null after a success (earlier errors are in sync_run_attempts).';

COMMENT ON COLUMN syncsched.sync_run_log.response_excerpt IS 'Start of the endpoint response body, capped by the worker.';

COMMENT ON COLUMN syncsched.sync_run_log.net_request_id IS 'pg_net transport: the net.http_post request id of the attempt in flight (its response is matched through net_requests, which also holds this attempt''s number).';

COMMENT ON CONSTRAINT sync_run_log_attempt_range ON syncsched.sync_run_log IS 'Never more attempts than allowed.';

COMMENT ON CONSTRAINT sync_run_log_final_has_finished_at ON syncsched.sync_run_log IS 'A finished run says when.';

COMMENT ON CONSTRAINT sync_run_log_http_status_range ON syncsched.sync_run_log IS 'HTTP statuses are 100-599.';

COMMENT ON CONSTRAINT sync_run_log_max_attempts_range ON syncsched.sync_run_log IS '1 to 100 attempts.';

COMMENT ON CONSTRAINT sync_run_log_pending_has_attempts_left ON syncsched.sync_run_log IS 'A pending run can still be tried.';

COMMENT ON CONSTRAINT sync_run_log_running_has_lease ON syncsched.sync_run_log IS 'A running run has a lease (token and expiry) and a start.';

COMMENT ON CONSTRAINT sync_run_log_trigger_known ON syncsched.sync_run_log IS 'What created the run: schedule, manual or catch_up.';

CREATE VIEW syncsched.recent_runs AS
 SELECT r.run_id,
    r.org_id,
    r.integration_id,
    r.integration_type,
    r.trigger,
    r.status,
    r.scheduled_for,
    r.enqueued_at,
    r.started_at,
    r.finished_at,
    (r.finished_at - r.started_at) AS duration,
    r.attempt,
    r.max_attempts,
    r.worker_id,
    r.http_status,
    r.error,
    ( SELECT COALESCE(jsonb_agg(jsonb_build_object('attempt', a.attempt, 'outcome', a.outcome, 'worker_id', a.worker_id, 'started_at', a.started_at, 'finished_at', a.finished_at, 'http_status', a.http_status, 'error', "left"(a.error, 500)) ORDER BY a.attempt), '[]'::jsonb) AS "coalesce"
           FROM syncsched.sync_run_attempts a
          WHERE ((a.run_id = r.run_id) AND (a.scheduled_for = r.scheduled_for) AND (a.org_id = r.org_id))) AS attempts
   FROM syncsched.sync_run_log r
  WHERE ((r.enqueued_at > (now() - '24:00:00'::interval)) OR (r.status = ANY (ARRAY['pending'::syncsched.run_status, 'running'::syncsched.run_status])));

ALTER TABLE syncsched.recent_runs OWNER TO syncsched_owner;

COMMENT ON VIEW syncsched.recent_runs IS 'Runs of the last 24 hours and every run still pending or running, each with its ended attempts (attempts: attempt, outcome, worker, times, HTTP status, error).';

CREATE TABLE syncsched.request_ledger (
    integration_type text NOT NULL,
    at timestamp with time zone NOT NULL,
    requests integer NOT NULL,
    CONSTRAINT request_ledger_requests_positive CHECK ((requests > 0))
);

ALTER TABLE syncsched.request_ledger OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.request_ledger IS 'Requests handed out per type (claims, health checks, warm-ups), for the rate_limit budgets: one row per claim of a budgeted type, pruned past its window. Written by the owner''s functions only.';

COMMENT ON COLUMN syncsched.request_ledger.integration_type IS 'The type whose budget the requests count against.';

COMMENT ON COLUMN syncsched.request_ledger.at IS 'When they go out at the latest: the claim''s now(), or warmup_timeout later for runs that wait for their endpoint''s warm-up.';

COMMENT ON COLUMN syncsched.request_ledger.requests IS 'How many.';

COMMENT ON CONSTRAINT request_ledger_requests_positive ON syncsched.request_ledger IS 'A row counts at least one request.';

CREATE VIEW syncsched.run_attempts AS
 SELECT a.run_id,
    r.org_id,
    r.integration_id,
    r.integration_type,
    a.attempt,
    a.outcome,
    a.worker_id,
    a.started_at,
    a.finished_at,
    (a.finished_at - a.started_at) AS duration,
    a.http_status,
    a.error,
    a.response_excerpt
   FROM (syncsched.sync_run_attempts a
     JOIN syncsched.sync_run_log r ON (((a.run_id = r.run_id) AND (a.scheduled_for = r.scheduled_for) AND (a.org_id = r.org_id))))
UNION ALL
 SELECT r.run_id,
    r.org_id,
    r.integration_id,
    r.integration_type,
    r.attempt,
    'running'::text AS outcome,
    r.worker_id,
    r.started_at,
    NULL::timestamp with time zone AS finished_at,
    NULL::interval AS duration,
    NULL::integer AS http_status,
    NULL::text AS error,
    NULL::text AS response_excerpt
   FROM syncsched.sync_run_log r
  WHERE (r.status = 'running'::syncsched.run_status);

ALTER TABLE syncsched.run_attempts OWNER TO syncsched_owner;

COMMENT ON VIEW syncsched.run_attempts IS 'Every attempt of every run: those that ended (completed, failed, lost with the lease, released at shutdown) and those running now. Attempts are numbered from 1.';

CREATE TABLE syncsched.run_log_state (
    singleton boolean DEFAULT true NOT NULL,
    live_from timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT run_log_state_one_row CHECK (singleton)
);

ALTER TABLE syncsched.run_log_state OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.run_log_state IS 'Where the live part of the run log starts: no pending or running run lies in a range partition below live_from. Written by the owner only (the tick raises it, creating or retrying a run lowers it).';

COMMENT ON COLUMN syncsched.run_log_state.singleton IS 'Always true: the table has one row.';

COMMENT ON COLUMN syncsched.run_log_state.live_from IS 'No pending or running run lies in a range partition of the run log below this (-infinity: the whole log is live).';

COMMENT ON COLUMN syncsched.run_log_state.updated_at IS 'When live_from last moved.';

COMMENT ON CONSTRAINT run_log_state_one_row ON syncsched.run_log_state IS 'One row.';

CREATE TABLE syncsched.schedule_state (
    id bigint NOT NULL,
    cron_spec syncsched.cron_spec,
    next_run_at timestamp with time zone,
    last_tick_at timestamp with time zone,
    stale_check_at timestamp with time zone,
    derived_at timestamp with time zone DEFAULT now() NOT NULL,
    problem text,
    org_id text NOT NULL
);

ALTER TABLE syncsched.schedule_state OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.schedule_state IS 'What the tick derives from each integration''s schedule: written only by the owner (the schedule triggers and the tick), always re-derived from organization_integrations.';

COMMENT ON COLUMN syncsched.schedule_state.id IS 'The integration (organization_integrations.id).';

COMMENT ON COLUMN syncsched.schedule_state.cron_spec IS 'cron_schedule parsed (see cron_parse), so that a tick never parses; null for interval schedules.';

COMMENT ON COLUMN syncsched.schedule_state.next_run_at IS 'Next period not yet turned into a run; null when disabled, unscheduled, or when the tick could not evaluate the schedule (see problem).';

COMMENT ON COLUMN syncsched.schedule_state.last_tick_at IS 'p_now of the last tick that handled this row: a tick handles a row once, whatever its batches.';

COMMENT ON COLUMN syncsched.schedule_state.stale_check_at IS 'When the tick next looks at this integration''s staleness: its deadline, or its next period while it is stale.';

COMMENT ON COLUMN syncsched.schedule_state.derived_at IS 'When the schedule was last derived from the configuration: the start of its staleness clock.';

COMMENT ON COLUMN syncsched.schedule_state.problem IS 'Why the tick stopped evaluating the schedule (it is not due again until the schedule is changed); null when fine.';

COMMENT ON COLUMN syncsched.schedule_state.org_id IS 'The integration''s organization.';

CREATE VIEW syncsched.schedule_overview AS
 SELECT o.org_id,
    o.integration_id,
    o.integration_type,
    COALESCE(o.cron_schedule, (('every '::text || o.interval_minutes) || ' minutes'::text)) AS schedule,
    o.timezone,
    o.is_enabled,
    state.next_run_at,
    state.problem AS schedule_problem,
    last_run.scheduled_for AS last_scheduled_for,
    last_run.status AS last_status,
    last_run.finished_at AS last_finished_at,
    last_success.finished_at AS last_success_at,
    COALESCE(failures.consecutive, 0) AS consecutive_failures,
    durations.average AS avg_duration_last_20,
    health.status AS endpoint_status,
    health.mode AS endpoint_mode,
    NULLIF(concat_ws(', '::text,
        CASE
            WHEN (COALESCE((scheduler_paused.value)::boolean, false) OR dispatch.scheduling_paused) THEN 'scheduling'::text
            ELSE NULL::text
        END,
        CASE
            WHEN (COALESCE((dispatch_paused.value)::boolean, false) OR dispatch.dispatch_paused) THEN 'dispatch'::text
            ELSE NULL::text
        END), ''::text) AS paused,
        CASE
            WHEN (waiting.run_id IS NULL) THEN NULL::text
            WHEN (COALESCE((dispatch_paused.value)::boolean, false) OR dispatch.dispatch_paused) THEN 'dispatch paused'::text
            WHEN syncsched._circuit_open(health.mode, health.status) THEN (('circuit open: '::text || o.integration_type) || ' endpoint unhealthy'::text)
            WHEN (dispatch.rate_limited_until > now()) THEN ('rate limited (429) until '::text || to_char((dispatch.rate_limited_until AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD HH24:MI:SS"Z"'::text))
            WHEN (waiting.not_before > now()) THEN ((
            CASE
                WHEN (waiting.attempt > 0) THEN 'retry backoff'::text
                ELSE 'spread'::text
            END || ' until '::text) || to_char((waiting.not_before AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD HH24:MI:SS"Z"'::text))
            WHEN (syncsched._budget_left(o.integration_type, types.rate_limit, types.rate_window) <= 0) THEN format('rate budget spent (%s per %s)'::text, types.rate_limit, types.rate_window)
            WHEN (COALESCE(running.runs, (0)::bigint) >= types.max_concurrency) THEN 'type at max_concurrency'::text
            ELSE NULL::text
        END AS held_reason,
        CASE
            WHEN syncsched._cron_has_h(o.cron_schedule) THEN syncsched.cron_resolve(o.cron_schedule, syncsched._integration_seed(o.org_id, o.integration_id))
            ELSE COALESCE(o.cron_schedule, (('every '::text || o.interval_minutes) || ' minutes'::text))
        END AS resolved_schedule
   FROM ((((((((((((syncsched.organization_integrations o
     JOIN syncsched.integration_types types ON ((o.integration_type = types.integration_type)))
     LEFT JOIN syncsched.schedule_state state ON (((o.org_id = state.org_id) AND (o.id = state.id))))
     LEFT JOIN syncsched.endpoint_health health ON ((o.integration_type = health.integration_type)))
     LEFT JOIN syncsched.dispatch_state dispatch ON ((o.integration_type = dispatch.integration_type)))
     LEFT JOIN ( SELECT r.integration_type,
            count(*) AS runs
           FROM syncsched.sync_run_log r
          WHERE (r.status = 'running'::syncsched.run_status)
          GROUP BY r.integration_type) running ON ((o.integration_type = running.integration_type)))
     LEFT JOIN syncsched.settings scheduler_paused ON ((scheduler_paused.key = 'scheduler_paused'::text)))
     LEFT JOIN syncsched.settings dispatch_paused ON ((dispatch_paused.key = 'dispatch_paused'::text)))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.not_before,
            r.attempt
           FROM syncsched.sync_run_log r
          WHERE ((r.org_id = o.org_id) AND (r.integration_id = o.integration_id) AND (r.status = 'pending'::syncsched.run_status) AND (r.scheduled_for >= ( SELECT syncsched._live_from() AS _live_from)))
          ORDER BY r.not_before, r.run_id
         LIMIT 1) waiting ON (true))
     LEFT JOIN LATERAL ( SELECT r.scheduled_for,
            r.status,
            r.finished_at
           FROM syncsched.sync_run_log r
          WHERE ((r.org_id = o.org_id) AND (r.integration_id = o.integration_id))
          ORDER BY r.scheduled_for DESC, r.run_id DESC
         LIMIT 1) last_run ON (true))
     LEFT JOIN LATERAL ( SELECT r.scheduled_for,
            r.finished_at
           FROM syncsched.sync_run_log r
          WHERE ((r.org_id = o.org_id) AND (r.integration_id = o.integration_id) AND (r.status = 'completed'::syncsched.run_status))
          ORDER BY r.scheduled_for DESC, r.run_id DESC
         LIMIT 1) last_success ON (true))
     LEFT JOIN LATERAL ( SELECT (count(*))::integer AS consecutive
           FROM syncsched.sync_run_log r
          WHERE ((r.org_id = o.org_id) AND (r.integration_id = o.integration_id) AND (r.status = 'failed'::syncsched.run_status) AND (r.scheduled_for > COALESCE(last_success.scheduled_for, '-infinity'::timestamp with time zone)))) failures ON (true))
     LEFT JOIN LATERAL ( SELECT avg((d.finished_at - d.started_at)) AS average
           FROM ( SELECT r.started_at,
                    r.finished_at
                   FROM syncsched.sync_run_log r
                  WHERE ((r.org_id = o.org_id) AND (r.integration_id = o.integration_id) AND (r.status = ANY (ARRAY['completed'::syncsched.run_status, 'failed'::syncsched.run_status])) AND (r.started_at IS NOT NULL))
                  ORDER BY r.scheduled_for DESC, r.run_id DESC
                 LIMIT 20) d) durations ON (true));

ALTER TABLE syncsched.schedule_overview OWNER TO syncsched_owner;

COMMENT ON VIEW syncsched.schedule_overview IS 'Each integration: schedule, zone, next run (or why the tick stopped evaluating it), last run and its status, last success, consecutive failures, average duration of the last 20 runs, the health of its type''s endpoint, what is paused for it (scheduling, dispatch), and why its pending run waits (held_reason: dispatch paused, circuit open, rate limited by a 429, waiting out a retry backoff or its spread offset, rate budget spent, type at max_concurrency; null when it waits for nothing), and the schedule H resolves to for it (resolved_schedule).';

ALTER TABLE syncsched.scheduler_alerts ALTER COLUMN alert_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME syncsched.scheduler_alerts_alert_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE syncsched.scheduler_ticks (
    tick_id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    started_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    finished_at timestamp with time zone,
    due integer DEFAULT 0 NOT NULL,
    triggered integer DEFAULT 0 NOT NULL,
    skipped_locked integer DEFAULT 0 NOT NULL,
    skipped_running integer DEFAULT 0 NOT NULL,
    skipped_duplicate integer DEFAULT 0 NOT NULL,
    invalid integer DEFAULT 0 NOT NULL,
    remaining integer DEFAULT 0 NOT NULL,
    duration_ms numeric(12,3),
    lateness interval
);

ALTER TABLE syncsched.scheduler_ticks OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.scheduler_ticks IS 'One row per tick batch: what it found and did. A gap in this table means the scheduler was silent.';

COMMENT ON COLUMN syncsched.scheduler_ticks.tick_id IS 'The batch.';

COMMENT ON COLUMN syncsched.scheduler_ticks.at IS 'The instant the tick served (p_now).';

COMMENT ON COLUMN syncsched.scheduler_ticks.started_at IS 'When the batch started (wall clock).';

COMMENT ON COLUMN syncsched.scheduler_ticks.finished_at IS 'When it finished.';

COMMENT ON COLUMN syncsched.scheduler_ticks.due IS 'Due schedules the batch handled.';

COMMENT ON COLUMN syncsched.scheduler_ticks.triggered IS 'Runs it created.';

COMMENT ON COLUMN syncsched.scheduler_ticks.skipped_locked IS 'Due schedules left to another tick or a run_now that held them.';

COMMENT ON COLUMN syncsched.scheduler_ticks.skipped_running IS 'Schedules whose period was skipped while a run of theirs was pending or running.';

COMMENT ON COLUMN syncsched.scheduler_ticks.skipped_duplicate IS 'Periods that already had a run (the idempotency key).';

COMMENT ON COLUMN syncsched.scheduler_ticks.invalid IS 'Schedules it could not evaluate (each with an invalid_schedule alert).';

COMMENT ON COLUMN syncsched.scheduler_ticks.remaining IS 'Due rows left for the next batch when the batch limit was reached.';

COMMENT ON COLUMN syncsched.scheduler_ticks.duration_ms IS 'How long the batch took, in milliseconds.';

COMMENT ON COLUMN syncsched.scheduler_ticks.lateness IS 'started_at minus the start of the minute the tick serves.';

ALTER TABLE syncsched.scheduler_ticks ALTER COLUMN tick_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME syncsched.scheduler_ticks_tick_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE VIEW syncsched.setting_values AS
 SELECT s.key,
    s.type,
        CASE
            WHEN ((s.type = 'url'::text) AND (s.value <> ''::text)) THEN '(set)'::text
            ELSE s.value
        END AS value,
    s.default_value,
    s.min_value,
    s.max_value,
    s.description,
    s.updated_at
   FROM syncsched.settings s;

ALTER TABLE syncsched.setting_values OWNER TO syncsched_owner;

COMMENT ON VIEW syncsched.setting_values IS 'Every setting with its type, default and range, for people and the console: a url value (a webhook) only as (set); the value itself is the admin''s, in syncsched.settings.';

CREATE TABLE syncsched.shard_outbox (
    org_id text NOT NULL,
    entry_id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text DEFAULT SESSION_USER NOT NULL,
    on_behalf_of text,
    action text,
    integration_id text NOT NULL,
    integration_type text,
    detail jsonb,
    resolves_alert text,
    CONSTRAINT shard_outbox_says_something CHECK (((action IS NOT NULL) OR (resolves_alert IS NOT NULL)))
);

ALTER TABLE syncsched.shard_outbox OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.shard_outbox IS 'Distributed mode (Citus): audit entries and alert resolutions of the integrations'' triggers on the shards, until the coordinator''s tick moves them into audit_log and scheduler_alerts (collect_shard_outbox). Empty elsewhere.';

COMMENT ON COLUMN syncsched.shard_outbox.org_id IS 'The integration''s organization (the distribution column).';

COMMENT ON COLUMN syncsched.shard_outbox.entry_id IS 'Order of the entries.';

COMMENT ON COLUMN syncsched.shard_outbox.at IS 'When it was done (the transaction''s time on the shard).';

COMMENT ON COLUMN syncsched.shard_outbox.actor IS 'The role Citus connected to the shard as: the role of the statement on the coordinator.';

COMMENT ON COLUMN syncsched.shard_outbox.on_behalf_of IS 'As audit_log.on_behalf_of (the syncsched.actor setting).';

COMMENT ON COLUMN syncsched.shard_outbox.action IS 'The audit_log action, or NULL: an alert to resolve only.';

COMMENT ON COLUMN syncsched.shard_outbox.integration_id IS 'The integration.';

COMMENT ON COLUMN syncsched.shard_outbox.integration_type IS 'Its type.';

COMMENT ON COLUMN syncsched.shard_outbox.detail IS 'The audit_log detail.';

COMMENT ON COLUMN syncsched.shard_outbox.resolves_alert IS 'The alert_key of an open condition that ended (a schedule made valid again ends invalid_schedule).';

COMMENT ON CONSTRAINT shard_outbox_says_something ON syncsched.shard_outbox IS 'An entry is an audit entry, an alert to resolve, or both.';

ALTER TABLE syncsched.shard_outbox ALTER COLUMN entry_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME syncsched.shard_outbox_entry_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE syncsched.sync_run_attempts_default (
    run_id bigint NOT NULL,
    scheduled_for timestamp with time zone NOT NULL,
    attempt integer NOT NULL,
    outcome text NOT NULL,
    worker_id text,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    http_status integer,
    error text,
    response_excerpt text,
    net_request_id bigint,
    org_id text NOT NULL,
    CONSTRAINT sync_run_attempts_attempt_positive CHECK ((attempt >= 1)),
    CONSTRAINT sync_run_attempts_finished_after_start CHECK ((finished_at >= started_at)),
    CONSTRAINT sync_run_attempts_http_status_range CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT sync_run_attempts_outcome_known CHECK ((outcome = ANY (ARRAY['completed'::text, 'failed'::text, 'lost'::text, 'released'::text])))
);

ALTER TABLE syncsched.sync_run_attempts_default OWNER TO syncsched_owner;

CREATE TABLE syncsched.sync_run_attempts_p_initial (
    run_id bigint NOT NULL,
    scheduled_for timestamp with time zone NOT NULL,
    attempt integer NOT NULL,
    outcome text NOT NULL,
    worker_id text,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    http_status integer,
    error text,
    response_excerpt text,
    net_request_id bigint,
    org_id text NOT NULL,
    CONSTRAINT sync_run_attempts_attempt_positive CHECK ((attempt >= 1)),
    CONSTRAINT sync_run_attempts_finished_after_start CHECK ((finished_at >= started_at)),
    CONSTRAINT sync_run_attempts_http_status_range CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT sync_run_attempts_outcome_known CHECK ((outcome = ANY (ARRAY['completed'::text, 'failed'::text, 'lost'::text, 'released'::text])))
);

ALTER TABLE syncsched.sync_run_attempts_p_initial OWNER TO syncsched_owner;

CREATE TABLE syncsched.sync_run_log_default (
    run_id bigint NOT NULL,
    org_id text NOT NULL,
    integration_id text NOT NULL,
    integration_type text NOT NULL,
    scheduled_for timestamp with time zone NOT NULL,
    idempotency_key text NOT NULL,
    trigger text NOT NULL,
    status syncsched.run_status DEFAULT 'pending'::syncsched.run_status NOT NULL,
    attempt integer DEFAULT 0 NOT NULL,
    max_attempts integer NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    not_before timestamp with time zone DEFAULT now() NOT NULL,
    enqueued_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    heartbeat_at timestamp with time zone,
    worker_id text,
    lease_token uuid,
    lease_expires_at timestamp with time zone,
    drift interval,
    http_status integer,
    error text,
    response_excerpt text,
    net_request_id bigint,
    CONSTRAINT sync_run_log_attempt_range CHECK (((attempt >= 0) AND (attempt <= max_attempts))),
    CONSTRAINT sync_run_log_final_has_finished_at CHECK (((status <> ALL (ARRAY['completed'::syncsched.run_status, 'failed'::syncsched.run_status, 'cancelled'::syncsched.run_status])) OR (finished_at IS NOT NULL))),
    CONSTRAINT sync_run_log_http_status_range CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT sync_run_log_max_attempts_range CHECK (((max_attempts >= 1) AND (max_attempts <= 100))),
    CONSTRAINT sync_run_log_pending_has_attempts_left CHECK (((status <> 'pending'::syncsched.run_status) OR (attempt < max_attempts))),
    CONSTRAINT sync_run_log_running_has_lease CHECK (((status <> 'running'::syncsched.run_status) OR ((lease_token IS NOT NULL) AND (lease_expires_at IS NOT NULL) AND (started_at IS NOT NULL)))),
    CONSTRAINT sync_run_log_trigger_known CHECK ((trigger = ANY (ARRAY['schedule'::text, 'manual'::text, 'catch_up'::text])))
);

ALTER TABLE syncsched.sync_run_log_default OWNER TO syncsched_owner;

CREATE TABLE syncsched.sync_run_log_p_initial (
    run_id bigint NOT NULL,
    org_id text NOT NULL,
    integration_id text NOT NULL,
    integration_type text NOT NULL,
    scheduled_for timestamp with time zone NOT NULL,
    idempotency_key text NOT NULL,
    trigger text NOT NULL,
    status syncsched.run_status DEFAULT 'pending'::syncsched.run_status NOT NULL,
    attempt integer DEFAULT 0 NOT NULL,
    max_attempts integer NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    not_before timestamp with time zone DEFAULT now() NOT NULL,
    enqueued_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    heartbeat_at timestamp with time zone,
    worker_id text,
    lease_token uuid,
    lease_expires_at timestamp with time zone,
    drift interval,
    http_status integer,
    error text,
    response_excerpt text,
    net_request_id bigint,
    CONSTRAINT sync_run_log_attempt_range CHECK (((attempt >= 0) AND (attempt <= max_attempts))),
    CONSTRAINT sync_run_log_final_has_finished_at CHECK (((status <> ALL (ARRAY['completed'::syncsched.run_status, 'failed'::syncsched.run_status, 'cancelled'::syncsched.run_status])) OR (finished_at IS NOT NULL))),
    CONSTRAINT sync_run_log_http_status_range CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT sync_run_log_max_attempts_range CHECK (((max_attempts >= 1) AND (max_attempts <= 100))),
    CONSTRAINT sync_run_log_pending_has_attempts_left CHECK (((status <> 'pending'::syncsched.run_status) OR (attempt < max_attempts))),
    CONSTRAINT sync_run_log_running_has_lease CHECK (((status <> 'running'::syncsched.run_status) OR ((lease_token IS NOT NULL) AND (lease_expires_at IS NOT NULL) AND (started_at IS NOT NULL)))),
    CONSTRAINT sync_run_log_trigger_known CHECK ((trigger = ANY (ARRAY['schedule'::text, 'manual'::text, 'catch_up'::text])))
);

ALTER TABLE syncsched.sync_run_log_p_initial OWNER TO syncsched_owner;

ALTER TABLE syncsched.sync_run_log ALTER COLUMN run_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME syncsched.sync_run_log_run_id_seq1
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE syncsched.web_tokens (
    token_id bigint NOT NULL,
    label text,
    role text NOT NULL,
    org_id text,
    token_hash text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text DEFAULT SESSION_USER NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT web_tokens_label_length CHECK ((length(label) <= 200)),
    CONSTRAINT web_tokens_role_known CHECK ((role = ANY (ARRAY['admin'::text, 'reader'::text, 'tenant'::text]))),
    CONSTRAINT web_tokens_tenant_has_org CHECK (((role = 'tenant'::text) = (org_id IS NOT NULL)))
);

ALTER TABLE syncsched.web_tokens OWNER TO syncsched_owner;

COMMENT ON TABLE syncsched.web_tokens IS 'Access tokens of the web console and HTTP API, each mapped to a role (and a tenant to its organization). Only a SHA-256 hash of each token is kept.';

COMMENT ON COLUMN syncsched.web_tokens.token_id IS 'The token''s number (shown by token list, used by token revoke).';

COMMENT ON COLUMN syncsched.web_tokens.label IS 'What the token is for, for people.';

COMMENT ON COLUMN syncsched.web_tokens.role IS 'admin (everything), reader (read only) or tenant (one organization, under row-level security).';

COMMENT ON COLUMN syncsched.web_tokens.org_id IS 'The organization of a tenant token.';

COMMENT ON COLUMN syncsched.web_tokens.token_hash IS 'SHA-256 of the token, hex: the token itself is shown once and never stored.';

COMMENT ON COLUMN syncsched.web_tokens.created_at IS 'When the token was made.';

COMMENT ON COLUMN syncsched.web_tokens.created_by IS 'The database role that made it.';

COMMENT ON COLUMN syncsched.web_tokens.last_used_at IS 'When the token last opened a session (updated at most once a minute).';

COMMENT ON COLUMN syncsched.web_tokens.revoked_at IS 'When it was revoked: a revoked token opens nothing.';

COMMENT ON CONSTRAINT web_tokens_label_length ON syncsched.web_tokens IS 'Labels of at most 200 characters.';

COMMENT ON CONSTRAINT web_tokens_role_known ON syncsched.web_tokens IS 'The roles a token can map to.';

COMMENT ON CONSTRAINT web_tokens_tenant_has_org ON syncsched.web_tokens IS 'A tenant token names its organization; the others none.';

ALTER TABLE syncsched.web_tokens ALTER COLUMN token_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME syncsched.web_tokens_token_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY syncsched.sync_run_attempts ATTACH PARTITION syncsched.sync_run_attempts_default DEFAULT;

ALTER TABLE ONLY syncsched.sync_run_attempts ATTACH PARTITION syncsched.sync_run_attempts_p_initial FOR VALUES FROM (MINVALUE) TO ('2027-01-01 00:00:00+00');

ALTER TABLE ONLY syncsched.sync_run_log ATTACH PARTITION syncsched.sync_run_log_default DEFAULT;

ALTER TABLE ONLY syncsched.sync_run_log ATTACH PARTITION syncsched.sync_run_log_p_initial FOR VALUES FROM (MINVALUE) TO ('2027-01-01 00:00:00+00');

ALTER TABLE ONLY syncsched.alert_kinds
    ADD CONSTRAINT alert_kinds_pkey PRIMARY KEY (kind);

COMMENT ON CONSTRAINT alert_kinds_pkey ON syncsched.alert_kinds IS 'One row per kind.';

ALTER TABLE ONLY syncsched.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (audit_id);

COMMENT ON CONSTRAINT audit_log_pkey ON syncsched.audit_log IS 'One row per action.';

ALTER TABLE ONLY syncsched.dispatch_state
    ADD CONSTRAINT dispatch_state_pkey PRIMARY KEY (integration_type);

COMMENT ON CONSTRAINT dispatch_state_pkey ON syncsched.dispatch_state IS 'One row per type.';

ALTER TABLE ONLY syncsched.endpoint_health
    ADD CONSTRAINT endpoint_health_pkey PRIMARY KEY (integration_type);

COMMENT ON CONSTRAINT endpoint_health_pkey ON syncsched.endpoint_health IS 'One health row per type.';

ALTER TABLE ONLY syncsched.integration_types
    ADD CONSTRAINT integration_types_pkey PRIMARY KEY (integration_type);

COMMENT ON CONSTRAINT integration_types_pkey ON syncsched.integration_types IS 'One row per type.';

ALTER TABLE ONLY syncsched.net_requests
    ADD CONSTRAINT net_requests_pkey PRIMARY KEY (id);

COMMENT ON CONSTRAINT net_requests_pkey ON syncsched.net_requests IS 'pg_net''s request id.';

ALTER TABLE ONLY syncsched.net_secrets
    ADD CONSTRAINT net_secrets_pkey PRIMARY KEY (name);

COMMENT ON CONSTRAINT net_secrets_pkey ON syncsched.net_secrets IS 'One secret per name.';

ALTER TABLE ONLY syncsched.organization_integrations
    ADD CONSTRAINT organization_integrations_id_key UNIQUE (id, org_id);

COMMENT ON CONSTRAINT organization_integrations_id_key ON syncsched.organization_integrations IS 'The integration''s id, unique by its identity; with org_id for schedule_state''s foreign key (a key on Citus holds the distribution column).';

ALTER TABLE ONLY syncsched.organization_integrations
    ADD CONSTRAINT organization_integrations_pkey PRIMARY KEY (org_id, integration_id);

COMMENT ON CONSTRAINT organization_integrations_pkey ON syncsched.organization_integrations IS 'An integration is known by its organization and name.';

ALTER TABLE ONLY syncsched.run_log_state
    ADD CONSTRAINT run_log_state_pkey PRIMARY KEY (singleton);

COMMENT ON CONSTRAINT run_log_state_pkey ON syncsched.run_log_state IS 'One row.';

ALTER TABLE ONLY syncsched.schedule_state
    ADD CONSTRAINT schedule_state_pkey PRIMARY KEY (id, org_id);

COMMENT ON CONSTRAINT schedule_state_pkey ON syncsched.schedule_state IS 'One state per integration.';

ALTER TABLE ONLY syncsched.scheduler_alerts
    ADD CONSTRAINT scheduler_alerts_pkey PRIMARY KEY (alert_id);

COMMENT ON CONSTRAINT scheduler_alerts_pkey ON syncsched.scheduler_alerts IS 'The alert.';

ALTER TABLE ONLY syncsched.scheduler_ticks
    ADD CONSTRAINT scheduler_ticks_pkey PRIMARY KEY (tick_id);

COMMENT ON CONSTRAINT scheduler_ticks_pkey ON syncsched.scheduler_ticks IS 'The batch.';

ALTER TABLE ONLY syncsched.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);

COMMENT ON CONSTRAINT settings_pkey ON syncsched.settings IS 'One row per setting.';

ALTER TABLE ONLY syncsched.shard_outbox
    ADD CONSTRAINT shard_outbox_pkey PRIMARY KEY (org_id, entry_id);

COMMENT ON CONSTRAINT shard_outbox_pkey ON syncsched.shard_outbox IS 'One row per entry; with org_id, the distribution column (a key on Citus holds it).';

ALTER TABLE ONLY syncsched.sync_run_attempts
    ADD CONSTRAINT sync_run_attempts_pkey PRIMARY KEY (run_id, scheduled_for, attempt, org_id);

COMMENT ON CONSTRAINT sync_run_attempts_pkey ON syncsched.sync_run_attempts IS 'One row per attempt of a run.';

ALTER TABLE ONLY syncsched.sync_run_attempts_default
    ADD CONSTRAINT sync_run_attempts_default_pkey PRIMARY KEY (run_id, scheduled_for, attempt, org_id);

ALTER TABLE ONLY syncsched.sync_run_attempts_p_initial
    ADD CONSTRAINT sync_run_attempts_p_initial_pkey PRIMARY KEY (run_id, scheduled_for, attempt, org_id);

ALTER TABLE ONLY syncsched.sync_run_log
    ADD CONSTRAINT sync_run_log_idempotency_key_key UNIQUE (idempotency_key, scheduled_for, org_id);

COMMENT ON CONSTRAINT sync_run_log_idempotency_key_key ON syncsched.sync_run_log IS 'At most one run per key. A key names its organization and its period (org/integration/<period>, or org/integration/manual/<time> for run_now), computed with scheduled_for from one value: two runs of one key have one scheduled_for and one org_id, so this is UNIQUE (idempotency_key).';

ALTER TABLE ONLY syncsched.sync_run_log_default
    ADD CONSTRAINT sync_run_log_default_idempotency_key_scheduled_for_org_id_key UNIQUE (idempotency_key, scheduled_for, org_id);

ALTER TABLE ONLY syncsched.sync_run_log
    ADD CONSTRAINT sync_run_log_pkey PRIMARY KEY (run_id, scheduled_for, org_id);

COMMENT ON CONSTRAINT sync_run_log_pkey ON syncsched.sync_run_log IS 'The run: run_id alone is unique too (one identity); scheduled_for is here because a partitioned table''s keys must hold its partition key, org_id because a distributed one''s must hold its distribution column.';

ALTER TABLE ONLY syncsched.sync_run_log_default
    ADD CONSTRAINT sync_run_log_default_pkey PRIMARY KEY (run_id, scheduled_for, org_id);

ALTER TABLE ONLY syncsched.sync_run_log_p_initial
    ADD CONSTRAINT sync_run_log_p_initial_idempotency_key_scheduled_for_org_id_key UNIQUE (idempotency_key, scheduled_for, org_id);

ALTER TABLE ONLY syncsched.sync_run_log_p_initial
    ADD CONSTRAINT sync_run_log_p_initial_pkey PRIMARY KEY (run_id, scheduled_for, org_id);

ALTER TABLE ONLY syncsched.web_tokens
    ADD CONSTRAINT web_tokens_pkey PRIMARY KEY (token_id);

COMMENT ON CONSTRAINT web_tokens_pkey ON syncsched.web_tokens IS 'One row per token.';

ALTER TABLE ONLY syncsched.web_tokens
    ADD CONSTRAINT web_tokens_token_hash_key UNIQUE (token_hash);

COMMENT ON CONSTRAINT web_tokens_token_hash_key ON syncsched.web_tokens IS 'A token is found by its hash.';

CREATE INDEX audit_log_at_idx ON syncsched.audit_log USING btree (at);

COMMENT ON INDEX syncsched.audit_log_at_idx IS 'Reading the latest actions.';

CREATE INDEX audit_log_run_idx ON syncsched.audit_log USING btree (run_id) WHERE (run_id IS NOT NULL);

COMMENT ON INDEX syncsched.audit_log_run_idx IS 'The actions on one run.';

CREATE INDEX organization_integrations_integration_prefix_idx ON syncsched.organization_integrations USING btree (integration_id text_pattern_ops);

COMMENT ON INDEX syncsched.organization_integrations_integration_prefix_idx IS 'Searching integrations by a prefix of their integration id (the console, the CLI).';

CREATE INDEX organization_integrations_org_prefix_idx ON syncsched.organization_integrations USING btree (org_id text_pattern_ops);

COMMENT ON INDEX syncsched.organization_integrations_org_prefix_idx IS 'Searching integrations by a prefix of their organization id (the console, the CLI).';

CREATE INDEX organization_integrations_type_idx ON syncsched.organization_integrations USING btree (integration_type);

COMMENT ON INDEX syncsched.organization_integrations_type_idx IS 'The integrations of a type (health checks of types in use, the foreign key from integration_types).';

CREATE INDEX request_ledger_type_at_idx ON syncsched.request_ledger USING btree (integration_type, at);

COMMENT ON INDEX syncsched.request_ledger_type_at_idx IS 'A type''s requests in its window, read and pruned at every claim of the type.';

CREATE INDEX schedule_state_next_run_at_idx ON syncsched.schedule_state USING btree (next_run_at) WHERE (next_run_at IS NOT NULL);

COMMENT ON INDEX syncsched.schedule_state_next_run_at_idx IS 'The tick reads due rows through this index: its cost grows with the number due, not the number configured.';

CREATE INDEX schedule_state_problem_idx ON syncsched.schedule_state USING btree (id) WHERE (problem IS NOT NULL);

COMMENT ON INDEX syncsched.schedule_state_problem_idx IS 'The schedules the tick could not evaluate (the console''s "invalid" filter).';

CREATE INDEX schedule_state_stale_check_at_idx ON syncsched.schedule_state USING btree (stale_check_at) WHERE (stale_check_at IS NOT NULL);

COMMENT ON INDEX syncsched.schedule_state_stale_check_at_idx IS 'The tick reads the integrations due for a staleness look through this index: O(due), never O(all).';

CREATE INDEX scheduler_alerts_at_idx ON syncsched.scheduler_alerts USING btree (at);

COMMENT ON INDEX syncsched.scheduler_alerts_at_idx IS 'Alerts by time: the events of the last day (alerts_open), retention.';

CREATE INDEX scheduler_alerts_delivery_idx ON syncsched.scheduler_alerts USING btree (alert_id) WHERE (delivery = 'pending'::text);

COMMENT ON INDEX syncsched.scheduler_alerts_delivery_idx IS 'Alerts waiting for the webhook.';

CREATE INDEX scheduler_alerts_key_at_idx ON syncsched.scheduler_alerts USING btree (alert_key, at DESC);

COMMENT ON INDEX syncsched.scheduler_alerts_key_at_idx IS 'The alerts of one key, newest first (webhook repeat rule).';

CREATE INDEX scheduler_alerts_open_idx ON syncsched.scheduler_alerts USING btree (alert_key, at DESC, alert_id DESC) WHERE is_open;

COMMENT ON INDEX syncsched.scheduler_alerts_open_idx IS 'Open conditions: alerts_open, resolving, and "is it already open" read this small index, however long the history.';

CREATE INDEX scheduler_ticks_at_idx ON syncsched.scheduler_ticks USING btree (at);

COMMENT ON INDEX syncsched.scheduler_ticks_at_idx IS 'Ticks by the instant they served (retention, the last tick).';

CREATE INDEX sync_run_log_enqueued_at_idx ON ONLY syncsched.sync_run_log USING btree (enqueued_at);

COMMENT ON INDEX syncsched.sync_run_log_enqueued_at_idx IS 'recent_runs: the runs of the last day.';

CREATE INDEX sync_run_log_default_enqueued_at_idx ON syncsched.sync_run_log_default USING btree (enqueued_at);

CREATE INDEX sync_run_log_finished_at_idx ON ONLY syncsched.sync_run_log USING btree (finished_at) WHERE (finished_at IS NOT NULL);

COMMENT ON INDEX syncsched.sync_run_log_finished_at_idx IS 'Retention: finished runs, oldest first.';

CREATE INDEX sync_run_log_default_finished_at_idx ON syncsched.sync_run_log_default USING btree (finished_at) WHERE (finished_at IS NOT NULL);

CREATE INDEX sync_run_log_pending_org_idx ON ONLY syncsched.sync_run_log USING btree (integration_type, org_id, not_before, run_id) WHERE (status = 'pending'::syncsched.run_status);

COMMENT ON INDEX syncsched.sync_run_log_pending_org_idx IS 'Claiming: per type, the organizations with pending runs (a loose scan) and each one''s runs oldest first.';

CREATE INDEX sync_run_log_default_integration_type_org_id_not_before_run_idx ON syncsched.sync_run_log_default USING btree (integration_type, org_id, not_before, run_id) WHERE (status = 'pending'::syncsched.run_status);

CREATE INDEX sync_run_log_running_idx ON ONLY syncsched.sync_run_log USING btree (lease_expires_at) WHERE (status = 'running'::syncsched.run_status);

COMMENT ON INDEX syncsched.sync_run_log_running_idx IS 'Finding running runs and reaping expired leases.';

CREATE INDEX sync_run_log_default_lease_expires_at_idx ON syncsched.sync_run_log_default USING btree (lease_expires_at) WHERE (status = 'running'::syncsched.run_status);

CREATE INDEX sync_run_log_net_request ON ONLY syncsched.sync_run_log USING btree (net_request_id) WHERE (net_request_id IS NOT NULL);

COMMENT ON INDEX syncsched.sync_run_log_net_request IS 'The run a pg_net response belongs to (only runs of pg_net types in flight have a request id).';

CREATE INDEX sync_run_log_default_net_request_id_idx ON syncsched.sync_run_log_default USING btree (net_request_id) WHERE (net_request_id IS NOT NULL);

CREATE INDEX sync_run_log_integration_idx ON ONLY syncsched.sync_run_log USING btree (org_id, integration_id, scheduled_for DESC);

COMMENT ON INDEX syncsched.sync_run_log_integration_idx IS 'The runs of one integration, newest period first (overview, last success, retention''s keep rule).';

CREATE INDEX sync_run_log_default_org_id_integration_id_scheduled_for_idx ON syncsched.sync_run_log_default USING btree (org_id, integration_id, scheduled_for DESC);

CREATE INDEX sync_run_log_live_idx ON ONLY syncsched.sync_run_log USING btree (org_id, integration_id, started_at) WHERE (status = ANY (ARRAY['pending'::syncsched.run_status, 'running'::syncsched.run_status]));

COMMENT ON INDEX syncsched.sync_run_log_live_idx IS 'The tick''s overlap rule: pending or running runs of one integration.';

CREATE INDEX sync_run_log_default_org_id_integration_id_started_at_idx ON syncsched.sync_run_log_default USING btree (org_id, integration_id, started_at) WHERE (status = ANY (ARRAY['pending'::syncsched.run_status, 'running'::syncsched.run_status]));

CREATE INDEX sync_run_log_p_initial_enqueued_at_idx ON syncsched.sync_run_log_p_initial USING btree (enqueued_at);

CREATE INDEX sync_run_log_p_initial_finished_at_idx ON syncsched.sync_run_log_p_initial USING btree (finished_at) WHERE (finished_at IS NOT NULL);

CREATE INDEX sync_run_log_p_initial_integration_type_org_id_not_before_r_idx ON syncsched.sync_run_log_p_initial USING btree (integration_type, org_id, not_before, run_id) WHERE (status = 'pending'::syncsched.run_status);

CREATE INDEX sync_run_log_p_initial_lease_expires_at_idx ON syncsched.sync_run_log_p_initial USING btree (lease_expires_at) WHERE (status = 'running'::syncsched.run_status);

CREATE INDEX sync_run_log_p_initial_net_request_id_idx ON syncsched.sync_run_log_p_initial USING btree (net_request_id) WHERE (net_request_id IS NOT NULL);

CREATE INDEX sync_run_log_p_initial_org_id_integration_id_scheduled_for_idx ON syncsched.sync_run_log_p_initial USING btree (org_id, integration_id, scheduled_for DESC);

CREATE INDEX sync_run_log_p_initial_org_id_integration_id_started_at_idx ON syncsched.sync_run_log_p_initial USING btree (org_id, integration_id, started_at) WHERE (status = ANY (ARRAY['pending'::syncsched.run_status, 'running'::syncsched.run_status]));

ALTER INDEX syncsched.sync_run_attempts_pkey ATTACH PARTITION syncsched.sync_run_attempts_default_pkey;

ALTER INDEX syncsched.sync_run_attempts_pkey ATTACH PARTITION syncsched.sync_run_attempts_p_initial_pkey;

ALTER INDEX syncsched.sync_run_log_enqueued_at_idx ATTACH PARTITION syncsched.sync_run_log_default_enqueued_at_idx;

ALTER INDEX syncsched.sync_run_log_finished_at_idx ATTACH PARTITION syncsched.sync_run_log_default_finished_at_idx;

ALTER INDEX syncsched.sync_run_log_idempotency_key_key ATTACH PARTITION syncsched.sync_run_log_default_idempotency_key_scheduled_for_org_id_key;

ALTER INDEX syncsched.sync_run_log_pending_org_idx ATTACH PARTITION syncsched.sync_run_log_default_integration_type_org_id_not_before_run_idx;

ALTER INDEX syncsched.sync_run_log_running_idx ATTACH PARTITION syncsched.sync_run_log_default_lease_expires_at_idx;

ALTER INDEX syncsched.sync_run_log_net_request ATTACH PARTITION syncsched.sync_run_log_default_net_request_id_idx;

ALTER INDEX syncsched.sync_run_log_integration_idx ATTACH PARTITION syncsched.sync_run_log_default_org_id_integration_id_scheduled_for_idx;

ALTER INDEX syncsched.sync_run_log_live_idx ATTACH PARTITION syncsched.sync_run_log_default_org_id_integration_id_started_at_idx;

ALTER INDEX syncsched.sync_run_log_pkey ATTACH PARTITION syncsched.sync_run_log_default_pkey;

ALTER INDEX syncsched.sync_run_log_enqueued_at_idx ATTACH PARTITION syncsched.sync_run_log_p_initial_enqueued_at_idx;

ALTER INDEX syncsched.sync_run_log_finished_at_idx ATTACH PARTITION syncsched.sync_run_log_p_initial_finished_at_idx;

ALTER INDEX syncsched.sync_run_log_idempotency_key_key ATTACH PARTITION syncsched.sync_run_log_p_initial_idempotency_key_scheduled_for_org_id_key;

ALTER INDEX syncsched.sync_run_log_pending_org_idx ATTACH PARTITION syncsched.sync_run_log_p_initial_integration_type_org_id_not_before_r_idx;

ALTER INDEX syncsched.sync_run_log_running_idx ATTACH PARTITION syncsched.sync_run_log_p_initial_lease_expires_at_idx;

ALTER INDEX syncsched.sync_run_log_net_request ATTACH PARTITION syncsched.sync_run_log_p_initial_net_request_id_idx;

ALTER INDEX syncsched.sync_run_log_integration_idx ATTACH PARTITION syncsched.sync_run_log_p_initial_org_id_integration_id_scheduled_for_idx;

ALTER INDEX syncsched.sync_run_log_live_idx ATTACH PARTITION syncsched.sync_run_log_p_initial_org_id_integration_id_started_at_idx;

ALTER INDEX syncsched.sync_run_log_pkey ATTACH PARTITION syncsched.sync_run_log_p_initial_pkey;

CREATE TRIGGER integration_types_endpoint_changed AFTER UPDATE OF endpoint_url, health_url ON syncsched.integration_types FOR EACH ROW WHEN (((old.endpoint_url IS DISTINCT FROM new.endpoint_url) OR (old.health_url IS DISTINCT FROM new.health_url))) EXECUTE FUNCTION syncsched._integration_type_after_endpoint_change();

COMMENT ON TRIGGER integration_types_endpoint_changed ON syncsched.integration_types IS 'A new endpoint_url or health_url: the old health says nothing about it (health unknown, a check at once).';

CREATE TRIGGER integration_types_health AFTER INSERT ON syncsched.integration_types FOR EACH ROW EXECUTE FUNCTION syncsched._integration_type_after_insert();

COMMENT ON TRIGGER integration_types_health ON syncsched.integration_types IS 'Each new type gets its endpoint_health and dispatch_state rows.';

CREATE TRIGGER integration_types_transport_check BEFORE INSERT OR UPDATE OF transport, endpoint_url, health_url ON syncsched.integration_types FOR EACH ROW EXECUTE FUNCTION syncsched._integration_type_transport_check();

COMMENT ON TRIGGER integration_types_transport_check ON syncsched.integration_types IS 'A pg_net type needs pg_net serving this database and URLs the guard lets through.';

CREATE TRIGGER organization_integrations_audit_delete AFTER DELETE ON syncsched.organization_integrations REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION syncsched._audit_integrations_deleted();

COMMENT ON TRIGGER organization_integrations_audit_delete ON syncsched.organization_integrations IS 'Integrations deleted, in audit_log.';

CREATE TRIGGER organization_integrations_audit_insert AFTER INSERT ON syncsched.organization_integrations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION syncsched._audit_integrations_created();

COMMENT ON TRIGGER organization_integrations_audit_insert ON syncsched.organization_integrations IS 'Integrations created, in audit_log.';

CREATE TRIGGER organization_integrations_audit_update AFTER UPDATE ON syncsched.organization_integrations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION syncsched._audit_integrations_changed();

COMMENT ON TRIGGER organization_integrations_audit_update ON syncsched.organization_integrations IS 'Integrations changed (the fields that changed), in audit_log.';

CREATE TRIGGER organization_integrations_derive AFTER INSERT ON syncsched.organization_integrations FOR EACH ROW EXECUTE FUNCTION syncsched._derive_schedule_state();

COMMENT ON TRIGGER organization_integrations_derive ON syncsched.organization_integrations IS 'A new integration gets its schedule_state.';

CREATE TRIGGER organization_integrations_disable AFTER UPDATE OF is_enabled ON syncsched.organization_integrations FOR EACH ROW WHEN ((old.is_enabled AND (NOT new.is_enabled))) EXECUTE FUNCTION syncsched._integration_after_disable();

COMMENT ON TRIGGER organization_integrations_disable ON syncsched.organization_integrations IS 'Disabling cancels the pending runs.';

CREATE TRIGGER organization_integrations_keep_history BEFORE DELETE ON syncsched.organization_integrations FOR EACH ROW EXECUTE FUNCTION syncsched._integration_before_delete();

COMMENT ON TRIGGER organization_integrations_keep_history ON syncsched.organization_integrations IS 'An integration with runs is not deleted by a plain DELETE: its history would go with it.';

CREATE TRIGGER organization_integrations_rederive AFTER UPDATE ON syncsched.organization_integrations FOR EACH ROW WHEN (((new.cron_schedule IS DISTINCT FROM old.cron_schedule) OR (new.interval_minutes IS DISTINCT FROM old.interval_minutes) OR (new.timezone IS DISTINCT FROM old.timezone) OR (new.is_enabled IS DISTINCT FROM old.is_enabled) OR (new.max_staleness IS DISTINCT FROM old.max_staleness) OR (new.integration_id IS DISTINCT FROM old.integration_id))) EXECUTE FUNCTION syncsched._derive_schedule_state();

COMMENT ON TRIGGER organization_integrations_rederive ON syncsched.organization_integrations IS 'A changed schedule (expression, interval, zone, enabled, max_staleness, or the identity H is resolved with) is derived anew, from now.';

CREATE TRIGGER organization_integrations_schedule BEFORE INSERT OR UPDATE ON syncsched.organization_integrations FOR EACH ROW EXECUTE FUNCTION syncsched._integration_before_write();

COMMENT ON TRIGGER organization_integrations_schedule ON syncsched.organization_integrations IS 'Validates the schedule of every row written.';

CREATE TRIGGER settings_audit AFTER UPDATE ON syncsched.settings REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION syncsched._audit_setting_writes();

COMMENT ON TRIGGER settings_audit ON syncsched.settings IS 'Settings changed, in audit_log.';

CREATE TRIGGER settings_check BEFORE INSERT OR UPDATE ON syncsched.settings FOR EACH ROW EXECUTE FUNCTION syncsched._settings_before_write();

COMMENT ON TRIGGER settings_check ON syncsched.settings IS 'Every value written is checked against the key''s type and range: a bad one is refused, nothing written.';

CREATE TRIGGER sync_run_log_attempts_go AFTER DELETE ON syncsched.sync_run_log REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION syncsched._run_log_after_delete();

COMMENT ON TRIGGER sync_run_log_attempts_go ON syncsched.sync_run_log IS 'Attempts go with their run (what a foreign key with ON DELETE CASCADE did before the log was partitioned).';

ALTER TABLE ONLY syncsched.dispatch_state
    ADD CONSTRAINT dispatch_state_type_fkey FOREIGN KEY (integration_type) REFERENCES syncsched.integration_types(integration_type) ON UPDATE CASCADE ON DELETE CASCADE;

COMMENT ON CONSTRAINT dispatch_state_type_fkey ON syncsched.dispatch_state IS 'It goes with its type.';

ALTER TABLE ONLY syncsched.endpoint_health
    ADD CONSTRAINT endpoint_health_type_fkey FOREIGN KEY (integration_type) REFERENCES syncsched.integration_types(integration_type) ON UPDATE CASCADE ON DELETE CASCADE;

COMMENT ON CONSTRAINT endpoint_health_type_fkey ON syncsched.endpoint_health IS 'Health goes with its type.';

ALTER TABLE ONLY syncsched.organization_integrations
    ADD CONSTRAINT organization_integrations_type_fkey FOREIGN KEY (integration_type) REFERENCES syncsched.integration_types(integration_type) ON UPDATE CASCADE;

COMMENT ON CONSTRAINT organization_integrations_type_fkey ON syncsched.organization_integrations IS 'The type must exist; renaming a type renames it here.';

ALTER TABLE ONLY syncsched.request_ledger
    ADD CONSTRAINT request_ledger_type_fkey FOREIGN KEY (integration_type) REFERENCES syncsched.integration_types(integration_type) ON UPDATE CASCADE ON DELETE CASCADE;

COMMENT ON CONSTRAINT request_ledger_type_fkey ON syncsched.request_ledger IS 'Requests of a known type; they go with it.';

ALTER TABLE ONLY syncsched.schedule_state
    ADD CONSTRAINT schedule_state_integration_fkey FOREIGN KEY (id, org_id) REFERENCES syncsched.organization_integrations(id, org_id) ON DELETE CASCADE;

COMMENT ON CONSTRAINT schedule_state_integration_fkey ON syncsched.schedule_state IS 'The state goes with its integration.';

ALTER TABLE ONLY syncsched.scheduler_alerts
    ADD CONSTRAINT scheduler_alerts_kind_fkey FOREIGN KEY (kind) REFERENCES syncsched.alert_kinds(kind);

COMMENT ON CONSTRAINT scheduler_alerts_kind_fkey ON syncsched.scheduler_alerts IS 'Alerts are of a known kind.';

ALTER TABLE syncsched.organization_integrations ENABLE ROW LEVEL SECURITY;

CREATE POLICY organization_integrations_service ON syncsched.organization_integrations TO syncsched_owner, syncsched_admin, syncsched_reader USING (true) WITH CHECK (true);

CREATE POLICY organization_integrations_tenant ON syncsched.organization_integrations TO syncsched_tenant USING ((org_id = current_setting('syncsched.org_id'::text, true))) WITH CHECK ((org_id = current_setting('syncsched.org_id'::text, true)));

COMMENT ON POLICY organization_integrations_tenant ON syncsched.organization_integrations IS 'A tenant sees, creates, changes and deletes the integrations of its own organization only.';

ALTER TABLE syncsched.schedule_state ENABLE ROW LEVEL SECURITY;

CREATE POLICY schedule_state_service ON syncsched.schedule_state FOR SELECT TO syncsched_owner, syncsched_admin, syncsched_reader USING (true);

CREATE POLICY schedule_state_tenant ON syncsched.schedule_state FOR SELECT TO syncsched_tenant USING ((org_id = current_setting('syncsched.org_id'::text, true)));

COMMENT ON POLICY schedule_state_tenant ON syncsched.schedule_state IS 'A tenant reads the state of its own organization''s integrations only.';

ALTER TABLE syncsched.scheduler_alerts ENABLE ROW LEVEL SECURITY;

CREATE POLICY scheduler_alerts_service ON syncsched.scheduler_alerts TO syncsched_owner, syncsched_admin, syncsched_reader USING (true) WITH CHECK (true);

CREATE POLICY scheduler_alerts_tenant ON syncsched.scheduler_alerts FOR SELECT TO syncsched_tenant USING ((org_id = current_setting('syncsched.org_id'::text, true)));

COMMENT ON POLICY scheduler_alerts_tenant ON syncsched.scheduler_alerts IS 'A tenant reads the alerts about its own organization only.';

ALTER TABLE syncsched.sync_run_attempts ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_run_attempts_service ON syncsched.sync_run_attempts TO syncsched_owner, syncsched_admin, syncsched_reader USING (true) WITH CHECK (true);

CREATE POLICY sync_run_attempts_tenant ON syncsched.sync_run_attempts FOR SELECT TO syncsched_tenant USING ((org_id = current_setting('syncsched.org_id'::text, true)));

COMMENT ON POLICY sync_run_attempts_tenant ON syncsched.sync_run_attempts IS 'A tenant reads the attempts of its own organization''s runs only.';

ALTER TABLE syncsched.sync_run_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY sync_run_log_service ON syncsched.sync_run_log TO syncsched_owner, syncsched_admin, syncsched_reader USING (true) WITH CHECK (true);

CREATE POLICY sync_run_log_tenant ON syncsched.sync_run_log FOR SELECT TO syncsched_tenant USING ((org_id = current_setting('syncsched.org_id'::text, true)));

COMMENT ON POLICY sync_run_log_tenant ON syncsched.sync_run_log IS 'A tenant reads the runs of its own organization only.';

GRANT USAGE ON SCHEMA syncsched TO syncsched_admin;
GRANT USAGE ON SCHEMA syncsched TO syncsched_worker;
GRANT USAGE ON SCHEMA syncsched TO syncsched_reader;
GRANT USAGE ON SCHEMA syncsched TO syncsched_tenant;
GRANT USAGE ON SCHEMA syncsched TO syncsched_web;

GRANT ALL ON TYPE syncsched.cron_spec TO syncsched_admin;
GRANT ALL ON TYPE syncsched.cron_spec TO syncsched_reader;

GRANT ALL ON TYPE syncsched.misfire_policy TO syncsched_admin;
GRANT ALL ON TYPE syncsched.misfire_policy TO syncsched_reader;
GRANT ALL ON TYPE syncsched.misfire_policy TO syncsched_tenant;

GRANT ALL ON TYPE syncsched.run_status TO syncsched_admin;
GRANT ALL ON TYPE syncsched.run_status TO syncsched_reader;
GRANT ALL ON TYPE syncsched.run_status TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched._add_run_log_partition(p_from timestamp with time zone, p_to timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._address_public(p_address inet) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._address_public(p_address inet) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._address_public(p_address inet) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._address_public(p_address inet) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._alert(p_kind text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_at timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._alert_key(p_kind text, p_org_id text, p_integration_id text, p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._alert_key(p_kind text, p_org_id text, p_integration_id text, p_integration_type text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._alert_key(p_kind text, p_org_id text, p_integration_id text, p_integration_type text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._alert_key(p_kind text, p_org_id text, p_integration_id text, p_integration_type text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._alert_open(p_key text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._attempts_left(p_attempt integer, p_max_attempts integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._attempts_left(p_attempt integer, p_max_attempts integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._attempts_left(p_attempt integer, p_max_attempts integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._attempts_left(p_attempt integer, p_max_attempts integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._audit(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_run_id bigint, p_detail jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._audit_integrations_changed() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._audit_integrations_created() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._audit_integrations_deleted() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._audit_on_behalf_of() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._audit_on_behalf_of() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._audit_on_behalf_of() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._audit_on_behalf_of() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._audit_setting_writes() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._backoff(p_attempt integer, p_base interval, p_cap interval, p_retry_after interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._backoff(p_attempt integer, p_base interval, p_cap interval, p_retry_after interval) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._backoff(p_attempt integer, p_base interval, p_cap interval, p_retry_after interval) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._backoff(p_attempt integer, p_base interval, p_cap interval, p_retry_after interval) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._bit_low(p_mask bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._bit_low(p_mask bigint) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._bit_low(p_mask bigint) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._bit_low(p_mask bigint) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._bit_next(p_mask bigint, p_from integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._bit_next(p_mask bigint, p_from integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._bit_next(p_mask bigint, p_from integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._bit_next(p_mask bigint, p_from integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._budget_left(p_type text, p_rate_limit integer, p_window interval) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._check_name(p_value text, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._check_name(p_value text, p_name text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._check_name(p_value text, p_name text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._check_name(p_value text, p_name text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._circuit_open(p_mode text, p_status text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._circuit_open(p_mode text, p_status text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._circuit_open(p_mode text, p_status text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._circuit_open(p_mode text, p_status text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._claim_health_checks(p_worker_id text, p_max integer, p_transport text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._claim_runs(p_worker_id text, p_max integer, p_lease interval, p_transport text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._claim_type(p_type text, p_want integer, p_worker_id text, p_lease interval, p_drift_threshold interval, p_idle interval) FROM PUBLIC;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE syncsched.organization_integrations TO syncsched_admin;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE syncsched.organization_integrations TO syncsched_tenant;
GRANT SELECT ON TABLE syncsched.organization_integrations TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._config_problem(p_row syncsched.organization_integrations) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._config_problem(p_row syncsched.organization_integrations) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._config_problem(p_row syncsched.organization_integrations) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._config_problem(p_row syncsched.organization_integrations) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_after(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_day_fires(p_spec syncsched.cron_spec, p_timezone text, p_day date, p_until timestamp with time zone, OUT fires integer, OUT last timestamp with time zone, OUT before_last timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_day_fires(p_spec syncsched.cron_spec, p_timezone text, p_day date, p_until timestamp with time zone, OUT fires integer, OUT last timestamp with time zone, OUT before_last timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_day_fires(p_spec syncsched.cron_spec, p_timezone text, p_day date, p_until timestamp with time zone, OUT fires integer, OUT last timestamp with time zone, OUT before_last timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_day_fires(p_spec syncsched.cron_spec, p_timezone text, p_day date, p_until timestamp with time zone, OUT fires integer, OUT last timestamp with time zone, OUT before_last timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_fail(p_field integer, p_message text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_fail(p_field integer, p_message text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_fail(p_field integer, p_message text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_fail(p_field integer, p_message text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_field(p_text text, p_field integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_field(p_text text, p_field integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_field(p_text text, p_field integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_field(p_text text, p_field integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_fields(p_expr text, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_fields(p_expr text, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_fields(p_expr text, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_fields(p_expr text, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_fire(p_wall timestamp without time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_fire(p_wall timestamp without time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_fire(p_wall timestamp without time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_fire(p_wall timestamp without time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_fires_between(p_spec syncsched.cron_spec, p_timezone text, p_from timestamp with time zone, p_to timestamp with time zone, OUT fires bigint, OUT last timestamp with time zone, OUT before_last timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_fires_between(p_spec syncsched.cron_spec, p_timezone text, p_from timestamp with time zone, p_to timestamp with time zone, OUT fires bigint, OUT last timestamp with time zone, OUT before_last timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_fires_between(p_spec syncsched.cron_spec, p_timezone text, p_from timestamp with time zone, p_to timestamp with time zone, OUT fires bigint, OUT last timestamp with time zone, OUT before_last timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_fires_between(p_spec syncsched.cron_spec, p_timezone text, p_from timestamp with time zone, p_to timestamp with time zone, OUT fires bigint, OUT last timestamp with time zone, OUT before_last timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_has_h(p_expr text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_has_h(p_expr text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_has_h(p_expr text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_has_h(p_expr text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_hash(p_seed text, p_field integer, p_term integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_hash(p_seed text, p_field integer, p_term integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_hash(p_seed text, p_field integer, p_term integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_hash(p_seed text, p_field integer, p_term integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_min_gap(p_spec syncsched.cron_spec, p_enough integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_next_fixed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text, p_wall timestamp without time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_next_fixed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text, p_wall timestamp without time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_next_fixed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text, p_wall timestamp without time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_next_fixed(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text, p_wall timestamp without time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp without time zone, p_limit integer, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp without time zone, p_limit integer, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp without time zone, p_limit integer, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp without time zone, p_limit integer, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_number(p_text text, p_field integer, p_what text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_number(p_text text, p_field integer, p_what text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_number(p_text text, p_field integer, p_what text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_number(p_text text, p_field integer, p_what text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_parse(p_expr text, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_parse(p_expr text, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_parse(p_expr text, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_parse(p_expr text, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_plain_value(p_text text, p_field integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_plain_value(p_text text, p_field integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_plain_value(p_text text, p_field integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_plain_value(p_text text, p_field integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_spec_text(p_spec syncsched.cron_spec) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_spec_text(p_spec syncsched.cron_spec) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_spec_text(p_spec syncsched.cron_spec) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_spec_text(p_spec syncsched.cron_spec) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_term(p_text text, p_field integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_term(p_text text, p_field integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_term(p_text text, p_field integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_term(p_text text, p_field integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._cron_value(p_text text, p_field integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._cron_value(p_text text, p_field integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._cron_value(p_text text, p_field integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._cron_value(p_text text, p_field integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._derive_schedule_state() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._distributed() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._distributed() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._distributed() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._distributed() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._drop_run_log_partition(p_runs regclass, p_attempts regclass, p_cutoff timestamp with time zone, p_keep_per_integration integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._due_periods(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_next_run_at timestamp with time zone, p_now timestamp with time zone, p_policy syncsched.misfire_policy, p_grace interval, p_catch_up_limit integer, OUT periods timestamp with time zone[], OUT missed bigint, OUT first_missed timestamp with time zone, OUT last_missed timestamp with time zone, OUT next_run_at timestamp with time zone, OUT problem text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._due_periods(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_next_run_at timestamp with time zone, p_now timestamp with time zone, p_policy syncsched.misfire_policy, p_grace interval, p_catch_up_limit integer, OUT periods timestamp with time zone[], OUT missed bigint, OUT first_missed timestamp with time zone, OUT last_missed timestamp with time zone, OUT next_run_at timestamp with time zone, OUT problem text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._due_periods(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_next_run_at timestamp with time zone, p_now timestamp with time zone, p_policy syncsched.misfire_policy, p_grace interval, p_catch_up_limit integer, OUT periods timestamp with time zone[], OUT missed bigint, OUT first_missed timestamp with time zone, OUT last_missed timestamp with time zone, OUT next_run_at timestamp with time zone, OUT problem text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._due_periods(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_next_run_at timestamp with time zone, p_now timestamp with time zone, p_policy syncsched.misfire_policy, p_grace interval, p_catch_up_limit integer, OUT periods timestamp with time zone[], OUT missed bigint, OUT first_missed timestamp with time zone, OUT last_missed timestamp with time zone, OUT next_run_at timestamp with time zone, OUT problem text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._end_attempts(p_run_ids bigint[], p_lease_tokens uuid[], p_outcome text, p_retryable boolean, p_error text, p_http_status integer, p_retry_after interval, p_orgs text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._endpoints(p_integration_types text[], p_timeout_cap interval) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._has_runs(p_org_id text, p_integration_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._has_runs(p_org_id text, p_integration_id text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._has_runs(p_org_id text, p_integration_id text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._has_runs(p_org_id text, p_integration_id text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._health_changed(p_integration_type text, p_from text, p_to text, p_detail jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._health_checked(p_mode text, p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._health_checked(p_mode text, p_integration_type text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._health_checked(p_mode text, p_integration_type text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._health_checked(p_mode text, p_integration_type text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._health_from_runs(p_integration_types text[], p_ok boolean, p_error text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._host_allowed(p_host text, p_setting text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._host_allowed(p_host text, p_setting text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._host_allowed(p_host text, p_setting text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._host_allowed(p_host text, p_setting text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._integration_after_disable() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._integration_audit_detail(p_old jsonb, p_new jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._integration_audit_detail(p_old jsonb, p_new jsonb) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._integration_audit_detail(p_old jsonb, p_new jsonb) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._integration_audit_detail(p_old jsonb, p_new jsonb) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._integration_before_delete() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._integration_before_write() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._integration_id(p_org_id text, p_integration_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._integration_id(p_org_id text, p_integration_id text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._integration_id(p_org_id text, p_integration_id text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._integration_id(p_org_id text, p_integration_id text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._integration_seed(p_org_id text, p_integration_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._integration_seed(p_org_id text, p_integration_id text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._integration_seed(p_org_id text, p_integration_id text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._integration_seed(p_org_id text, p_integration_id text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._integration_type_after_endpoint_change() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._integration_type_after_insert() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._integration_type_transport_check() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._integration_types_hint() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._integration_types_hint() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._integration_types_hint() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._integration_types_hint() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._interval_next(p_minutes integer, p_after timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._interval_next(p_minutes integer, p_after timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._interval_next(p_minutes integer, p_after timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._interval_next(p_minutes integer, p_after timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._iso_timestamp(p_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._iso_timestamp(p_at timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._iso_timestamp(p_at timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._iso_timestamp(p_at timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._label(p_value text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._label(p_value text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._label(p_value text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._label(p_value text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._live_from() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._live_from() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._live_from() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._live_from() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._local_copy(p_table regclass) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._local_copy(p_table regclass) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._local_copy(p_table regclass) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._local_copy(p_table regclass) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._lock_schedule(p_org_id text, p_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._lock_schedule(p_org_id text, p_id bigint) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._lock_schedule(p_org_id text, p_id bigint) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._lock_schedule(p_org_id text, p_id bigint) TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.dispatch_state TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.dispatch_state TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._lock_type_claims(p_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._lock_type_claims(p_type text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._lock_type_claims(p_type text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._lock_type_claims(p_type text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._net_collect() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_dispatch() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_health_answers() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_health_checks() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_outcome(p_run_id bigint, p_lease_token uuid, p_running boolean, p_status_code integer, p_content text, p_headers jsonb, p_timed_out boolean, p_error_msg text, p_timeout_ms integer, p_secret text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_privileges_missing() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._net_privileges_missing() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._net_privileges_missing() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._net_privileges_missing() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._net_problem() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._net_problem() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._net_problem() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._net_problem() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._net_refused(p_error text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._net_refused(p_error text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._net_refused(p_error text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._net_refused(p_error text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._net_responses() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_secret(p_name text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_send(p_integration_type text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_sent(p_id bigint, p_kind text, p_integration_type text, p_run_id bigint, p_scheduled_for timestamp with time zone, p_attempt integer, p_lease interval) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_stalled(p_problem text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_unsent() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_warmup_answers() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._net_warmups() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._next_run_at(p_org_id text, p_integration_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._next_run_at(p_org_id text, p_integration_id text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._next_run_at(p_org_id text, p_integration_id text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._next_run_at(p_org_id text, p_integration_id text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._on_citus_worker() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._on_citus_worker() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._on_citus_worker() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._on_citus_worker() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._org_groups(p_orgs text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._org_groups(p_orgs text[]) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._org_groups(p_orgs text[]) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._org_groups(p_orgs text[]) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._partitions_of(p_parent regclass) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._partitions_of(p_parent regclass) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._partitions_of(p_parent regclass) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._partitions_of(p_parent regclass) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._pending_orgs(p_type text, p_after text, p_upto text, p_count integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._period_key(p_org_id text, p_integration_id text, p_period timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._plan_for_citus() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._plan_for_citus() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._plan_for_citus() TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._plan_for_citus() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._possible_duplicates(p_runs jsonb[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._prune_batch(p_cutoff timestamp with time zone, p_keep_per_integration integer, p_batch_size integer, p_ranges_from timestamp with time zone, p_ranges_to timestamp with time zone, INOUT p_after_finished_at timestamp with time zone, INOUT p_after_run_id bigint, OUT runs integer, OUT ticks integer, OUT alerts integer, OUT more boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._prune_check(p_keep_per_integration integer, p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._prune_check(p_keep_per_integration integer, p_batch_size integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._prune_check(p_keep_per_integration integer, p_batch_size integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._prune_check(p_keep_per_integration integer, p_batch_size integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._raise_alerts(p_kinds text[], p_org_ids text[], p_integration_ids text[], p_integration_types text[], p_details jsonb[], p_at timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._raise_live_from(p_now timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._rate_limited(p_type text, p_retry_after interval, p_run_id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._rate_limited_now(p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._rate_limited_now(p_integration_type text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._rate_limited_now(p_integration_type text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._rate_limited_now(p_integration_type text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._require(p_value anyelement, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._require(p_value anyelement, p_name text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._require(p_value anyelement, p_name text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._require(p_value anyelement, p_name text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._require_held_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_caller text) TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.endpoint_health TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.endpoint_health TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._reset_endpoint_health(p_integration_type text, p_action text, p_detail jsonb, p_health regclass) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._resolve_alerts(p_keys text[], p_at timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._retention_keeps_from(p_org_id text, p_integration_id text, p_keep_per_integration integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._retention_keeps_from(p_org_id text, p_integration_id text, p_keep_per_integration integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._retention_keeps_from(p_org_id text, p_integration_id text, p_keep_per_integration integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._retention_keeps_from(p_org_id text, p_integration_id text, p_keep_per_integration integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._retry_after(p_headers jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._retry_after(p_headers jsonb) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._retry_after(p_headers jsonb) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._retry_after(p_headers jsonb) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._run_groups(p_run_ids bigint[], p_org_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._run_groups(p_run_ids bigint[], p_org_ids text[]) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._run_groups(p_run_ids bigint[], p_org_ids text[]) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._run_groups(p_run_ids bigint[], p_org_ids text[]) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._run_log_after_delete() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._run_orgs(p_run_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._run_orgs(p_run_ids bigint[]) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._run_orgs(p_run_ids bigint[]) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._run_orgs(p_run_ids bigint[]) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._runs_failed(p_run_ids bigint[], p_http_status integer, p_orgs text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._runs_live_from(p_scheduled_for timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._runs_moved(p_what text, p_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._runs_moved(p_what text, p_count integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._runs_moved(p_what text, p_count integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._runs_moved(p_what text, p_count integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._schedule_batch(p_now timestamp with time zone, p_limit integer, p_orgs text[], p_paused_types text[], OUT due integer, OUT attempted integer, OUT triggered integer, OUT oldest_created timestamp with time zone, OUT held integer, OUT invalid integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._schedule_next(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._schedule_next(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._schedule_next(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._schedule_next(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._schedule_next_or_null(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._schedule_next_or_null(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._schedule_next_or_null(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._schedule_next_or_null(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_after timestamp with time zone, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._set_pause(p_what text, p_integration_type text, p_paused boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._setting_expected(p_type text, p_min text, p_max text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._setting_expected(p_type text, p_min text, p_max text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._setting_expected(p_type text, p_min text, p_max text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._setting_expected(p_type text, p_min text, p_max text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._settings_before_write() FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._shard_outbox_add(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_resolves_alert text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._shard_outbox_add(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_resolves_alert text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._shard_outbox_add(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_resolves_alert text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._shard_outbox_add(p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb, p_resolves_alert text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._spend_budget(p_type text, p_requests integer, p_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._spend_budget(p_type text, p_requests integer, p_at timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._spend_budget(p_type text, p_requests integer, p_at timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._spend_budget(p_type text, p_requests integer, p_at timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._spread_offset(p_seed text, p_spread interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._spread_offset(p_seed text, p_spread interval) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._spread_offset(p_seed text, p_spread interval) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._spread_offset(p_seed text, p_spread interval) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._stale_deadline(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval, p_since timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._stale_deadline(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval, p_since timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._stale_deadline(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval, p_since timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._stale_deadline(p_spec syncsched.cron_spec, p_interval_minutes integer, p_timezone text, p_max_staleness interval, p_since timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._stale_write(p_action text, p_run_ids bigint[], p_worker_id text) FROM PUBLIC;

REVOKE ALL ON FUNCTION syncsched._take_budget(p_type text, p_requests integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._take_budget(p_type text, p_requests integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._take_budget(p_type text, p_requests integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._take_budget(p_type text, p_requests integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tick_done(p_result jsonb, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tick_done(p_result jsonb, p_limit integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tick_done(p_result jsonb, p_limit integer) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tick_done(p_result jsonb, p_limit integer) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_canonical(p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_canonical(p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_canonical(p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_canonical(p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_change(p_lo timestamp with time zone, p_hi timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_change(p_lo timestamp with time zone, p_hi timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_change(p_lo timestamp with time zone, p_hi timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_change(p_lo timestamp with time zone, p_hi timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_check(p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_check(p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_check(p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_check(p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_day_is_plain(p_day date, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_day_is_plain(p_day date, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_day_is_plain(p_day date, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_day_is_plain(p_day date, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_fold(p_at timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_fold(p_at timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_fold(p_at timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_fold(p_at timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_name_ok(p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_name_ok(p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_name_ok(p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_name_ok(p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_offset(p_at timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_offset(p_at timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_offset(p_at timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_offset(p_at timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._tz_to_utc(p_wall timestamp without time zone, p_fold integer, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._tz_to_utc(p_wall timestamp without time zone, p_fold integer, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._tz_to_utc(p_wall timestamp without time zone, p_fold integer, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._tz_to_utc(p_wall timestamp without time zone, p_fold integer, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._url_refusal(p_url text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._url_refusal(p_url text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._url_refusal(p_url text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._url_refusal(p_url text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._warmup_counted(p_type text, p_rate_limit integer, p_idle interval) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched._web_token_hash(p_token text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched._web_token_hash(p_token text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched._web_token_hash(p_token text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched._web_token_hash(p_token text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.acknowledge_alert(p_alert_id bigint, p_by text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.acknowledge_alert(p_alert_id bigint, p_by text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.alter_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval, p_reset text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.alter_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval, p_reset text[]) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.alter_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval, p_reset text[]) TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched.cancel_run(p_run_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.cancel_run(p_run_id bigint) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.check_endpoint_now(p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.check_endpoint_now(p_integration_type text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.check_scheduler(p_since timestamp with time zone, p_now timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.check_scheduler(p_since timestamp with time zone, p_now timestamp with time zone) TO syncsched_worker;
GRANT ALL ON FUNCTION syncsched.check_scheduler(p_since timestamp with time zone, p_now timestamp with time zone) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.check_staleness(p_now timestamp with time zone, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.check_staleness(p_now timestamp with time zone, p_limit integer) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.claim_alert_deliveries(p_max integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.claim_alert_deliveries(p_max integer) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.claim_health_checks(p_worker_id text, p_max integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.claim_health_checks(p_worker_id text, p_max integer) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.claim_prewarm(p_within interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.claim_prewarm(p_within interval) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.claim_runs(p_worker_id text, p_max integer, p_lease interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.claim_runs(p_worker_id text, p_max integer, p_lease interval) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.collect_shard_outbox() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.collect_shard_outbox() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.complete_and_claim(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_max integer, p_lease interval, p_org_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.complete_and_claim(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_max integer, p_lease interval, p_org_ids text[]) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.complete_run(p_run_id bigint, p_lease_token uuid, p_http_status integer, p_response_excerpt text, p_worker_id text, p_org_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.complete_run(p_run_id bigint, p_lease_token uuid, p_http_status integer, p_response_excerpt text, p_worker_id text, p_org_id text) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.complete_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_worker_id text, p_org_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.complete_runs(p_run_ids bigint[], p_lease_tokens uuid[], p_http_statuses integer[], p_response_excerpts text[], p_worker_id text, p_org_ids text[]) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.create_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.create_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.create_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_misfire_grace interval, p_max_attempts integer, p_max_staleness interval) TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched.create_web_token(p_role text, p_org_id text, p_label text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.create_web_token(p_role text, p_org_id text, p_label text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.cron_matches(p_expr text, p_at timestamp with time zone, p_tz text, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.cron_matches(p_expr text, p_at timestamp with time zone, p_tz text, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.cron_matches(p_expr text, p_at timestamp with time zone, p_tz text, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.cron_matches(p_expr text, p_at timestamp with time zone, p_tz text, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.cron_next(p_expr text, p_after timestamp with time zone, p_tz text, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.cron_next(p_expr text, p_after timestamp with time zone, p_tz text, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.cron_next(p_expr text, p_after timestamp with time zone, p_tz text, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.cron_next(p_expr text, p_after timestamp with time zone, p_tz text, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamp with time zone, p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.cron_parse(p_expr text, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.cron_parse(p_expr text, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.cron_parse(p_expr text, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.cron_parse(p_expr text, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.cron_resolve(p_expr text, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.cron_resolve(p_expr text, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.cron_resolve(p_expr text, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.cron_resolve(p_expr text, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.cron_validate(p_expr text, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.cron_validate(p_expr text, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.cron_validate(p_expr text, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.cron_validate(p_expr text, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.delete_integration(p_org_id text, p_integration_id text, p_delete_history boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.delete_integration(p_org_id text, p_integration_id text, p_delete_history boolean) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.disable_integration(p_org_id text, p_integration_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.disable_integration(p_org_id text, p_integration_id text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.disable_integration(p_org_id text, p_integration_id text) TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched.due_integrations(p_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.due_integrations(p_at timestamp with time zone) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.enable_integration(p_org_id text, p_integration_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.enable_integration(p_org_id text, p_integration_id text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.enable_integration(p_org_id text, p_integration_id text) TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched.endpoint_states() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.endpoint_states() TO syncsched_worker;
GRANT ALL ON FUNCTION syncsched.endpoint_states() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.ensure_run_log_partitions(p_now timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.ensure_run_log_partitions(p_now timestamp with time zone) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.fail_run(p_run_id bigint, p_lease_token uuid, p_error text, p_http_status integer, p_retryable boolean, p_retry_after interval, p_worker_id text, p_org_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.fail_run(p_run_id bigint, p_lease_token uuid, p_error text, p_http_status integer, p_retryable boolean, p_retry_after interval, p_worker_id text, p_org_id text) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.heartbeat(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_lease interval, p_org_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.heartbeat(p_worker_id text, p_run_ids bigint[], p_lease_tokens uuid[], p_lease interval, p_org_ids text[]) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.install_cron(p_schedule text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.install_cron(p_schedule text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.integration_next_runs(p_org_id text, p_integration_id text, p_count integer, p_after timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.integration_next_runs(p_org_id text, p_integration_id text, p_count integer, p_after timestamp with time zone) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.integration_next_runs(p_org_id text, p_integration_id text, p_count integer, p_after timestamp with time zone) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.integration_next_runs(p_org_id text, p_integration_id text, p_count integer, p_after timestamp with time zone) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.list_web_tokens() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.list_web_tokens() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.net_step() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.net_step() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.next_claim_at() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.next_claim_at() TO syncsched_worker;
GRANT ALL ON FUNCTION syncsched.next_claim_at() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.next_health_check_at() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.next_health_check_at() TO syncsched_worker;
GRANT ALL ON FUNCTION syncsched.next_health_check_at() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.next_runs(p_expr text, p_tz text, p_count integer, p_after timestamp with time zone, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.next_runs(p_expr text, p_tz text, p_count integer, p_after timestamp with time zone, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.next_runs(p_expr text, p_tz text, p_count integer, p_after timestamp with time zone, p_seed text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.next_runs(p_expr text, p_tz text, p_count integer, p_after timestamp with time zone, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.pause_dispatch(p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.pause_dispatch(p_integration_type text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.pause_scheduler() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.pause_scheduler() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.pause_scheduling(p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.pause_scheduling(p_integration_type text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.prune_run_log(p_older_than interval, p_keep_per_integration integer, p_batch_size integer, p_now timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.prune_run_log(p_older_than interval, p_keep_per_integration integer, p_batch_size integer, p_now timestamp with time zone) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.queue_depth() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.queue_depth() TO syncsched_worker;
GRANT ALL ON FUNCTION syncsched.queue_depth() TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.queue_depth() TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.reap_expired_runs(p_now timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.reap_expired_runs(p_now timestamp with time zone) TO syncsched_worker;
GRANT ALL ON FUNCTION syncsched.reap_expired_runs(p_now timestamp with time zone) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.record_alert_delivery(p_alert_id bigint, p_ok boolean, p_error text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.record_alert_delivery(p_alert_id bigint, p_ok boolean, p_error text) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.record_health_check(p_integration_type text, p_ok boolean, p_http_status integer, p_error text, p_duration_ms integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.record_health_check(p_integration_type text, p_ok boolean, p_http_status integer, p_error text, p_duration_ms integer) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.record_warmup(p_integration_type text, p_ok boolean, p_duration_ms integer, p_error text, p_claimed boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.record_warmup(p_integration_type text, p_ok boolean, p_duration_ms integer, p_error text, p_claimed boolean) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.release_run(p_run_id bigint, p_lease_token uuid, p_worker_id text, p_org_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.release_run(p_run_id bigint, p_lease_token uuid, p_worker_id text, p_org_id text) TO syncsched_worker;

REVOKE ALL ON FUNCTION syncsched.reset_setting(p_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.reset_setting(p_key text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.resume_dispatch(p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.resume_dispatch(p_integration_type text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.resume_scheduler() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.resume_scheduler() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.resume_scheduling(p_integration_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.resume_scheduling(p_integration_type text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.retry_delay(p_attempt integer, p_retry_after interval) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.retry_delay(p_attempt integer, p_retry_after interval) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.retry_run(p_run_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.retry_run(p_run_id bigint) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.revoke_web_token(p_token_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.revoke_web_token(p_token_id bigint) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.run_log_partitions() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.run_log_partitions() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.run_now(p_org_id text, p_integration_id text, p_force boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.run_now(p_org_id text, p_integration_id text, p_force boolean) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.run_scheduled_jobs(p_now timestamp with time zone, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.run_scheduled_jobs(p_now timestamp with time zone, p_limit integer) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.schedule_problem(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean, p_seed text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.schedule_problem(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean, p_seed text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.schedule_problem(p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_is_enabled boolean, p_seed text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.set_endpoint_mode(p_integration_type text, p_mode text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.set_endpoint_mode(p_integration_type text, p_mode text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.set_interval(p_org_id text, p_integration_id text, p_minutes integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.set_interval(p_org_id text, p_integration_id text, p_minutes integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.set_interval(p_org_id text, p_integration_id text, p_minutes integer) TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched.set_net_secret(p_name text, p_secret text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.set_net_secret(p_name text, p_secret text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.set_schedule(p_org_id text, p_integration_id text, p_cron_schedule text, p_timezone text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.set_schedule(p_org_id text, p_integration_id text, p_cron_schedule text, p_timezone text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.set_schedule(p_org_id text, p_integration_id text, p_cron_schedule text, p_timezone text) TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched.set_setting(p_key text, p_value text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.set_setting(p_key text, p_value text) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.setting(p_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.setting(p_key text) TO syncsched_admin;

REVOKE ALL ON PROCEDURE syncsched.tick(IN p_now timestamp with time zone) FROM PUBLIC;
GRANT ALL ON PROCEDURE syncsched.tick(IN p_now timestamp with time zone) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.timezone_validate(p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.timezone_validate(p_tz text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.timezone_validate(p_tz text) TO syncsched_tenant;
GRANT ALL ON FUNCTION syncsched.timezone_validate(p_tz text) TO syncsched_reader;

REVOKE ALL ON FUNCTION syncsched.uninstall_cron() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.uninstall_cron() TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.upcoming_runs(p_within interval, p_now timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.upcoming_runs(p_within interval, p_now timestamp with time zone) TO syncsched_admin;

REVOKE ALL ON FUNCTION syncsched.upsert_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_max_attempts integer) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.upsert_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_max_attempts integer) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.upsert_integration(p_org_id text, p_integration_id text, p_integration_type text, p_cron_schedule text, p_interval_minutes integer, p_timezone text, p_payload jsonb, p_is_enabled boolean, p_misfire_policy text, p_max_attempts integer) TO syncsched_tenant;

REVOKE ALL ON FUNCTION syncsched.web_session(p_token_hash text) FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.web_session(p_token_hash text) TO syncsched_admin;
GRANT ALL ON FUNCTION syncsched.web_session(p_token_hash text) TO syncsched_web;

REVOKE ALL ON FUNCTION syncsched.worker_config() FROM PUBLIC;
GRANT ALL ON FUNCTION syncsched.worker_config() TO syncsched_worker;
GRANT ALL ON FUNCTION syncsched.worker_config() TO syncsched_admin;

GRANT SELECT ON TABLE syncsched.alert_kinds TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.alert_kinds TO syncsched_reader;
GRANT SELECT ON TABLE syncsched.alert_kinds TO syncsched_tenant;

GRANT SELECT ON TABLE syncsched.scheduler_alerts TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.scheduler_alerts TO syncsched_tenant;
GRANT SELECT ON TABLE syncsched.scheduler_alerts TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.alerts_open TO syncsched_reader;
GRANT SELECT ON TABLE syncsched.alerts_open TO syncsched_tenant;

GRANT SELECT ON TABLE syncsched.audit_log TO syncsched_admin;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE syncsched.integration_types TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.integration_types TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.settings TO syncsched_admin;

GRANT UPDATE(value) ON TABLE syncsched.settings TO syncsched_admin;

GRANT SELECT ON TABLE syncsched.endpoint_overview TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.sync_run_attempts TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.sync_run_attempts TO syncsched_tenant;
GRANT SELECT ON TABLE syncsched.sync_run_attempts TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.sync_run_log TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.sync_run_log TO syncsched_tenant;
GRANT SELECT ON TABLE syncsched.sync_run_log TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.recent_runs TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.request_ledger TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.request_ledger TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.run_attempts TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.run_log_state TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.run_log_state TO syncsched_reader;
GRANT SELECT ON TABLE syncsched.run_log_state TO syncsched_tenant;

GRANT SELECT ON TABLE syncsched.schedule_state TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.schedule_state TO syncsched_tenant;
GRANT SELECT ON TABLE syncsched.schedule_state TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.schedule_overview TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.scheduler_ticks TO syncsched_admin;
GRANT SELECT ON TABLE syncsched.scheduler_ticks TO syncsched_reader;

GRANT SELECT ON TABLE syncsched.setting_values TO syncsched_reader;
