"""All SQL text of the Python side. Runtime paths call syncsched.* functions only;
the administration statements below are for migrate, the embedded cluster and tests."""

# --- administration ---------------------------------------------------------

# Namespace of syncsched's session-level advisory locks (two-int form), and the keys in it.
LOCK_NAMESPACE = 0x53594E43  # 'SYNC'
MIGRATE_LOCK = (LOCK_NAMESPACE, 1)

ADVISORY_LOCK = "select pg_advisory_lock(%s, %s)"
ADVISORY_UNLOCK = "select pg_advisory_unlock(%s, %s)"

SERVER_VERSION = "select current_setting('server_version_num')::int"

EXTENSION_AVAILABLE = "select exists (select from pg_available_extensions where name = %s)"
EXTENSION_INSTALLED = "select exists (select from pg_extension where extname = %s)"

PRELOADED_LIBRARIES = "select current_setting('shared_preload_libraries')"
IN_RECOVERY = "select pg_is_in_recovery()"

CRON_DATABASE_NAME = "select current_setting('cron.database_name', true)"

CURRENT_DATABASE = "select current_database()"

DATABASE_EXISTS = "select exists (select from pg_database where datname = %s)"

SCHEMA_EXISTS = "select exists (select from pg_namespace where nspname = 'syncsched')"

SET_OWNER_ROLE = "set local role syncsched_owner"

# --- Citus (docs/citus.md) ---

# Distributed mode: syncsched's per-tenant tables are distributed by org_id.
SYNCSCHED_DISTRIBUTED = (
    "select exists (select from pg_catalog.pg_class where relname = 'pg_dist_partition'"
    " and relnamespace = 'pg_catalog'::regnamespace)"
    " and exists (select from pg_dist_partition where logicalrelid = to_regclass('syncsched.schedule_state'))"
)

CITUS_WORKERS = "select count(*) from pg_dist_node where noderole = 'primary' and groupid <> 0"

# Citus opens its connections to the nodes (workers, and the coordinator itself at times) as the role
# of the statement: the owner of syncsched's code (SECURITY DEFINER), and the roles of the console's
# and the operators' sessions. They may log in (on every node: Citus propagates it); pg_hba.conf and
# pg_dist_authinfo say from where and how (docs/citus.md).
CITUS_ROLES_LOG_IN = """
do $login$
declare
    v_role text;
begin
    for v_role in
        select r.rolname from pg_roles as r
        where r.rolname in ('syncsched_owner', 'syncsched_admin', 'syncsched_reader', 'syncsched_tenant',
            'syncsched_worker', 'syncsched_web') and not r.rolcanlogin
    loop
        execute format('alter role %I login', v_role);
    end loop;
end
$login$
"""

# The per-tenant tables distributed by org_id and colocated, the shared ones as reference tables.
CITUS_DISTRIBUTE = [
    # the integrations' foreign key to the types comes after: were the types a reference table
    # first, Citus would turn every table of that foreign-key graph into a local one of its own
    "alter table syncsched.organization_integrations drop constraint organization_integrations_type_fkey",
    "select create_distributed_table('syncsched.organization_integrations', 'org_id')",
    *(
        f"select create_distributed_table('syncsched.{table}', 'org_id',"
        " colocate_with => 'syncsched.organization_integrations')"
        for table in ("schedule_state", "sync_run_log", "sync_run_attempts", "shard_outbox")
    ),
    # (its insert trigger, which writes endpoint_health, would fire on the workers' copies)
    "alter table syncsched.integration_types disable trigger integration_types_health",
    *(
        f"select create_reference_table('syncsched.{table}')"
        for table in ("integration_types", "endpoint_health", "dispatch_state", "request_ledger", "settings")
    ),
    "alter table syncsched.integration_types enable trigger integration_types_health",
    "alter table syncsched.organization_integrations add constraint organization_integrations_type_fkey"
    " foreign key (integration_type) references syncsched.integration_types (integration_type) on update cascade",
]
# (the foreign key's comment, read before it is dropped, written again once it is back)
TYPE_FKEY_COMMENT = (
    "select obj_description(c.oid, 'pg_constraint') from pg_constraint as c"
    " where c.conname = 'organization_integrations_type_fkey'"
    " and c.conrelid = 'syncsched.organization_integrations'::regclass"
)
COMMENT_TYPE_FKEY = (
    "select format('comment on constraint organization_integrations_type_fkey"
    " on syncsched.organization_integrations is %%L', %s::text)"
)

# Functions, procedures and views are not versioned by yoyo: rollback-all drops them
# before the migrations' own rollbacks run.
DROP_CODE = """
do $drop$
declare
    v_obj record;
begin
    for v_obj in
        select format('drop view if exists %s cascade', c.oid::regclass) as stmt
        from pg_class c
        where c.relnamespace = 'syncsched'::regnamespace and c.relkind in ('v', 'm')
        union all
        select format('drop routine if exists %s cascade', p.oid::regprocedure)
        from pg_proc p
        where p.pronamespace = 'syncsched'::regnamespace
    loop
        execute v_obj.stmt;
    end loop;
end
$drop$
"""

CREATE_EXTENSION = "create extension if not exists {name}"

SYNCSCHED_FUNCTIONS = """
select p.oid::regprocedure::text as signature, p.prokind
from pg_proc p
join pg_language l on l.oid = p.prolang
where p.pronamespace = 'syncsched'::regnamespace and l.lanname = 'plpgsql'
  and p.prorettype <> 'trigger'::regtype
order by 1
"""

