"""Schedules and held runs in words, for people: the common shapes said plainly, anything else shown
as its cron."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_NAMES = {name[:3].upper(): str(number) for number, name in enumerate(_DAYS)}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NUMBER = re.compile(r"^\d{1,2}$")


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _weekdays(field: str) -> str | None:
    field = field.upper()
    for name, number in _NAMES.items():
        field = field.replace(name, number)
    if field in ("1-5",):
        return "on weekdays"
    if field in ("0,6", "6,0", "6-7"):
        return "on weekends"
    if _NUMBER.match(field):
        return f"on {_DAYS[int(field) % 7]}s"
    match = re.match(r"^(\d)#(\d)$", field)
    if match:
        return f"on the {_ordinal(int(match.group(2)))} {_DAYS[int(match.group(1)) % 7]} of the month"
    match = re.match(r"^(\d)L$", field)
    if match:
        return f"on the last {_DAYS[int(match.group(1)) % 7]} of the month"
    return None


def describe(cron: str | None, interval_minutes: int | None) -> str:
    if interval_minutes is not None:
        return "every minute" if interval_minutes == 1 else f"every {interval_minutes} minutes"
    if not cron:
        return "not scheduled"
    expression = _MACROS.get(cron.strip().lower(), cron.strip())
    fields = expression.split()
    if len(fields) != 5:
        return f"cron {cron}"
    minute, hour, day, month, weekday = fields
    step = re.match(r"^\*/(\d+)$", minute)
    if step and hour == day == month == weekday == "*":
        return f"every {step.group(1)} minutes"
    if _NUMBER.match(minute) and hour == day == month == weekday == "*":
        return f"every hour at :{int(minute):02d}"
    if not (_NUMBER.match(minute) and _NUMBER.match(hour)) or month != "*":
        return f"cron {cron}"
    at = f"at {int(hour):02d}:{int(minute):02d}"
    if day == "*" and weekday == "*":
        return f"every day {at}"
    if day == "*":
        days = _weekdays(weekday)
        return f"{at} {days}" if days else f"cron {cron}"
    if weekday == "*":
        if day == "L":
            return f"{at} on the last day of the month"
        if day == "LW":
            return f"{at} on the last weekday of the month"
        if _NUMBER.match(day):
            return f"{at} on the {_ordinal(int(day))} of the month"
    return f"cron {cron}"


def held_reasons(endpoint: Mapping[str, Any]) -> list[str]:
    """Why a type's pending runs wait, in the order queue_depth counts them held (dispatch paused,
    circuit open, a 429's Retry-After: all of them; else those waiting out a retry backoff or a spread
    offset), and whether the type is at its max_concurrency or has spent its request budget."""
    reasons = []
    held = endpoint["held"]
    if "dispatch" in (endpoint["paused"] or ""):
        reasons.append(f"dispatch paused: {held} held")
    elif endpoint["circuit_open"]:
        reasons.append(f"circuit open: {held} held until a check succeeds")
    elif endpoint.get("rate_limited_until"):
        reasons.append(f"rate limited (429): {held} held until {endpoint['rate_limited_until']:%H:%M:%S %Z}")
    elif held:
        reasons.append(f"{held} waiting out a retry backoff or a spread offset")
    if endpoint["running"] >= endpoint["max_concurrency"] and endpoint["pending"] > held:
        reasons.append(f"at max_concurrency ({endpoint['max_concurrency']} running)")
    limit = endpoint.get("rate_limit")
    if limit is not None and (endpoint.get("requests_in_window") or 0) >= limit and endpoint["pending"] > held:
        reasons.append(f"rate budget spent ({limit} per {endpoint['rate_window']})")
    return reasons
