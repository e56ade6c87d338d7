-- Settings: typed, checked on every write, read in one place.
-- Each key has a type, a default and (intervals, integers) a range, declared by the migration
-- that adds it. A value is checked when it is written, by set_setting() or by an UPDATE of
-- syncsched.settings (the same trigger), so that no reader (the tick, claims, schedule checks)
-- can ever fail on a stored setting.

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
'The value of a setting (text, checked against its type when written); raises invalid_parameter_value for an unknown key.';

create or replace function syncsched._setting_expected(p_type text, p_min text, p_max text)
returns text
language sql
immutable
parallel safe
as $$
    select case p_type
        when 'interval' then format('an interval from %s to %s, such as ''5 minutes''', p_min, p_max)
        when 'integer' then format('a whole number from %s to %s', p_min, p_max)
        when 'boolean' then 'true or false'
        when 'url' then 'empty (off), an http(s) URL, or env:NAME (the URL is in the workers'' variable NAME)'
        when 'host_list' then 'empty, or host names and addresses separated by commas'
    end
$$;
comment on function syncsched._setting_expected(text, text, text) is
'The form a setting of this type and range takes, as error messages say it.';

create or replace function syncsched._setting_normalized(p_type text, p_value text, p_min text, p_max text)
returns text
language plpgsql
immutable
as $$
declare
    v_value text := btrim(p_value);
begin
    -- NULL when the value does not fit the type and range, else the value as it is stored.
    if p_value is null then
        return null;
    end if;
    case p_type
        when 'interval' then
            if v_value::interval not between p_min::interval and p_max::interval then
                return null;
            end if;
            return v_value;
        when 'integer' then
            if v_value !~ '^[+-]?[0-9]{1,9}$' or v_value::integer not between p_min::integer and p_max::integer then
                return null;
            end if;
            return v_value::integer::text;
        when 'boolean' then
            return v_value::boolean::text;
        when 'url' then
            if v_value = '' or v_value ~ '^env:[A-Z_][A-Z0-9_]*$' or v_value ~* '^https?://[^/?#\s]+[^\s]*$' then
                return v_value;
            end if;
            return null;
        when 'host_list' then
            if v_value = '' then
                return '';
            end if;
            if exists (
                select from unnest(string_to_array(v_value, ',')) as h
                where btrim(h) !~ '^[A-Za-z0-9._:\[\]-]{1,253}$'
            ) then
                return null;
            end if;
            return array_to_string(array(select btrim(h) from unnest(string_to_array(v_value, ',')) as h), ',');
        else
            return null;
    end case;
exception
    when invalid_datetime_format or datetime_field_overflow or interval_field_overflow
        or invalid_text_representation or numeric_value_out_of_range then
        return null;
end
$$;
comment on function syncsched._setting_normalized(text, text, text, text) is
'The value as stored (trimmed; booleans and integers in canonical form), or NULL when it does not fit the type and range.';

create or replace function syncsched._settings_before_write()
returns trigger
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_value text := syncsched._setting_normalized(new.type, new.value, new.min_value, new.max_value);
begin
    if v_value is null then
        raise exception 'syncsched: setting %: % is not %', new.key, coalesce(quote_literal(left(new.value, 200)), 'NULL'),
            syncsched._setting_expected(new.type, new.min_value, new.max_value)
            using errcode = 'invalid_parameter_value',
                hint = format('the default is %s', quote_literal(new.default_value));
    end if;
    new.value := v_value;
    new.updated_at := now();
    return new;
end
$$;
comment on function syncsched._settings_before_write() is
'Refuses a setting value that does not fit its type and range (SQLSTATE 22023 naming key, value and the expected form).';

create or replace trigger settings_check
before insert or update on syncsched.settings
for each row execute function syncsched._settings_before_write();
comment on trigger settings_check on syncsched.settings is
'Every value written is checked against the key''s type and range: a bad one is refused, nothing written.';

create or replace function syncsched.set_setting(p_key text, p_value text)
returns text
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_value text;
begin
    perform syncsched.setting(p_key);  -- an unknown key is a clear error
    update syncsched.settings as s set value = p_value where s.key = p_key returning s.value into v_value;
    return v_value;
end
$$;
comment on function syncsched.set_setting(text, text) is
'Change a setting; the value is checked against the key''s type and range (SQLSTATE 22023 when it does not fit, nothing written). Returns the value stored.'; -- noqa: LT05

create or replace function syncsched.reset_setting(p_key text)
returns text
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_value text;
begin
    perform syncsched.setting(p_key);
    update syncsched.settings as s set value = s.default_value where s.key = p_key returning s.value into v_value;
    return v_value;
end
$$;
comment on function syncsched.reset_setting(text) is
'Set a setting back to its default; returns it.';