SYNCSCHED_TRIGGERS = """
select t.tgfoid::regprocedure::text as signature, t.tgrelid::regclass::text as relation,
  t.tgoldtable as old_table, t.tgnewtable as new_table
from pg_trigger t
join pg_proc p on p.oid = t.tgfoid
where p.pronamespace = 'syncsched'::regnamespace and not t.tgisinternal
order by 1
"""

PLPGSQL_CHECK_FUNCTION = """
select * from plpgsql_check_function_tb(%s::regprocedure, %s::regclass, oldtable => %s, newtable => %s)
"""

PLPGSQL_CHECK_ROUTINE = "select * from plpgsql_check_function_tb(%s::regprocedure)"

# --- the worker: calls of the run functions only --------------------------------------

RUNS_CHANNEL = "syncsched_runs"

# runs claimed, completed, failed or put back for a retry ({"what", "runs"}): for live views, not workers
RUN_EVENTS_CHANNEL = "syncsched_run_events"

# The worker's round trip: completions written and the next runs claimed in one transaction. A
# completion comes back as (applied, run_id); a claimed run with applied null and claim_runs' columns.
COMPLETE_AND_CLAIM = "select * from syncsched.complete_and_claim(%s, %s, %s, %s, %s, %s, %s, %s)"

# After a claim that came back short: seconds until time alone releases a run (NULL: nothing waits on time).
NEXT_CLAIM_IN = "select extract(epoch from syncsched.next_claim_at() - clock_timestamp())::float8 as seconds"

# Leases are reaped on the workers' cadence (and the tick's), not in every claim.
REAP_EXPIRED_RUNS = "select syncsched.reap_expired_runs() as reaped"

HEARTBEAT = "select run_id, applied from syncsched.heartbeat(%s, %s, %s, %s, %s)"

FAIL_RUN = "select syncsched.fail_run(%s, %s, %s, %s, %s, %s, %s, %s) as applied"

RELEASE_RUN = "select syncsched.release_run(%s, %s, %s, %s) as applied"

# What a worker calls (WORKER_PREFLIGHT checks them all before it starts).
WORKER_FUNCTIONS = (
    "complete_and_claim",
    "reap_expired_runs",
    "heartbeat",
    "fail_run",
    "release_run",
    "worker_config",
    "queue_depth",
    "next_claim_at",
    "endpoint_states",
    "claim_health_checks",
    "next_health_check_at",
    "record_health_check",
    "record_warmup",
    "claim_prewarm",
    "check_scheduler",
    "claim_alert_deliveries",
    "record_alert_delivery",
)

# Before a worker starts: is syncsched installed, and may this role call what a worker calls
# (the catalog answers any role)? missing: not in the schema (not migrated, or an older schema);
# denied: there, but this role lacks EXECUTE.
WORKER_PREFLIGHT = """
with wanted as (
    select
        w.name,
        exists (
            select from pg_catalog.pg_proc as p
            where p.pronamespace = to_regnamespace('syncsched') and p.proname = w.name
        ) as present,
        exists (
            select from pg_catalog.pg_proc as p
            where p.pronamespace = to_regnamespace('syncsched') and p.proname = w.name
                and has_function_privilege(p.oid, 'execute')
        ) as executable
    from unnest(%s::text []) as w (name)
)
select
    current_user::text as role,
    to_regnamespace('syncsched') is not null as migrated,
    coalesce(has_schema_privilege(to_regnamespace('syncsched')::oid, 'usage'), false) as schema_usage,
    coalesce(array_agg(wanted.name order by wanted.name) filter (where not wanted.present), '{}') as missing,
    coalesce(
        array_agg(wanted.name order by wanted.name) filter (where wanted.present and not wanted.executable), '{}'
    ) as denied
from wanted
"""

# The per-type gauges of /metrics, read at each scrape: one statement, so one snapshot.
WORKER_GAUGES = """
select q.integration_type, q.pending, q.running, q.held, q.dispatch_paused,
    e.status, e.mode, e.consecutive_failures, e.circuit_open, e.rate_limited, e.scheduling_paused, e.rate_limit,
    e.requests_in_window
from syncsched.queue_depth() as q
join syncsched.endpoint_states() as e on q.integration_type = e.integration_type
"""

# --- the worker: health, warm-up, alerts ------------------------------------------------

ALERTS_CHANNEL = "syncsched_alerts"

WORKER_CONFIG = "select syncsched.worker_config() as config"

CLAIM_HEALTH_CHECKS = (
    "select integration_type, url, method, timeout_ms, connect_timeout_ms from syncsched.claim_health_checks(%s, %s)"
)

NEXT_HEALTH_CHECK_AT = "select syncsched.next_health_check_at() as at"

RECORD_HEALTH_CHECK = "select syncsched.record_health_check(%s, %s, %s, %s, %s) as status"

RECORD_WARMUP = "select syncsched.record_warmup(%s, %s, %s, %s, %s) as cold"

CLAIM_PREWARM = "select integration_type, url, method, timeout_ms, connect_timeout_ms from syncsched.claim_prewarm()"

# check_scheduler, and the seconds since the last tick by the database's clock (since the
# watch began when there was none yet)
CHECK_SCHEDULER_AGE = """
select r as result,
    extract(epoch from now() - coalesce((r ->> 'last_tick_at')::timestamptz, %(since)s))::float8 as tick_age
from syncsched.check_scheduler(%(since)s) as r
"""

CLAIM_ALERT_DELIVERIES = (
    "select alert_id, kind, severity, alert_key, org_id, integration_id, integration_type, detail, at, webhook_url"
    " from syncsched.claim_alert_deliveries(%s)"
)

RECORD_ALERT_DELIVERY = "select syncsched.record_alert_delivery(%s, %s, %s)"

