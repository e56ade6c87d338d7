-- Reading settings: one place, typed by the caller.

create or replace function syncsched.setting(p_key text)
returns text
language plpgsql
stable
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_value text;
begin
    select s.value into v_value from syncsched.settings as s where s.key = p_key;
    if not found then
        raise exception 'syncsched: unknown setting "%"', p_key
            using errcode = 'invalid_parameter_value';
    end if;
    return v_value;
end
$$;
comment on function syncsched.setting(text) is
'The value of a row of syncsched.settings; raises invalid_parameter_value for an unknown key.';
