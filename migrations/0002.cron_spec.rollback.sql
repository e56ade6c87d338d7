-- depends: 0001.schema
drop type if exists syncsched.cron_spec cascade;
