"""HTTP invocation of an integration's endpoint, one run at a time.

aiohttp: one ClientSession (one connection pool) for the whole worker, no redirects, the
response body read only up to a cap so that a huge answer costs no memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import aiohttp

DEFAULT_BODY_CAP = 256 * 1024
PROBE_BODY_CAP = 64 * 1024
RETRYABLE_STATUSES = frozenset({408, 425, 429})

Kind = Literal["completed", "retry", "failed"]


@dataclass(frozen=True)
class Run:
    """A claimed run, as claim_runs returns it."""

    run_id: int
    lease_token: Any
    org_id: str
    integration_id: str
    integration_type: str
    scheduled_for: datetime
    idempotency_key: str
    attempt: int
    max_attempts: int
    payload: dict[str, Any]
    endpoint_url: str
    timeout_ms: int
    connect_timeout_ms: int
    auth_secret_env: str | None
    warmup: bool = False
    health_url: str | None = None
    health_method: str = "HEAD"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__ if name in row})

    def request_body(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "org_id": self.org_id,
            "integration_id": self.integration_id,
            "integration_type": self.integration_type,
            "scheduled_for": self.scheduled_for.isoformat(),
            "attempt": self.attempt + 1,
            "idempotency_key": self.idempotency_key,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    http_status: int | None = None
    excerpt: str | None = None
    error: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Probe:
    """The answer to a health check, warm-up or webhook request."""

    ok: bool
    http_status: int | None
    seconds: float
    error: str | None = None


async def _read_capped(content: aiohttp.StreamReader, cap: int) -> bytes:
    """At most `cap` bytes of a body; the rest is never read (the connection is closed instead)."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = await content.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def classify(status: int) -> Kind:
    """2xx completes; 408, 425, 429 and 5xx are retried; other statuses fail at once."""
    if 200 <= status < 300:
        return "completed"
    if status in RETRYABLE_STATUSES or status >= 500:
        return "retry"
    return "failed"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Invoker:
    """Calls endpoints. Use as an async context manager (it owns the HTTP session)."""

    def __init__(self, body_cap: int = DEFAULT_BODY_CAP) -> None:
        self.body_cap = body_cap
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Invoker:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60),
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(self, run: Run) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": run.idempotency_key}
        if run.auth_secret_env:
            secret = os.environ.get(run.auth_secret_env)
            if secret:
                headers["Authorization"] = secret  # never logged, never stored
        return headers

    async def probe(self, method: str, url: str, timeout: float, connect_timeout: float) -> Probe:
        """A health check or warm-up: the endpoint is up when it answers below 500."""
        return await self._exchange(method, url, timeout, connect_timeout, lambda status: status < 500)

    async def post_json(self, url: str, body: dict[str, Any], timeout: float) -> Probe:
        """POST a JSON document (the alert webhook); ok on 2xx."""
        return await self._exchange("POST", url, timeout, timeout, lambda status: 200 <= status < 300, json=body)

    async def _exchange(
        self, method: str, url: str, timeout: float, connect_timeout: float, ok: Callable[[int], bool], **kwargs: Any
    ) -> Probe:
        assert self._session is not None, "Invoker used outside its context"
        started = time.monotonic()
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=min(connect_timeout, timeout))
        try:
            async with self._session.request(method, url, allow_redirects=False, timeout=limits, **kwargs) as response:
                await _read_capped(response.content, PROBE_BODY_CAP)
                good = ok(response.status)
                error = None if good else f"HTTP {response.status}"
                return Probe(good, response.status, time.monotonic() - started, error)
        except TimeoutError:
            return Probe(False, None, time.monotonic() - started, f"timeout after {timeout:g} s")
        except aiohttp.ClientError as exc:
            return Probe(False, None, time.monotonic() - started, f"connection error: {type(exc).__name__}"[:500])

    async def call(self, run: Run) -> Outcome:
        assert self._session is not None, "Invoker used outside its context"
        timeout = aiohttp.ClientTimeout(total=run.timeout_ms / 1000, sock_connect=run.connect_timeout_ms / 1000)
        try:
            async with self._session.post(
                run.endpoint_url,
                data=json.dumps(run.request_body()),
                headers=self._headers(run),
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                body = await _read_capped(response.content, self.body_cap)
                excerpt = body.decode("utf-8", errors="replace")
                kind = classify(response.status)
                return Outcome(
                    kind=kind,
                    http_status=response.status,
                    excerpt=excerpt,
                    error=None if kind == "completed" else f"HTTP {response.status}: {excerpt[:200]}",
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
        except TimeoutError:
            return Outcome(kind="retry", error=f"timeout after {run.timeout_ms} ms")
        except aiohttp.ClientError as exc:
            return Outcome(kind="retry", error=f"connection error: {type(exc).__name__}: {exc}"[:500])
        except asyncio.CancelledError:
            raise