# --- the command line ------------------------------------------------------------------

# Before every database command: who the login is, whether syncsched is installed and usable by it.
CLI_PREFLIGHT = """
select current_user::text as role_name,
    coalesce((select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user), false) as superuser,
    array(
        select r.rolname::text from pg_catalog.pg_roles as r
        where r.rolname ~ '^syncsched_(owner|admin|worker|reader|tenant|web)$' and r.rolname <> current_user
            and pg_catalog.pg_has_role(current_user, r.oid, 'member')
        order by 1
    ) as memberships,
    pg_catalog.to_regnamespace('syncsched') is not null as installed,
    -- (a NOINHERIT member, such as the console's login, uses the schema once it sets its role)
    case when pg_catalog.to_regnamespace('syncsched') is not null
        then pg_catalog.has_schema_privilege('syncsched', 'usage') or exists (
            select from pg_catalog.pg_roles as r
            where r.rolname ~ '^syncsched_' and pg_catalog.pg_has_role(current_user, r.oid, 'member')
                and pg_catalog.has_schema_privilege(r.oid, 'syncsched', 'usage')
        ) end as usable
"""

TICK = "call syncsched.tick()"

LAST_TICK = (
    "select due, triggered, skipped_running, invalid from syncsched.scheduler_ticks order by tick_id desc limit 1"
)

# cron: an --after without an offset is read in the zone of --tz (the session's TimeZone)
CLI_SET_TIMEZONE = "select set_config('TimeZone', %s, false)"

CRON_VALIDATE = """
select syncsched.cron_validate(%(expr)s, %(seed)s) as problem, syncsched.timezone_validate(%(tz)s) as zone_problem,
    pg_catalog.has_function_privilege('syncsched.schedule_problem(text, integer, text, boolean, text)', 'execute')
        as can_check_gap,
    case when %(seed)s::text is not null and syncsched.cron_validate(%(expr)s, %(seed)s) is null
        then syncsched.cron_resolve(%(expr)s, %(seed)s) end as resolved,
    syncsched._cron_has_h(%(expr)s) as has_h
"""

# what an integration with this schedule would be refused for (its gap below min_schedule_interval)
CRON_SCHEDULE_PROBLEM = "select syncsched.schedule_problem(%(expr)s, null, %(tz)s, true, %(seed)s) as problem"

NEXT_RUNS = """
select r as at
from syncsched.next_runs(%(expr)s, %(tz)s, %(count)s, coalesce(%(after)s::timestamptz, now()), %(seed)s) as r
"""

STATUS_OVERVIEW = """
select org_id, integration_id, integration_type, schedule, timezone, is_enabled, next_run_at, last_status,
    last_success_at, consecutive_failures
from syncsched.schedule_overview
order by org_id, integration_id
limit %s
"""

STATUS_RECENT_RUNS = """
select run_id, org_id, integration_id, trigger, status, scheduled_for, started_at, finished_at, attempt, http_status,
    error
from syncsched.recent_runs
order by run_id desc
limit %s
"""

_STATUS_ALERTS_WHERE = "where resolved_at is null and at > now() - interval '24 hours'"

STATUS_ALERTS = f"""
select at, kind, alert_key, detail
from syncsched.scheduler_alerts
{_STATUS_ALERTS_WHERE}
order by at desc
limit %s
"""

STATUS_ENDPOINTS = """
select integration_type, status, mode, consecutive_failures, last_check_at, last_error
from syncsched.endpoint_health
order by integration_type
"""

# how many rows each table of `status` has, to say how many it left out
STATUS_TOTALS = f"""
select (select count(*) from syncsched.organization_integrations)::bigint as schedules,
    (select count(*) from syncsched.recent_runs)::bigint as recent_runs,
    (select count(*) from syncsched.scheduler_alerts {_STATUS_ALERTS_WHERE})::bigint as open_alerts
"""

# `syncsched integrations list`: the overview, filtered; the count reads the integrations alone unless
# the filter is on the last run's status (which only the overview knows).
_INTEGRATION_FILTERS = """
    (%(org)s::text is null or o.org_id = %(org)s)
    and (%(type)s::text is null or o.integration_type = %(type)s)
    and (%(enabled)s::boolean is null or o.is_enabled = %(enabled)s)
"""

_LAST_STATUS_FILTER = "(%(status)s::text is null or coalesce(o.last_status::text, 'never') = %(status)s)"

INTEGRATIONS_LIST = f"""
select o.org_id, o.integration_id, o.integration_type, o.schedule, o.timezone, o.is_enabled, o.next_run_at,
    o.last_status::text as last_status, o.consecutive_failures, o.schedule_problem, o.held_reason, o.paused
from syncsched.schedule_overview as o
where {_INTEGRATION_FILTERS} and {_LAST_STATUS_FILTER}
order by o.org_id, o.integration_id
limit %(limit)s offset %(offset)s
"""

INTEGRATIONS_COUNT = f"""
select count(*)::bigint as n from syncsched.organization_integrations as o where {_INTEGRATION_FILTERS}
"""

INTEGRATIONS_COUNT_BY_STATUS = f"""
select count(*)::bigint as n from syncsched.schedule_overview as o
where {_INTEGRATION_FILTERS} and {_LAST_STATUS_FILTER}
"""

# `show`: its configuration (the console's WEB_INTEGRATION), what the overview says of it, its next fire
# times (WEB_NEXT_RUNS) and its last runs (INTEGRATION_RUNS)
INTEGRATION_OVERVIEW = """
select o.last_status::text as last_status, o.last_finished_at, o.last_success_at, o.consecutive_failures,
    o.avg_duration_last_20, o.endpoint_status, o.endpoint_mode, o.paused, o.held_reason
from syncsched.schedule_overview as o
where o.org_id = %s and o.integration_id = %s
"""

