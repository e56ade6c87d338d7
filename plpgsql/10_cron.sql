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
--
-- The contract is stronger than cronsim's: cron_next always terminates (every loop
-- has a bound, and a hard cap raises program_limit_exceeded) and always returns an
-- instant later than the one it was given. Where cronsim would hang (Chatham's
-- 03:45 fall-back, St_Johns' 00:01) or go backwards (a repeated hour), the answer is
-- the rule of the README: the first later instant whose wall clock matches, and for
-- fixed-time expressions the first later fire time under Debian's DST rules.
--
-- Time zones are read in one direction only, instant to wall clock (AT TIME ZONE on a
-- timestamptz), which PostgreSQL computes exactly; wall clock to instant is derived
-- from the offsets around it. The engine relies on tzdata's shape between 1900 and
-- 2100, which the tests check: offsets within +-15 hours, changes of at most 24 hours,
-- more than 72 hours apart, so that a window of 72 hours holds one change at most
-- (tzdata 2025b: offsets -12..+14 hours, changes of 24 hours at most, 95 hours apart).

-- ---------------------------------------------------------------------------
-- Time zones
-- ---------------------------------------------------------------------------

-- Their arguments grew (p_seed, for H): the old signatures go, so that calls stay unambiguous.
drop function if exists syncsched._cron_fields(text);
drop function if exists syncsched._cron_parse(text);
drop function if exists syncsched.cron_parse(text);
drop function if exists syncsched.cron_validate(text);
drop function if exists syncsched.cron_next(text, timestamptz, text);
drop function if exists syncsched.cron_matches(text, timestamptz, text);
drop function if exists syncsched.next_runs(text, text, integer, timestamptz);

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
parallel unsafe  -- its exception block starts a subtransaction, which a parallel plan cannot
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
    -- A zone that is also an abbreviation (CET, EET, EST, HST, MET, MST, WET) is read by
    -- AT TIME ZONE as the abbreviation's fixed offset, without its DST and history.
    if p_tz !~ '/' and p_tz not in ('GMT', 'UCT', 'Zulu')
        and exists (select from pg_catalog.pg_timezone_abbrevs as a where lower(a.abbrev) = lower(p_tz)) then
        return format(
            'time zone "%s" is also an abbreviation, which PostgreSQL reads as a fixed offset without DST:'
            ' use the name of a place, such as Europe/Paris', p_tz);
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

create or replace function syncsched._tz_change(p_lo timestamptz, p_hi timestamptz, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_before interval := syncsched._tz_offset(p_lo, p_tz);
    -- whole seconds since the epoch: tzdata's changes fall on whole seconds
    v_lo double precision := floor(date_part('epoch', p_lo at time zone 'UTC'));
    v_hi double precision := ceil(date_part('epoch', p_hi at time zone 'UTC'));
    v_step double precision;
    v_a double precision;
    v_b double precision;
    v_mid double precision;
begin
    if syncsched._tz_offset(p_hi, p_tz) = v_before then
        return null;
    end if;
    -- Bisection on a grid of hours, then of minutes, then of seconds: most changes fall
    -- on a whole hour or minute of UTC, where the finer grids are not needed. Invariant:
    -- the offset at v_lo is v_before, the offset at v_hi is not.
    foreach v_step in array array[3600, 60, 1]::double precision[] loop
        v_a := floor(v_lo / v_step);
        v_b := ceil(v_hi / v_step);
        while v_b - v_a > 1 loop
            v_mid := floor((v_a + v_b) / 2);
            if syncsched._tz_offset(to_timestamp(v_mid * v_step), p_tz) = v_before then
                v_a := v_mid;
            else
                v_b := v_mid;
            end if;
        end loop;
        v_lo := greatest(v_lo, v_a * v_step);
        v_hi := least(v_hi, v_b * v_step);
        exit when v_hi - v_lo <= 1;
        if syncsched._tz_offset(to_timestamp(v_hi - 1), p_tz) = v_before then
            exit;  -- exactly on this grid
        end if;
        v_hi := v_hi - 1;
    end loop;
    return to_timestamp(v_hi);
end
$$;
comment on function syncsched._tz_change(timestamptz, timestamptz, text) is
'The instant in (p_lo, p_hi] at which the UTC offset of p_tz changes, NULL when it is the same at both ends. The window must hold at most one change (72 hours do).';

create or replace function syncsched._tz_day_is_plain(p_day date, p_tz text)
returns boolean
language sql
immutable
parallel safe
as $$
    -- The local day lies within [day - 1, day + 2] in UTC for any offset of -24..+24 h;
    -- 72 hours hold at most one change, so equal offsets at both ends mean none.
    select syncsched._tz_offset((p_day - 1)::timestamp at time zone 'UTC', p_tz)
         = syncsched._tz_offset((p_day + 2)::timestamp at time zone 'UTC', p_tz)
$$;
comment on function syncsched._tz_day_is_plain(date, text) is
'True when p_tz has no offset change around local day p_day (the UTC window from the day before to two days after).';

create or replace function syncsched._tz_to_utc(p_wall timestamp, p_fold integer, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_lo timestamptz := (p_wall::date - 1)::timestamp at time zone 'UTC';
    v_hi timestamptz := (p_wall::date + 2)::timestamp at time zone 'UTC';
    v_before interval := syncsched._tz_offset(v_lo, p_tz);
    v_after interval := syncsched._tz_offset(v_hi, p_tz);
    v_change timestamp;
begin
    if v_before = v_after then
        return (p_wall - v_before) at time zone 'UTC';
    end if;
    v_change := syncsched._tz_change(v_lo, v_hi, p_tz) at time zone 'UTC';
    -- Python's zoneinfo: with fold 0 the new offset applies from the later of the two wall
    -- times of the change on, with fold 1 from the earlier one. A repeated wall time is
    -- thus its first occurrence with fold 0, and a skipped one takes the offset before.
    return (p_wall - case
        when p_wall >= v_change + case when p_fold = 0 then greatest(v_before, v_after) else least(v_before, v_after) end
            then v_after
        else v_before
    end) at time zone 'UTC';
end
$$;
comment on function syncsched._tz_to_utc(timestamp, integer, text) is
'The instant of local wall time p_wall in p_tz, resolving gaps and repeated times as Python''s zoneinfo does for fold p_fold.';

create or replace function syncsched._tz_fold(p_at timestamptz, p_tz text)
returns integer
language plpgsql
immutable
parallel safe
as $$
declare
    -- a repeated stretch lasts at most 24 hours
    v_change timestamptz := syncsched._tz_change(p_at - interval '25 hours', p_at, p_tz);
    v_back interval;
begin
    if v_change is null then
        return 0;
    end if;
    v_back := syncsched._tz_offset(v_change - interval '1 second', p_tz) - syncsched._tz_offset(v_change, p_tz);
    return case when p_at < v_change + v_back then 1 else 0 end;
end
$$;
comment on function syncsched._tz_fold(timestamptz, text) is
'1 when instant p_at is the second occurrence of its local wall time in p_tz, else 0.';

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
comment on function syncsched._tz_check(text) is
'Raises invalid_parameter_value when p_tz is empty or not shaped like an IANA name.';

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

create or replace function syncsched._cron_plain_value(p_text text, p_field integer)
returns integer
language sql
immutable
parallel safe
as $$
    -- a number (one or two digits) or a three-letter name, NULL when it is not a valid value
    select case
        when p_text ~ '^[0-9]+$' then case
            when p_text::integer between (array[0, 0, 1, 1, 0])[p_field] and (array[59, 23, 31, 12, 7])[p_field]
                then p_text::integer
        end
        when p_field = 4 and strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) % 3 = 1
            then (strpos('JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC', p_text) + 2) / 3
        when p_field = 5 and strpos('SUNMONTUEWEDTHUFRISAT', p_text) % 3 = 1
            then (strpos('SUNMONTUEWEDTHUFRISAT', p_text) - 1) / 3
    end
$$;
comment on function syncsched._cron_plain_value(text, integer) is
'One value of cron field p_field (1-5), a number or an upper-case name; NULL when not valid (the long path says why).';

create or replace function syncsched._cron_term(p_text text, p_field integer)
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
        v_items := syncsched._cron_term(left(p_text, v_pos - 1), p_field);
        if p_field = 3 and v_items >= (1::bigint << 32) then
            return v_items;  -- L/n and LW/n are L and LW
        end if;
        v_start := syncsched._bit_low(v_items);
        if v_items & (v_items - 1) = 0 and strpos(left(p_text, v_pos - 1), '-') = 0 then
            -- a single start value runs to the end of the field's range (a range a-a stays a)
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
comment on function syncsched._cron_term(text, integer) is
'Bit mask of one term of an upper-cased cron field (1 minute, 2 hour, 3 day-of-month, 4 month, 5 day-of-week), every form; raises invalid_parameter_value naming the problem.';

create or replace function syncsched._cron_field(p_text text, p_field integer)
returns bigint
language plpgsql
immutable
parallel safe
as $$
declare
    v_low integer := case p_field when 3 then 1 when 4 then 1 else 0 end;
    v_high integer := case p_field when 1 then 59 when 2 then 23 when 3 then 31 when 4 then 12 else 7 end;
    v_mask bigint := 0;
    v_term text;
    v_range text;
    v_slash integer;
    v_dash integer;
    v_start integer;
    v_end integer;
    v_step integer;
begin
    -- The plain terms (a value, a range of numbers or names, each with a step), as most
    -- expressions are written, are read here with string functions; any other term, and a
    -- plain one that is out of range or backwards, goes to _cron_term, which names the problem.
    if p_text = '' then
        return syncsched._cron_term(p_text, p_field);  -- raises: empty value
    end if;
    foreach v_term in array string_to_array(p_text, ',') loop
        if v_term ~ '^(\*|[0-9]{1,2}|[A-Z]{3})(-([0-9]{1,2}|[A-Z]{3}))?(/[0-9]{1,2})?$' and left(v_term, 2) <> '*-' then
            v_slash := strpos(v_term, '/');
            v_range := case when v_slash > 0 then left(v_term, v_slash - 1) else v_term end;
            v_step := case when v_slash > 0 then substr(v_term, v_slash + 1)::integer else 1 end;
            v_dash := strpos(v_range, '-');
            v_start := case when v_range = '*' then v_low
                            when v_dash = 0 then syncsched._cron_plain_value(v_range, p_field)
                            else syncsched._cron_plain_value(left(v_range, v_dash - 1), p_field) end;
            v_end := case when v_dash > 0 then syncsched._cron_plain_value(substr(v_range, v_dash + 1), p_field)
                          when v_slash > 0 or v_range = '*' then v_high
                          else v_start end;
            if v_start <= v_end and v_step > 0 then
                if v_step = 1 then
                    v_mask := v_mask | (((1::bigint << (v_end + 1)) - 1) & ~((1::bigint << v_start) - 1));
                else
                    for v_bit in v_start .. v_end by v_step loop
                        v_mask := v_mask | (1::bigint << v_bit);
                    end loop;
                end if;
                continue;
            end if;
        end if;
        v_mask := v_mask | syncsched._cron_term(v_term, p_field);
    end loop;
    return v_mask;
end
$$;
comment on function syncsched._cron_field(text, integer) is
'Bit mask of one upper-cased cron field (1 minute, 2 hour, 3 day-of-month, 4 month, 5 day-of-week); see cron_spec.';

create or replace function syncsched._cron_has_h(p_expr text)
returns boolean
language sql
immutable
parallel safe
as $$
    -- a field or a list term that starts with H (THU and MARCH do not)
    select p_expr ~* '(^|[[:space:],])H'
$$;
comment on function syncsched._cron_has_h(text) is
'Whether a cron expression uses H (it then resolves per integration, with its identity as the seed).';

create or replace function syncsched._cron_hash(p_seed text, p_field integer, p_term integer)
returns bigint
language sql
immutable
parallel safe
as $$
    -- The hash behind H, specified so that every server, release and restore agrees: the first
    -- 4 bytes of SHA-256 of the UTF-8 text '<seed>#<field>.<term>' as an unsigned big-endian
    -- integer (field 1-5 as in cron_spec, term the 1-based position in the field's list).
    select ('x00000000' || encode(substr(sha256(convert_to(p_seed || '#' || p_field || '.' || p_term, 'UTF8')), 1, 4),
        'hex'))::bit(64)::bigint
$$;
comment on function syncsched._cron_hash(text, integer, integer) is
'The stable hash of H: the first 4 bytes of SHA-256 of ''<seed>#<field>.<term>'' (UTF-8), unsigned big-endian.';

create or replace function syncsched._cron_resolve_field(p_field text, p_position integer, p_seed text)
returns text
language plpgsql
immutable
parallel safe
as $$
declare
    -- H alone spans the field's range, but for day-of-month 1-28 (every month has them) and
    -- day-of-week 0-6 (7 is 0 again), as Jenkins does
    v_low integer := (array[0, 0, 1, 1, 0])[p_position];
    v_high integer := (array[59, 23, 31, 12, 7])[p_position];
    v_terms text[] := string_to_array(p_field, ',');
    v_match text[];
    v_from integer;
    v_to integer;
    v_step integer;
    v_hash bigint;
begin
    -- Jenkins' H: H, H(a-b), H/n and H(a-b)/n, alone or in lists, each replaced by plain cron
    -- (a value, or start-end/n with a hashed start) chosen by _cron_hash of the seed, field and term.
    for v_term in 1 .. cardinality(v_terms) loop
        continue when left(v_terms[v_term], 1) <> 'H';
        v_match := regexp_match(v_terms[v_term], '^H(\(([0-9]{1,2})-([0-9]{1,2})\))?(/([0-9]{1,3}))?$');
        if v_match is null then
            perform syncsched._cron_fail(p_position,
                format('"%s": H is written H, H(a-b), H/n or H(a-b)/n', left(v_terms[v_term], 20)));
        end if;
        if v_match[1] is null then
            v_from := v_low;
            v_to := case p_position when 3 then 28 when 5 then 6 else v_high end;
        else
            v_from := v_match[2]::integer;
            v_to := v_match[3]::integer;
            if v_from < v_low or v_to > v_high or v_from > v_to then
                perform syncsched._cron_fail(p_position,
                    format('"%s": H(a-b) needs %s <= a <= b <= %s', left(v_terms[v_term], 20), v_low, v_high));
            end if;
        end if;
        v_hash := syncsched._cron_hash(p_seed, p_position, v_term);
        if v_match[5] is null then
            v_terms[v_term] := (v_from + v_hash % (v_to - v_from + 1))::text;
        else
            v_step := v_match[5]::integer;
            if v_step = 0 then
                perform syncsched._cron_fail(p_position,
                    format('"%s": step must be at least 1', left(v_terms[v_term], 20)));
            end if;
            v_terms[v_term] := format('%s-%s/%s', v_from + v_hash % least(v_step, v_to - v_from + 1), v_to, v_step);
        end if;
    end loop;
    return array_to_string(v_terms, ',');
end
$$;
comment on function syncsched._cron_resolve_field(text, integer, text) is
'One upper-cased cron field (position 1-5) with its H terms replaced by what they resolve to for p_seed.';

create or replace function syncsched._cron_fields(p_expr text, p_seed text default null)
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
    if p_expr ~ '^[0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+ [0-9*/,A-Za-z#-]+$'
        and strpos(upper(p_expr), 'H') = 0 then
        return string_to_array(upper(p_expr), ' ');  -- the common, well-spaced form, without H
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
    if syncsched._cron_has_h(array_to_string(v_fields, ' ')) then
        if p_seed is null then
            raise exception 'H needs a seed: the integration''s identity (org_id/integration_id), or p_seed'
                using errcode = 'invalid_parameter_value';
        end if;
        for v_position in 1 .. 5 loop
            v_fields[v_position] := syncsched._cron_resolve_field(v_fields[v_position], v_position, p_seed);
        end loop;
    end if;
    return v_fields;
end
$$;
comment on function syncsched._cron_fields(text, text) is
'The five upper-cased fields of a cron expression, macros expanded, H resolved for p_seed; raises invalid_parameter_value.';

create or replace function syncsched._cron_parse(p_expr text, p_seed text default null)
returns syncsched.cron_spec
language plpgsql
immutable
parallel safe
as $$
declare
    v_fields text[] := syncsched._cron_fields(p_expr, p_seed);
    v_minutes bigint;
    v_hours bigint;
    v_days bigint;
    v_months bigint;
    v_weekdays bigint;
    v_day_and boolean;
    v_longest integer := 0;
begin
    -- '*' and a plain number are most fields of most schedules: no call for them
    v_minutes := case
        when v_fields[1] = '*' then 1152921504606846975
        when v_fields[1] ~ '^[0-9]{1,2}$' and v_fields[1]::integer < 60 then 1::bigint << v_fields[1]::integer
        else syncsched._cron_field(v_fields[1], 1)
    end;
    v_hours := case
        when v_fields[2] = '*' then 16777215
        when v_fields[2] ~ '^[0-9]{1,2}$' and v_fields[2]::integer < 24 then 1::bigint << v_fields[2]::integer
        else syncsched._cron_field(v_fields[2], 2)
    end;
    v_days := case when v_fields[3] = '*' then 4294967294 else syncsched._cron_field(v_fields[3], 3) end;
    v_months := case when v_fields[4] = '*' then 8190 else syncsched._cron_field(v_fields[4], 4) end;
    -- weekday 7 is Sunday
    v_weekdays := case when v_fields[5] = '*' then 127 else syncsched._cron_field(v_fields[5], 5) end;
    v_weekdays := (v_weekdays & ~(1::bigint << 7)) | ((v_weekdays >> 7) & 1);
    v_day_and := left(v_fields[3], 1) = '*' or left(v_fields[5], 1) = '*';
    if v_day_and and v_days < 4294967296 and v_days & 1073741823 = 0 then
        -- only days after the 29th (bits 0-29 clear): one of them must occur in one of the months
        for v_month in 1 .. 12 loop
            if (v_months >> v_month) & 1 = 1 then
                v_longest := greatest(v_longest, (array[31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[v_month]);
            end if;
        end loop;
        if syncsched._bit_low(v_days) > v_longest then
            raise exception 'day-of-month: day % never occurs in month %', syncsched._bit_low(v_days), v_fields[4]
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    return row(
        v_minutes, v_hours, v_days, v_months, v_weekdays, v_day_and,
        v_day_and and v_days = 4294967294 and v_weekdays = 127,
        left(v_fields[1], 1) <> '*' and left(v_fields[2], 1) <> '*'
    )::syncsched.cron_spec;
end
$$;
comment on function syncsched._cron_parse(text, text) is
'cron_parse without its pinned search_path, for the callers inside syncsched (which pin theirs).';

-- Entry points pin their search_path, which keeps them from being inlined; the bodies they
-- share (_cron_parse, _cron_next_spec) do not, so that the callers inside syncsched (the tick,
-- the schedule trigger), which pin theirs, do not switch it again at every call. These twins
-- stay: an inlined SQL function cannot pin, and every entry point must. The wrappers are
-- PL/pgSQL, whose call costs less than a SQL function's that cannot be inlined.
create or replace function syncsched.cron_parse(p_expr text, p_seed text default null)
returns syncsched.cron_spec
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    return syncsched._cron_parse(p_expr, p_seed);
end
$$;
comment on function syncsched.cron_parse(text, text) is
'The parsed form of a cron expression (H resolved for p_seed); raises invalid_parameter_value with the cron_validate message.';

create or replace function syncsched.cron_resolve(p_expr text, p_seed text)
returns text
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- an expression without H is shown as written
    if not syncsched._cron_has_h(p_expr) then
        perform syncsched._cron_fields(p_expr);
        return p_expr;
    end if;
    return array_to_string(syncsched._cron_fields(p_expr, p_seed), ' ');
end
$$;
comment on function syncsched.cron_resolve(text, text) is
'The expression H resolves to for p_seed (an integration''s seed is ''org_id/integration_id''): H 2 * * * -> 37 2 * * *, the same on every server.'; -- noqa: LT05

create or replace function syncsched.cron_validate(p_expr text, p_seed text default null)
returns text
language plpgsql
immutable
parallel unsafe  -- its exception block starts a subtransaction, which a parallel plan cannot
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    -- H is checked with any seed when none is given: every seed resolves a valid H to valid fields
    perform syncsched._cron_parse(p_expr, coalesce(p_seed, ''));
    return null;
exception
    when invalid_parameter_value then
        return sqlerrm;
    when others then
        return format('invalid cron expression (%s)', sqlerrm);
end
$$;
comment on function syncsched.cron_validate(text, text) is
'NULL when p_expr is a valid cron expression (H included; resolved for p_seed when given), else one message naming the field and the bad value. Never raises.'; -- noqa: LT05

-- ---------------------------------------------------------------------------
-- Evaluation
-- ---------------------------------------------------------------------------

create or replace function syncsched._cron_bits_text(p_mask bigint, p_low integer, p_high integer)
returns text
language sql
immutable
parallel safe
as $$
    select coalesce(string_agg(b::text, ',' order by b), '-')
    from generate_series(p_low, p_high) as b
    where (p_mask >> b) & 1 = 1
$$;
comment on function syncsched._cron_bits_text(bigint, integer, integer) is
'The set bits p_low..p_high of p_mask as a cron list (- when none), for messages.';

create or replace function syncsched._cron_spec_text(p_spec syncsched.cron_spec)
returns text
language sql
immutable
parallel safe
as $$
    select concat_ws(' ',
        case when p_spec.minutes = 1152921504606846975 then '*' else syncsched._cron_bits_text(p_spec.minutes, 0, 59) end,
        case when p_spec.hours = 16777215 then '*' else syncsched._cron_bits_text(p_spec.hours, 0, 23) end,
        case when p_spec.days = 4294967294 then '*' else concat_ws(',',
            nullif(syncsched._cron_bits_text(p_spec.days, 1, 31), '-'),
            case when (p_spec.days >> 32) & 1 = 1 then 'L' end,
            case when (p_spec.days >> 33) & 1 = 1 then 'LW' end) end,
        case when p_spec.months = 8190 then '*' else syncsched._cron_bits_text(p_spec.months, 1, 12) end,
        case when p_spec.weekdays = 127 then '*' else concat_ws(',',
            nullif(syncsched._cron_bits_text(p_spec.weekdays, 0, 6), '-'),
            (select string_agg((b - 8)::text || 'L', ',' order by b)
             from generate_series(8, 14) as b where (p_spec.weekdays >> b) & 1 = 1),
            (select string_agg(((b - 16) / 5)::text || '#' || ((b - 16) % 5 + 1)::text, ',' order by b)
             from generate_series(16, 50) as b where (p_spec.weekdays >> b) & 1 = 1)) end)
$$;
comment on function syncsched._cron_spec_text(syncsched.cron_spec) is
'A cron expression equivalent to p_spec (lists of numbers), for messages about a parsed schedule.';

create or replace function syncsched._cron_give_up(p_spec syncsched.cron_spec, p_tz text, p_steps integer)
returns void
language plpgsql
immutable
parallel safe
as $$
begin
    raise exception 'cron expression "%" in time zone %: %', syncsched._cron_spec_text(p_spec), coalesce(p_tz, 'UTC'),
        case when p_steps = 0 then 'it matches no minute, hour or month'
             else format('no next fire time found within %s steps', p_steps) end
        using errcode = 'program_limit_exceeded',
            hint = 'A valid expression never gets here: the spec was not made by cron_parse.';
end
$$;
comment on function syncsched._cron_give_up(syncsched.cron_spec, text, integer) is
'Raises program_limit_exceeded (54000) naming the expression and zone: the hard cap of every search loop.';

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
    v_dom := date_part('day', p_day)::integer;
    v_dom_ok := (p_spec.days >> v_dom) & 1 = 1;
    if not v_dom_ok and v_dom >= 26 and p_spec.days >= (1::bigint << 32) then
        v_last := date_part('day', date_trunc('month', p_day) + interval '1 month - 1 day')::integer;
        if (p_spec.days >> 32) & 1 = 1 and v_dom = v_last then
            v_dom_ok := true;
        end if;
        if not v_dom_ok and (p_spec.days >> 33) & 1 = 1 then
            v_last_weekday := case date_part('dow', p_day + (v_last - v_dom))::integer
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
    v_dow := date_part('dow', p_day)::integer;
    v_dow_ok := (p_spec.weekdays >> v_dow) & 1 = 1
        or (p_spec.weekdays >> (16 + 5 * v_dow + (v_dom - 1) / 7)) & 1 = 1;
    if not v_dow_ok and (p_spec.weekdays >> (8 + v_dow)) & 1 = 1 then
        if v_last = 0 then
            v_last := date_part('day', date_trunc('month', p_day) + interval '1 month - 1 day')::integer;
        end if;
        v_dow_ok := v_dom + 7 > v_last;
    end if;
    return v_dow_ok;
end
$$;
comment on function syncsched._cron_day_matches(syncsched.cron_spec, date) is
'Whether the day fields of p_spec match p_day (Debian''s rule: AND when a day field starts with *, else OR).';

create or replace function syncsched._cron_month_days(p_spec syncsched.cron_spec, p_month date)
returns bigint
language plpgsql
immutable
parallel safe
as $$
declare
    v_last integer := date_part('day', p_month + interval '1 month - 1 day')::integer;
    v_first integer := date_part('dow', p_month)::integer;  -- the weekday of the 1st
    v_valid bigint := (1::bigint << (v_last + 1)) - 2;      -- bits 1 .. v_last
    v_dom bigint := p_spec.days & v_valid;
    v_week bigint;
    v_dow bigint;
    v_more bigint;
    v_bit integer;
    v_day integer;
begin
    if p_spec.days >= (1::bigint << 32) then
        if (p_spec.days >> 32) & 1 = 1 then
            v_dom := v_dom | (1::bigint << v_last);
        end if;
        if (p_spec.days >> 33) & 1 = 1 then
            v_dom := v_dom | (1::bigint << (v_last - case (v_first + v_last - 1) % 7 when 0 then 2 when 6 then 1 else 0 end));
        end if;
    end if;
    -- plain weekdays: the seven bits turned so that bit 0 is the 1st's weekday, repeated over the month
    v_week := (((p_spec.weekdays & 127) >> v_first) | ((p_spec.weekdays & 127) << (7 - v_first))) & 127;
    v_dow := ((v_week | (v_week << 7) | (v_week << 14) | (v_week << 21) | (v_week << 28)) << 1) & v_valid;
    -- nL (bits 8-14) and weekday#k (bits 16-50), one day each: at most 42 rounds
    v_more := p_spec.weekdays >> 8;
    while v_more > 0 loop
        v_bit := syncsched._bit_low(v_more) + 8;
        v_more := v_more & (v_more - 1);
        v_day := case
            when v_bit < 15 then v_last - ((v_first + v_last - 1) % 7 - (v_bit - 8) + 7) % 7
            when v_bit >= 16 then ((v_bit - 16) / 5 - v_first + 7) % 7 + 1 + 7 * ((v_bit - 16) % 5)
        end;
        if v_day <= v_last then
            v_dow := v_dow | (1::bigint << v_day);
        end if;
    end loop;
    return case when p_spec.day_and then v_dom & v_dow else v_dom | v_dow end;
end
$$;
comment on function syncsched._cron_month_days(syncsched.cron_spec, date) is
'The days of the month starting on p_month that match the day fields of p_spec, as bits 1-31 (same rule as _cron_day_matches).';

drop function if exists syncsched._cron_next_wall(syncsched.cron_spec, timestamp);
create or replace function syncsched._cron_next_wall(
    p_spec syncsched.cron_spec, p_from timestamp, p_limit integer, p_tz text
)
returns timestamp
language plpgsql
immutable
parallel safe
as $$
declare
    v_at timestamp := date_trunc('minute', p_from);
    v_steps integer := 0;
    v_month integer;
    v_hour integer;
    v_next integer;
    v_day date;
    v_days bigint;
    v_days_of date;
begin
    if v_at < p_from then
        v_at := v_at + interval '1 minute';
    end if;
    if date_part('year', v_at) > p_limit
        or p_spec.minutes & 1152921504606846975 = 0 or p_spec.hours & 16777215 = 0 or p_spec.months & 8190 = 0 then
        if date_part('year', v_at) > p_limit then
            return null;
        end if;
        perform syncsched._cron_give_up(p_spec, p_tz, 0);  -- hand-made: nothing can match
    end if;
    loop
        v_month := date_part('month', v_at)::integer;
        if (p_spec.months >> v_month) & 1 = 1 then
            v_day := v_at::date;
            if not p_spec.any_day then
                -- the next matching day of this month, from the bits of its matching days
                if v_days_of is distinct from v_day - (date_part('day', v_day)::integer - 1) then
                    v_days_of := v_day - (date_part('day', v_day)::integer - 1);
                    v_days := syncsched._cron_month_days(p_spec, v_days_of);
                end if;
                v_next := syncsched._bit_next(v_days, date_part('day', v_day)::integer);
                if v_next < 0 then
                    v_day := null;
                    v_at := (v_days_of + interval '1 month')::timestamp;
                elsif v_next > date_part('day', v_day) then
                    v_day := v_days_of + (v_next - 1);
                    v_at := v_day::timestamp;
                end if;
            end if;
            if v_day is not null then
                -- the day matches: the first matching hour and minute from v_at on, else the next day
                v_hour := date_part('hour', v_at)::integer;
                if (p_spec.hours >> v_hour) & 1 = 1 then
                    v_next := syncsched._bit_next(p_spec.minutes, date_part('minute', v_at)::integer);
                    if v_next >= 0 then
                        return v_day + make_interval(hours => v_hour, mins => v_next);
                    end if;
                end if;
                v_next := syncsched._bit_next(p_spec.hours, v_hour + 1);
                if v_next >= 0 then
                    return v_day + make_interval(hours => v_next, mins => syncsched._bit_low(p_spec.minutes));
                end if;
                v_at := v_day + interval '1 day';
            end if;
        else
            v_next := syncsched._bit_next(p_spec.months, v_month + 1);
            v_at := case
                when v_next < 0 then make_timestamp(date_part('year', v_at)::integer + 1, syncsched._bit_low(p_spec.months), 1, 0, 0, 0)
                else make_timestamp(date_part('year', v_at)::integer, v_next, 1, 0, 0, 0)
            end;
        end if;
        -- Each step moves to the next matching month, the next matching day of the month or
        -- the next day: a few steps per month of the 50 years. The cap is far above that.
        v_steps := v_steps + 1;
        if v_steps > 5000 then
            perform syncsched._cron_give_up(p_spec, p_tz, v_steps);
        end if;
        if date_part('year', v_at) > p_limit then
            return null;
        end if;
    end loop;
end
$$;
comment on function syncsched._cron_next_wall(syncsched.cron_spec, timestamp, integer, text) is
'First wall-clock minute at or after p_from that matches p_spec, ignoring time zones; NULL after year p_limit. p_tz only names the zone if the step cap is hit.';

create or replace function syncsched._cron_fire(p_wall timestamp, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_lo timestamptz := (p_wall::date - 1)::timestamp at time zone 'UTC';
    v_hi timestamptz := (p_wall::date + 2)::timestamp at time zone 'UTC';
    v_before interval := syncsched._tz_offset(v_lo, p_tz);
    v_after interval := syncsched._tz_offset(v_hi, p_tz);
    v_change timestamp;
begin
    if v_before = v_after then
        return (p_wall - v_before) at time zone 'UTC';
    end if;
    v_change := syncsched._tz_change(v_lo, v_hi, p_tz) at time zone 'UTC';
    if v_after > v_before and p_wall >= v_change + v_before and p_wall < v_change + v_after then
        -- skipped by the gap: the first whole minute after it (cronsim adds minutes until real)
        return (p_wall + ceil(date_part('epoch', v_change + v_after - p_wall) / 60) * interval '1 minute' - v_after)
            at time zone 'UTC';
    end if;
    -- the first occurrence of a repeated time (the new offset applies after the repeated stretch)
    return (p_wall - case when p_wall >= v_change + greatest(v_before, v_after) then v_after else v_before end)
        at time zone 'UTC';
end
$$;
comment on function syncsched._cron_fire(timestamp, text) is
'When a fixed-time job due at wall time p_wall runs in p_tz, by Debian''s rules: a time skipped by a gap at the first minute after it, a repeated time at its first occurrence.';

create or replace function syncsched._cron_next_fixed(
    p_spec syncsched.cron_spec, p_after timestamptz, p_tz text, p_wall timestamp
)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_wall timestamp := p_wall;
    v_limit integer := date_part('year', date_trunc('second', p_after at time zone p_tz) + interval '1 second')::integer + 50;
    v_at timestamptz;
    v_before interval;
    v_after interval;
    v_change timestamp;
begin
    -- p_wall is the first matching wall time after p_after's (cronsim's answer). Its fire
    -- time is earlier than p_after only when p_after is in the second pass of a repeated
    -- stretch: the stretch's times fired in the first pass, so go on after the stretch.
    for v_i in 1 .. 8 loop
        v_at := syncsched._cron_fire(v_wall, p_tz);
        if v_at > p_after then
            return v_at;
        end if;
        v_before := syncsched._tz_offset((v_wall::date - 1)::timestamp at time zone 'UTC', p_tz);
        v_after := syncsched._tz_offset((v_wall::date + 2)::timestamp at time zone 'UTC', p_tz);
        v_change := case when v_before > v_after then syncsched._tz_change(
            (v_wall::date - 1)::timestamp at time zone 'UTC', (v_wall::date + 2)::timestamp at time zone 'UTC', p_tz
        ) at time zone 'UTC' end;
        v_wall := syncsched._cron_next_wall(
            p_spec,
            case when v_wall < v_change + v_before then v_change + v_before else v_wall + interval '1 minute' end,
            v_limit, p_tz
        );
        if v_wall is null then
            return null;
        end if;
    end loop;
    perform syncsched._cron_give_up(p_spec, p_tz, 8);
    return null;
end
$$;
comment on function syncsched._cron_next_fixed(syncsched.cron_spec, timestamptz, text, timestamp) is
'Next fire time of a fixed-time expression around a DST change, from p_wall, the first matching wall time after p_after: strictly later than p_after.';

create or replace function syncsched._cron_next_rule(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_at timestamptz := p_after;
    v_strict boolean := true;
    v_limit integer := date_part('year', p_after at time zone p_tz)::integer + 50;
    v_offset interval;
    v_change timestamptz;
    v_from timestamp;
    v_wall timestamp;
    v_next timestamptz;
begin
    -- The first instant after p_after whose wall clock matches, walking the stretches of
    -- constant offset: within one, the first matching wall time is the answer. A window of
    -- 72 hours holds at most one change; offsets within +-15 hours and jumps of at most 24
    -- hours make every instant between 72 hours after v_at and 72 hours before a candidate
    -- show a wall time between theirs, so such stretches are skipped whole. (The sweep of
    -- every tzdata transition needs 2 rounds at most.)
    for v_i in 1 .. 64 loop
        v_offset := syncsched._tz_offset(v_at, p_tz);
        v_change := syncsched._tz_change(v_at, v_at + interval '72 hours', p_tz);
        v_from := v_at at time zone p_tz;
        if v_strict then
            v_from := date_trunc('second', v_from) + interval '1 second';
        end if;
        v_wall := syncsched._cron_next_wall(p_spec, v_from, v_limit, p_tz);
        if v_wall is null then
            -- only a repeated stretch ahead can show earlier wall times again
            if v_change is null or syncsched._tz_offset(v_change, p_tz) > v_offset then
                return null;
            end if;
            v_at := v_change;
        else
            v_next := (v_wall - v_offset) at time zone 'UTC';
            if v_change is null then
                if v_next <= v_at + interval '72 hours' then
                    return v_next;
                end if;
                v_at := greatest(v_at + interval '72 hours', v_next - interval '72 hours');
            elsif v_next < v_change then
                return v_next;
            else
                v_at := v_change;
            end if;
        end if;
        v_strict := false;
    end loop;
    perform syncsched._cron_give_up(p_spec, p_tz, 64);
    return null;
end
$$;
comment on function syncsched._cron_next_rule(syncsched.cron_spec, timestamptz, text) is
'The first instant after p_after whose local wall clock in p_tz matches p_spec: the answer where cronsim''s algorithm hangs or goes backwards.';

drop function if exists syncsched._cron_tick(timestamp, integer, integer, text);
create or replace function syncsched._cron_next_elapsed(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    -- cronsim's state: the wall clock and its fold, and the instant they stand for (in UTC)
    v_wall timestamp;
    v_fold integer;
    v_utc timestamp;
    -- the offsets around local day c_day: c_before, and c_after from instant c_change on
    c_day date;
    c_change timestamp;
    c_before interval;
    c_after interval;
    c_back interval;  -- how long the wall clock repeats itself after c_change (0 for a gap)
    v_limit integer;
    v_tried boolean;      -- the shortcut before c_change was tried on this day
    v_mode integer := 0;  -- 0: check the fields; 1, 2, 3: roll the hour, the minute, the second
    v_jump boolean := false;
    v_tick integer;
    v_period integer;
    v_stops bigint;
    v_step interval;
    v_count integer;
    v_ticks integer;
    v_value integer;
    v_day date;
    v_next timestamp;
    v_answer timestamp;
    -- Brent's cycle detection over the states at the field checks
    v_seen_wall timestamp;
    v_seen_fold integer;
    v_power integer := 1;
    v_length integer := 0;
    v_steps integer := 0;
begin
    -- cronsim's algorithm, step for step, with the clock moving in real seconds. Where the
    -- clock runs evenly the rest is wall-clock arithmetic; where cronsim would revisit a
    -- state (and so loop forever) or answers no later than p_after, the README's rule decides.
    v_utc := date_trunc('second', p_after at time zone 'UTC') + interval '1 second';
    v_wall := (v_utc at time zone 'UTC') at time zone p_tz;
    v_limit := date_part('year', v_wall)::integer + 50;
    loop
        -- A step checks the fields, rolls a unit or jumps between days; a cycle is caught
        -- within twice its start and length. The sweep of every tzdata transition needs 8
        -- steps at most: the cap is far above any real search.
        v_steps := v_steps + 1;
        if v_steps > 20000 then
            perform syncsched._cron_give_up(p_spec, p_tz, v_steps);
        end if;
        if c_day is distinct from v_wall::date then
            c_day := v_wall::date;
            v_tried := false;
            -- a change found for the day before or after is this day's too (one per 72 hours)
            if c_change is null or c_change <= (c_day - 1)::timestamp or c_change > (c_day + 2)::timestamp then
                c_before := syncsched._tz_offset((c_day - 1)::timestamp at time zone 'UTC', p_tz);
                c_after := syncsched._tz_offset((c_day + 2)::timestamp at time zone 'UTC', p_tz);
                c_change := case when c_after <> c_before then syncsched._tz_change(
                    (c_day - 1)::timestamp at time zone 'UTC', (c_day + 2)::timestamp at time zone 'UTC', p_tz
                ) at time zone 'UTC' end;
                c_back := greatest(c_before - c_after, interval '0');
            end if;
        end if;
        if v_fold is null then
            v_fold := case when v_utc >= c_change and v_utc < c_change + c_back then 1 else 0 end;
        end if;
        if v_mode = 0 then
            if v_wall = v_seen_wall and v_fold = v_seen_fold then
                exit;  -- cronsim would go round this cycle forever
            end if;
            v_length := v_length + 1;
            if v_length = v_power then
                v_seen_wall := v_wall;
                v_seen_fold := v_fold;
                v_power := v_power * 2;
                v_length := 0;
            end if;
            v_utc := v_wall - case
                when c_change is null then c_before
                when v_wall >= c_change + case when v_fold = 0 then greatest(c_before, c_after)
                                               else least(c_before, c_after) end then c_after
                else c_before
            end;
            if c_change is null
                or (v_utc - interval '1 hour' >= c_change + c_back and v_wall = v_utc + c_after) then
                -- No change this day, or it is over, repeated stretch included: cronsim's steps
                -- (which go back an hour at most) see an even clock, and non-matching days are
                -- skipped on the wall clock, so it lands at the next matching day's midnight.
                v_next := syncsched._cron_next_wall(p_spec, v_wall, v_limit, p_tz);
                if v_next is null then
                    return null;  -- repeated stretches further on start more than a day later
                end if;
                if v_next::date = c_day then
                    v_answer := v_next - c_after;
                    exit;
                end if;
                v_wall := v_next::date::timestamp;
                v_fold := 0;
                continue;
            end if;
            if v_utc < c_change and not v_tried then
                -- Before the change: an answer reached before it, or a day left before it. If
                -- neither, the states up to the change have the same wall-clock answer: try once.
                v_tried := true;
                v_next := syncsched._cron_next_wall(p_spec, v_wall, v_limit, p_tz);
                if v_next::date = c_day and v_next - c_before < c_change then
                    v_answer := v_next - c_before;
                    exit;
                end if;
                if v_next::date > c_day and (c_day + 1)::timestamp - c_before < c_change then
                    v_wall := v_next::date::timestamp;
                    v_fold := 0;
                    continue;
                end if;
            end if;
            v_value := date_part('month', v_wall)::integer;
            if (p_spec.months >> v_value) & 1 = 0 then
                v_day := date_trunc('month', v_wall)::date;
                for v_i in 1 .. 12 loop
                    v_day := (v_day + interval '1 month')::date;
                    exit when (p_spec.months >> date_part('month', v_day)::integer) & 1 = 1;
                end loop;
                v_wall := v_day::timestamp;
                v_fold := 0;
                continue;
            end if;
            if date_part('year', v_wall) > v_limit then
                return null;
            end if;
            v_day := v_wall::date;
            if not syncsched._cron_day_matches(p_spec, v_day) then
                loop
                    v_day := v_day + 1;
                    exit when date_part('day', v_day) = 1 or syncsched._cron_day_matches(p_spec, v_day);
                end loop;
                v_wall := v_day::timestamp;
                v_fold := 0;
                continue;
            end if;
            v_value := date_part('hour', v_wall)::integer;
            if (p_spec.hours >> v_value) & 1 = 0 then
                v_wall := date_trunc('hour', v_wall);
                v_mode := 1;
            else
                v_value := date_part('minute', v_wall)::integer;
                if (p_spec.minutes >> v_value) & 1 = 0 then
                    v_wall := date_trunc('minute', v_wall);
                    v_mode := 2;
                    -- a single minute is reached in one jump first, as in cronsim
                    v_jump := p_spec.minutes & (p_spec.minutes - 1) = 0;
                    v_tick := ((syncsched._bit_low(p_spec.minutes) - v_value + 60) % 60) * 60;
                else
                    v_value := floor(date_part('second', v_wall))::integer;
                    if v_value = 0 then
                        v_answer := v_utc;
                        exit;
                    end if;
                    v_mode := 3;
                    v_tick := 60 - v_value;
                end if;
            end if;
        end if;
        -- the instant of the state, then cronsim's ticks of real time from it
        v_utc := v_wall - case
            when c_change is null then c_before
            when v_wall >= c_change + case when v_fold = 0 then greatest(c_before, c_after)
                                           else least(c_before, c_after) end then c_after
            else c_before
        end;
        if v_mode = 3 or v_jump then
            -- one tick: to the next whole second 0, or the jump to a single minute
            v_utc := v_utc + make_interval(secs => v_tick);
            v_wall := v_utc + case when c_change is null or v_utc < c_change then c_before else c_after end;
            v_fold := case when v_utc >= c_change and v_utc < c_change + c_back then 1 else 0 end;
            if v_mode = 2 then
                v_jump := false;
                if (p_spec.minutes >> date_part('minute', v_wall)::integer) & 1 = 1 then
                    v_mode := 0;
                end if;
            else
                v_tick := 60 - floor(date_part('second', v_wall))::integer;
                if v_tick = 60 then
                    v_mode := 0;
                end if;
            end if;
        else
            -- A roll of whole hours (mode 1) or minutes (mode 2), tick by tick until the unit is
            -- in v_stops, in closed form: the unit counts up one per tick from the wall clock
            -- before the change, and again from the wall clock after it.
            v_period := case when v_mode = 1 then 24 else 60 end;
            v_stops := case when v_mode = 1 then p_spec.hours else p_spec.minutes end | 1;
            v_step := case when v_mode = 1 then interval '1 hour' else interval '1 minute' end;
            v_count := case when c_change > v_utc
                then ceil(date_part('epoch', c_change - v_utc) / date_part('epoch', v_step))::integer end;
            v_value := date_part(case when v_mode = 1 then 'hour' else 'minute' end,
                                 v_utc + case when c_change > v_utc then c_before else c_after end)::integer;
            v_ticks := coalesce(nullif(syncsched._bit_next(v_stops, v_value + 1), -1),
                                syncsched._bit_low(v_stops) + v_period) - v_value;
            if v_ticks >= v_count then
                -- the stop is not before the change: count again from the first tick after it
                v_value := date_part(case when v_mode = 1 then 'hour' else 'minute' end,
                                     v_utc + v_count * v_step + c_after)::integer;
                v_ticks := v_count + coalesce(nullif(syncsched._bit_next(v_stops, v_value), -1),
                                              syncsched._bit_low(v_stops) + v_period) - v_value;
            end if;
            v_utc := v_utc + v_ticks * v_step;
            v_wall := v_utc + case when c_change is null or v_utc < c_change then c_before else c_after end;
            v_fold := case when v_utc >= c_change and v_utc < c_change + c_back then 1 else 0 end;
            v_mode := 0;
        end if;
    end loop;
    if v_answer at time zone 'UTC' > p_after then
        return v_answer at time zone 'UTC';
    end if;
    return syncsched._cron_next_rule(p_spec, p_after, p_tz);
end
$$;
comment on function syncsched._cron_next_elapsed(syncsched.cron_spec, timestamptz, text) is
'Next fire time of a non-fixed-time expression around a DST change: cronsim''s algorithm in real elapsed time where it answers later than p_after, else the first later instant whose wall clock matches.';

create or replace function syncsched._cron_next_spec(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
as $$
declare
    v_from timestamp;
    v_wall timestamp;
    v_at timestamptz;
begin
    if p_after is null or p_tz is null or (p_tz <> 'UTC' and not syncsched._tz_name_ok(p_tz)) then
        perform syncsched._tz_check(p_tz);  -- raises with the message
        raise exception 'the instant to start from is null' using errcode = 'invalid_parameter_value';
    end if;
    v_from := date_trunc('second', p_after at time zone p_tz) + interval '1 second';
    v_wall := syncsched._cron_next_wall(p_spec, v_from, date_part('year', v_from)::integer + 50, p_tz);
    if v_wall is null or p_tz = 'UTC' then
        return v_wall at time zone 'UTC';
    end if;
    -- The wall-clock answer holds on days without an offset change: for fixed-time
    -- expressions on the answer's day, for the others on the first and the last day.
    if syncsched._tz_day_is_plain(v_wall::date, p_tz)
        and (p_spec.fixed_time or v_wall::date = v_from::date or syncsched._tz_day_is_plain(v_from::date, p_tz)) then
        v_at := v_wall at time zone p_tz;
        if v_at > p_after then
            return v_at;
        end if;
    end if;
    if p_spec.fixed_time then
        return syncsched._cron_next_fixed(p_spec, p_after, p_tz, v_wall);
    end if;
    return syncsched._cron_next_elapsed(p_spec, p_after, p_tz);
end
$$;
comment on function syncsched._cron_next_spec(syncsched.cron_spec, timestamptz, text) is
'cron_next_spec without its pinned search_path, for the callers inside syncsched (the tick, the schedule trigger), which pin theirs.';

create or replace function syncsched.cron_next_spec(p_spec syncsched.cron_spec, p_after timestamptz, p_tz text)
returns timestamptz
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    return syncsched._cron_next_spec(p_spec, p_after, p_tz);
end
$$;
comment on function syncsched.cron_next_spec(syncsched.cron_spec, timestamptz, text) is
'cron_next for an already parsed expression (see cron_parse).';

create or replace function syncsched.cron_next(
    p_expr text, p_after timestamptz, p_tz text default 'UTC', p_seed text default null
)
returns timestamptz
language plpgsql
stable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    return syncsched._cron_next_spec(syncsched._cron_parse(p_expr, p_seed), p_after, p_tz);
end
$$;
comment on function syncsched.cron_next(text, timestamptz, text, text) is
'First fire time of cron expression p_expr (H resolved for p_seed) after p_after, evaluated in IANA time zone p_tz (DST as Debian cron). Raises invalid_parameter_value for a bad expression or zone.'; -- noqa: LT05

create or replace function syncsched.cron_matches(
    p_expr text, p_at timestamptz, p_tz text default 'UTC', p_seed text default null
)
returns boolean
language plpgsql
stable
parallel safe
set search_path = pg_catalog, syncsched, pg_temp
as $$
begin
    return syncsched._cron_next_spec(syncsched._cron_parse(p_expr, p_seed), date_trunc('minute', p_at) - interval '1 second',
        p_tz) = date_trunc('minute', p_at);
end
$$;
comment on function syncsched.cron_matches(text, timestamptz, text, text) is
'Whether the minute containing p_at is a fire time of p_expr in p_tz.';

create or replace function syncsched.next_runs(
    p_expr text, p_tz text default 'UTC', p_count integer default 5, p_after timestamptz default now(),
    p_seed text default null
)
returns setof timestamptz
language plpgsql
stable
parallel safe
rows 5
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_spec syncsched.cron_spec := syncsched._cron_parse(p_expr, p_seed);
    v_at timestamptz := p_after;
begin
    if p_count is null or p_count < 0 or p_count > 10000 then
        raise exception 'p_count must be between 0 and 10000' using errcode = 'invalid_parameter_value';
    end if;
    -- cron_next is strictly later than its instant: p_count steps at most
    for v_i in 1 .. p_count loop
        v_at := syncsched._cron_next_spec(v_spec, v_at, p_tz);
        exit when v_at is null;
        return next v_at;
    end loop;
end
$$;
comment on function syncsched.next_runs(text, text, integer, timestamptz, text) is
'The next p_count fire times of p_expr (H resolved for p_seed) in p_tz after p_after: a preview for DBAs.';
