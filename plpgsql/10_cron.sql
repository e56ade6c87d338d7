-- The cron engine: validation, next fire time, time zones and DST.
--
-- Dialect: Debian cron as the cronsim package (2.x) implements it, five fields.
-- Evaluation follows cronsim's algorithm:
--   * fixed-time expressions (minute and hour fields not starting with *) are
--     evaluated on the local wall clock; a wall time skipped by a spring-forward
--     gap moves to the first real minute after it, a repeated wall time fires once
--     (its first occurrence);
--   * other expressions follow real elapsed time: local fields are matched while
--     the clock moves in real seconds, so a repeated hour fires twice and a
--     skipped hour never.
-- Local wall times carry a "fold" (0 = first occurrence, 1 = second) exactly like
-- Python's datetime, so that imaginary and ambiguous times resolve as cronsim's do.

-- ---------------------------------------------------------------------------
-- Time zones
-- ---------------------------------------------------------------------------

create or replace function syncsched._tz_name_ok(p_tz text)
returns boolean
language sql
immutable
parallel safe
as $$
    -- The shape of an IANA name: a first component without digits (POSIX offsets such as
    -- UTC+3 or EST5 are not IANA names, though PostgreSQL takes them), at most 64 characters.
    select length(p_tz) <= 64
        and (p_tz ~ '^[A-Za-z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+)*$'
             or p_tz in ('EST5EDT', 'CST6CDT', 'MST7MDT', 'PST8PDT'))
$$;
comment on function syncsched._tz_name_ok(text) is
'Whether p_tz has the shape of an IANA time zone name (existence is checked separately).';

create or replace function syncsched.timezone_validate(p_tz text)
returns text
language plpgsql
stable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_probe timestamptz;
begin
    if p_tz is null or p_tz = '' then
        return 'time zone is empty';
    end if;
    if p_tz in ('UTC', 'Etc/UTC', 'Europe/Oslo') then
        return null;  -- the common cases, without a catalog lookup
    end if;
    if not syncsched._tz_name_ok(p_tz) then
        return format('unknown time zone "%s": use an IANA name such as Europe/Oslo', left(p_tz, 64));
    end if;
    begin
        v_probe := (timestamp '2000-01-01' at time zone p_tz);
    exception when invalid_parameter_value or feature_not_supported then
        return format('unknown time zone "%s"', p_tz);
    end;
    -- Names without a slash may be mere abbreviations (CEST, AEDT): those are not zones.
    if p_tz !~ '/' and not exists (select from pg_catalog.pg_timezone_names as n where n.name = p_tz) then
        return format('unknown time zone "%s": use an IANA name such as Europe/Oslo', p_tz);
    end if;
    return null;
end
$$;
comment on function syncsched.timezone_validate(text) is
'NULL when p_tz is an IANA time zone known to this server, else a message saying why not.';

create or replace function syncsched._tz_offset(p_at timestamptz, p_tz text)
returns interval
language sql
immutable
parallel safe
as $$
    select (p_at at time zone p_tz) - (p_at at time zone 'UTC')
$$;
comment on function syncsched._tz_offset(timestamptz, text) is
'UTC offset of time zone p_tz at instant p_at.';

