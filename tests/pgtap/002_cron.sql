-- The cron engine: exact fire times, month ends, DST nights in Europe/Oslo, leap years.
begin;
select plan(38);

-- 0 2 * * *
select ok(syncsched.cron_matches('0 2 * * *', '2026-11-23 02:00:00+00'), '0 2 * * * matches 02:00 UTC');
select ok(syncsched.cron_matches('0 2 * * *', '2026-11-23 02:00:59.9+00'), '... anywhere in that minute');
select ok(not syncsched.cron_matches('0 2 * * *', '2026-11-23 02:01:00+00'), '... and not 02:01');
select is(syncsched.cron_next('0 2 * * *', '2026-11-23 02:00:00+00'), '2026-11-24 02:00:00+00'::timestamptz,
    'the next fire time is strictly after');

-- validation
select is(syncsched.cron_validate('0 2 * * *'), null, 'a valid expression has no message');
select is(syncsched.cron_validate('99 * * * *'), 'minute: 99 is out of range 0-59');
select is(syncsched.cron_validate('0 2 * * * *'), 'expected 5 fields, got 6');
select is(syncsched.cron_validate('0 2 * * FUN'), 'day-of-week: unknown name "FUN"');
select is(syncsched.cron_validate('0 2 31 2 *'), 'day-of-month: day 31 never occurs in month 2');
select is(syncsched.cron_validate('*/0 * * * *'), 'minute: "*/0": step must be at least 1');
select is(syncsched.cron_validate('0 5-2 * * *'), 'hour: range 5-2 goes backwards');
select is(syncsched.cron_validate('@reboot'),
    'unknown macro "@reboot": use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly');
select is(syncsched.cron_validate(null), 'cron expression is null');
select throws_ok($$select syncsched.cron_next('99 * * * *', now())$$, '22023',
    'minute: 99 is out of range 0-59', 'cron_next raises the validation message');
select throws_ok($$select syncsched.cron_next('0 2 * * *', now(), 'Mars/Olympus_Mons')$$, '22023', null,
    'cron_next refuses an unknown time zone');
select is(syncsched.timezone_validate('Europe/Oslo'), null, 'Europe/Oslo is a zone');
select isnt(syncsched.timezone_validate('Mars/Olympus_Mons'), null, 'Mars/Olympus_Mons is not');
select isnt(syncsched.timezone_validate('UTC+3'), null, 'a POSIX offset is not an IANA name');
select isnt(syncsched.timezone_validate('CEST'), null, 'an abbreviation is not a zone');

-- steps: a single start runs to the end of the field, a range a-a/n is the one value a (as in cronsim)
select is(syncsched._cron_bits_text(syncsched._cron_field('1/29', 3), 1, 31), '1,30', '1/29 in day-of-month is 1,30');
select is(syncsched._cron_bits_text(syncsched._cron_field('1-1/29', 3), 1, 31), '1', '1-1/29 is day 1 only');
select is(syncsched._cron_bits_text(syncsched._cron_term('001-001/29', 3), 1, 31), '1',
    '... read by the general parser too');

-- 0 2 31 * *: month ends
select ok(not syncsched.cron_matches('0 2 31 * *', '2026-11-30 02:00:00+00'), '0 2 31 * * skips 30 November');
select is(syncsched.cron_next('0 2 31 * *', '2026-11-01 00:00:00+00'), '2026-12-31 02:00:00+00'::timestamptz,
    '... and fires next on 31 December');
select results_eq(
    $$select * from syncsched.next_runs('0 2 L * *', 'UTC', 3, '2027-01-15')$$,
    $$values ('2027-01-31 02:00+00'::timestamptz), ('2027-02-28 02:00+00'), ('2027-03-31 02:00+00')$$,
    '0 2 L * * fires on the last day of each month');
select results_eq(
    $$select * from syncsched.next_runs('0 9 * * 1#1', 'UTC', 3, '2026-11-23')$$,
    $$values ('2026-12-07 09:00+00'::timestamptz), ('2027-01-04 09:00+00'), ('2027-02-01 09:00+00')$$,
    '0 9 * * 1#1 fires on the first Monday');

-- 30 2 * * * in Europe/Oslo: 02:30 does not exist on 2026-03-29 and happens twice on 2026-10-25
select is(syncsched.cron_next('30 2 * * *', '2026-03-28 12:00+00', 'Europe/Oslo'), '2026-03-29 01:00+00'::timestamptz,
    'spring forward: 02:30 is skipped, the run fires at 03:00 CEST, the first minute after the gap');
select results_eq(
    $$select * from syncsched.next_runs('30 2 * * *', 'Europe/Oslo', 3, '2026-10-24 12:00+00')$$,
    $$values ('2026-10-25 00:30+00'::timestamptz), ('2026-10-26 01:30+00'), ('2026-10-27 01:30+00')$$,
    'fall back: 02:30 happens twice and fires once, at its first occurrence');
select ok(syncsched.cron_matches('30 2 * * *', '2026-10-25 00:30+00', 'Europe/Oslo'), 'first 02:30 matches');
select ok(not syncsched.cron_matches('30 2 * * *', '2026-10-25 01:30+00', 'Europe/Oslo'), 'second 02:30 does not');

-- */15 * * * * follows real elapsed time across the same nights
select is(
    (select count(*)::int from syncsched.next_runs('*/15 * * * *', 'Europe/Oslo', 100, '2026-03-28 23:00+00')
     where next_runs < '2026-03-29 03:00+00'),
    15, 'spring forward: 15 quarter hours after 23:00 UTC and before 03:00 UTC');
select results_eq(
    $$select * from syncsched.next_runs('*/15 * * * *', 'Europe/Oslo', 4, '2026-03-29 00:30+00')$$,
    $$values ('2026-03-29 00:45+00'::timestamptz), ('2026-03-29 01:00+00'), ('2026-03-29 01:15+00'),
             ('2026-03-29 01:30+00')$$,
    '01:45 CET is followed by 03:00 CEST');
select is(
    (select count(*)::int from syncsched.next_runs('*/15 * * * *', 'Europe/Oslo', 100, '2026-10-24 22:00+00')
     where next_runs < '2026-10-25 02:00+00'),
    15, 'fall back: the repeated hour fires in both occurrences: 15 quarter hours in 4 real hours');

-- 0 0 29 2 *: leap years only
select results_eq(
    $$select * from syncsched.next_runs('0 0 29 2 *', 'UTC', 3, '2026-01-01')$$,
    $$values ('2028-02-29 00:00+00'::timestamptz), ('2032-02-29 00:00+00'), ('2036-02-29 00:00+00')$$,
    '0 0 29 2 * fires in leap years');
select is(syncsched.cron_next('0 0 29 2 *', '2096-03-01'), '2104-02-29 00:00+00'::timestamptz,
    '2100 is not a leap year');

-- macros and names
select is(syncsched.cron_next('@daily', '2026-11-23 10:00+00'), '2026-11-24 00:00+00'::timestamptz, '@daily');
select is(syncsched.cron_next('0 12 * jan-mar mon-fri', '2026-12-31 13:00+00'), '2027-01-01 12:00+00'::timestamptz,
    'names in any case, with ranges');
select is((select count(*)::int from syncsched.next_runs('0 2 * * *', 'UTC', 7, '2026-11-23')), 7,
    'next_runs returns p_count rows');

select * from finish();
rollback;
