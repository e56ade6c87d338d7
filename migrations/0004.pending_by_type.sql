-- depends: 0003.scheduler
-- Claims look for ready runs type by type (max_concurrency, the circuit breaker): the pending
-- index leads with the type, so that a type with no ready work, or a held type's backlog,
-- costs a claim nothing.

create index sync_run_log_pending_type_idx
on syncsched.sync_run_log (integration_type, not_before, run_id)
where status = 'pending';
comment on index syncsched.sync_run_log_pending_type_idx is
'Claiming: per type, pending runs whose not_before has passed, oldest first.';

drop index syncsched.sync_run_log_pending_idx;