# `history` and `show`: an integration's runs, newest period first (its index), and their attempts
INTEGRATION_RUNS = """
select r.run_id, r.trigger, r.status::text as status, r.scheduled_for, r.enqueued_at, r.started_at, r.finished_at,
    r.attempt, r.max_attempts, r.worker_id, r.http_status, r.error
from syncsched.sync_run_log as r
where r.org_id = %(org)s and r.integration_id = %(integration)s
    and (%(status)s::text is null or r.status = %(status)s::syncsched.run_status)
    and r.enqueued_at >= coalesce(%(since)s::timestamptz, now() - make_interval(secs => %(since_seconds)s),
        '-infinity')
order by r.scheduled_for desc, r.run_id desc
limit %(limit)s
"""

RUN_ATTEMPTS = """
select a.run_id, a.attempt, a.outcome, a.worker_id, a.started_at, a.finished_at, a.duration, a.http_status, a.error
from syncsched.run_attempts as a
where a.run_id = any(%s)
order by a.run_id, a.attempt
"""

# --- the demo: seeding and the live view ----------------------------------------------------

SET_SETTING = "select syncsched.set_setting(%s, %s)"

POINT_TYPES_AT = (
    "update syncsched.integration_types set endpoint_url = %s || '/' || integration_type, health_url = null,"
    " health_check_interval = %s"
)

UPSERT_INTEGRATION = """
select syncsched.upsert_integration(
    p_org_id => %s, p_integration_id => %s, p_integration_type => %s, p_cron_schedule => %s,
    p_interval_minutes => %s, p_timezone => %s, p_payload => %s)
"""

INSTALL_CRON = "select syncsched.install_cron(%s) as jobs"

UNINSTALL_CRON = "select syncsched.uninstall_cron() as removed"

CRON_JOBS = """
select jobid, jobname, schedule, command, database, username from cron.job where jobid = any(%s) order by jobname
"""

# The live view counts what happened since the demo started (%(since)s): a reused data folder keeps
# the history of earlier demos, which `syncsched status` shows.
DEMO_COUNTS = """
select (select count(*) from syncsched.scheduler_ticks where started_at >= %(since)s)::int as ticks,
    (select max(started_at) from syncsched.scheduler_ticks where started_at >= %(since)s) as last_tick,
    (select min(finished_at) from syncsched.sync_run_log where status = 'completed' and enqueued_at >= %(since)s)
        as first_completed,
    (select count(*) from syncsched.sync_run_attempts as a join syncsched.sync_run_log as r on r.run_id = a.run_id
        where r.enqueued_at >= %(since)s and a.outcome <> 'completed'
            and (a.attempt < r.attempt or r.status = 'pending'))::int as retries,
    (select count(*) from syncsched.sync_run_attempts as a join syncsched.sync_run_log as r on r.run_id = a.run_id
        where r.enqueued_at >= %(since)s and a.http_status = 429)::int as rate_limited,
    (select count(*) from syncsched.scheduler_alerts where kind = 'cold_start' and at >= %(since)s)::int
        as cold_starts,
    (select count(*) from syncsched.alerts_open where at >= %(since)s)::int as open_alerts
"""

DEMO_RUNS_BY_TYPE = """
select integration_type, status::text as status, count(*)::int as n
from syncsched.sync_run_log
where enqueued_at >= %s
group by 1, 2
"""

DEMO_NEXT_RUNS = """
select o.org_id || '/' || o.integration_id as integration, o.integration_type,
    coalesce(o.cron_schedule, 'every ' || o.interval_minutes || ' min') as schedule, o.timezone, s.next_run_at
from syncsched.schedule_state as s
join syncsched.organization_integrations as o on o.org_id = s.org_id and o.id = s.id
where s.next_run_at is not null
order by s.next_run_at, s.id
limit %s
"""

# The faults of the demo, newest first: every attempt that did not complete (from the attempts
# history: a retry that succeeded does not erase it) with what came after it, and the cold starts.
# The newest fault of each kind first (a busy minute of 500s must not push the one cold start out),
# then the newest of the rest.
DEMO_FAULTS = """
select f.at, f.fault, f.about, f.attempt, f.max_attempts, f.error, f.next_started_at, f.next_outcome, f.run_status,
    f.not_before, f.duration_ms
from (
    select a.finished_at as at, coalesce('HTTP ' || a.http_status, a.outcome) as fault,
        r.org_id || '/' || r.integration_id as about, a.attempt, r.max_attempts, a.error,
        n.started_at as next_started_at, n.outcome as next_outcome, r.status::text as run_status, r.not_before,
        null::integer as duration_ms
    from syncsched.sync_run_attempts as a
    join syncsched.sync_run_log as r on r.run_id = a.run_id
    left join syncsched.run_attempts as n on n.run_id = a.run_id and n.attempt = a.attempt + 1
    where r.enqueued_at >= %(since)s and a.outcome <> 'completed'
    union all
    select al.at, 'cold start', al.integration_type, null, null, al.detail ->> 'error', null, null, null, null,
        (al.detail ->> 'duration_ms')::integer
    from syncsched.scheduler_alerts as al
    where al.kind = 'cold_start' and al.at >= %(since)s
) as f
order by row_number() over (partition by f.fault order by f.at desc) = 1 desc, f.at desc
limit %(limit)s
"""

