-- depends: 0013.run_log_references
-- A run whose lease expired keeps the lost claim's token until it is claimed again, so that the
-- outcome its worker could not write in time (the database was out of reach) is still taken; and a
-- run claimed again while its first worker may still be calling is an alert.
comment on column syncsched.sync_run_log.lease_token is
'Fencing token of the current claim: every worker write must present it. A run whose lease expired keeps its lost claim''s token until it is claimed again: that worker''s late completion is still taken, and a claim of the run raises possible_duplicate.'; -- noqa: LT05
insert into syncsched.alert_kinds (kind, is_condition, severity, description) values
    ('possible_duplicate', false, 'warning',
     'A run whose lease expired during its call was claimed again: if its first worker was still calling '
     || '(paused, cut off from the database), the endpoint may see its Idempotency-Key twice.');
