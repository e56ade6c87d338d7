-- Remove the syncsched jobs from pg_cron: psql -d <scheduler database> -f sql/uninstall_pg_cron.sql
\set ON_ERROR_STOP on

select syncsched.uninstall_cron() as jobs_removed;