create or replace function syncsched._tz_to_utc(p_wall timestamp, p_fold integer, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_at timestamptz := p_wall at time zone p_tz;
    v_now interval;
    v_before interval;
    v_other timestamptz;
begin
    -- PostgreSQL reads an imaginary wall time with the offset before the gap (Python's
    -- fold 0) and an ambiguous one as its second occurrence (Python's fold 1).
    if (v_at at time zone p_tz) <> p_wall then
        if p_fold = 0 then
            return v_at;
        end if;
        return (p_wall - syncsched._tz_offset(v_at, p_tz)) at time zone 'UTC';
    end if;
    if p_fold = 1 then
        return v_at;
    end if;
    v_now := syncsched._tz_offset(v_at, p_tz);
    v_before := syncsched._tz_offset(v_at - interval '3 hours', p_tz);
    if v_before > v_now then
        v_other := (p_wall - v_before) at time zone 'UTC';
        if v_other < v_at and (v_other at time zone p_tz) = p_wall then
            return v_other;
        end if;
    end if;
    return v_at;
end
$$;
comment on function syncsched._tz_to_utc(timestamp, integer, text) is
'The instant of local wall time p_wall in p_tz, resolving gaps and folds as Python''s zoneinfo does for fold p_fold.';

create or replace function syncsched._tz_fold(p_at timestamptz, p_tz text)
returns integer
language sql
immutable
parallel safe
as $$
    select case when syncsched._tz_to_utc(p_at at time zone p_tz, 0, p_tz) = p_at then 0 else 1 end
$$;
comment on function syncsched._tz_fold(timestamptz, text) is
'1 when instant p_at is the second occurrence of its local wall time in p_tz, else 0.';

create or replace function syncsched._tz_day_is_plain(p_day date, p_tz text)
returns boolean
language sql
immutable
parallel safe
as $$
    -- The local day lies within [day - 1, day + 2] in UTC for any offset of -12..+14 h.
    select syncsched._tz_offset((p_day - 1)::timestamp at time zone 'UTC', p_tz)
         = syncsched._tz_offset((p_day + 2)::timestamp at time zone 'UTC', p_tz)
$$;
comment on function syncsched._tz_day_is_plain(date, text) is
'True when p_tz has no offset change around local day p_day.';

-- ---------------------------------------------------------------------------
-- Parsing
-- ---------------------------------------------------------------------------
-- Helpers below are internal (prefix _), plain PL/pgSQL expressions without
-- queries and without SET clauses, so that evaluation stays in the microseconds.

create or replace function syncsched._bit_low(p_mask bigint)
returns integer
language sql
immutable
parallel safe
as $$
    -- position of the lowest set bit (-1 when none); exact for bits 0-62
    select case when p_mask = 0 then -1
                else round(ln((p_mask & -p_mask)::double precision) / ln(2.0))::integer end
$$;

create or replace function syncsched._bit_next(p_mask bigint, p_from integer)
returns integer
language sql
immutable
parallel safe
as $$
    -- lowest set bit at or above p_from (-1 when none)
    select syncsched._bit_low(p_mask & ~((1::bigint << p_from) - 1))
$$;

create or replace function syncsched._cron_fail(p_field integer, p_message text)
returns bigint
language plpgsql
immutable
parallel safe
as $$
begin
    raise exception '%: %', (array['minute', 'hour', 'day-of-month', 'month', 'day-of-week'])[p_field], p_message
        using errcode = 'invalid_parameter_value';
end
$$;

create or replace function syncsched._cron_number(p_text text, p_field integer, p_what text)
returns integer
language plpgsql
immutable
parallel safe
as $$
begin
    if p_text = '' then
        perform syncsched._cron_fail(p_field, format('empty %s', p_what));
    end if;
    if p_text !~ '^[0-9]+$' then
        perform syncsched._cron_fail(p_field, format('%s "%s" is not a number', p_what, left(p_text, 20)));
    end if;
    if length(ltrim(p_text, '0')) > 6 then
        return 999999;
    end if;
    return p_text::integer;
end
$$;

create or replace function syncsched._cron_value(p_text text, p_field integer)
returns integer
language plpgsql
immutable
parallel safe
as $$
declare
    v_value integer;
    v_low integer := (array[0, 0, 1, 1, 0])[p_field];
    v_high integer := (array[59, 23, 31, 12, 7])[p_field];
begin
    if p_field = 4 and length(p_text) = 3 then
        v_value := (strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) + 2) / 3;
        if v_value > 0 and (v_value - 1) * 3 + 1 = strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) then
            return v_value;
        end if;
    end if;
    if p_field = 5 and length(p_text) = 3 then
        v_value := strpos('SUNMONTUEWEDTHUFRISAT', p_text);
        if v_value > 0 and v_value % 3 = 1 then
            return (v_value - 1) / 3;
        end if;
    end if;
    if p_field in (4, 5) and p_text ~ '^[A-Z]+$' then
        perform syncsched._cron_fail(p_field, format('unknown name "%s"', left(p_text, 20)));
    end if;
    if p_text = '' then
        perform syncsched._cron_fail(p_field, 'empty value');
    end if;
    v_value := syncsched._cron_number(p_text, p_field, 'value');
    if v_value < v_low or v_value > v_high then
        perform syncsched._cron_fail(p_field, format('%s is out of range %s-%s', left(p_text, 20), v_low, v_high));
    end if;
    return v_value;
