"""Errors that the command line reports as one line and exit code 2."""


class SyncschedError(Exception):
    """A failure the user can act on; its message is one line, no traceback."""


class ConfigError(SyncschedError):
    """Bad or missing configuration (DSN, flags, environment)."""


class ConnectError(SyncschedError):
    """The database cannot be reached or the DSN cannot be parsed."""


class PrerequisiteError(SyncschedError):
    """Something the server or the machine lacks (pg_cron, pgTAP, PostgreSQL binaries)."""
