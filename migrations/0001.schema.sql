-- depends:
-- The syncsched schema: tables, types, indexes, roles and grants.
-- Functions, procedures, triggers and views live in plpgsql/ and are re-applied by
-- `syncsched migrate` after every yoyo step.

-- Roles are cluster-wide: another database of the same cluster may have created
-- them already, so they are created only when missing.
do $roles$
declare
    v_role text;
begin
    foreach v_role in array array[
        'syncsched_owner', 'syncsched_admin', 'syncsched_worker', 'syncsched_reader'
    ] loop
        if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
            execute format('create role %I nologin', v_role);
        end if;
    end loop;
    -- The migrating role must be able to act as the owner (SET ROLE while the
    -- plpgsql/ files are applied, ALTER ... OWNER TO below).
    if not pg_catalog.pg_has_role(current_user, 'syncsched_owner', 'member') then
        execute format('grant syncsched_owner to %I', current_user);
    end if;
    if not pg_catalog.pg_has_role('syncsched_admin', 'syncsched_reader', 'member') then
        grant syncsched_reader to syncsched_admin;
    end if;
end
$roles$;

create schema syncsched;
comment on schema syncsched is
'syncsched: a Postgres-native scheduler for recurring per-tenant sync jobs.';

create type syncsched.run_status as enum (
    'pending', 'running', 'completed', 'failed', 'cancelled'
);
comment on type syncsched.run_status is
'Life of a run: pending -> running -> completed | failed; running -> pending (retry, expired lease, release); pending -> cancelled.';

create type syncsched.misfire_policy as enum ('run_once', 'catch_up', 'skip');
comment on type syncsched.misfire_policy is
'What a tick does when scheduled periods were missed: run_once = one run for the most recent period; catch_up = one run per missed period, oldest first; skip = run only within misfire_grace, else alert.';

create table syncsched.settings (
    key text not null,
    value text not null,
    description text not null,
    updated_at timestamptz not null default now(),
    constraint settings_pkey primary key (key),
    constraint settings_key_format check (key ~ '^[a-z][a-z0-9_]*$')
);
comment on table syncsched.settings is
'Key/value configuration of the scheduler, read by the SQL functions and the worker. Values are text, cast by their readers.';

insert into syncsched.settings (key, value, description) values
    ('running_skip_window', '30 minutes',
     'A scheduled period is skipped (skipped_overlap) while a run of the same integration started within this window.'),
    ('drift_alert_threshold', '5 minutes',
     'started_at - scheduled_for above this writes a drift alert.'),
    ('min_schedule_interval', '5 minutes',
     'Smallest gap allowed between two fire times of one schedule.'),
    ('lease', '60 seconds',
     'Lease given to a worker on claim and on every heartbeat.'),
    ('default_max_attempts', '5',
     'Attempts of a run when its integration sets no max_attempts.'),
    ('retention', '90 days',
     'Finished runs, ticks and alerts older than this are pruned.'),
    ('retry_backoff_base', '10 seconds',
     'Base of the exponential retry backoff (full jitter).'),
    ('retry_backoff_cap', '1 hour',
     'Largest retry backoff.'),
    ('catch_up_limit', '24',
     'With misfire_policy catch_up: most runs created for one integration in one tick.'),
    ('scheduler_paused', 'false',
     'When true the tick records itself but creates no runs.');

create table syncsched.integration_types (
    integration_type text not null,
    endpoint_url text not null,
    health_url text,
    health_method text not null default 'HEAD',
    timeout_ms integer not null default 30000,
    connect_timeout_ms integer not null default 5000,
    max_concurrency integer not null default 5,
    auth_secret_env text,
    health_check_interval interval not null default interval '15 minutes',
    description text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint integration_types_pkey primary key (integration_type),
    constraint integration_types_name_format
    check (integration_type ~ '^[a-z][a-z0-9_]{0,62}$'),
    constraint integration_types_endpoint_url_http
    check (endpoint_url ~* '^https?://[^/?#]+'),
    constraint integration_types_health_url_http
    check (health_url is null or health_url ~* '^https?://[^/?#]+'),
    constraint integration_types_health_method_known
    check (health_method in ('HEAD', 'GET')),
    constraint integration_types_timeout_positive
    check (timeout_ms between 1 and 3600000),
    constraint integration_types_connect_timeout_positive
    check (connect_timeout_ms between 1 and 600000),
    constraint integration_types_max_concurrency_positive
    check (max_concurrency between 1 and 10000),
    constraint integration_types_auth_secret_env_name
    check (auth_secret_env is null or auth_secret_env ~ '^[A-Z_][A-Z0-9_]*$'),
    constraint integration_types_health_check_interval_positive
    check (health_check_interval > interval '0')
);
comment on table syncsched.integration_types is
'One row per kind of integration. Endpoint URLs are controlled by the DBA here; tenants never supply hosts.';
comment on column syncsched.integration_types.endpoint_url is
'URL the worker POSTs each run to.';
comment on column syncsched.integration_types.health_url is
'URL of the lightweight health check; endpoint_url when null.';
comment on column syncsched.integration_types.max_concurrency is
'Most runs of this type in flight at once, across all workers.';
comment on column syncsched.integration_types.auth_secret_env is
'Name of the environment variable, on the worker, that holds the Authorization header value. The secret itself is never stored.';