end
$$;
comment on function syncsched._cron_value(text, integer) is
'One value of a cron field (number or name), range-checked.';

create or replace function syncsched._cron_field(p_text text, p_field integer)
returns bigint
language plpgsql
immutable
parallel safe
as $$
declare
    -- bits of each field's full range: minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7
    v_high integer := (array[59, 23, 31, 12, 7])[p_field];
    v_full bigint := (array[
        1152921504606846975, 16777215, 4294967294, 8190, 255
    ]::bigint[])[p_field];
    v_mask bigint := 0;
    v_term text;
    v_items bigint;
    v_step integer;
    v_start integer;
    v_end integer;
    v_pos integer;
    v_bit integer;
    v_count integer;
begin
    if p_text = '*' then
        return v_full;
    end if;
    if strpos(p_text, ',') > 0 then
        foreach v_term in array string_to_array(p_text, ',') loop
            v_mask := v_mask | syncsched._cron_field(v_term, p_field);
        end loop;
        return v_mask;
    end if;
    if p_field = 5 and strpos(p_text, 'L') > 0 then
        v_term := left(p_text, -1);
        if v_term !~ '^[0-9]+$' then
            perform syncsched._cron_fail(
                p_field, format('"%s": L needs a weekday number before it, as in 5L', left(p_text, 20))
            );
        end if;
        return 1::bigint << (8 + syncsched._cron_value(v_term, p_field) % 7);
    end if;
    v_pos := strpos(p_text, '#');
    if p_field = 5 and v_pos > 0 then
        v_step := syncsched._cron_number(substr(p_text, v_pos + 1), p_field, 'week number');
        if v_step < 1 or v_step > 5 then
            perform syncsched._cron_fail(
                p_field, format('"%s": the week number after # must be 1-5', left(p_text, 20))
            );
        end if;
        return 1::bigint << (16 + 5 * (syncsched._cron_value(left(p_text, v_pos - 1), p_field) % 7) + v_step - 1);
    end if;
    v_pos := strpos(p_text, '/');
    if v_pos > 0 then
        v_step := syncsched._cron_number(substr(p_text, v_pos + 1), p_field, 'step');
        if v_step = 0 then
            perform syncsched._cron_fail(p_field, format('"%s": step must be at least 1', left(p_text, 20)));
        end if;
        v_items := syncsched._cron_field(left(p_text, v_pos - 1), p_field);
        if p_field = 3 and v_items >= (1::bigint << 32) then
            return v_items;  -- L/n and LW/n are L and LW
        end if;
        v_start := syncsched._bit_low(v_items);
        if v_items & (v_items - 1) = 0 then
            -- a single start value runs to the end of the field's range
            for v_bit in v_start .. v_high by v_step loop
                v_mask := v_mask | (1::bigint << v_bit);
            end loop;
            return v_mask;
        end if;
        v_count := 0;
        for v_bit in v_start .. v_high loop
            if (v_items >> v_bit) & 1 = 1 then
                if v_count % v_step = 0 then
                    v_mask := v_mask | (1::bigint << v_bit);
                end if;
                v_count := v_count + 1;
            end if;
        end loop;
        return v_mask;
    end if;
    v_pos := strpos(p_text, '-');
    if v_pos > 0 then
        v_start := syncsched._cron_value(left(p_text, v_pos - 1), p_field);
        v_end := syncsched._cron_value(substr(p_text, v_pos + 1), p_field);
        if v_end < v_start then
            perform syncsched._cron_fail(p_field, format('range %s goes backwards', left(p_text, 20)));
        end if;
        return ((1::bigint << (v_end + 1)) - 1) & ~((1::bigint << v_start) - 1);
    end if;
    if p_field = 3 and p_text = 'LW' then
        return 1::bigint << 33;
    end if;
    if p_field = 3 and p_text = 'L' then
        return 1::bigint << 32;
    end if;
    return 1::bigint << syncsched._cron_value(p_text, p_field);
