-- Install the syncsched tick in pg_cron: psql -d <scheduler database> -f sql/install_pg_cron.sql
--
-- pg_cron runs jobs as the role that scheduled them: run this as the role that should own
-- the tick (a dedicated role with syncsched_admin, not a superuser, in production).
-- pg_cron can only be created in the database named by cron.database_name.
\set ON_ERROR_STOP on

select
    current_setting('cron.database_name', true) as cron_database,
    current_database() as this_database,
    exists(
        select 1 from pg_extension
        where extname = 'pg_cron'
    ) as has_pg_cron
\gset

\if :has_pg_cron
-- pg_cron lives here: schedule the tick every minute and a daily prune.
select syncsched.install_cron('* * * * *');
select
    jobid,
    jobname,
    schedule,
    command,
    database,
    username
from cron.job
where jobname like 'syncsched%'
order by jobname;
\else
\echo pg_cron is not installed in database :this_database.
\echo It lives in :cron_database (cron.database_name); connect there and run:
\echo select cron.schedule_in_database('syncsched_tick', '* * * * *', 'CALL syncsched.tick()', ':this_database');
\echo select cron.schedule_in_database('syncsched_prune', '17 3 * * *', 'select syncsched.prune_run_log()', ':this_database');
\endif
