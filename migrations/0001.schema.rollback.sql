-- depends:
drop schema if exists syncsched cascade;

-- Roles are cluster-wide: they are dropped only when no other database of the
-- cluster still uses them.
do $roles$
declare
    v_role text;
begin
    foreach v_role in array array[
        'syncsched_admin', 'syncsched_worker', 'syncsched_reader', 'syncsched_owner'
    ] loop
        begin
            execute format('drop role if exists %I', v_role);
        exception when dependent_objects_still_exist then
            raise notice 'role % is still used elsewhere in the cluster; kept', v_role;
        end;
    end loop;
end
$roles$;
