-- depends: 0018.org_keys
drop table syncsched.shard_outbox;
