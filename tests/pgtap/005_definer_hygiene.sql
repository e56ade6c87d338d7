-- Conventions of DESIGN.md held by the catalog: every SECURITY DEFINER function and every
-- entry point pins its search_path; PUBLIC executes nothing; every API function is documented.
-- (Internal helpers, named _*, may leave it unpinned: they run inside an entry point, whose
-- search_path they inherit, or else with their caller's own rights.)
begin;
select plan(6);

select is(
    array(
        select p.oid::regprocedure::text
        from pg_proc as p
        where p.pronamespace = 'syncsched'::regnamespace and (p.prosecdef or p.proname !~ '^_')
            and not exists (
                select from unnest(coalesce(p.proconfig, '{}')) as c
                where c = 'search_path=pg_catalog, syncsched, pg_temp'
            )
        order by 1
    ),
    array['syncsched.tick(timestamp with time zone)'],
    'every SECURITY DEFINER function and every entry point pins search_path = pg_catalog, syncsched, pg_temp; '
    || 'only tick, which commits and so cannot, qualifies every name instead'
);
select is(
    (select p.prosecdef from pg_proc as p where p.oid = 'syncsched.tick(timestamptz)'::regprocedure),
    false, 'tick is SECURITY INVOKER: it runs as the role pg_cron runs it as');
select is(
    array(
        select p.oid::regprocedure::text
        from pg_proc as p
        where p.pronamespace = 'syncsched'::regnamespace
            and has_function_privilege('public', p.oid, 'EXECUTE')
        order by 1
    ),
    '{}'::text[],
    'PUBLIC can execute no syncsched function'
);
select is(
    array(
        select p.oid::regprocedure::text
        from pg_proc as p
        where p.pronamespace = 'syncsched'::regnamespace and p.proname !~ '^_'
            and obj_description(p.oid, 'pg_proc') is null
        order by 1
    ),
    '{}'::text[],
    'every API function has a COMMENT'
);
select is(
    (select count(*)::int from pg_proc as p
     where p.pronamespace = 'syncsched'::regnamespace and pg_get_userbyid(p.proowner) <> 'syncsched_owner'),
    0, 'every function belongs to the NOLOGIN owner role');

select is(
    array(
        select p.oid::regprocedure::text || ' calls ' || h.proname
        from pg_proc as p
        join pg_proc as h on h.pronamespace = p.pronamespace and h.prosecdef and h.proname ~ '^_'
        where p.pronamespace = 'syncsched'::regnamespace and not p.prosecdef
            and p.prosrc ~ ('syncsched\.' || h.proname || '\(')
            and exists (
                select from pg_roles as r
                where r.rolname ~ '^syncsched_' and r.rolname <> 'syncsched_owner'
                    and has_function_privilege(r.oid, p.oid, 'EXECUTE')
            )
        order by 1
    ),
    '{}'::text[],
    'no function another role may execute runs with its caller''s rights into an owner-only SECURITY DEFINER helper '
    || '(the caller could not execute it)'
);

select * from finish();
rollback;
