-- depends: 0012.spread_budgets
-- A run names its integration by (org_id, integration_id) without a foreign key. The key's check
-- locked every run's integration row (FOR KEY SHARE), which dirtied an integration page per run
-- created: a quarter of a tick's time and its WAL. The integration's triggers keep the reference
-- true instead: an integration with runs is neither deleted by a plain DELETE nor renamed, and both
-- wait for the schedule_state row lock that the tick and run_now hold while they create runs.
alter table syncsched.sync_run_log drop constraint sync_run_log_integration_fkey;
comment on table syncsched.sync_run_log is
'One row per run of an integration: the queue and its history. The UNIQUE idempotency_key guarantees at most one run per integration and period. org_id and integration_id name an integration that exists (its triggers refuse to delete or rename it while it has runs; delete_integration removes its history first).'; -- noqa: LT05
