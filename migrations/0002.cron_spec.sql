-- depends: 0001.schema
-- The parsed form of a cron expression, so that evaluating a schedule never parses it again.

create type syncsched.cron_spec as (
    minutes bigint,
    hours bigint,
    days bigint,
    months bigint,
    weekdays bigint,
    day_and boolean,
    any_day boolean,
    fixed_time boolean
);
comment on type syncsched.cron_spec is
'Parsed cron expression as bit masks: minutes bits 0-59, hours 0-23, days 1-31 (bit 32 = L, bit 33 = LW), months 1-12, weekdays bits 0-6 (Sunday = 0), bits 8-14 "nL", bits 16 + 5 * weekday + (k - 1) "weekday#k". day_and: both day fields must match (one starts with *). any_day: every day matches. fixed_time: minute and hour fields do not start with * (the DST rules of Debian cron apply).';

alter type syncsched.cron_spec owner to syncsched_owner;
grant usage on type syncsched.cron_spec to syncsched_admin, syncsched_reader;
