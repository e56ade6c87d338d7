-- depends: 0016.pg_net_transport
drop table syncsched.net_requests;
