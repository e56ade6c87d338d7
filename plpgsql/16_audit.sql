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

create or replace function syncsched._shard_outbox_add(
    p_action text, p_org_id text, p_integration_id text, p_integration_type text, p_detail jsonb,
    p_resolves_alert text default null
)
returns void
language plpgsql
as $$
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
comment on function syncsched._shard_outbox_add(text, text, text, text, jsonb, text) is
'On a Citus shard: an audit entry (p_action, p_detail) or an alert to resolve (p_resolves_alert) for the coordinator, in shard_outbox.'; -- noqa: LT05

create or replace function syncsched.collect_shard_outbox()
returns integer
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
comment on function syncsched.collect_shard_outbox() is
'Distributed mode (Citus): move what the integrations'' triggers left on the shards (shard_outbox) into audit_log and scheduler_alerts; the tick calls it. Returns how many entries it moved; 0 elsewhere.'; -- noqa: LT05

create or replace function syncsched._audit_integrations_created()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, syncsched, pg_temp
as $$
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
