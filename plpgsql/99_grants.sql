-- Privileges on the code: PUBLIC gets nothing; each role gets the functions it needs.
-- Kept in one file so that the privilege matrix can be read in one place.

revoke all on all functions in schema syncsched from public;
revoke all on all procedures in schema syncsched from public;

-- syncsched_reader: the views.
grant select on syncsched.schedule_overview, syncsched.recent_runs, syncsched.alerts_open to syncsched_reader;

-- syncsched_admin: configuration, previews, the tick and its installation: every function,
-- the internal helpers included (the SECURITY INVOKER API functions call them).
grant execute on all functions in schema syncsched to syncsched_admin;
grant execute on procedure syncsched.tick(timestamptz) to syncsched_admin;

-- syncsched_worker: the run functions only (no table privileges at all).
revoke execute on function
syncsched.claim_runs(text, integer, interval),
syncsched.heartbeat(text, bigint[], uuid[], interval),
syncsched.complete_runs(bigint[], uuid[], integer[], text[]),
syncsched.complete_run(bigint, uuid, integer, text),
syncsched.fail_run(bigint, uuid, text, integer, boolean, interval),
syncsched.release_run(bigint, uuid),
syncsched.claim_health_checks(text, integer),
syncsched.record_health_check(text, boolean, integer, text, integer),
syncsched.record_warmup(text, boolean, integer, text),
syncsched.claim_prewarm(interval),
syncsched.claim_alert_deliveries(integer),
syncsched.record_alert_delivery(bigint, boolean, text)
from syncsched_admin;
grant execute on function
syncsched.setting(text),
syncsched.claim_runs(text, integer, interval),
syncsched.heartbeat(text, bigint[], uuid[], interval),
syncsched.complete_runs(bigint[], uuid[], integer[], text[]),
syncsched.complete_run(bigint, uuid, integer, text),
syncsched.fail_run(bigint, uuid, text, integer, boolean, interval),
syncsched.release_run(bigint, uuid),
syncsched.queue_depth(),
syncsched.worker_config(),
syncsched.claim_health_checks(text, integer),
syncsched.next_health_check_at(),
syncsched.record_health_check(text, boolean, integer, text, integer),
syncsched.record_warmup(text, boolean, integer, text),
syncsched.claim_prewarm(interval),
syncsched.check_scheduler(timestamptz, timestamptz),
syncsched.claim_alert_deliveries(integer),
syncsched.record_alert_delivery(bigint, boolean, text)
to syncsched_worker;
