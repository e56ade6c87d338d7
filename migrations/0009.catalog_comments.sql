-- depends: 0008.engine_core
-- Every table, column, index, constraint and trigger says what it is for (a catalog test keeps it so).

-- ---------------------------------------------------------------------------------------------
-- Tables added by 0008
-- ---------------------------------------------------------------------------------------------
comment on table syncsched.schedule_state is
'What the tick derives from each integration''s schedule: written only by the owner (the schedule triggers and the tick), always re-derived from organization_integrations.';
comment on column syncsched.schedule_state.id is
'The integration (organization_integrations.id).';
comment on column syncsched.schedule_state.cron_spec is
'cron_schedule parsed (see cron_parse), so that a tick never parses; null for interval schedules.';
comment on column syncsched.schedule_state.next_run_at is
'Next period not yet turned into a run; null when disabled, unscheduled, or when the tick could not evaluate the schedule (see problem).';
comment on column syncsched.schedule_state.last_tick_at is
'p_now of the last tick that handled this row: a tick handles a row once, whatever its batches.';
comment on column syncsched.schedule_state.stale_check_at is
'When the tick next looks at this integration''s staleness: its deadline, or its next period while it is stale.';
comment on column syncsched.schedule_state.derived_at is
'When the schedule was last derived from the configuration: the start of its staleness clock.';
comment on column syncsched.schedule_state.problem is
'Why the tick stopped evaluating the schedule (it is not due again until the schedule is changed); null when fine.';

comment on table syncsched.sync_run_attempts is
'Every attempt of every run that has ended (completed, failed, lost with its lease, released at shutdown): the audit trail of an export. The attempt running now is the run itself (view run_attempts shows both).';
comment on column syncsched.sync_run_attempts.run_id is
'The run.';
comment on column syncsched.sync_run_attempts.attempt is
'Attempt number, from 1, as the worker logs it and sends it in the POST body.';
comment on column syncsched.sync_run_attempts.outcome is
'completed (2xx), failed (an error or non-2xx answer), lost (the lease expired: the worker stopped), released (given back at shutdown).';
comment on column syncsched.sync_run_attempts.worker_id is
'The worker that made the attempt.';
comment on column syncsched.sync_run_attempts.started_at is
'When the attempt was claimed.';
comment on column syncsched.sync_run_attempts.finished_at is
'When it ended (for lost: when it was found lost).';
comment on column syncsched.sync_run_attempts.http_status is
'HTTP status of the endpoint''s answer, if one came.';
comment on column syncsched.sync_run_attempts.error is
'What went wrong; null for a completed attempt.';
comment on column syncsched.sync_run_attempts.response_excerpt is
'Start of the endpoint''s answer to a completed attempt (capped by the worker).';

comment on table syncsched.alert_kinds is
'The kinds of alert: whether each is a condition (open until what caused it clears) or an event, and its severity.';
comment on column syncsched.alert_kinds.kind is
'Name of the kind, as in scheduler_alerts.kind.';
comment on column syncsched.alert_kinds.is_condition is
'Conditions stay open until resolved; events are shown for 24 hours.';
comment on column syncsched.alert_kinds.severity is
'danger (someone must act) or warning; the colour of the webhook message and the log level of the workers.';
comment on column syncsched.alert_kinds.description is
'When it is raised and when it is resolved.';

comment on table syncsched.dispatch_state is
'Per integration type, where the last claim stopped in its round robin across organizations (owner-written).';
comment on column syncsched.dispatch_state.integration_type is
'The integration type.';
comment on column syncsched.dispatch_state.last_org_id is
'The organization the last claim of this type served last: the next claim starts after it.';
comment on column syncsched.dispatch_state.updated_at is
'When a claim last moved it.';