# Enabled integrations of demo organizations (org001, org002, ...): those beyond --orgs are disabled.
DEMO_ORGANIZATIONS = """
select org_id, integration_id
from syncsched.organization_integrations
where is_enabled and org_id ~ '^org[0-9]+$'
"""

DEMO_DRIFT = """
select r.integration_type, count(*)::int as runs,
    round(avg(extract(epoch from r.drift))::numeric, 1) as avg_s,
    round(max(extract(epoch from r.drift))::numeric, 1) as max_s
from syncsched.sync_run_log as r
where r.started_at >= %s and r.drift is not null
group by 1
order by 1
"""

DEMO_ALERTS = """
select a.at, a.kind, a.alert_key
from syncsched.alerts_open as a
where a.at >= %s
order by a.at desc
limit %s
"""

DEMO_HEALTH = """
select integration_type, status, mode, consecutive_failures, last_check_at, last_used_at, last_error
from syncsched.endpoint_health
order by integration_type
"""

# --- the web console and HTTP API: read under the role of the session ------------------------
# Every statement below runs in a transaction that SET LOCAL ROLE'd to the session's role
# (syncsched_admin, syncsched_reader, or syncsched_tenant with syncsched.org_id): the database
# decides what each role sees (grants, row-level security), the console only maps tokens to roles.

# Custom plans always: the console's filters are optional ("%(org)s is null or o.org_id = %(org)s"),
# and only a plan for the values given uses the index a filter needs. Prepared (psycopg prepares a
# statement run five times on a connection), PostgreSQL would soon pick one generic plan for any
# values: a search of 10^6 integrations then read the table, 140 ms instead of 2.
# No parallel plans and no JIT for the console's small reads: under row-level security the planner
# cannot use the statistics of a non-leakproof operator such as enum equality and guesses half the
# run log for status = 'pending' or 'running'. At 10^6 runs it started parallel workers to read the
# handful of rows of a partial index (the overview: 3.7 times its time at 10^4); from 3 to 5 million
# runs the guessed costs pass jit_above_cost and each overview would compile its plans (28-36 ms per
# query, measured at 10^6 with the threshold lowered) to read nothing.
# The organization and the actor by SET LOCAL, not set_config: on Citus only a SET statement reaches
# the shards (citus.propagate_set_commands), where row-level security reads syncsched.org_id; set
# by set_config, a tenant saw none of its rows there. (Literals composed by db.session_role: SET
# takes no parameters. On plain PostgreSQL the citus setting is a placeholder and does nothing.)
# Two round trips: Citus sends the text of the query a SET came in to the nodes, and a role set in the
# same text reached the connections it opens as syncsched_owner for SECURITY DEFINER functions there
# ('permission denied to set role "syncsched_admin"', the console's endpoints page).
SET_SESSION_SETTINGS = (
    "set local citus.propagate_set_commands = 'local'; set local syncsched.org_id = {org_id};"
    " set local syncsched.actor = {actor}"
)
SET_SESSION_ROLE = (
    "select set_config('role', {role}, true), set_config('max_parallel_workers_per_gather', '0', true),"
    " set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)"
)

SET_ROLE = "select set_config('role', %s, false)"
RESET_ROLE = "reset role"

# (every column: a label, when web_session gives one, names the token in the audit trail)
WEB_SESSION = "select * from syncsched.web_session(%s)"

# What the console's login is, before it asks anything of syncsched (it needs no right for this).
WEB_LOGIN = """
select current_user as login, to_regrole('syncsched_web') is not null as installed,
    coalesce((select pg_has_role(current_user, 'syncsched_web', 'member')
              where to_regrole('syncsched_web') is not null), false) as member
"""

CREATE_WEB_TOKEN = "select syncsched.create_web_token(%s, %s, %s) as token"

LIST_WEB_TOKENS = "select * from syncsched.list_web_tokens()"

REVOKE_WEB_TOKEN = "select syncsched.revoke_web_token(%s) as revoked"

WEB_SCHEMA_READY = "select to_regprocedure('syncsched.web_session(text)') is not null as ready"

# Integrations: a selection of ids by the filters, then each one's columns and recent outcomes.
# A selection starts from what is small where a filter allows: the open conditions (failing, stale)
# or the schedules the tick could not evaluate (invalid); else it walks an index in the order of the
# sort. A search is a prefix of either id (text_pattern_ops indexes); a health filter is the types
# whose endpoint has that health.
_WEB_FILTERS = """
    (%(q)s::text is null or o.org_id like %(q_like)s or o.integration_id like %(q_like)s)
    and (%(org)s::text is null or o.org_id = %(org)s)
    and (%(type)s::text is null or o.integration_type = %(type)s)
    and (%(enabled)s::boolean is null or o.is_enabled = %(enabled)s)
    and (%(health_types)s::text[] is null or o.integration_type = any(%(health_types)s::text[]))
"""

# The types whose endpoint has a health (asked first, so that the planner of the list knows them).
WEB_TYPES_OF_HEALTH = """
select coalesce(array_agg(t.integration_type order by t.integration_type), '{}') as types
from syncsched.integration_types as t
left join syncsched.endpoint_health as h on h.integration_type = t.integration_type
where coalesce(h.status, 'unknown') = %s
"""


def _open_conditions(kind: str) -> str:
    """The integrations (org_id, integration_id) with an open condition of `kind`, an SQL expression."""
    return (
        "select distinct a.org_id, a.integration_id from syncsched.scheduler_alerts as a"
        f" where a.is_condition and a.resolved_at is null and a.kind = {kind}"
        " and a.org_id is not null and a.integration_id is not null"
    )


def _open_condition_source(kind: str) -> str:
    return f"""
        from ({_open_conditions(kind)}) as c
        join syncsched.organization_integrations as o on o.org_id = c.org_id and o.integration_id = c.integration_id"""


