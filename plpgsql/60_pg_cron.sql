-- Installing the tick in pg_cron.

create or replace function syncsched.install_cron(p_schedule text default '* * * * *')
returns jsonb
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_tick bigint;
    v_prune bigint;
    v_net bigint;
    v_problem text;
begin
    perform syncsched._require(p_schedule, 'p_schedule');
    v_problem := case when p_schedule !~ '^\s*[0-9]+ seconds\s*$' then syncsched.cron_validate(p_schedule) end;
    if v_problem is not null then
        raise exception 'syncsched: invalid tick schedule "%": %', left(p_schedule, 100), v_problem
            using errcode = 'invalid_parameter_value';
    end if;
    if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
        raise exception 'syncsched: pg_cron is not installed in database %', current_database()
            using errcode = 'undefined_object',
                hint = format(
                    'pg_cron lives in the database named by cron.database_name (%s). Run there: '
                    'select cron.schedule_in_database(''syncsched_tick'', %L, ''CALL syncsched.tick()'', %L);',
                    coalesce(current_setting('cron.database_name', true), 'postgres'), p_schedule, current_database()
                );
    end if;
    -- pg_cron runs each job as the role that scheduled it: the caller. (Dynamic SQL: the
    -- cron schema exists only where pg_cron is installed.)
    execute format('select %I.schedule_in_database($1, $2, $3, $4)', 'cron')
        into v_tick using 'syncsched_tick', p_schedule, 'CALL syncsched.tick()', current_database();
    execute format('select %I.schedule_in_database($1, $2, $3, $4)', 'cron')
        into v_prune using 'syncsched_prune', '17 3 * * *', 'select syncsched.prune_run_log()', current_database();
    -- The pg_net transport's collector, where pg_cron has sub-minute schedules (1.5 on): responses
    -- read and runs sent every 5 seconds. With pg_cron 1.4 the tick does it once a minute.
    if syncsched._net_problem() is null and (
        select string_to_array(split_part(e.extversion, '-', 1), '.')::integer[] >= array[1, 5]
        from pg_catalog.pg_extension as e where e.extname = 'pg_cron'
    ) then
        execute format('select %I.schedule_in_database($1, $2, $3, $4)', 'cron')
            into v_net using 'syncsched_net', '5 seconds', 'select syncsched.net_step()', current_database();
    end if;
    return jsonb_build_object('tick_job', v_tick, 'prune_job', v_prune, 'net_job', v_net, 'schedule', p_schedule);
end
$$;
comment on function syncsched.install_cron(text) is
'Schedule CALL syncsched.tick() (default every minute) and a daily prune_run_log() in pg_cron, as the calling role, and where pg_net serves this database and pg_cron is 1.5 or later, net_step() every 5 seconds (the pg_net transport''s collector). Idempotent.'; -- noqa: LT05

create or replace function syncsched.uninstall_cron()
returns integer
language plpgsql
set search_path = pg_catalog, syncsched, pg_temp
as $$
declare
    v_name text;
    v_removed integer := 0;
    v_count integer;
begin
    if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
        return 0;
    end if;
    foreach v_name in array array['syncsched_tick', 'syncsched_prune', 'syncsched_net'] loop
        execute format('select %I.unschedule(j.jobid) from %I.job as j where j.jobname = $1 and j.username = $2',
            'cron', 'cron')
            using v_name, current_user;
        get diagnostics v_count = row_count;  -- EXECUTE does not set FOUND
        v_removed := v_removed + v_count;
    end loop;
    return v_removed;
end
$$;
comment on function syncsched.uninstall_cron() is
'Remove the jobs install_cron scheduled (for the calling role); returns how many.';