-- ---------------------------------------------------------------------------------------------
-- Columns
-- ---------------------------------------------------------------------------------------------
comment on column syncsched.settings.key is
'Name of the setting.';
comment on column syncsched.settings.value is
'Current value, as text; checked against type and range on every write.';
comment on column syncsched.settings.description is
'What the setting does.';
comment on column syncsched.settings.updated_at is
'When the value was last written.';
comment on column syncsched.settings.type is
'boolean, interval, integer, url (empty, http(s) URL or env:NAME) or host_list (comma-separated hosts).';
comment on column syncsched.settings.default_value is
'The default: the value a fresh install has, and reset_setting() restores.';
comment on column syncsched.settings.min_value is
'Smallest value allowed (interval and integer settings).';
comment on column syncsched.settings.max_value is
'Largest value allowed (interval and integer settings).';

comment on column syncsched.integration_types.integration_type is
'Name of the type (lower case), referenced by the integrations.';
comment on column syncsched.integration_types.health_method is
'HEAD or GET: the method of health checks and warm-ups.';
comment on column syncsched.integration_types.timeout_ms is
'Longest time a call may take, in milliseconds.';
comment on column syncsched.integration_types.connect_timeout_ms is
'Longest time to connect to the endpoint, in milliseconds.';
comment on column syncsched.integration_types.health_check_interval is
'How often one of the workers checks the endpoint in active mode (backed off after failures).';
comment on column syncsched.integration_types.description is
'What the type is, for people.';
comment on column syncsched.integration_types.created_at is
'When the type was added.';
comment on column syncsched.integration_types.updated_at is
'Set when the row is created; whoever changes the row may set it (nothing does automatically).';

comment on column syncsched.organization_integrations.org_id is
'The organization (tenant).';
comment on column syncsched.organization_integrations.integration_id is
'The integration''s name within its organization.';
comment on column syncsched.organization_integrations.integration_type is
'Which endpoint it calls (integration_types).';
comment on column syncsched.organization_integrations.is_enabled is
'Disabled: no scheduled runs, pending runs cancelled.';
comment on column syncsched.organization_integrations.misfire_policy is
'What a tick does with periods that were missed: run_once, catch_up or skip (see the type).';
comment on column syncsched.organization_integrations.created_at is
'When the integration was created.';
comment on column syncsched.organization_integrations.updated_at is
'When the integration was last written.';

comment on column syncsched.sync_run_log.run_id is
'The run.';
comment on column syncsched.sync_run_log.org_id is
'The organization of the integration.';
comment on column syncsched.sync_run_log.integration_id is
'The integration.';
comment on column syncsched.sync_run_log.integration_type is
'The integration''s type when the run was created: where it is sent.';
comment on column syncsched.sync_run_log.status is
'pending, running, completed, failed or cancelled (see the type run_status).';
comment on column syncsched.sync_run_log.max_attempts is
'Attempts this run may make (the integration''s max_attempts, else settings.default_max_attempts).';
comment on column syncsched.sync_run_log.enqueued_at is
'When the run was created (wall clock).';
comment on column syncsched.sync_run_log.started_at is
'When its current (or last) attempt was claimed.';
comment on column syncsched.sync_run_log.finished_at is
'When it reached completed, failed or cancelled.';
comment on column syncsched.sync_run_log.heartbeat_at is
'Last heartbeat of the worker holding it.';
comment on column syncsched.sync_run_log.worker_id is
'The worker of the current (or last) attempt.';
comment on column syncsched.sync_run_log.http_status is
'HTTP status of the last attempt''s answer.';
comment on column syncsched.sync_run_log.error is
'The last attempt''s error; null after a success (earlier errors are in sync_run_attempts).';
comment on column syncsched.sync_run_log.attempt is
'Number of the current or last attempt, from 1; 0 for a run never claimed.';
comment on column syncsched.sync_run_log.drift is
'How late the run started after its period: the tick''s lateness when it created the run plus the time the run waited to be claimed.';