# (FROM, a condition) of each selection
_WEB_SELECTIONS = {
    "all": ("from syncsched.organization_integrations as o", "true"),
    "condition": (_open_condition_source("%(status)s"), "true"),
    "invalid": (
        "from syncsched.schedule_state as s join syncsched.organization_integrations as o"
        " on o.org_id = s.org_id and o.id = s.id",
        "s.problem is not null",
    ),
}


def web_selection(status: str | None) -> str:
    """Which selection serves a status filter (none, failing/stale, invalid)."""
    if status in ("failing", "stale"):
        return "condition"
    if status == "invalid":
        return "invalid"
    return "all"


# The order of a phase of a sort, its keyset condition, and its key as (k_at, k_id) columns.
_BY_ORG = ("o.org_id, o.integration_id", "(o.org_id, o.integration_id) > (%(after_org)s, %(after_integration)s)")
_BY_NEXT_RUN = ("n.next_run_at, n.id", "(n.next_run_at, n.id) > (%(after_at)s::timestamptz, %(after_id)s::bigint)")
# (not correlated: Citus joins no distributed table to a coordinator table, scheduler_alerts, row by row,
# but reads an uncorrelated subquery first)
_FAILING = "(o.org_id, o.integration_id) in (" + _open_conditions("'failing'") + ")"

# How the integration list may be sorted: org (organization, then integration id), next_run (the next
# run soonest first, then those with none by organization), outcome (those whose last run failed
# after every attempt, an open "failing" condition, first; then the others; each by organization).
WEB_INTEGRATION_SORTS = ("org", "next_run", "outcome")


def web_sort_phases(selection: str, sort: str) -> list[tuple[str, str, tuple[str, str]]]:
    """The phases of a sort: each (FROM, condition, order), read one after the other, each through
    an index in its own order, so that a page reads what it shows and not the table."""
    source, where = _WEB_SELECTIONS[selection]
    if sort == "next_run":
        return [
            (
                source + " join syncsched.schedule_state as n on n.org_id = o.org_id and n.id = o.id",
                where + " and n.next_run_at is not null",
                _BY_NEXT_RUN,
            ),
            (
                source + " left join syncsched.schedule_state as n on n.org_id = o.org_id and n.id = o.id",
                where + " and n.next_run_at is null",
                _BY_ORG,
            ),
        ]
    if sort == "outcome":
        failing = (
            (_open_condition_source("'failing'"), "true") if selection == "all" else (source, f"{where} and {_FAILING}")
        )
        return [(*failing, _BY_ORG), (source, f"{where} and not {_FAILING}", _BY_ORG)]
    return [(source, where, _BY_ORG)]


def web_integrations(selection: str, sort: str = "org", start_phase: int = 0) -> str:
    """A page of integrations: the phases of the sort from `start_phase` (the cursor's, which continues
    after its key; the later ones from their start), at most %(limit)s rows in all."""
    parts = []
    for n, (source, where, (order, after)) in enumerate(web_sort_phases(selection, sort)):
        if n < start_phase:
            continue
        key = "n.next_run_at, n.id" if order == _BY_NEXT_RUN[0] else "null::timestamptz, null::bigint"
        keyset = f" and {after}" if n == start_phase else ""
        parts.append(
            f"(select o.id, {n} as phase, {key}, o.org_id, o.integration_id {source}"
            f" where {where} and {_WEB_FILTERS}{keyset} order by {order} limit %(limit)s)"
        )
    selected = "\n    union all\n    ".join(parts)
    return f"""
with selected (id, phase, k_at, k_id, k_org, k_integration) as (
    select * from (
    {selected}
    ) as phases
    limit %(limit)s
)
select o.id, o.org_id, o.integration_id, o.integration_type, o.cron_schedule, o.interval_minutes, o.timezone,
    o.is_enabled, o.misfire_policy::text as misfire_policy, s.next_run_at, s.problem,
    coalesce(recent.statuses, '{{}}') as recent_statuses,
    selected.phase as sort_phase, selected.k_at as sort_at, selected.k_id as sort_id
from selected
join syncsched.organization_integrations as o on o.org_id = selected.k_org and o.id = selected.id
left join syncsched.schedule_state as s on s.org_id = o.org_id and s.id = o.id
left join lateral (
    select array_agg(r.status::text order by r.scheduled_for) as statuses
    from (
        select r.status, r.scheduled_for
        from syncsched.sync_run_log as r
        where r.org_id = o.org_id and r.integration_id = o.integration_id
        order by r.scheduled_for desc
        limit 12
    ) as r
) as recent on true
order by selected.phase, selected.k_at, selected.k_id, selected.k_org, selected.k_integration
"""


def web_integrations_count(selection: str) -> str:
    """ "N of M": counted up to a cap, so that a page of a million integrations costs what a page of ten does."""
    source, where = _WEB_SELECTIONS[selection]
    return (
        f"select count(*)::bigint as n from (select 1 {source} where {where} and {_WEB_FILTERS}"
        " limit %(count_cap)s) as matching"
    )


WEB_INTEGRATION = """
select o.id, o.org_id, o.integration_id, o.integration_type, o.cron_schedule, o.interval_minutes, o.timezone,
    o.is_enabled, o.misfire_policy::text as misfire_policy, o.misfire_grace, o.payload, o.max_attempts,
    o.max_staleness, o.created_at, o.updated_at, s.next_run_at, s.problem, s.stale_check_at
from syncsched.organization_integrations as o
left join syncsched.schedule_state as s on s.org_id = o.org_id and s.id = o.id
where o.org_id = %s and o.integration_id = %s
"""

