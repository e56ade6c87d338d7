-- depends: 0003.scheduler
create index sync_run_log_pending_idx
on syncsched.sync_run_log (not_before, run_id)
where status = 'pending';
comment on index syncsched.sync_run_log_pending_idx is
'Claiming: pending runs whose not_before has passed, oldest first.';

drop index syncsched.sync_run_log_pending_type_idx;
