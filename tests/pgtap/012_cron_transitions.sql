-- The cron engine at tzdata's unusual transitions, where cronsim (the oracle) hangs, goes
-- backwards or is misread: the answer is always later than the instant asked about.
begin;
-- a hang is a failure here, not a stuck test run
set local statement_timeout = '20s';
select plan(22);

-- Pacific/Chatham falls back from 03:45 +13:45 to 02:45 +12:45 on the first Sunday of April.
select is(syncsched.cron_next('*/15 3 * * *', '2025-04-06 03:30+13:45', 'Pacific/Chatham'),
    '2025-04-06 03:00+12:45'::timestamptz,
    'Chatham fall-back: */15 3 after 03:30 +13:45 is 03:00 +12:45, not the earlier 03:00 +13:45');
select is(syncsched.cron_next('*/50 3 * * *', '2025-04-06 03:00+13:45', 'Pacific/Chatham'),
    '2025-04-06 03:00+12:45'::timestamptz,
    'Chatham fall-back: */50 3 after 03:00 +13:45 is 03:00 +12:45, not the same instant');
select results_eq(
    $$select * from syncsched.next_runs('*/50 3 * * *', 'Pacific/Chatham', 3, '2025-04-06 03:00+13:45')$$,
    $$values ('2025-04-06 03:00+12:45'::timestamptz), ('2025-04-06 03:50+12:45'), ('2025-04-07 03:00+12:45')$$,
    'next_runs across the Chatham fall-back returns');
select is(syncsched.cron_next('50 */3 * * *', '2026-04-05 02:30+13:45', 'Pacific/Chatham'),
    '2026-04-05 03:50+12:45'::timestamptz, 'Chatham fall-back: 50 */3 returns the next real 03:50');
select is(syncsched.cron_next('15-16/5 */7 * * *', '2010-11-06 23:58:10-02:30', 'America/St_Johns'),
    '2010-11-07 00:15-03:30'::timestamptz, 'St_Johns 2010 fall-back at 00:01: returns');
select results_eq(
    $$select * from syncsched.next_runs('*/30 * * * *', 'America/St_Johns', 3, '2010-11-06 23:58:10-02:30')$$,
    $$values ('2010-11-07 00:00-02:30'::timestamptz), ('2010-11-06 23:30-03:30'), ('2010-11-07 00:00-03:30')$$,
    'St_Johns: */30 fires at 00:00, in the repeated hour, and at 00:00 again');

-- folds of 10 and 23 hours
select is(syncsched.cron_next('*/30 * * * *', '1919-03-31 23:40+10', 'Antarctica/Macquarie'),
    '1919-03-31 14:00+00'::timestamptz, 'Macquarie 1919: the 10-hour fold is read, not skipped');
select is(syncsched.cron_next('*/30 * * * *', '1969-09-30 23:40+11', 'Pacific/Kwajalein'),
    '1969-09-30 13:00+00'::timestamptz, 'Kwajalein 1969: the 23-hour fold is read, not skipped');
select is(syncsched.cron_next('0 12 * * *', '1969-09-30 13:00+00', 'Pacific/Kwajalein'),
    '1969-10-02 00:00+00'::timestamptz,
    'Kwajalein 1969: noon of the repeated day fired in its first pass, the next is a day later');

-- a fixed time started in the repeated hour: the next run is later, not the first occurrence
select is(syncsched.cron_next('50 3 * * *', '2021-10-31 03:05:50+02', 'Europe/Riga'),
    '2021-11-01 03:50+02'::timestamptz, 'Riga fall-back: 03:50 already fired at +03, the next is tomorrow');
select is(syncsched.cron_next('50 3 * * *', '2021-10-31 03:05:50+03', 'Europe/Riga'),
    '2021-10-31 03:50+03'::timestamptz, '... while from the first pass it is the first 03:50');
select is(syncsched.cron_next('0,30 3 * * *', '2021-10-31 03:10+02', 'Europe/Riga'),
    '2021-11-01 03:00+02'::timestamptz, '... and a list does not fire its repeated members again');

-- Troll's 2-hour DST, Apia's skipped day, a 30-minute fall-back
select is(syncsched.cron_next('30 1 * * *', '2024-03-30 12:00+00', 'Antarctica/Troll'),
    '2024-03-31 03:00+02'::timestamptz, 'Troll: 01:30 is in the 2-hour gap, fires at 03:00');
select is(syncsched.cron_next('*/20 * * * *', '2024-03-31 00:50+00', 'Antarctica/Troll'),
    '2024-03-31 03:00+02'::timestamptz, 'Troll: */20 jumps the gap');
select is(syncsched.cron_next('0 12 * * *', '2011-12-29 13:00-10', 'Pacific/Apia'),
    '2011-12-31 00:00+14'::timestamptz, 'Apia: 30 December 2011 never happened, its noon fires at the next midnight');
select is(syncsched.cron_next('*/30 * * * *', '2026-04-05 01:50+11', 'Australia/Lord_Howe'),
    '2026-04-05 01:30+10:30'::timestamptz, 'Lord Howe: the half hour repeated by a 30-minute fall-back fires');

-- strictly later, always: a sweep of instants across the Chatham night
select is(
    (select count(*)::int
     from generate_series('2025-04-05 12:00+00'::timestamptz, '2025-04-05 16:00+00', interval '7 minutes') as a,
         unnest(array['*/15 3 * * *', '*/50 3 * * *', '50 */3 * * *', '45 2,3 * * *', '*/5 * * * *',
                      '2-59/15 2 * * *']) as e
     where syncsched.cron_next(e, a, 'Pacific/Chatham') <= a),
    0, 'over the Chatham night, cron_next is later than its instant for every expression');
select is(
    (select count(*)::int from syncsched.next_runs('*/15 3 * * *', 'Pacific/Chatham', 12, '2025-04-05 13:00+00')
     where next_runs < '2025-04-05 15:00+00'),
    6, 'next_runs of */15 3 in Chatham: 03:00, 03:15, 03:30 at +13:45, and again at +12:45');

-- the hard cap: a hand-made spec that matches no minute cannot spin
select throws_ok(
    $$select syncsched.cron_next_spec(row(0, 16777215, 4294967294, 8190, 127, true, true, false)::syncsched.cron_spec,
        '2026-01-01', 'Europe/Oslo')$$,
    '54000', null, 'a spec without any minute stops at the iteration cap with program_limit_exceeded');
select throws_like(
    $$select syncsched.cron_next_spec(row(0, 16777215, 4294967294, 8190, 127, true, true, false)::syncsched.cron_spec,
        '2026-01-01', 'Europe/Oslo')$$,
    '%"- * * * *"%Europe/Oslo%', '... and its message names the spec (as an expression) and the zone');

-- cron_matches agrees with the repeated-hour rule
select ok(syncsched.cron_matches('0 3 * * *', '2021-10-31 00:00+00', 'Europe/Riga'), 'the first 03:00 matches');
select ok(not syncsched.cron_matches('0 3 * * *', '2021-10-31 01:00+00', 'Europe/Riga'), 'the second does not');

select * from finish();
rollback;
