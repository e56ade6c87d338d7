-- depends: 0012.spread_budgets
-- Runs whose integration is gone (none, while the triggers held) would stop the check: not valid.
alter table syncsched.sync_run_log
add constraint sync_run_log_integration_fkey foreign key (org_id, integration_id)
references syncsched.organization_integrations (org_id, integration_id) on update cascade on delete cascade
not valid;
comment on constraint sync_run_log_integration_fkey on syncsched.sync_run_log is
'Runs belong to an integration (deleting it deletes its history; disable it to keep the history).';
comment on table syncsched.sync_run_log is
'One row per run of an integration: the queue and its history. The UNIQUE idempotency_key guarantees at most one run per integration and period.';