comment on column syncsched.scheduler_ticks.tick_id is
'The batch.';
comment on column syncsched.scheduler_ticks.started_at is
'When the batch started (wall clock).';
comment on column syncsched.scheduler_ticks.finished_at is
'When it finished.';
comment on column syncsched.scheduler_ticks.due is
'Due schedules the batch handled.';
comment on column syncsched.scheduler_ticks.triggered is
'Runs it created.';
comment on column syncsched.scheduler_ticks.skipped_locked is
'Due schedules left to another tick or a run_now that held them.';
comment on column syncsched.scheduler_ticks.skipped_running is
'Schedules whose period was skipped while a run of theirs was pending or running.';
comment on column syncsched.scheduler_ticks.skipped_duplicate is
'Periods that already had a run (the idempotency key).';
comment on column syncsched.scheduler_ticks.invalid is
'Schedules it could not evaluate (each with an invalid_schedule alert).';
comment on column syncsched.scheduler_ticks.duration_ms is
'How long the batch took, in milliseconds.';

comment on column syncsched.scheduler_alerts.alert_id is
'The alert.';
comment on column syncsched.scheduler_alerts.kind is
'What happened (alert_kinds).';
comment on column syncsched.scheduler_alerts.org_id is
'The organization it is about, if any.';
comment on column syncsched.scheduler_alerts.integration_id is
'The integration it is about, if any.';
comment on column syncsched.scheduler_alerts.integration_type is
'The integration type it is about, if any.';
comment on column syncsched.scheduler_alerts.detail is
'The details (counts, periods, errors), as JSON.';
comment on column syncsched.scheduler_alerts.at is
'When it was raised (the clock of what raised it: the tick''s p_now, or now()).';
comment on column syncsched.scheduler_alerts.is_condition is
'A condition (open until resolved_at) rather than an event, as alert_kinds said when it was raised.';
comment on column syncsched.scheduler_alerts.is_open is
'An open alert: a condition not resolved yet (generated: the one place this rule is written).';
comment on column syncsched.scheduler_alerts.delivery_attempts is
'Failed webhook deliveries so far.';
comment on column syncsched.scheduler_alerts.delivery_not_before is
'The next webhook delivery is not tried before this time.';
comment on column syncsched.scheduler_alerts.delivery_error is
'Why the last webhook delivery failed.';

comment on column syncsched.endpoint_health.integration_type is
'The integration type.';
comment on column syncsched.endpoint_health.status is
'healthy, unhealthy or unknown.';
comment on column syncsched.endpoint_health.consecutive_failures is
'Failed checks (active) or failed attempts (passive) in a row.';
comment on column syncsched.endpoint_health.last_check_at is
'When the last health check ended.';
comment on column syncsched.endpoint_health.last_success_at is
'When a check or a run last succeeded.';
comment on column syncsched.endpoint_health.last_error is
'Why the last check or attempt failed.';
comment on column syncsched.endpoint_health.updated_at is
'When the row was last written.';

-- ---------------------------------------------------------------------------------------------
-- Indexes
-- ---------------------------------------------------------------------------------------------
comment on index syncsched.organization_integrations_type_idx is
'The integrations of a type (health checks of types in use, the foreign key from integration_types).';
comment on index syncsched.schedule_state_next_run_at_idx is
'The tick reads due rows through this index: its cost grows with the number due, not the number configured.';
comment on index syncsched.schedule_state_stale_check_at_idx is
'The tick reads the integrations due for a staleness look through this index: O(due), never O(all).';
comment on index syncsched.scheduler_alerts_at_idx is
'Alerts by time: the events of the last day (alerts_open), retention.';
comment on index syncsched.scheduler_alerts_key_at_idx is
'The alerts of one key, newest first (webhook repeat rule).';
comment on index syncsched.scheduler_alerts_open_idx is
'Open conditions: alerts_open, resolving, and "is it already open" read this small index, however long the history.';
comment on index syncsched.scheduler_ticks_at_idx is
'Ticks by the instant they served (retention, the last tick).';
comment on index syncsched.sync_run_log_enqueued_at_idx is
'recent_runs: the runs of the last day.';
comment on index syncsched.sync_run_log_finished_at_idx is
'Retention: finished runs, oldest first.';
comment on index syncsched.sync_run_log_integration_idx is
'The runs of one integration, newest period first (overview, last success, retention''s keep rule).';
comment on index syncsched.sync_run_log_pending_org_idx is
'Claiming: per type, the organizations with pending runs (a loose scan) and each one''s runs oldest first.';