WEB_NEXT_RUNS = "select at, local_time, utc_offset, offset_changed from syncsched.integration_next_runs(%s, %s, %s)"

# An expression with H is checked with any seed, and previewed (resolved) once org and integration are given.
WEB_PREVIEW = """
select syncsched.cron_validate(%(cron)s, %(seed)s) as problem, syncsched.timezone_validate(%(tz)s) as zone_problem,
    case when %(seed)s::text is not null and syncsched.cron_validate(%(cron)s, %(seed)s) is null
        then syncsched.cron_resolve(%(cron)s, %(seed)s) end as resolved
"""

WEB_PREVIEW_RUNS = """
select r as at from syncsched.next_runs(%(cron)s, %(tz)s, %(count)s, p_seed => %(seed)s) as r
where %(seed)s::text is not null or not syncsched._cron_has_h(%(cron)s)
"""

# Runs: keyset paging on run_id, newest first; each filter has an index to read through.
WEB_RUNS = """
select r.run_id, r.org_id, r.integration_id, r.integration_type, r.trigger, r.status::text as status,
    r.scheduled_for, r.enqueued_at, r.started_at, r.finished_at, r.attempt, r.max_attempts, r.worker_id,
    r.http_status, left(r.error, 300) as error, r.not_before
from syncsched.sync_run_log as r
where (%(status)s::text is null or r.status = %(status)s::syncsched.run_status)
    and (%(type)s::text is null or r.integration_type = %(type)s)
    and (%(org)s::text is null or r.org_id = %(org)s)
    and (%(integration)s::text is null or r.integration_id = %(integration)s)
    and (%(since)s::timestamptz is null or r.enqueued_at >= %(since)s)
    and (%(until)s::timestamptz is null or r.enqueued_at < %(until)s)
    and r.run_id < %(before)s
order by r.run_id desc
limit %(limit)s
"""

WEB_RUN = """
select r.run_id, r.org_id, r.integration_id, r.integration_type, r.trigger, r.status::text as status,
    r.scheduled_for, r.idempotency_key, r.enqueued_at, r.not_before, r.started_at, r.finished_at, r.attempt,
    r.max_attempts, r.worker_id, r.drift, r.http_status, r.error, r.response_excerpt, r.payload
from syncsched.sync_run_log as r
where r.run_id = %s
"""

WEB_RUN_ATTEMPTS = """
select a.attempt, a.outcome, a.worker_id, a.started_at, a.finished_at, a.finished_at - a.started_at as duration,
    a.http_status, a.error, a.response_excerpt
from syncsched.sync_run_attempts as a
where a.run_id = %s
order by a.attempt
"""

WEB_RUNS_OF = """
select r.run_id, r.org_id, r.integration_id, r.integration_type, r.trigger, r.status::text as status,
    r.scheduled_for, r.started_at, r.finished_at, r.attempt,
    r.max_attempts, r.http_status, left(r.error, 300) as error,
    coalesce((
        select jsonb_agg(jsonb_build_object('attempt', a.attempt, 'outcome', a.outcome, 'http_status',
            a.http_status, 'error', left(a.error, 300), 'worker_id', a.worker_id, 'duration_ms',
            round(extract(epoch from a.finished_at - a.started_at) * 1000)) order by a.attempt)
        from syncsched.sync_run_attempts as a
        where a.run_id = r.run_id and a.scheduled_for = r.scheduled_for and a.org_id = r.org_id
    ), '[]'::jsonb) as attempts
from syncsched.sync_run_log as r
where r.org_id = %s and r.integration_id = %s
order by r.scheduled_for desc, r.run_id desc
limit %s
"""

# Alerts about one integration: one probe of the key index per kind.
WEB_ALERTS_OF = """
select a.alert_id, a.kind, a.at, a.resolved_at, a.acknowledged_at, a.detail
from syncsched.scheduler_alerts as a
where a.alert_key = any(
    select k.kind || ':' || %(org)s || '/' || %(integration)s from syncsched.alert_kinds as k
)
order by a.at desc, a.alert_id desc
limit %(limit)s
"""

WEB_OPEN_ALERTS = """
select a.alert_id, a.kind, k.severity, a.alert_key, a.org_id, a.integration_id, a.integration_type, a.detail, a.at,
    s.acknowledged_at
from syncsched.alerts_open as a
join syncsched.alert_kinds as k on k.kind = a.kind
join syncsched.scheduler_alerts as s on s.alert_id = a.alert_id
where %(kind)s::text is null or a.kind = %(kind)s
order by a.at desc, a.alert_id desc
limit %(limit)s
"""

WEB_ALERTS = """
select a.alert_id, a.kind, k.severity, a.alert_key, a.org_id, a.integration_id, a.integration_type, a.detail, a.at,
    a.resolved_at, a.acknowledged_at, a.acknowledged_by
from syncsched.scheduler_alerts as a
join syncsched.alert_kinds as k on k.kind = a.kind
where (%(kind)s::text is null or a.kind = %(kind)s) and a.alert_id < %(before)s
order by a.alert_id desc
limit %(limit)s
"""

