-- The pg_net transport: runs of integration types whose transport is pg_net are sent by the
-- database itself (net.http_post) and their responses read back from net._http_response, for hosts
-- where no worker process runs. Everything else is the worker's: the same claims (_claim_runs:
-- leases, per-type caps, fairness, circuits, budgets), the same fenced outcome functions
-- (complete_run, fail_run), the same reaper for a response that never comes (net_lease).
-- pg_net queues a request in the transaction and sends it after commit: a step that rolls back
-- sends nothing. Its objects are reached by dynamic SQL: the net schema exists only where pg_net
-- is installed, and the rest of syncsched must not depend on it.

create or replace function syncsched._net_problem()
returns text
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._net_problem() is
'Why this database cannot send through pg_net (not installed here, not preloaded, its worker serving another database, the owner role without the privileges it needs), or null.'; -- noqa: LT05

create or replace function syncsched._net_privileges_missing()
returns text
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._net_privileges_missing() is
'The grants of pg_net''s schema, functions, queue, sequence and response table that syncsched_owner lacks (as one message naming them), or null.'; -- noqa: LT05

create or replace function syncsched._integration_type_transport_check()
returns trigger
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._integration_type_transport_check() is
'Trigger: a type whose transport is pg_net needs pg_net here, serving this database, and URLs the guard lets through; not in Citus'' distributed mode.';

create or replace trigger integration_types_transport_check
before insert or update of transport, endpoint_url, health_url on syncsched.integration_types
for each row execute function syncsched._integration_type_transport_check();
comment on trigger integration_types_transport_check on syncsched.integration_types is
'A pg_net type needs pg_net serving this database and URLs the guard lets through.';

create or replace function syncsched._host_allowed(p_host text, p_setting text)
returns boolean
language sql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select p_host = any(
        select lower(rtrim(btrim(btrim(h), '[]'), '.'))
        from unnest(string_to_array(syncsched.setting(p_setting), ',')) as h
        where btrim(h) <> ''
    )
$$;
comment on function syncsched._host_allowed(text, text) is
'Whether the host (lower case, no brackets, no trailing dot) is in the comma-separated host list of the setting.';

create or replace function syncsched._address_public(p_address inet)
returns boolean
language sql
immutable
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._address_public(inet) is
'Whether the address is globally routable (not loopback, private, link-local, shared, documentation, multicast or reserved).';

create or replace function syncsched._url_refusal(p_url text)
returns text
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._url_refusal(text) is
'Why the URL guard refuses the URL (spaces or control characters; no host; scheme; a host libcurl would read otherwise, or not a plain name or address; a port outside 1-65535; a host given as an address that is not public, unless allowed), or null. Never repeats the URL.'; -- noqa: LT05

create or replace function syncsched.set_net_secret(p_name text, p_secret text)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched.set_net_secret(text, text) is
'Store (or with null, remove) the Authorization value that pg_net types naming p_name in auth_secret_env send, where Supabase Vault is absent. Never returned by any function.'; -- noqa: LT05

create or replace function syncsched._net_secret(p_name text)
returns text
language plpgsql
stable
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._net_secret(text) is
'The Authorization value named p_name: from Supabase Vault (vault.decrypted_secrets) where readable, else from net_secrets.';

