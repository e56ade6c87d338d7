-- depends: 0015.partitioned_run_log
-- The pg_net transport: integration types whose runs the database sends itself through pg_net
-- (for hosts where no Python process runs), under the same claims, leases and outcome rules as
-- the worker's. plpgsql/45_net.sql does the sending and collecting.

alter table syncsched.integration_types
add column transport text not null default 'worker',
add constraint integration_types_transport_known check (transport in ('worker', 'pg_net'));
comment on constraint integration_types_transport_known on syncsched.integration_types is
'A type is called by the worker or through pg_net.';
comment on column syncsched.integration_types.transport is
'Who calls the endpoint: worker (syncsched worker processes claim the runs) or pg_net (the database sends them itself with net.http_post from the tick and the collector job; the worker never claims them).'; -- noqa: LT05

alter table syncsched.sync_run_log add column net_request_id bigint;
comment on column syncsched.sync_run_log.net_request_id is
'pg_net transport: the net.http_post request id of the attempt in flight (its response is read from net._http_response by that id).'; -- noqa: LT05
create index sync_run_log_net_request on syncsched.sync_run_log (net_request_id)
where net_request_id is not null;
comment on index syncsched.sync_run_log_net_request is
'The run a pg_net response belongs to (only runs of pg_net types in flight have a request id).';

alter table syncsched.sync_run_attempts add column net_request_id bigint;
comment on column syncsched.sync_run_attempts.net_request_id is
'pg_net transport: the net.http_post request id of this attempt.';

alter table syncsched.endpoint_health
add column net_request_id bigint,
add column net_warmup_request_id bigint,
add column net_warmup_sent_at timestamptz;
comment on column syncsched.endpoint_health.net_request_id is
'pg_net transport: the net.http_get request id of the health check in flight (null when none is).';
comment on column syncsched.endpoint_health.net_warmup_request_id is
'pg_net transport: the net.http_get request id of the warm-up in flight; the claimed runs of the type wait for it.';
comment on column syncsched.endpoint_health.net_warmup_sent_at is
'pg_net transport: when the warm-up in flight was sent (it is given up after warmup_timeout).';

-- Where no Supabase Vault is installed, the Authorization values of pg_net types live here: read
-- by the owner's functions only (no role syncsched grants can select them), written by
-- set_net_secret(), never returned.
create table syncsched.net_secrets (
    name text not null,
    secret text not null,
    updated_at timestamptz not null default now(),
    constraint net_secrets_pkey primary key (name),
    constraint net_secrets_name_format check (name ~ '^[A-Z_][A-Z0-9_]{0,62}$')
);
alter table syncsched.net_secrets owner to syncsched_owner;
revoke all on syncsched.net_secrets from public;
comment on constraint net_secrets_pkey on syncsched.net_secrets is 'One secret per name.';
comment on column syncsched.net_secrets.name is 'The name integration_types.auth_secret_env gives.';
comment on column syncsched.net_secrets.secret is 'The Authorization header''s value (for example Bearer ...).';
comment on column syncsched.net_secrets.updated_at is 'When it was last set.';
comment on constraint net_secrets_name_format on syncsched.net_secrets is
'Names as in integration_types.auth_secret_env.';
comment on table syncsched.net_secrets is
'Authorization values of pg_net integration types by the name in integration_types.auth_secret_env, where Supabase Vault is absent. Owner-only: written by set_net_secret(), read by the dispatch alone.'; -- noqa: LT05

insert into syncsched.settings (key, value, description, type, default_value, min_value, max_value) values
    ('net_lease', '3 minutes',
     'How long a run sent through pg_net may wait for its response before the reaper takes it back '
     || '(as a dead worker''s run, called again with the same key): more than the type''s timeout plus '
     || 'the period of the step that collects responses (the tick''s minute without a sub-minute collector job).',
     'interval', '3 minutes', '10 seconds', '1 day'),
    ('net_batch', '200',
     'The most runs one pg_net step sends (pg_net sends pg_net.batch_size requests at a time).',
     'integer', '200', '1', '10000');

-- set_net_secret() is audited (the name, never the value)
alter table syncsched.audit_log drop constraint audit_log_action_known,
add constraint audit_log_action_known check (action in (
    'run_now', 'retry_run', 'cancel_run', 'pause_scheduling', 'resume_scheduling', 'pause_dispatch',
    'resume_dispatch', 'check_endpoint_now', 'endpoint_changed', 'delete_integration',
    'integration_created', 'integration_changed', 'integration_deleted', 'setting_changed', 'net_secret_set'
));
comment on constraint audit_log_action_known on syncsched.audit_log is
'The actions that are audited.';

insert into syncsched.settings (key, value, description, type, default_value, min_value, max_value) values
    ('net_stalled_after', '1 minute',
     'pg_net_stalled is raised when a request of a pg_net run has waited this long in pg_net''s queue '
     || '(its worker is not sending).',
     'interval', '1 minute', '5 seconds', '1 day');
insert into syncsched.alert_kinds (kind, is_condition, severity, description) values
    ('pg_net_stalled', true, 'danger',
     'Integration types send through pg_net, but pg_net cannot send for this database (not installed, not '
     || 'preloaded, its worker serving another database) or its queue does not move: open until it sends again.');