end
$$;
comment on function syncsched._cron_field(text, integer) is
'Bit mask of one upper-cased cron field (1 minute, 2 hour, 3 day-of-month, 4 month, 5 day-of-week); see cron_spec.';

create or replace function syncsched._cron_fields(p_expr text)
returns text[]
language plpgsql
immutable
parallel safe
as $$
declare
    -- Python's str.split() separators, so that field counting agrees with cronsim.
    c_space constant text := E'[ \\t\\n\\r\\f\\v\\u001c-\\u001f\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+';
    v_fields text[];
begin
    if p_expr is null then
        raise exception 'cron expression is null' using errcode = 'invalid_parameter_value';
    end if;
    if length(p_expr) > 1000 then
        raise exception 'cron expression is too long (% characters, at most 1000)', length(p_expr)
            using errcode = 'invalid_parameter_value';
    end if;
    if p_expr ~ '^[0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+$' then
        return string_to_array(upper(p_expr), ' ');  -- the common, well-spaced form
    end if;
    v_fields := array_remove(regexp_split_to_array(upper(p_expr), c_space), '');
    if cardinality(v_fields) = 1 and left(v_fields[1], 1) = '@' then
        v_fields := case v_fields[1]
            when '@YEARLY' then array['0', '0', '1', '1', '*']
            when '@ANNUALLY' then array['0', '0', '1', '1', '*']
            when '@MONTHLY' then array['0', '0', '1', '*', '*']
            when '@WEEKLY' then array['0', '0', '*', '*', '0']
            when '@DAILY' then array['0', '0', '*', '*', '*']
            when '@MIDNIGHT' then array['0', '0', '*', '*', '*']
            when '@HOURLY' then array['0', '*', '*', '*', '*']
        end;
        if v_fields is null then
            raise exception 'unknown macro "%": use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly',
                left(btrim(p_expr), 20)
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    if cardinality(v_fields) <> 5 then
        raise exception 'expected 5 fields, got %', cardinality(v_fields)
            using errcode = 'invalid_parameter_value';
    end if;
    return v_fields;
end
$$;
comment on function syncsched._cron_fields(text) is
'The five upper-cased fields of a cron expression, macros expanded; raises invalid_parameter_value.';

create or replace function syncsched._cron_parse(p_expr text)
returns syncsched.cron_spec
language plpgsql
immutable
parallel safe
as $$
declare
    v_fields text[] := syncsched._cron_fields(p_expr);
    v_spec syncsched.cron_spec;
    v_min_day integer;
    v_longest integer := 0;
    v_month integer;
    v_weekdays bigint;