create or replace function syncsched._iso_timestamp(p_at timestamptz)
returns text
language sql
immutable
set search_path = pg_catalog, syncsched, pg_temp
as $$
    -- as the worker writes it (Python's isoformat in UTC): microseconds only when there are some
    select to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || case when extract(microseconds from p_at)::bigint % 1000000 <> 0
            then to_char(p_at at time zone 'UTC', '.US') else '' end
        || '+00:00'
$$;
comment on function syncsched._iso_timestamp(timestamptz) is
'The timestamp in ISO 8601 at UTC, as the worker writes it (microseconds only when not zero).';

create or replace function syncsched._retry_after(p_headers jsonb)
returns interval
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._retry_after(jsonb) is
'The Retry-After of response headers (seconds or an HTTP date) as an interval; null when absent or unreadable.';

create or replace function syncsched._net_warmups()
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._net_warmups() is
'Record the warm-ups of pg_net types that answered or timed out (warmup_timeout); their types'' runs go next.';

create or replace function syncsched._net_warmup_answers()
returns table (integration_type text, id bigint, status_code integer, error_msg text, duration_ms integer)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._net_warmup_answers() is
'The warm-ups of pg_net types that answered (pg_net records no response time: duration null), or that waited longer than warmup_timeout (id null).'; -- noqa: LT05

create or replace function syncsched._net_sent(
    p_id bigint, p_kind text, p_integration_type text,
    p_run_id bigint default null, p_scheduled_for timestamptz default null, p_attempt integer default null,
    p_lease interval default null
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._net_sent(bigint, text, text, bigint, timestamptz, integer, interval) is
'Record a request queued through pg_net (a run''s call, of its attempt, leased p_lease from now; a health check; a warm-up): in net_requests, where its response is matched, and on its run or its type''s health.'; -- noqa: LT05

create or replace function syncsched._net_refused(p_error text)
returns text
language sql
immutable
set search_path = pg_catalog, syncsched, pg_temp
as $$
    -- (pg_net quotes the URL, which may carry user:password@ and quotes of its own: all from the
    -- first quote to the last goes)
    select 'pg_net refused the request: ' || left(regexp_replace(p_error, '".*"', '(the URL)'), 500)
$$;
comment on function syncsched._net_refused(text) is
'The error of a request pg_net would not queue (its libcurl refused the URL), without the URL.';

create or replace function syncsched._net_unsent()
returns table (
    run_id bigint, lease_token uuid, org_id text, integration_id text, integration_type text,
    scheduled_for timestamptz, attempt integer, idempotency_key text, payload jsonb, endpoint_url text,
    timeout_ms integer, auth_secret_env text
)
language sql
volatile
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._net_unsent() is
'The runs pg_net claimed and has not sent yet, still leased, except those held behind their type''s warm-up; locked.';

create or replace function syncsched._net_send(p_integration_type text)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._net_send(text) is
'Send the unsent runs of one pg_net type through net.http_post with the worker''s JSON body, Idempotency-Key and Authorization (a refused URL or a missing secret fails the run); returns how many were sent.'; -- noqa: LT05

create or replace function syncsched._net_dispatch()
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._net_dispatch() is
'Claim ready runs of pg_net types (at most net_batch, leased for net_lease; a GET warm-up first for a type idle longer than warmup_after, its runs held until it answers) and send every claimed run not held and still leased, a type at a time, through net.http_post with the worker''s JSON body, Idempotency-Key and Authorization, recording the request (a URL the guard refuses or a missing secret fails the run; a URL pg_net refuses fails the type''s runs of this step); returns how many were sent.'; -- noqa: LT05

create or replace function syncsched._net_outcome(
    p_run_id bigint, p_lease_token uuid, p_running boolean, p_status_code integer, p_content text, p_headers jsonb,
    p_timed_out boolean, p_error_msg text, p_timeout_ms integer, p_secret text
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._net_outcome(bigint, uuid, boolean, integer, text, jsonb, boolean, text, integer, text) is
'Apply one pg_net response to its run with the worker''s rules, through complete_run and fail_run (fenced by the lease token).';

create or replace function syncsched._net_responses()
returns table (
    id bigint, status_code integer, content text, headers jsonb, timed_out boolean, error_msg text, run_id bigint,
    scheduled_for timestamptz, lease_token uuid, attempt integer, running boolean, timeout_ms integer,
    auth_secret_env text
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._net_responses() is
'The pg_net responses to runs'' requests that arrived, each to the attempt net_requests says it is the call of, with what applying them needs (their runs locked).'; -- noqa: LT05

create or replace function syncsched._net_collect()
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._net_collect() is
'Read the responses of runs sent through pg_net and apply each (completed, retried or failed), forgetting them and the requests pg_net has forgotten (pg_net.ttl); returns how many.'; -- noqa: LT05

create or replace function syncsched._net_health_answers()
returns table (
    integration_type text, id bigint, status_code integer, timed_out boolean, error_msg text, duration_ms integer
)
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    return query execute format(
        'select h.integration_type, x.id, x.status_code, x.timed_out, x.error_msg, null::integer
         from syncsched.endpoint_health as h
         join syncsched.net_requests as n on n.id = h.net_request_id and n.kind = ''health''
             and n.integration_type = h.integration_type
         join %I._http_response as x on x.id = n.id', 'net');
end
$$;
comment on function syncsched._net_health_answers() is
'The pg_net responses to the health checks of pg_net types that arrived (pg_net records no response time: duration null).';

create or replace function syncsched._net_health_checks()
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
$$;
comment on function syncsched._net_health_checks() is
'Record the answers to the health checks of pg_net types sent before, then send (GET) those due now.';

create or replace function syncsched._net_stalled(p_problem text)
returns void
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._net_stalled(text) is
'Raise pg_net_stalled (or resolve it) as pg_net cannot send for this database (p_problem: _net_problem()) or its queue does not move, or does again.'; -- noqa: LT05

create or replace function syncsched.net_step()
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched.net_step() is
'The pg_net transport''s step: check_scheduler, raise or resolve pg_net_stalled, apply the responses that arrived (runs, warm-ups), send the health checks due, claim and send the ready runs of pg_net types. Called by the tick and, where pg_cron has sub-minute schedules, by the syncsched_net job. Requests leave when the transaction commits.'; -- noqa: LT05
