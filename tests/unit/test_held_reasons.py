"""The endpoints page's words for why a type's runs wait, in the order queue_depth counts them held."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syncsched.web.words import held_reasons


def endpoint(**fields: Any) -> dict[str, Any]:
    return {
        "held": 0,
        "paused": None,
        "circuit_open": False,
        "rate_limited_until": None,
        "running": 0,
        "pending": 0,
        "max_concurrency": 5,
        "rate_limit": None,
        "requests_in_window": None,
        "rate_window": "00:01:00",
        **fields,
    }


def test_each_hold_is_named_as_the_database_counts_it() -> None:
    until = datetime(2030, 1, 7, 2, 0, 5, tzinfo=UTC)
    assert held_reasons(endpoint(held=4, pending=4, paused="dispatch")) == ["dispatch paused: 4 held"]
    assert held_reasons(endpoint(held=4, pending=4, circuit_open=True)) == [
        "circuit open: 4 held until a check succeeds"
    ]
    assert held_reasons(endpoint(held=4, pending=4, rate_limited_until=until)) == [
        "rate limited (429): 4 held until 02:00:05 UTC"
    ]
    assert held_reasons(endpoint(held=2, pending=4)) == ["2 waiting out a retry backoff or a spread offset"]
    assert held_reasons(endpoint(pending=3, running=5)) == ["at max_concurrency (5 running)"]
    assert held_reasons(endpoint(pending=3, rate_limit=60, requests_in_window=60)) == [
        "rate budget spent (60 per 00:01:00)"
    ]
    assert held_reasons(endpoint(pending=3, rate_limit=60, requests_in_window=12)) == []