insert into syncsched.integration_types (
    integration_type, endpoint_url, health_url, max_concurrency, auth_secret_env, description
) values
    ('xledger', 'https://xledger.example.invalid/sync', null, 5, 'SYNCSCHED_XLEDGER_TOKEN',
     'Xledger ERP export'),
    ('dynamics', 'https://dynamics.example.invalid/sync', null, 5, 'SYNCSCHED_DYNAMICS_TOKEN',
     'Microsoft Dynamics export'),
    ('bufdir', 'https://bufdir.example.invalid/sync', null, 3, 'SYNCSCHED_BUFDIR_TOKEN',
     'Bufdir reporting');

create table syncsched.organization_integrations (
    id bigint generated always as identity,
    org_id text not null,
    integration_id text not null,
    integration_type text not null,
    cron_schedule text,
    interval_minutes integer,
    timezone text not null default 'UTC',
    is_enabled boolean not null default true,
    misfire_policy syncsched.misfire_policy not null default 'run_once',
    misfire_grace interval not null default interval '15 minutes',
    payload jsonb not null default '{}'::jsonb,
    max_attempts integer,
    max_staleness interval,
    next_run_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint organization_integrations_pkey primary key (org_id, integration_id),
    constraint organization_integrations_id_key unique (id),
    constraint organization_integrations_type_fkey foreign key (integration_type)
    references syncsched.integration_types (integration_type) on update cascade,
    constraint organization_integrations_org_id_format
    check (org_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    constraint organization_integrations_integration_id_format
    check (integration_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    constraint organization_integrations_one_schedule_kind
    check (cron_schedule is null or interval_minutes is null),
    constraint organization_integrations_cron_length
    check (length(cron_schedule) <= 200),
    constraint organization_integrations_interval_range
    check (interval_minutes between 1 and 525600),
    constraint organization_integrations_timezone_length
    check (length(timezone) between 1 and 64),
    constraint organization_integrations_misfire_grace_nonnegative
    check (misfire_grace >= interval '0'),
    constraint organization_integrations_max_attempts_range
    check (max_attempts between 1 and 100),
    constraint organization_integrations_max_staleness_positive
    check (max_staleness > interval '0'),
    constraint organization_integrations_payload_object
    check (jsonb_typeof(payload) = 'object'),
    constraint organization_integrations_payload_size
    check (pg_column_size(payload) <= 65536)
);
comment on table syncsched.organization_integrations is
'One scheduled integration of one organization. Plain INSERT/UPDATE works: a trigger validates the schedule and maintains next_run_at.';
comment on column syncsched.organization_integrations.id is
'Stable integer id, used as the key of the per-integration advisory lock.';
comment on column syncsched.organization_integrations.cron_schedule is
'Five-field cron expression (Debian cron dialect) evaluated in timezone; null when interval_minutes is used or the integration is not scheduled.';
comment on column syncsched.organization_integrations.interval_minutes is
'Run every N minutes instead of a cron expression.';
comment on column syncsched.organization_integrations.timezone is
'IANA time zone in which cron_schedule is evaluated (DST included).';
comment on column syncsched.organization_integrations.misfire_grace is
'With misfire_policy skip: how late a period may still be run.';
comment on column syncsched.organization_integrations.payload is
'JSON object sent to the endpoint with each run (at most 64 kB). Never holds secrets.';
comment on column syncsched.organization_integrations.max_attempts is
'Attempts per run; settings.default_max_attempts when null.';
comment on column syncsched.organization_integrations.max_staleness is
'Alert stale when no run completed for this long; twice the schedule period when null.';
comment on column syncsched.organization_integrations.next_run_at is
'Next scheduled period not yet turned into a run. Maintained by trigger and tick; null when disabled or unscheduled.';

create index organization_integrations_next_run_at_idx
on syncsched.organization_integrations (next_run_at)
where is_enabled and next_run_at is not null;
comment on index syncsched.organization_integrations_next_run_at_idx is
'The tick reads due rows through this index: its cost grows with the number due, not the number configured.';

create index organization_integrations_type_idx
on syncsched.organization_integrations (integration_type);

create table syncsched.sync_run_log (
    run_id bigint generated always as identity,
    org_id text not null,
    integration_id text not null,
    integration_type text not null,
    scheduled_for timestamptz not null,
    idempotency_key text not null,
    trigger text not null,
    status syncsched.run_status not null default 'pending',
    attempt integer not null default 0,
    max_attempts integer not null,
    payload jsonb not null default '{}'::jsonb,
    not_before timestamptz not null default now(),
    enqueued_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz,
    worker_id text,
    lease_token uuid,
    lease_expires_at timestamptz,
    drift interval,
    http_status integer,
    error text,
    response_excerpt text,
    constraint sync_run_log_pkey primary key (run_id),
    constraint sync_run_log_idempotency_key_key unique (idempotency_key),
    constraint sync_run_log_integration_fkey foreign key (org_id, integration_id)
    references syncsched.organization_integrations (org_id, integration_id)
    on update cascade on delete cascade,
    constraint sync_run_log_trigger_known
    check (trigger in ('schedule', 'manual', 'catch_up')),
    constraint sync_run_log_attempt_range
    check (attempt >= 0 and attempt <= max_attempts),
    constraint sync_run_log_max_attempts_range check (max_attempts between 1 and 100),
    constraint sync_run_log_running_has_lease
    check (
        status <> 'running'
        or (lease_token is not null and lease_expires_at is not null and started_at is not null)
    ),
    constraint sync_run_log_final_has_finished_at
    check (status not in ('completed', 'failed', 'cancelled') or finished_at is not null),
    constraint sync_run_log_http_status_range check (http_status between 100 and 599)
);
comment on table syncsched.sync_run_log is
'One row per run of an integration: the queue and its history. The UNIQUE idempotency_key guarantees at most one run per integration and period.';
comment on column syncsched.sync_run_log.scheduled_for is
'The period this run serves (the fire time), or the request time of a manual run.';
comment on column syncsched.sync_run_log.idempotency_key is
'org_id/integration_id/<scheduled_for in UTC, ISO minute>; manual runs: org_id/integration_id/manual/<timestamp>. Sent to the endpoint as the Idempotency-Key header.';
comment on column syncsched.sync_run_log.trigger is
'What created the run: schedule, manual (run_now) or catch_up (a missed period).';
comment on column syncsched.sync_run_log.attempt is
'Attempts spent so far (failed, or lost with an expired lease): 0 for a run never tried.';
comment on column syncsched.sync_run_log.payload is
'Snapshot of the integration payload when the run was created.';
comment on column syncsched.sync_run_log.not_before is
'A pending run is not claimed before this time (retry backoff).';
comment on column syncsched.sync_run_log.lease_token is
'Fencing token of the current claim: every worker write must present it.';
comment on column syncsched.sync_run_log.lease_expires_at is
'A running run whose lease expired is taken back by the tick (liveness comes from the heartbeat, not from age).';
comment on column syncsched.sync_run_log.drift is
'started_at - scheduled_for of the first claim: how late the run started.';
comment on column syncsched.sync_run_log.response_excerpt is
'Start of the endpoint response body, capped by the worker.';

create index sync_run_log_pending_idx
on syncsched.sync_run_log (not_before, run_id)
where status = 'pending';
comment on index syncsched.sync_run_log_pending_idx is
'Claiming: pending runs whose not_before has passed, oldest first.';

create index sync_run_log_running_idx
on syncsched.sync_run_log (lease_expires_at)
where status = 'running';
comment on index syncsched.sync_run_log_running_idx is
'Finding running runs and reaping expired leases.';

create index sync_run_log_integration_idx
on syncsched.sync_run_log (org_id, integration_id, scheduled_for desc);

create index sync_run_log_finished_at_idx
on syncsched.sync_run_log (finished_at)
where finished_at is not null;

create table syncsched.scheduler_ticks (
    tick_id bigint generated always as identity,
    at timestamptz not null,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    due integer not null default 0,
    triggered integer not null default 0,
    skipped_locked integer not null default 0,
    skipped_running integer not null default 0,
    skipped_duplicate integer not null default 0,
    invalid integer not null default 0,
    remaining integer not null default 0,
    duration_ms numeric(12, 3),
    lateness interval,
    constraint scheduler_ticks_pkey primary key (tick_id)
);
comment on table syncsched.scheduler_ticks is
'One row per tick batch: what it found and did. A gap in this table means the scheduler was silent.';
comment on column syncsched.scheduler_ticks.at is
'The instant the tick served (p_now).';
comment on column syncsched.scheduler_ticks.lateness is
'started_at minus the start of the minute the tick serves.';
comment on column syncsched.scheduler_ticks.remaining is
'Due rows left for the next batch when the batch limit was reached.';

create index scheduler_ticks_at_idx on syncsched.scheduler_ticks (at);

create table syncsched.scheduler_alerts (
    alert_id bigint generated always as identity,
    kind text not null,
    alert_key text not null,
    org_id text,
    integration_id text,
    integration_type text,
    detail jsonb not null default '{}'::jsonb,
    at timestamptz not null default now(),
    resolved_at timestamptz,
    delivered_at timestamptz,
    constraint scheduler_alerts_pkey primary key (alert_id),
    constraint scheduler_alerts_kind_known check (
        kind in (
            'skipped_overlap', 'invalid_schedule', 'missed', 'drift', 'stale', 'failing',
            'endpoint_unhealthy', 'endpoint_recovered', 'endpoint_passive',
            'scheduler_silent', 'cold_start', 'stale_write'
        )
    )
);
comment on table syncsched.scheduler_alerts is
'Things a person should know about: skipped or missed periods, drift, failures, endpoint health.';
comment on column syncsched.scheduler_alerts.alert_key is
'Deduplication key: kind plus what it is about (org/integration or type).';
comment on column syncsched.scheduler_alerts.resolved_at is
'Set when the condition behind the alert has cleared.';
comment on column syncsched.scheduler_alerts.delivered_at is
'When the alert was sent to the webhook, if one is configured.';

create index scheduler_alerts_key_at_idx on syncsched.scheduler_alerts (alert_key, at desc);
create index scheduler_alerts_at_idx on syncsched.scheduler_alerts (at);

create table syncsched.endpoint_health (
    integration_type text not null,
    status text not null default 'unknown',
    mode text not null default 'active',
    consecutive_failures integer not null default 0,
    last_check_at timestamptz,
    next_check_at timestamptz,
    last_success_at timestamptz,
    last_used_at timestamptz,
    last_error text,
    updated_at timestamptz not null default now(),
    constraint endpoint_health_pkey primary key (integration_type),
    constraint endpoint_health_type_fkey foreign key (integration_type)
    references syncsched.integration_types (integration_type)
    on update cascade on delete cascade,
    constraint endpoint_health_status_known check (status in ('healthy', 'unhealthy', 'unknown')),
    constraint endpoint_health_mode_known check (mode in ('active', 'passive')),
    constraint endpoint_health_failures_nonnegative check (consecutive_failures >= 0)
);
comment on table syncsched.endpoint_health is
'Health of each integration type endpoint, shared by all workers.';
comment on column syncsched.endpoint_health.mode is
'active: the worker sends health checks; passive: health follows run outcomes only.';
comment on column syncsched.endpoint_health.next_check_at is
'No worker checks before this time (interval, backed off after failures).';
comment on column syncsched.endpoint_health.last_used_at is
'Last time a run was sent to the endpoint: an endpoint idle for longer than warmup_after is warmed up first.';

insert into syncsched.endpoint_health (integration_type)
select integration_type from syncsched.integration_types;

-- Ownership: every object belongs to the NOLOGIN owner role.
do $owner$
declare
    v_rel record;
begin
    alter schema syncsched owner to syncsched_owner;
    alter type syncsched.run_status owner to syncsched_owner;
    alter type syncsched.misfire_policy owner to syncsched_owner;
    for v_rel in
        select c.relname
        from pg_catalog.pg_class as c
        where c.relnamespace = 'syncsched'::regnamespace and c.relkind = 'r'
    loop
        execute format('alter table syncsched.%I owner to syncsched_owner', v_rel.relname);
    end loop;
end
$owner$;

-- Grants. PUBLIC gets nothing; the worker gets schema usage only (it acts through
-- SECURITY DEFINER run functions, granted in plpgsql/); the reader reads views.
revoke all on schema syncsched from public;
grant usage on schema syncsched to syncsched_admin, syncsched_worker, syncsched_reader;
grant usage on type syncsched.run_status to syncsched_admin, syncsched_reader;
grant usage on type syncsched.misfire_policy to syncsched_admin, syncsched_reader;
grant select on all tables in schema syncsched to syncsched_admin;
grant insert, update, delete on
syncsched.organization_integrations,
syncsched.integration_types,
syncsched.settings
to syncsched_admin;