-- ---------------------------------------------------------------------------------------------
-- Constraints
-- ---------------------------------------------------------------------------------------------
comment on constraint settings_pkey on syncsched.settings is 'One row per setting.';
comment on constraint settings_key_format on syncsched.settings is 'Keys are lower-case identifiers.';
comment on constraint settings_type_known on syncsched.settings is 'The types the settings trigger checks.';
comment on constraint settings_range_only_for_ordered_types on syncsched.settings is
'Only intervals and integers have a range.';

comment on constraint integration_types_pkey on syncsched.integration_types is 'One row per type.';
comment on constraint integration_types_name_format on syncsched.integration_types is
'Type names are lower-case identifiers (they appear in URLs, metrics and lock keys).';
comment on constraint integration_types_endpoint_url_http on syncsched.integration_types is
'Endpoints are http(s) URLs with a host (the worker''s guard decides which it may call).';
comment on constraint integration_types_health_url_http on syncsched.integration_types is
'Health URLs are http(s) URLs with a host.';
comment on constraint integration_types_health_method_known on syncsched.integration_types is
'Health checks are HEAD or GET.';
comment on constraint integration_types_timeout_positive on syncsched.integration_types is
'A call may take 1 ms to 1 hour.';
comment on constraint integration_types_connect_timeout_positive on syncsched.integration_types is
'Connecting may take 1 ms to 10 minutes.';
comment on constraint integration_types_max_concurrency_positive on syncsched.integration_types is
'1 to 10,000 runs of a type in flight.';
comment on constraint integration_types_auth_secret_env_name on syncsched.integration_types is
'The secret''s variable has an environment-variable name (the secret itself is never stored).';
comment on constraint integration_types_health_check_interval_positive on syncsched.integration_types is
'Health checks are some time apart.';

comment on constraint organization_integrations_pkey on syncsched.organization_integrations is
'An integration is known by its organization and name.';
comment on constraint organization_integrations_id_key on syncsched.organization_integrations is
'The stable integer id (schedule_state''s key).';
comment on constraint organization_integrations_type_fkey on syncsched.organization_integrations is
'The type must exist; renaming a type renames it here.';
comment on constraint organization_integrations_org_id_format on syncsched.organization_integrations is
'Organization ids: 1-128 letters, digits, ".", "_", ":" or "-" (they appear in idempotency keys).';
comment on constraint organization_integrations_integration_id_format on syncsched.organization_integrations is
'Integration ids: 1-128 letters, digits, ".", "_", ":" or "-".';
comment on constraint organization_integrations_one_schedule_kind on syncsched.organization_integrations is
'A cron schedule or an interval, not both.';
comment on constraint organization_integrations_cron_length on syncsched.organization_integrations is
'Cron expressions of at most 200 characters.';
comment on constraint organization_integrations_interval_range on syncsched.organization_integrations is
'Intervals from 1 minute to a year (min_schedule_interval is checked by the trigger).';
comment on constraint organization_integrations_timezone_length on syncsched.organization_integrations is
'Zone names of 1-64 characters (the trigger checks the zone exists).';
comment on constraint organization_integrations_misfire_grace_nonnegative on syncsched.organization_integrations is
'A grace is not negative.';
comment on constraint organization_integrations_max_attempts_range on syncsched.organization_integrations is
'1 to 100 attempts per run.';
comment on constraint organization_integrations_max_staleness_positive on syncsched.organization_integrations is
'A staleness limit is positive.';
comment on constraint organization_integrations_payload_object on syncsched.organization_integrations is
'The payload is a JSON object.';
comment on constraint organization_integrations_payload_size on syncsched.organization_integrations is
'The payload is at most 64 kB.';

