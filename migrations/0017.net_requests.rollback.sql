-- depends: 0016.pg_net_transport
drop table syncsched.net_requests;
comment on column syncsched.sync_run_log.net_request_id is
'pg_net transport: the net.http_post request id of the attempt in flight (its response is read from net._http_response by that id).'; -- noqa: LT05
