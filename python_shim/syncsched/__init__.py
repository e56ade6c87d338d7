"""syncsched: a Postgres-native scheduler for recurring per-tenant sync jobs."""

__version__ = "0.1.0"