comment on constraint schedule_state_pkey on syncsched.schedule_state is 'One state per integration.';
comment on constraint schedule_state_integration_fkey on syncsched.schedule_state is
'The state goes with its integration.';

comment on constraint sync_run_log_pkey on syncsched.sync_run_log is 'The run.';
comment on constraint sync_run_log_idempotency_key_key on syncsched.sync_run_log is
'At most one run per integration and period: the guarantee that a period is never exported twice by the scheduler.';
comment on constraint sync_run_log_integration_fkey on syncsched.sync_run_log is
'Runs belong to an integration (deleting it deletes its history; disable it to keep the history).';
comment on constraint sync_run_log_trigger_known on syncsched.sync_run_log is
'What created the run: schedule, manual or catch_up.';
comment on constraint sync_run_log_attempt_range on syncsched.sync_run_log is
'Never more attempts than allowed.';
comment on constraint sync_run_log_max_attempts_range on syncsched.sync_run_log is
'1 to 100 attempts.';
comment on constraint sync_run_log_running_has_lease on syncsched.sync_run_log is
'A running run has a lease (token and expiry) and a start.';
comment on constraint sync_run_log_final_has_finished_at on syncsched.sync_run_log is
'A finished run says when.';
comment on constraint sync_run_log_http_status_range on syncsched.sync_run_log is
'HTTP statuses are 100-599.';
comment on constraint sync_run_log_pending_has_attempts_left on syncsched.sync_run_log is
'A pending run can still be tried.';

comment on constraint sync_run_attempts_pkey on syncsched.sync_run_attempts is 'One row per attempt of a run.';
comment on constraint sync_run_attempts_run_fkey on syncsched.sync_run_attempts is
'Attempts go with their run (retention).';
comment on constraint sync_run_attempts_attempt_positive on syncsched.sync_run_attempts is 'Attempts count from 1.';
comment on constraint sync_run_attempts_outcome_known on syncsched.sync_run_attempts is
'How an attempt can end.';
comment on constraint sync_run_attempts_http_status_range on syncsched.sync_run_attempts is
'HTTP statuses are 100-599.';
comment on constraint sync_run_attempts_finished_after_start on syncsched.sync_run_attempts is
'An attempt ends after it starts.';

comment on constraint scheduler_ticks_pkey on syncsched.scheduler_ticks is 'The batch.';
comment on constraint scheduler_alerts_pkey on syncsched.scheduler_alerts is 'The alert.';
comment on constraint scheduler_alerts_kind_fkey on syncsched.scheduler_alerts is 'Alerts are of a known kind.';
comment on constraint scheduler_alerts_delivery_known on syncsched.scheduler_alerts is
'Webhook delivery states.';
comment on constraint alert_kinds_pkey on syncsched.alert_kinds is 'One row per kind.';
comment on constraint alert_kinds_severity_known on syncsched.alert_kinds is 'danger or warning.';

comment on constraint endpoint_health_pkey on syncsched.endpoint_health is 'One health row per type.';
comment on constraint endpoint_health_type_fkey on syncsched.endpoint_health is 'Health goes with its type.';
comment on constraint endpoint_health_status_known on syncsched.endpoint_health is 'healthy, unhealthy or unknown.';
comment on constraint endpoint_health_mode_known on syncsched.endpoint_health is 'active or passive.';
comment on constraint endpoint_health_failures_nonnegative on syncsched.endpoint_health is
'A count of failures.';

comment on constraint dispatch_state_pkey on syncsched.dispatch_state is 'One row per type.';
comment on constraint dispatch_state_type_fkey on syncsched.dispatch_state is 'It goes with its type.';
