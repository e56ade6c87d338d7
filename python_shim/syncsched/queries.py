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

PRELOADED_LIBRARIES = "select current_setting('shared_preload_libraries')"

CRON_DATABASE_NAME = "select current_setting('cron.database_name', true)"

CURRENT_DATABASE = "select current_database()"

DATABASE_EXISTS = "select exists (select from pg_database where datname = %s)"

SCHEMA_EXISTS = "select exists (select from pg_namespace where nspname = 'syncsched')"

SET_OWNER_ROLE = "set local role syncsched_owner"

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
select t.tgfoid::regprocedure::text as signature, t.tgrelid::regclass::text as relation
from pg_trigger t
join pg_proc p on p.oid = t.tgfoid
where p.pronamespace = 'syncsched'::regnamespace and not t.tgisinternal
order by 1
"""

PLPGSQL_CHECK_FUNCTION = """
select * from plpgsql_check_function_tb(%s::regprocedure, %s::regclass)
"""

PLPGSQL_CHECK_ROUTINE = "select * from plpgsql_check_function_tb(%s::regprocedure)"

# --- the worker: calls of the run functions only --------------------------------------

RUNS_CHANNEL = "syncsched_runs"

CLAIM_RUNS = "select * from syncsched.claim_runs(%s, %s, %s)"

HEARTBEAT = "select run_id, applied from syncsched.heartbeat(%s, %s, %s, %s)"

# the trailing %s is the worker id: a stale write's alert names the worker
COMPLETE_RUNS = "select run_id, applied from syncsched.complete_runs(%s, %s, %s, %s, %s)"

FAIL_RUN = "select syncsched.fail_run(%s, %s, %s, %s, %s, %s, %s) as applied"

RELEASE_RUN = "select syncsched.release_run(%s, %s, %s) as applied"

QUEUE_DEPTH = "select integration_type, pending, running, held, dispatch_paused from syncsched.queue_depth()"

# --- the worker: health, warm-up, alerts ------------------------------------------------

ALERTS_CHANNEL = "syncsched_alerts"

WORKER_CONFIG = "select syncsched.worker_config() as config"

CLAIM_HEALTH_CHECKS = (
    "select integration_type, url, method, timeout_ms, connect_timeout_ms from syncsched.claim_health_checks(%s, %s)"
)

NEXT_HEALTH_CHECK_AT = "select syncsched.next_health_check_at() as at"

RECORD_HEALTH_CHECK = "select syncsched.record_health_check(%s, %s, %s, %s, %s) as status"

RECORD_WARMUP = "select syncsched.record_warmup(%s, %s, %s, %s) as cold"

CLAIM_PREWARM = "select integration_type, url, method, timeout_ms, connect_timeout_ms from syncsched.claim_prewarm()"

CHECK_SCHEDULER = "select syncsched.check_scheduler(%s) as result"

CLAIM_ALERT_DELIVERIES = (
    "select alert_id, kind, severity, alert_key, org_id, integration_id, integration_type, detail, at, webhook_url"
    " from syncsched.claim_alert_deliveries(%s)"
)

RECORD_ALERT_DELIVERY = "select syncsched.record_alert_delivery(%s, %s, %s)"

# --- the command line: status, cron preview, tick ---------------------------------------

TICK = "call syncsched.tick()"

LAST_TICK = (
    "select due, triggered, skipped_running, invalid from syncsched.scheduler_ticks order by tick_id desc limit 1"
)

CRON_VALIDATE = "select syncsched.cron_validate(%s) as problem, syncsched.timezone_validate(%s) as zone_problem"

NEXT_RUNS = "select r as at from syncsched.next_runs(%s, %s, %s) as r"

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

STATUS_ALERTS = """
select at, kind, alert_key, detail
from syncsched.scheduler_alerts
where resolved_at is null and at > now() - interval '24 hours'
order by at desc
limit %s
"""

STATUS_ENDPOINTS = """
select integration_type, status, mode, consecutive_failures, last_check_at, last_error
from syncsched.endpoint_health
order by integration_type
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

DEMO_COUNTS = """
select (select count(*) from syncsched.organization_integrations where is_enabled)::int as integrations,
    (select count(distinct org_id) from syncsched.organization_integrations)::int as orgs,
    (select count(*) from syncsched.scheduler_ticks where started_at >= %(since)s)::int as ticks,
    (select max(started_at) from syncsched.scheduler_ticks) as last_tick,
    (select min(finished_at) from syncsched.sync_run_log where status = 'completed' and finished_at >= %(since)s)
        as first_completed
"""

DEMO_RUNS_BY_TYPE = """
select integration_type, status::text as status, count(*)::int as n
from syncsched.sync_run_log
where enqueued_at >= %s or status in ('pending', 'running')
group by 1, 2
"""

DEMO_NEXT_RUNS = """
select o.org_id || '/' || o.integration_id as integration, o.integration_type,
    coalesce(o.cron_schedule, 'every ' || o.interval_minutes || ' min') as schedule, o.timezone, s.next_run_at
from syncsched.schedule_state as s
join syncsched.organization_integrations as o on o.id = s.id
where s.next_run_at is not null
order by s.next_run_at, s.id
limit %s
"""

DEMO_FAILURES = """
select r.run_id, r.org_id || '/' || r.integration_id as integration, r.status::text as status, r.attempt,
    r.max_attempts, r.not_before, r.error
from syncsched.sync_run_log as r
where r.error is not null and r.enqueued_at >= %s
order by r.run_id desc
limit %s
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
order by a.at desc
limit %s
"""

DEMO_HEALTH = """
select integration_type, status, mode, consecutive_failures, last_check_at, last_used_at, last_error
from syncsched.endpoint_health
order by integration_type
"""
