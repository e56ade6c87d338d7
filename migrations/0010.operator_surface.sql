-- depends: 0009.catalog_comments
-- The operator surface (issue 13):
--   * pausing, named for what it stops: scheduling (the tick creates no runs) and dispatch (claims
--     hand out nothing), per integration type in dispatch_state and globally as settings;
--   * audit_log: who retried, cancelled, paused, checked or deleted what, and when;
--   * one error style for configuration: misfire_policy becomes text, checked by the schedule
--     trigger against the labels of the misfire_policy type, so that a bad value is a 22023 naming
--     org, integration and problem (an enum column refuses it with 22P02 before any trigger runs);
--   * one cron length limit: the cron engine's (1,000 characters); the table's CHECK of 200 goes;
--   * time zones stored as their canonical IANA name (europe/oslo -> Europe/Oslo).

-- ---------------------------------------------------------------------------------------------
-- Pausing
-- ---------------------------------------------------------------------------------------------

alter table syncsched.dispatch_state
add column scheduling_paused boolean not null default false,
add column dispatch_paused boolean not null default false;
comment on column syncsched.dispatch_state.scheduling_paused is
'The tick creates no runs for this type (pause_scheduling(type)); its periods follow the misfire policy when resumed.';
comment on column syncsched.dispatch_state.dispatch_paused is
'Claims hand out no run of this type (pause_dispatch(type)); its pending runs wait, spending no attempt.';

insert into syncsched.settings (key, value, description, type, default_value) values
    ('dispatch_paused', 'false',
     'When true claims hand out no run of any type (pause_dispatch()); the tick still creates runs.',
     'boolean', 'false');
update syncsched.settings
set description = 'When true the tick records itself but creates no runs (pause_scheduling(), alias pause_scheduler()).'
where key = 'scheduler_paused';

-- ---------------------------------------------------------------------------------------------
-- Audit log
-- ---------------------------------------------------------------------------------------------

create table syncsched.audit_log (
    audit_id bigint generated always as identity,
    at timestamptz not null default now(),
    actor text not null default session_user,
    on_behalf_of text,
    action text not null,
    org_id text,
    integration_id text,
    integration_type text,
    run_id bigint,
    detail jsonb not null default '{}'::jsonb,
    constraint audit_log_pkey primary key (audit_id),
    constraint audit_log_action_known check (action in (
        'run_now', 'retry_run', 'cancel_run', 'pause_scheduling', 'resume_scheduling', 'pause_dispatch',
        'resume_dispatch', 'check_endpoint_now', 'endpoint_changed', 'delete_integration',
        'integration_created', 'integration_changed', 'integration_deleted', 'setting_changed'
    ))
);
comment on table syncsched.audit_log is
'What operators did: the API''s actions (run now, retry, cancel, pause and resume, endpoint checks, deletes) and every change of an integration or a setting, whatever wrote it; written by the owner''s functions and triggers only, never pruned.'; -- noqa: LT05
comment on column syncsched.audit_log.audit_id is
'Order of the entries.';
comment on column syncsched.audit_log.at is
'When it was done (the transaction''s time).';
comment on column syncsched.audit_log.actor is
'The login role that did it (session_user: the caller, not the owner the function runs as).';
comment on column syncsched.audit_log.on_behalf_of is
'Who the login acted for, as it said (the console names the user of its token in syncsched.actor); any session may say so, so trust it as far as the login.'; -- noqa: LT05
comment on column syncsched.audit_log.action is
'The API function, or what a write did whatever its path: integration_created / _changed / _deleted, setting_changed (endpoint_changed: an UPDATE of a type''s endpoint_url or health_url reset its health).'; -- noqa: LT05
comment on column syncsched.audit_log.org_id is
'The organization acted on, if any.';
comment on column syncsched.audit_log.integration_id is
'The integration acted on, if any.';
comment on column syncsched.audit_log.integration_type is
'The integration type acted on (pauses, endpoint checks), or the type of the integration or run; null for global pauses.';
comment on column syncsched.audit_log.run_id is
'The run acted on (retry, cancel, run now), if any.';
comment on column syncsched.audit_log.detail is
'What else there is to know: the state before, counts, the runs a delete cancelled and removed.';
comment on constraint audit_log_pkey on syncsched.audit_log is
'One row per action.';
comment on constraint audit_log_action_known on syncsched.audit_log is
'The actions that are audited.';

create index audit_log_at_idx on syncsched.audit_log (at);
comment on index syncsched.audit_log_at_idx is
'Reading the latest actions.';
create index audit_log_run_idx on syncsched.audit_log (run_id) where run_id is not null;
comment on index syncsched.audit_log_run_idx is
'The actions on one run.';

alter table syncsched.audit_log owner to syncsched_owner;
grant select on syncsched.audit_log to syncsched_admin;

-- ---------------------------------------------------------------------------------------------
-- Configuration errors in one style
-- ---------------------------------------------------------------------------------------------

alter table syncsched.organization_integrations
alter column misfire_policy drop default,
alter column misfire_policy type text using misfire_policy::text,
alter column misfire_policy set default 'run_once',
add constraint organization_integrations_misfire_policy_known
check (misfire_policy = any(enum_range(null::syncsched.misfire_policy)::text[])),
drop constraint organization_integrations_cron_length;
comment on constraint organization_integrations_misfire_policy_known on syncsched.organization_integrations is
'A misfire policy is one of the labels of the misfire_policy type (the schedule trigger refuses others first, with 22023).';
comment on column syncsched.organization_integrations.misfire_policy is
'What a tick does with periods that were missed: run_once, catch_up or skip (the labels of the misfire_policy type).';

-- Zone names stored as typed in another case (europe/oslo): PostgreSQL read them, the workers'
-- labels did not. Stored as the canonical name from now on; the schedule is the same, so its
-- derived state is left as it is.
do $zones$
declare
    v_row record;
    v_saved text := current_setting('timezone');
    v_canonical text;
    v_rederive boolean := exists (
        select from pg_catalog.pg_trigger
        where tgrelid = 'syncsched.organization_integrations'::regclass and tgname = 'organization_integrations_rederive'
    );
begin
    if v_rederive then
        alter table syncsched.organization_integrations disable trigger organization_integrations_rederive;
    end if;
    for v_row in select o.id, o.timezone from syncsched.organization_integrations as o where o.timezone !~ '^UTC$' loop
        begin
            perform set_config('timezone', v_row.timezone, true);
            v_canonical := current_setting('timezone');
        exception when others then
            v_canonical := null;
        end;
        if v_canonical <> v_row.timezone and lower(v_canonical) = lower(v_row.timezone) then
            update syncsched.organization_integrations set timezone = v_canonical where id = v_row.id;
        end if;
    end loop;
    perform set_config('timezone', v_saved, true);
    if v_rederive then
        alter table syncsched.organization_integrations enable trigger organization_integrations_rederive;
    end if;
end
$zones$;
