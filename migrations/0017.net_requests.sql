-- depends: 0016.pg_net_transport
-- The requests syncsched sent through pg_net, by pg_net's request id. UNLOGGED like pg_net's own
-- queue, responses and id sequence: after a crash or a failover they all start empty together (pg_net
-- numbers its requests from 1 again), so a request id kept on a run from before can never be matched
-- to the response of a new request that has the same id.
create unlogged table syncsched.net_requests (
    id bigint not null,
    kind text not null,
    integration_type text not null,
    run_id bigint,
    scheduled_for timestamptz,
    attempt integer,
    sent_at timestamptz not null default now(),
    constraint net_requests_pkey primary key (id),
    constraint net_requests_kind_known check (kind in ('run', 'health', 'warmup')),
    constraint net_requests_run_given check (
        (kind = 'run') = (run_id is not null and scheduled_for is not null and attempt is not null)
    )
);
alter table syncsched.net_requests owner to syncsched_owner;
revoke all on syncsched.net_requests from public;
comment on table syncsched.net_requests is
'The requests sent through pg_net since this server started or was promoted (UNLOGGED, as pg_net''s queue, responses and request ids are: after a crash or failover all start again together, and a request id kept on a run from before matches nothing). A response is applied only to the run, health check or warm-up recorded here with its id.'; -- noqa: LT05
comment on constraint net_requests_pkey on syncsched.net_requests is 'pg_net''s request id.';
comment on constraint net_requests_kind_known on syncsched.net_requests is
'A run''s call, a health check or a warm-up.';
comment on constraint net_requests_run_given on syncsched.net_requests is 'A run''s call names its run and attempt.';
comment on column syncsched.net_requests.id is 'pg_net''s request id (net._http_response.id).';
comment on column syncsched.net_requests.kind is 'run, health or warmup.';
comment on column syncsched.net_requests.integration_type is 'The type whose endpoint it went to.';
comment on column syncsched.net_requests.run_id is 'The run, for a run''s call.';
comment on column syncsched.net_requests.scheduled_for is 'The run''s scheduled_for, for a run''s call.';
comment on column syncsched.net_requests.attempt is
'The run''s attempt it is the call of: its response is that attempt''s (a run claimed again since, by a worker, has another).';
comment on column syncsched.sync_run_log.net_request_id is
'pg_net transport: the net.http_post request id of the attempt in flight (its response is matched through net_requests, which also holds this attempt''s number).'; -- noqa: LT05
comment on column syncsched.net_requests.sent_at is
'When it was queued; forgotten after pg_net.ttl, when pg_net has forgotten its response too.';
