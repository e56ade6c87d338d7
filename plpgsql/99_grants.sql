-- Privileges on the code: PUBLIC gets nothing; each role gets the functions it needs.
-- Kept in one file so that the privilege matrix can be read in one place.

revoke all on all functions in schema syncsched from public;
revoke all on all procedures in schema syncsched from public;

-- syncsched_reader: the views.
grant select on syncsched.schedule_overview, syncsched.recent_runs to syncsched_reader;

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
syncsched.release_run(bigint, uuid)
from syncsched_admin;
grant execute on function
syncsched.setting(text),
syncsched.claim_runs(text, integer, interval),
syncsched.heartbeat(text, bigint[], uuid[], interval),
syncsched.complete_runs(bigint[], uuid[], integer[], text[]),
syncsched.complete_run(bigint, uuid, integer, text),
syncsched.fail_run(bigint, uuid, text, integer, boolean, interval),
syncsched.release_run(bigint, uuid),
syncsched.queue_depth()
to syncsched_worker;
