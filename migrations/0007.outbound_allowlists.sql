-- depends: 0006.tenant_isolation
-- The worker's SSRF guard: what it may call besides public https endpoints.

insert into syncsched.settings (key, value, description) values
    ('allowed_private_hosts', '',
     'Comma-separated hosts the worker may call although they resolve to private, loopback or link-local '
     || 'addresses (workers add SYNCSCHED_ALLOWED_PRIVATE_HOSTS).'),
    ('allowed_insecure_hosts', '',
     'Comma-separated hosts the worker may call over plain http (workers add SYNCSCHED_ALLOWED_INSECURE_HOSTS).');
