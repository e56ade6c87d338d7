-- depends: 0011.web_console
-- Spread and rate limits per integration type: runs spread over a window after their period, a
-- request budget shared by every worker (counted in request_ledger at claim time), and a pause of
-- the whole type after an answer 429.

alter table syncsched.integration_types
add column spread interval,
add column rate_limit integer,
add column rate_window interval not null default '1 minute',
add column rate_limited_backoff interval not null default '1 minute',
add constraint integration_types_spread_range check (spread > interval '0' and spread <= interval '1 day'),
add constraint integration_types_rate_limit_range check (rate_limit >= 2),
add constraint integration_types_rate_window_range check (
    rate_window >= interval '1 second' and rate_window <= interval '1 day'
),
add constraint integration_types_rate_limited_backoff_range check (
    rate_limited_backoff >= interval '1 second' and rate_limited_backoff <= interval '1 day'
);
comment on column syncsched.integration_types.spread is
'Runs of this type start up to this long after their period (at most half the way to the next one), each integration at its own offset (a hash of its identity): the type''s API sees the tenants of one schedule spread over the window instead of all at once. NULL: no spread.'; -- noqa: LT05
comment on column syncsched.integration_types.rate_limit is
'At most this many requests to the type''s endpoints (runs, health checks, warm-ups) in any rate_window, across every worker; NULL: no budget.'; -- noqa: LT05
comment on column syncsched.integration_types.rate_window is
'The sliding window rate_limit counts requests in.';
comment on column syncsched.integration_types.rate_limited_backoff is
'How long the whole type waits after an answer 429 without a Retry-After header.';
comment on constraint integration_types_spread_range on syncsched.integration_types is
'A spread is positive and at most a day.';
comment on constraint integration_types_rate_limit_range on syncsched.integration_types is
'A budget allows at least two requests: a warm-up and the run it precedes.';
comment on constraint integration_types_rate_window_range on syncsched.integration_types is
'A budget''s window is one second to one day.';
comment on constraint integration_types_rate_limited_backoff_range on syncsched.integration_types is
'The wait after a 429 without Retry-After is one second to one day.';

alter table syncsched.dispatch_state
add column rate_limited_until timestamptz;
comment on column syncsched.dispatch_state.rate_limited_until is
'After an answer 429: no run of the type is handed out before this time (its Retry-After, else rate_limited_backoff).';

create table syncsched.request_ledger (
    integration_type text not null,
    at timestamptz not null,
    requests integer not null,
    constraint request_ledger_type_fkey foreign key (integration_type)
    references syncsched.integration_types (integration_type) on update cascade on delete cascade,
    constraint request_ledger_requests_positive check (requests > 0)
);
comment on table syncsched.request_ledger is
'Requests handed out per type (claims, health checks, warm-ups), for the rate_limit budgets: one row per claim of a budgeted type, pruned past its window. Written by the owner''s functions only.'; -- noqa: LT05
comment on column syncsched.request_ledger.integration_type is
'The type whose budget the requests count against.';
comment on column syncsched.request_ledger.at is
'When they go out at the latest: the claim''s now(), or warmup_timeout later for runs that wait for their endpoint''s warm-up.'; -- noqa: LT05
comment on column syncsched.request_ledger.requests is
'How many.';
comment on constraint request_ledger_type_fkey on syncsched.request_ledger is
'Requests of a known type; they go with it.';
comment on constraint request_ledger_requests_positive on syncsched.request_ledger is
'A row counts at least one request.';
create index request_ledger_type_at_idx on syncsched.request_ledger (integration_type, at);
comment on index syncsched.request_ledger_type_at_idx is
'A type''s requests in its window, read and pruned at every claim of the type.';
alter table syncsched.request_ledger owner to syncsched_owner;
grant select on syncsched.request_ledger to syncsched_admin, syncsched_reader;

insert into syncsched.alert_kinds (kind, is_condition, severity, description) values
    ('rate_limited', false, 'warning',
     'An endpoint answered 429: every run of its type waits until its Retry-After (one alert per episode).');
