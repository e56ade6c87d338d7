-- Point the seeded integration types at your endpoints (run as syncsched_admin).
-- The worker reads the Authorization header value from the environment variable
-- named in auth_secret_env; the secret itself is never stored in the database.
begin;

update syncsched.integration_types
set
    endpoint_url = 'https://sync.example.com/xledger',
    health_url = 'https://sync.example.com/xledger/health',
    timeout_ms = 120000,
    max_concurrency = 4,
    auth_secret_env = 'SYNCSCHED_XLEDGER_TOKEN'
where integration_type = 'xledger';

-- A new kind of integration.
insert into syncsched.integration_types (
    integration_type, endpoint_url, health_url, max_concurrency, auth_secret_env, description
) values (
    'visma', 'https://sync.example.com/visma', null, 2, 'SYNCSCHED_VISMA_TOKEN',
    'Visma payroll export'
)
on conflict (integration_type) do nothing;

select
    t.integration_type,
    t.endpoint_url,
    t.max_concurrency
from syncsched.integration_types as t
order by t.integration_type;

commit;
