-- Conventions of DESIGN.md held by the catalog: every SECURITY DEFINER function pins its
-- search_path and is not executable by PUBLIC; every API function is documented.
begin;
select plan(4);

select is(
    array(
        select p.oid::regprocedure::text
        from pg_proc as p
        where p.pronamespace = 'syncsched'::regnamespace and p.prosecdef
            and not exists (
                select from unnest(coalesce(p.proconfig, '{}')) as c
                where c = 'search_path=pg_catalog, syncsched, pg_temp'
            )
        order by 1
    ),
    '{}'::text[],
    'every SECURITY DEFINER function has SET search_path = pg_catalog, syncsched, pg_temp'
);
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

select * from finish();
rollback;