begin
    -- '*' and a plain number are most fields of most schedules: no call for them
    v_spec.minutes := case
        when v_fields[1] = '*' then 1152921504606846975
        when v_fields[1] ~ '^[0-9]{1,2}$' and v_fields[1]::integer < 60 then 1::bigint << v_fields[1]::integer
        else syncsched._cron_field(v_fields[1], 1)
    end;
    v_spec.hours := case
        when v_fields[2] = '*' then 16777215
        when v_fields[2] ~ '^[0-9]{1,2}$' and v_fields[2]::integer < 24 then 1::bigint << v_fields[2]::integer
        else syncsched._cron_field(v_fields[2], 2)
    end;
    v_spec.days := case when v_fields[3] = '*' then 4294967294 else syncsched._cron_field(v_fields[3], 3) end;
    v_spec.months := case when v_fields[4] = '*' then 8190 else syncsched._cron_field(v_fields[4], 4) end;
    v_weekdays := case when v_fields[5] = '*' then 255 else syncsched._cron_field(v_fields[5], 5) end;
    -- weekday 7 is Sunday
    v_spec.weekdays := (v_weekdays & ~(1::bigint << 7)) | ((v_weekdays >> 7) & 1);
    v_spec.day_and := left(v_fields[3], 1) = '*' or left(v_fields[5], 1) = '*';
    v_spec.fixed_time := left(v_fields[1], 1) <> '*' and left(v_fields[2], 1) <> '*';
    v_spec.any_day := v_spec.day_and and v_spec.days = 4294967294 and v_spec.weekdays = 127;
    v_min_day := syncsched._bit_low(v_spec.days);
    if v_spec.days < (1::bigint << 32) and v_min_day > 29 and v_spec.day_and then
        for v_month in 1 .. 12 loop
            if (v_spec.months >> v_month) & 1 = 1 then
                v_longest := greatest(v_longest, (array[31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[v_month]);
            end if;
        end loop;
        if v_min_day > v_longest then
            raise exception 'day-of-month: day % never occurs in month %', v_min_day, v_fields[4]
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    return v_spec;
end
$$;
comment on function syncsched._cron_parse(text) is
'cron_parse without its pinned search_path, for the callers inside syncsched (which pin theirs).';

-- Entry points pin their search_path; the bodies they share (_cron_parse, _cron_next_spec)
-- do not, so that a call from inside syncsched switches search_path once, not at every level.
create or replace function syncsched.cron_parse(p_expr text)
returns syncsched.cron_spec
language sql
immutable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._cron_parse(p_expr)
$$;
comment on function syncsched.cron_parse(text) is
'The parsed form of a cron expression; raises invalid_parameter_value with the cron_validate message.';

create or replace function syncsched.cron_validate(p_expr text)
returns text
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    perform syncsched._cron_parse(p_expr);
    return null;
exception
    when invalid_parameter_value then
        return sqlerrm;
    when others then
        return format('invalid cron expression (%s)', sqlerrm);
end
$$;
comment on function syncsched.cron_validate(text) is
'NULL when p_expr is a valid cron expression, else one message naming the field and the bad value. Never raises.';

-- ---------------------------------------------------------------------------
-- Evaluation
-- ---------------------------------------------------------------------------

create or replace function syncsched._cron_day_matches(p_spec syncsched.cron_spec, p_day date)
returns boolean
language plpgsql
immutable
parallel safe
as $$
declare
    v_dom integer;
    v_dow integer;
    v_last integer := 0;
    v_last_weekday integer;
    v_dom_ok boolean;
    v_dow_ok boolean;
begin
    if p_spec.any_day then
        return true;
    end if;
    v_dom := extract(day from p_day)::integer;
    v_dom_ok := (p_spec.days >> v_dom) & 1 = 1;
    if not v_dom_ok and v_dom >= 26 and p_spec.days >= (1::bigint << 32) then
        v_last := extract(day from (date_trunc('month', p_day) + interval '1 month - 1 day'))::integer;
        if (p_spec.days >> 32) & 1 = 1 and v_dom = v_last then
            v_dom_ok := true;
        end if;
        if not v_dom_ok and (p_spec.days >> 33) & 1 = 1 then
            v_last_weekday := case extract(dow from (p_day + (v_last - v_dom)))::integer
                when 0 then v_last - 2
                when 6 then v_last - 1
                else v_last
            end;
            v_dom_ok := v_dom = v_last_weekday;
        end if;
    end if;
    if p_spec.day_and and not v_dom_ok then
        return false;
    end if;
    if not p_spec.day_and and v_dom_ok then
        return true;
    end if;
    v_dow := extract(dow from p_day)::integer;
    v_dow_ok := (p_spec.weekdays >> v_dow) & 1 = 1
        or (p_spec.weekdays >> (16 + 5 * v_dow + (v_dom - 1) / 7)) & 1 = 1;
    if not v_dow_ok and (p_spec.weekdays >> (8 + v_dow)) & 1 = 1 then
        if v_last = 0 then
            v_last := extract(day from (date_trunc('month', p_day) + interval '1 month - 1 day'))::integer;
        end if;
        v_dow_ok := v_dom + 7 > v_last;
    end if;
    return v_dow_ok;
end
$$;
comment on function syncsched._cron_day_matches(syncsched.cron_spec, date) is
'Whether the day fields of p_spec match p_day (Debian''s rule: AND when a day field starts with *, else OR).';

create or replace function syncsched._cron_next_wall(p_spec syncsched.cron_spec, p_from timestamp)
returns timestamp
language plpgsql
immutable
parallel safe
as $$
declare
    v_at timestamp := date_trunc('minute', p_from);
    v_limit integer;
    v_year integer;
    v_month integer;
    v_hour integer;
    v_minute integer;
    v_next integer;
    v_day date;
begin
    if v_at < p_from then
        v_at := v_at + interval '1 minute';
    end if;
    v_limit := extract(year from v_at)::integer + 50;
    loop
        v_year := extract(year from v_at)::integer;
        if v_year > v_limit then
            return null;
        end if;
        v_month := extract(month from v_at)::integer;
        if (p_spec.months >> v_month) & 1 = 0 then
            v_next := syncsched._bit_next(p_spec.months, v_month + 1);
            if v_next < 0 then
                v_year := v_year + 1;
                v_next := syncsched._bit_low(p_spec.months);
            end if;
            v_at := make_timestamp(v_year, v_next, 1, 0, 0, 0);
            continue;
        end if;
        v_day := v_at::date;
        if not p_spec.any_day and not syncsched._cron_day_matches(p_spec, v_day) then
            if p_spec.day_and and p_spec.weekdays = 127 and p_spec.days < (1::bigint << 32) then
                -- only day-of-month numbers: jump to the next one, or to the next month
                v_next := syncsched._bit_next(p_spec.days, extract(day from v_day)::integer + 1);
                v_day := case
                    when v_next < 0 or v_next > extract(day from (date_trunc('month', v_day) + interval '1 month - 1 day'))
                        then (date_trunc('month', v_day) + interval '1 month')::date
                    else make_date(v_year, v_month, v_next)
                end;
            elsif p_spec.day_and and p_spec.days = 4294967294 and p_spec.weekdays < 128 then
                -- only plain weekdays: jump to the next one, stopping at the first of a month
                v_next := syncsched._bit_next(p_spec.weekdays | (p_spec.weekdays << 7),
                                              extract(dow from v_day)::integer + 1)
                    - extract(dow from v_day)::integer;
                v_day := least(v_day + v_next, (date_trunc('month', v_day) + interval '1 month')::date);
            else
                loop
                    v_day := v_day + 1;
                    exit when extract(day from v_day) = 1 or syncsched._cron_day_matches(p_spec, v_day);
                end loop;
            end if;
            v_at := v_day::timestamp;
            continue;
        end if;
        v_hour := extract(hour from v_at)::integer;
        if (p_spec.hours >> v_hour) & 1 = 0 then
            v_next := syncsched._bit_next(p_spec.hours, v_hour + 1);
            v_at := case
                when v_next < 0 then v_day + interval '1 day'
                else v_day + make_interval(hours => v_next)
            end;
            continue;
        end if;
        v_minute := extract(minute from v_at)::integer;
        if (p_spec.minutes >> v_minute) & 1 = 0 then
            v_next := syncsched._bit_next(p_spec.minutes, v_minute + 1);
            v_at := case
                when v_next < 0 then date_trunc('hour', v_at) + interval '1 hour'
                else date_trunc('hour', v_at) + make_interval(mins => v_next)
            end;
            continue;
        end if;
        return v_at;
    end loop;
end
$$;
comment on function syncsched._cron_next_wall(syncsched.cron_spec, timestamp) is
'First wall-clock minute at or after p_from that matches p_spec, ignoring time zones (NULL beyond 50 years).';

create or replace function syncsched._cron_tick(
    inout p_wall timestamp, inout p_fold integer, p_seconds integer, p_tz text
)
language plpgsql
immutable
parallel safe
as $$
declare
    v_at timestamptz := syncsched._tz_to_utc(p_wall, p_fold, p_tz) + make_interval(secs => p_seconds);
begin
    p_wall := v_at at time zone p_tz;
    p_fold := syncsched._tz_fold(v_at, p_tz);
end
$$;
comment on function syncsched._cron_tick(timestamp, integer, integer, text) is
'Move a local wall time (with its fold) forward by p_seconds of real time.';

create or replace function syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_at timestamptz := date_trunc('second', p_after) + interval '1 second';
    v_wall timestamp := v_at at time zone p_tz;
    v_fold integer := syncsched._tz_fold(v_at, p_tz);
    v_limit integer := extract(year from v_wall)::integer + 50;
    v_day date;
    v_value integer;
    v_target integer;
begin
    -- cronsim's loop, step for step, with the clock moving in real seconds.
    loop
        if (p_spec.months >> extract(month from v_wall)::integer) & 1 = 0 then
            v_day := date_trunc('month', v_wall)::date;
            loop
                v_day := (v_day + interval '1 month')::date;
                exit when (p_spec.months >> extract(month from v_day)::integer) & 1 = 1;
            end loop;
            v_wall := v_day::timestamp;
            v_fold := 0;
        end if;
        if extract(year from v_wall) > v_limit then
            return null;
        end if;
        v_day := v_wall::date;
        if not syncsched._cron_day_matches(p_spec, v_day) then
            loop
                v_day := v_day + 1;
                exit when extract(day from v_day) = 1 or syncsched._cron_day_matches(p_spec, v_day);
            end loop;
            v_wall := v_day::timestamp;
            v_fold := 0;
            continue;
        end if;
        v_value := extract(hour from v_wall)::integer;
        if (p_spec.hours >> v_value) & 1 = 0 then
            v_wall := date_trunc('hour', v_wall);
            loop
                select t.p_wall, t.p_fold into v_wall, v_fold from syncsched._cron_tick(v_wall, v_fold, 3600, p_tz) as t;
                v_value := extract(hour from v_wall)::integer;
                exit when (p_spec.hours >> v_value) & 1 = 1 or v_value = 0;
            end loop;
            continue;
        end if;
        v_value := extract(minute from v_wall)::integer;
        if (p_spec.minutes >> v_value) & 1 = 0 then
            v_wall := date_trunc('minute', v_wall);
            if p_spec.minutes & (p_spec.minutes - 1) = 0 then
                v_target := syncsched._bit_low(p_spec.minutes);
                select t.p_wall, t.p_fold into v_wall, v_fold
                from syncsched._cron_tick(v_wall, v_fold, ((v_target - v_value + 60) % 60) * 60, p_tz) as t;
            end if;
            loop
                v_value := extract(minute from v_wall)::integer;
                exit when (p_spec.minutes >> v_value) & 1 = 1;
                select t.p_wall, t.p_fold into v_wall, v_fold from syncsched._cron_tick(v_wall, v_fold, 60, p_tz) as t;
                exit when extract(minute from v_wall) = 0;
            end loop;
            continue;
        end if;
        v_value := floor(extract(second from v_wall))::integer;
        if v_value <> 0 then
            select t.p_wall, t.p_fold into v_wall, v_fold
            from syncsched._cron_tick(v_wall, v_fold, 60 - v_value, p_tz) as t;
            continue;
        end if;
        return syncsched._tz_to_utc(v_wall, v_fold, p_tz);
    end loop;
end
$$;
comment on function syncsched._cron_next_elapsed(syncsched.cron_spec, timestamptz, text) is
'Next fire time of a non-fixed-time expression around a DST change: cronsim''s algorithm in real elapsed time.';

create or replace function syncsched._tz_check(p_tz text)
returns void
language plpgsql
immutable
parallel safe
as $$
begin
    -- Cheap checks for the hot path; an unknown name then fails in AT TIME ZONE with
    -- PostgreSQL's own message. timezone_validate is the thorough check.
    if p_tz is null or p_tz = '' then
        raise exception 'time zone is empty' using errcode = 'invalid_parameter_value';
    end if;
    if not syncsched._tz_name_ok(p_tz) then
        raise exception 'unknown time zone "%": use an IANA name such as Europe/Oslo', left(p_tz, 64)
            using errcode = 'invalid_parameter_value';
    end if;
end
$$;

create or replace function syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_from timestamp;
    v_wall timestamp;
begin
    if p_tz is null or (p_tz <> 'UTC' and not syncsched._tz_name_ok(p_tz)) then
        perform syncsched._tz_check(p_tz);  -- raises with the message
    end if;
    if p_after is null then
        raise exception 'the instant to start from is null' using errcode = 'invalid_parameter_value';
    end if;
    v_from := date_trunc('second', p_after at time zone p_tz) + interval '1 second';
    v_wall := syncsched._cron_next_wall(p_spec, v_from);
    if v_wall is null then
        return null;
    end if;
    if p_tz = 'UTC' then
        return v_wall at time zone 'UTC';
    end if;
    if p_spec.fixed_time then
        -- A wall time inside a spring-forward gap moves to the first real minute after it.
        while (v_wall at time zone p_tz) at time zone p_tz <> v_wall loop
            v_wall := v_wall + interval '1 minute';
        end loop;
        return syncsched._tz_to_utc(v_wall, 0, p_tz);
    end if;
    -- Elapsed-time expressions: the wall-clock answer holds unless the clock changes
    -- on the first or the last day of the search.
    if syncsched._tz_day_is_plain(v_from::date, p_tz)
        and (v_wall::date = v_from::date or syncsched._tz_day_is_plain(v_wall::date, p_tz)) then
        return v_wall at time zone p_tz;
    end if;
    return syncsched._cron_next_elapsed(p_spec, p_after, p_tz);
end
$$;
comment on function syncsched._cron_next_spec(syncsched.cron_spec, timestamptz, text) is
'cron_next_spec without its pinned search_path, for the callers inside syncsched (the tick).';

create or replace function syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language sql
immutable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._cron_next_spec(p_spec, p_after, p_tz)
$$;
comment on function syncsched.cron_next_spec(syncsched.cron_spec, timestamptz, text) is
'cron_next for an already parsed expression (see cron_parse).';

create or replace function syncsched.cron_next(p_expr text, p_after timestamptz, p_tz text default 'UTC')
returns timestamptz
language sql
stable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._cron_next_spec(syncsched._cron_parse(p_expr), p_after, p_tz)
$$;
comment on function syncsched.cron_next(text, timestamptz, text) is
'First fire time of cron expression p_expr after p_after, evaluated in IANA time zone p_tz (DST as Debian cron). Raises invalid_parameter_value for a bad expression or zone.';

create or replace function syncsched.cron_matches(p_expr text, p_at timestamptz, p_tz text default 'UTC')
returns boolean
language sql
stable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
    select syncsched._cron_next_spec(syncsched._cron_parse(p_expr), date_trunc('minute', p_at) - interval '1 second', p_tz)
        = date_trunc('minute', p_at)
$$;
comment on function syncsched.cron_matches(text, timestamptz, text) is
'Whether the minute containing p_at is a fire time of p_expr in p_tz.';

create or replace function syncsched.next_runs(
    p_expr text, p_tz text default 'UTC', p_count integer default 5, p_after timestamptz default now()
)
returns setof timestamptz
language plpgsql
stable
parallel safe
rows 5
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_spec syncsched.cron_spec := syncsched._cron_parse(p_expr);
    v_at timestamptz := p_after;
    v_emitted integer := 0;
begin
    if p_count is null or p_count < 0 or p_count > 10000 then
        raise exception 'p_count must be between 0 and 10000' using errcode = 'invalid_parameter_value';
    end if;
    while v_emitted < p_count loop
        v_at := syncsched._cron_next_spec(v_spec, v_at, p_tz);
        exit when v_at is null;
        if v_at > p_after then
            return next v_at;
            v_emitted := v_emitted + 1;
        end if;
    end loop;
end
$$;
comment on function syncsched.next_runs(text, text, integer, timestamptz) is
'The next p_count fire times of p_expr in p_tz after p_after: a preview for DBAs.';
