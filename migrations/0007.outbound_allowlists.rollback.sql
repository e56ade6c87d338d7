-- depends: 0006.tenant_isolation
delete from syncsched.settings
where key in ('allowed_private_hosts', 'allowed_insecure_hosts');
