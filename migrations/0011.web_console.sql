-- depends: 0010.operator_surface
-- The web console and HTTP API: a role for the console's login, and its access tokens.
-- The console never acts with its own rights: each request runs under the role its token maps to
-- (syncsched_admin, syncsched_reader, or syncsched_tenant bound to one organization).

do $roles$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'syncsched_web') then
        -- NOINHERIT: a login in this role has none of the three roles' rights until it SETs one
        create role syncsched_web nologin noinherit;
    end if;
    grant syncsched_admin, syncsched_reader, syncsched_tenant to syncsched_web;
end
$roles$;
grant usage on schema syncsched to syncsched_web;

create table syncsched.web_tokens (
    token_id bigint generated always as identity,
    label text,
    role text not null,
    org_id text,
    token_hash text not null,
    created_at timestamptz not null default now(),
    created_by text not null default session_user,
    last_used_at timestamptz,
    revoked_at timestamptz,
    constraint web_tokens_pkey primary key (token_id),
    constraint web_tokens_token_hash_key unique (token_hash),
    constraint web_tokens_role_known check (role in ('admin', 'reader', 'tenant')),
    constraint web_tokens_tenant_has_org check ((role = 'tenant') = (org_id is not null)),
    constraint web_tokens_label_length check (length(label) <= 200)
);
alter table syncsched.web_tokens owner to syncsched_owner;

comment on table syncsched.web_tokens is
'Access tokens of the web console and HTTP API, each mapped to a role (and a tenant to its organization). Only a SHA-256 hash of each token is kept.';
comment on column syncsched.web_tokens.token_id is 'The token''s number (shown by token list, used by token revoke).';
comment on column syncsched.web_tokens.label is 'What the token is for, for people.';
comment on column syncsched.web_tokens.role is 'admin (everything), reader (read only) or tenant (one organization, under row-level security).';
comment on column syncsched.web_tokens.org_id is 'The organization of a tenant token.';
comment on column syncsched.web_tokens.token_hash is 'SHA-256 of the token, hex: the token itself is shown once and never stored.';
comment on column syncsched.web_tokens.created_at is 'When the token was made.';
comment on column syncsched.web_tokens.created_by is 'The database role that made it.';
comment on column syncsched.web_tokens.last_used_at is 'When the token last opened a session (updated at most once a minute).';
comment on column syncsched.web_tokens.revoked_at is 'When it was revoked: a revoked token opens nothing.';
comment on constraint web_tokens_pkey on syncsched.web_tokens is 'One row per token.';
comment on constraint web_tokens_token_hash_key on syncsched.web_tokens is 'A token is found by its hash.';
comment on constraint web_tokens_role_known on syncsched.web_tokens is 'The roles a token can map to.';
comment on constraint web_tokens_tenant_has_org on syncsched.web_tokens is 'A tenant token names its organization; the others none.';
comment on constraint web_tokens_label_length on syncsched.web_tokens is 'Labels of at most 200 characters.';

-- The console's searches: prefixes of organization and integration ids, whatever the collation.
create index organization_integrations_org_prefix_idx
on syncsched.organization_integrations (org_id text_pattern_ops);
create index organization_integrations_integration_prefix_idx
on syncsched.organization_integrations (integration_id text_pattern_ops);
comment on index syncsched.organization_integrations_org_prefix_idx is
'Searching integrations by a prefix of their organization id (the console, the CLI).';
comment on index syncsched.organization_integrations_integration_prefix_idx is
'Searching integrations by a prefix of their integration id (the console, the CLI).';

-- The integrations the tick stopped evaluating: a handful, found without reading the rest.
create index schedule_state_problem_idx on syncsched.schedule_state (id) where problem is not null;
comment on index syncsched.schedule_state_problem_idx is
'The schedules the tick could not evaluate (the console''s "invalid" filter).';

-- Acknowledging an alert: someone has seen it (it stays open until what caused it clears).
alter table syncsched.scheduler_alerts
add column acknowledged_at timestamptz,
add column acknowledged_by text;
comment on column syncsched.scheduler_alerts.acknowledged_at is
'When someone acknowledged the alert (it stays open until its cause clears).';
comment on column syncsched.scheduler_alerts.acknowledged_by is
'Who acknowledged it: the console token''s role and label, or the database role.';

-- What the console shows a reader: every table it reads (row-level security still applies); the
-- settings only through the setting_values view, which keeps a url setting (a webhook) secret.
grant select on
syncsched.organization_integrations, syncsched.schedule_state, syncsched.sync_run_log, syncsched.sync_run_attempts,
syncsched.scheduler_alerts, syncsched.endpoint_health, syncsched.integration_types, syncsched.scheduler_ticks,
syncsched.dispatch_state
to syncsched_reader;
