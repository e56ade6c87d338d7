-- The audit trail: audit_log. The API's actions call _audit; every write of an integration or a
-- setting is recorded by statement-level triggers whatever its path (API, console, plain SQL), in
-- one INSERT per statement. actor is the login (session_user, not the owner the functions run as);
-- on_behalf_of is who that login says it acts for (the console: the user of its token).

create or replace function syncsched._audit_on_behalf_of()
returns text
language sql
stable
as $$
    select nullif(left(current_setting('syncsched.actor', true), 200), '')
$$;
comment on function syncsched._audit_on_behalf_of() is
'Who the session says it acts for (the syncsched.actor setting, as the console sets it per request), or NULL.';

create or replace function syncsched._audit(
    p_action text,
    p_org_id text,
    p_integration_id text,
    p_integration_type text,
    p_run_id bigint,
    p_detail jsonb default '{}'
)
returns bigint
language sql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
    insert into syncsched.audit_log (on_behalf_of, action, org_id, integration_id, integration_type, run_id, detail)
    values (syncsched._audit_on_behalf_of(), p_action, p_org_id, p_integration_id, p_integration_type, p_run_id,
        coalesce(p_detail, '{}'))
    returning audit_id
$$;
comment on function syncsched._audit(text, text, text, text, bigint, jsonb) is
'Record an operator''s action in audit_log (actor: session_user; on_behalf_of: the syncsched.actor the session set).';

create or replace function syncsched._integration_audit_detail(p_old jsonb, p_new jsonb)
returns jsonb
language sql
immutable
as $$
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
comment on function syncsched._integration_audit_detail(jsonb, jsonb) is
'The detail of an integration''s audit entry: its configuration when created or deleted, the fields that changed ([before, after]) otherwise, NULL when nothing did.'; -- noqa: LT05

create or replace function syncsched._audit_integrations_created()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if syncsched._on_citus_worker() then
        return null;  -- on a Citus shard, where audit_log is not (docs/citus.md)
    end if;
    insert into syncsched.audit_log (on_behalf_of, action, org_id, integration_id, integration_type, detail)
    select syncsched._audit_on_behalf_of(), 'integration_created', n.org_id, n.integration_id, n.integration_type,
        syncsched._integration_audit_detail(null, to_jsonb(n))
    from new_rows as n;
    return null;
end
$$;
comment on function syncsched._audit_integrations_created() is
'Statement trigger: every integration created, with its configuration, in audit_log.';

create or replace function syncsched._audit_integrations_changed()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if syncsched._on_citus_worker() then
        return null;  -- on a Citus shard, where audit_log is not (docs/citus.md)
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
comment on function syncsched._audit_integrations_changed() is
'Statement trigger: every integration changed, with the fields that changed (before and after), in audit_log.';

create or replace function syncsched._audit_integrations_deleted()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    if syncsched._on_citus_worker() then
        return null;  -- on a Citus shard, where audit_log is not (docs/citus.md)
    end if;
    insert into syncsched.audit_log (on_behalf_of, action, org_id, integration_id, integration_type, detail)
    select syncsched._audit_on_behalf_of(), 'integration_deleted', o.org_id, o.integration_id, o.integration_type,
        syncsched._integration_audit_detail(to_jsonb(o), null)
    from old_rows as o;
    return null;
end
$$;
comment on function syncsched._audit_integrations_deleted() is
'Statement trigger: every integration deleted, with the configuration it had, in audit_log.';

create or replace function syncsched._audit_setting_writes()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched._audit_setting_writes() is
'Statement trigger: every setting whose value changed, in audit_log (url values only as set or empty).';

create or replace trigger organization_integrations_audit_insert
after insert on syncsched.organization_integrations
referencing new table as new_rows
for each statement execute function syncsched._audit_integrations_created();
comment on trigger organization_integrations_audit_insert on syncsched.organization_integrations is
'Integrations created, in audit_log.';

create or replace trigger organization_integrations_audit_update
after update on syncsched.organization_integrations
referencing old table as old_rows new table as new_rows
for each statement execute function syncsched._audit_integrations_changed();
comment on trigger organization_integrations_audit_update on syncsched.organization_integrations is
'Integrations changed (the fields that changed), in audit_log.';

create or replace trigger organization_integrations_audit_delete
after delete on syncsched.organization_integrations
referencing old table as old_rows
for each statement execute function syncsched._audit_integrations_deleted();
comment on trigger organization_integrations_audit_delete on syncsched.organization_integrations is
'Integrations deleted, in audit_log.';

create or replace trigger settings_audit
after update on syncsched.settings
referencing old table as old_rows new table as new_rows
for each statement execute function syncsched._audit_setting_writes();
comment on trigger settings_audit on syncsched.settings is
'Settings changed, in audit_log.';
