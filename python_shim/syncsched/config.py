"""Configuration from flags and SYNCSCHED_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping

from syncsched.errors import ConfigError

DSN_ENV_VARS = ("SYNCSCHED_DSN", "DATABASE_URL")


def resolve_dsn(flag_value: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The DSN from --dsn, else SYNCSCHED_DSN, else DATABASE_URL."""
    if flag_value:
        return flag_value
    env = os.environ if environ is None else environ
    for name in DSN_ENV_VARS:
        value = env.get(name, "").strip()
        if value:
            return value
    raise ConfigError("no database given: pass --dsn or set SYNCSCHED_DSN (or DATABASE_URL)")
