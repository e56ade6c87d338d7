"""Configuration from flags and SYNCSCHED_* environment variables."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any
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


def _seconds(value: float) -> str:
    """A duration as a flag would say it: 250ms, 5s, 1m, 24h."""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value * 1000:g}ms" if 0 < value < 1 else f"{value:g}s"


def duration_flag(flag: str, text: str, low: float, high: float) -> float:
    """Seconds of a duration flag between low and high (inclusive); a one-line ConfigError otherwise."""
    try:
        seconds = parse_duration(text)
    except ConfigError:
        seconds = None
    if seconds is None or not low <= seconds <= high:
        raise ConfigError(
            f"{flag} must be a duration from {_seconds(low)} to {_seconds(high)} (for example 5s, 250ms, 1m), "
            f"not {text!r}"
        )
    return seconds


def whole_number_flag(flag: str, text: str, low: int, high: int) -> int:
    """A whole-number flag between low and high (inclusive); a one-line ConfigError otherwise."""
    stripped = text.strip()
    if not stripped.isdigit() or not low <= int(stripped) <= high:
        raise ConfigError(f"{flag} must be a whole number from {low} to {high}, not {text!r}")
    return int(stripped)


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
    """One JSON object per line: ts, level, logger, message, and the record's `fields` (a dict passed
    as `extra={"fields": {...}}`, e.g. the run of a transition) as keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({key: value for key, value in fields.items() if key not in entry})
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


class PoolLogFilter(logging.Filter):
    """psycopg_pool logs each failed connection attempt as a two-line warning, forever: a worker
    reports an unreachable database itself, one line per retry, so those are dropped; the pool's
    other messages are kept, on one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("error connecting in"):
            return False
        record.msg, record.args = " ".join(record.getMessage().split()), None
        return True


def quiet_pool_logging() -> None:
    pool_logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(f, PoolLogFilter) for f in pool_logger.filters):
        pool_logger.addFilter(PoolLogFilter())
