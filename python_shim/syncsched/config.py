"""Configuration from flags and SYNCSCHED_* environment variables."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Mapping
from datetime import tzinfo
from zoneinfo import ZoneInfo

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


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds from '250ms', '5s', '5', '1.5m', '1h'."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"not a duration: {text!r} (use for example 5s, 250ms, 1m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def time_zone(name: str) -> tzinfo | None:
    """The IANA zone of that name; None when there is none (times then show in the local zone)."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return None


def env_default(name: str, fallback: str) -> str:
    """A flag's default: SYNCSCHED_<NAME> when set, else the built-in default."""
    return os.environ.get(f"SYNCSCHED_{name}", fallback)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(log_format: str, level: str = "INFO") -> None:
    if log_format not in ("text", "json"):
        raise ConfigError(f"--log-format must be text or json, not {log_format!r}")
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