# Each type's endpoint, its runs pending, running and held (queue_depth's rule, by endpoint_overview),
# what is paused for it (paused: the global pauses included; the type's own flags apart, for its buttons).
WEB_ENDPOINTS = """
select t.integration_type, t.endpoint_url, t.health_url, t.max_concurrency, t.timeout_ms, e.status, e.mode,
    e.consecutive_failures, e.last_check_at, e.next_check_at, h.last_success_at, h.last_used_at, e.last_error,
    coalesce(syncsched._circuit_open(e.mode, e.status), false) as circuit_open,
    coalesce(e.pending, 0)::bigint as pending, coalesce(e.running, 0)::bigint as running,
    coalesce(e.held, 0)::bigint as held, e.paused,
    coalesce(d.scheduling_paused, false) as scheduling_paused, coalesce(d.dispatch_paused, false) as dispatch_paused,
    e.rate_limited_until, e.rate_limit, e.rate_window::text as rate_window, e.requests_in_window
from syncsched.integration_types as t
join syncsched.endpoint_overview as e on e.integration_type = t.integration_type
left join syncsched.endpoint_health as h on h.integration_type = t.integration_type
left join syncsched.dispatch_state as d on d.integration_type = t.integration_type
order by t.integration_type
"""

# What is paused for every type (the settings pause_scheduling() and pause_dispatch() set).
WEB_PAUSES = """
select coalesce(bool_or(s.value::boolean) filter (where s.key = 'scheduler_paused'), false) as scheduling,
    coalesce(bool_or(s.value::boolean) filter (where s.key = 'dispatch_paused'), false) as dispatch
from syncsched.setting_values as s
where s.key in ('scheduler_paused', 'dispatch_paused')
"""

# Why an integration's pending run waits, and what is paused for it.
WEB_INTEGRATION_HOLD = """
select v.paused, v.held_reason
from syncsched.schedule_overview as v
where v.org_id = %s and v.integration_id = %s
"""

WEB_SETTINGS = """
select key, type, value, default_value, min_value, max_value, description, updated_at
from syncsched.setting_values
order by key
"""

WEB_OVERVIEW = """
select
    (select count(*) from syncsched.sync_run_log where status = 'pending')::bigint as pending,
    (select min(not_before) from syncsched.sync_run_log where status = 'pending') as oldest_pending,
    (select count(*) from syncsched.sync_run_log where status = 'running')::bigint as running,
    (select count(*) from syncsched.scheduler_alerts as a
     where a.is_condition and a.resolved_at is null)::bigint as open_conditions
"""

# the scheduler's own health: admin and reader only (a tenant sees its organization, not the scheduler)
WEB_TICK_HEALTH = """
select
    (select max(started_at) from syncsched.scheduler_ticks) as last_tick_at,
    (select lateness from syncsched.scheduler_ticks order by tick_id desc limit 1) as last_lateness,
    (select count(distinct date_trunc('minute', at)) from syncsched.scheduler_ticks
     where at > now() - interval '1 hour')::integer as minutes_ticked_last_hour
"""

# runs created per half hour over the last 12 hours, by status and type (the overview's two charts)
WEB_RUNS_OVER_TIME = """
select date_bin(interval '30 minutes', r.enqueued_at, timestamptz '2000-01-01') as bucket,
    r.status::text as status, r.integration_type, count(*)::bigint as n
from syncsched.sync_run_log as r
where r.enqueued_at > now() - interval '12 hours'
group by 1, 2, 3
order by 1, 2, 3
"""

WEB_WORKERS = """
select r.worker_id, max(coalesce(r.finished_at, r.started_at)) as last_seen, count(*)::bigint as runs
from syncsched.sync_run_log as r
where r.finished_at > now() - interval '15 minutes' and r.worker_id is not null
group by r.worker_id
union all
select r.worker_id, max(r.heartbeat_at), count(*)::bigint
from syncsched.sync_run_log as r
where r.status = 'running'
group by r.worker_id
"""

# The console's actions: each one call of an engine function.
WEB_RUN_NOW = "select syncsched.run_now(%s, %s, %s) as run_id"
WEB_ENABLE = "select syncsched.enable_integration(%s, %s) as next_run_at"
WEB_DISABLE = "select syncsched.disable_integration(%s, %s) as cancelled"
WEB_CANCEL_RUN = "select syncsched.cancel_run(%s) as cancelled"
# the pending runs of some integrations (pairs of arrays), each cancelled by cancel_run
WEB_CANCEL_PENDING_OF = """
select r.run_id, syncsched.cancel_run(r.run_id) as cancelled
from syncsched.sync_run_log as r
where r.status = 'pending'
    and (r.org_id, r.integration_id) in (select * from unnest(%(orgs)s::text[], %(integrations)s::text[]))
"""
WEB_SET_SETTING = "select syncsched.set_setting(%s, %s) as value"
WEB_ACKNOWLEDGE = "select syncsched.acknowledge_alert(%s, %s) as acknowledged"
WEB_TICK = "call syncsched.tick()"
WEB_LAST_TICK = (
    "select due, triggered, skipped_running, invalid, duration_ms from syncsched.scheduler_ticks"
    " order by tick_id desc limit 1"
)
# (the operator API: named arguments, so that an omitted field keeps its value)
WEB_CREATE_INTEGRATION = "select syncsched.create_integration({args}) as id"
WEB_ALTER_INTEGRATION = "select syncsched.alter_integration({args}) as id"
WEB_DELETE_INTEGRATION = "select syncsched.delete_integration(%s, %s, %s) as deleted"
WEB_RETRY_RUN = "select syncsched.retry_run(%s) as run_id"
WEB_PAUSE = "select syncsched.{action}_{what}(%s)"
WEB_CHECK_ENDPOINT = "select syncsched.check_endpoint_now(%s)"


def named_call(template: str, names: list[str]) -> str:
    """A call of `template` with one named argument per name: `p_x => %(p_x)s, ...`. The names come
    from the fixed list of an API function's parameters, never from a request."""
    return template.format(args=", ".join(f"{name} => %({name})s" for name in names))
