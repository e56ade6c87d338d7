-- Privileges on the code: PUBLIC gets nothing; each role gets the functions it needs.
-- Kept in one file so that the privilege matrix can be read in one place.

revoke all on all functions in schema syncsched from public;
revoke all on all procedures in schema syncsched from public;

grant execute on function syncsched.setting(text) to syncsched_admin;
