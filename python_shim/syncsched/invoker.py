"""HTTP invocation of an integration's endpoint, one run at a time.

aiohttp: one ClientSession (one connection pool) for the whole worker, no redirects, the
response body read only up to a cap so that a huge answer costs no memory.

Every request (runs, health checks, warm-ups, the alert webhook) passes the SSRF guard: https
only (http for the hosts in allowed_insecure_hosts), and every address the host resolves to
public unless the host is in allowed_private_hosts. The guard sits in the session's resolver,
so the addresses it checked are the ones connected to (no DNS rebinding); an IP literal, which
aiohttp does not resolve, is checked before the request, read the way the OS reads it
(2130706433, 0x7f000001 and 127.1 are 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from yarl import URL

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
    attempt: int  # 1-based: the attempt this claim started
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

    def request_body(self) -> bytes:
        """What the endpoint is sent, as it is sent (bytes: the client copies nothing)."""
        return json.dumps(
            {
                "run_id": self.run_id,
                "org_id": self.org_id,
                "integration_id": self.integration_id,
                "integration_type": self.integration_type,
                "scheduled_for": self.scheduled_for.isoformat(),
                "attempt": self.attempt,
                "idempotency_key": self.idempotency_key,
                "payload": self.payload,
            }
        ).encode()


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


def redact(text: str, secret: str | None) -> str:
    """The text without the secret, nor its token part ('Bearer <token>')."""
    if not secret:
        return text
    for value in (secret, secret.split(" ", 1)[-1]):
        if len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text


def _connection_error(exc: BaseException) -> str:
    """What went wrong, without the URL's path (a webhook URL is a secret)."""
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if isinstance(exc, Refused) or isinstance(cause, Refused):
        return str(exc if isinstance(exc, Refused) else cause)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection error: {type(exc).__name__}: {exc}"[:500]  # host and port only
    return f"connection error: {type(exc).__name__}"


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


class Refused(OSError):
    """The SSRF guard refused a URL or an address."""


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def literal_address(host: str) -> IpAddress | None:
    """The address an IP-literal host names, read as the OS reads it; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # 2130706433, 0x7f000001, 127.1, 0177.0.0.1
    except OSError:
        return None


def public(address: IpAddress) -> bool:
    """Globally routable: not loopback, private, link-local (169.254.169.254), unique-local, shared..."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not public(embedded):
            return False
    return address.is_global and not address.is_multicast


def _host_key(host: str) -> str:
    """A host as the guard compares it: lower case, no brackets, no trailing dot."""
    return host.strip().lower().strip("[]").rstrip(".")


@dataclass(frozen=True)
class Guard:
    """Which URLs the worker may call (the SSRF guard)."""

    allowed_private_hosts: frozenset[str] = frozenset()
    allowed_insecure_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_lists(cls, *, private: str = "", insecure: str = "") -> Guard:
        """From comma-separated host lists (the settings, extended by the environment)."""

        def hosts(text: str) -> frozenset[str]:
            return frozenset(_host_key(h) for h in text.split(",") if h.strip())

        return cls(hosts(private), hosts(insecure))

    def check_url(self, url: str) -> None:
        """Refuse a URL before any connection: its scheme, and its host when it is an IP literal."""
        parsed = URL(url)
        host = _host_key(parsed.host or "")
        if not host:
            raise Refused(f"refused: no host in {url!r}")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and host in self.allowed_insecure_hosts):
            raise Refused(f"refused: {parsed.scheme}:// to {host} (https only, http for allowed_insecure_hosts)")
        if host in self.allowed_private_hosts:
            return
        address = literal_address(host)
        if address is None and is_ip_address(host):
            raise Refused(f"refused: {host} is an address the guard cannot read")
        if address is not None and not public(address):
            raise Refused(f"refused: {host} is not a public address (allowed_private_hosts)")

    def check_addresses(self, host: str, addresses: list[str]) -> None:
        """Refuse a name unless every address it resolves to is public (or the host is allowed)."""
        if _host_key(host) in self.allowed_private_hosts:
            return
        for text in addresses:
            if not public(ipaddress.ip_address(text.split("%", 1)[0])):
                raise Refused(f"refused: {host} resolves to {text}, not a public address (allowed_private_hosts)")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, whose answers pass the guard: the connector connects to these addresses."""

    def __init__(self, guard: Callable[[], Guard]) -> None:
        self._guard = guard
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self._guard().check_addresses(host, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        await self._inner.close()


class Invoker:
    """Calls endpoints. Use as an async context manager (it owns the HTTP session)."""

    def __init__(
        self, body_cap: int = DEFAULT_BODY_CAP, guard: Guard | None = None, user_agent: str = "syncsched"
    ) -> None:
        self.body_cap = body_cap
        self.guard = guard or Guard()
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        # per run, what only changes with the type: read or built once (a process's environment is
        # fixed; a type whose auth_secret_env or timeouts change comes with the new values)
        self._secrets: dict[str, str | None] = {}
        self._timeouts: dict[tuple[int, int], aiohttp.ClientTimeout] = {}
        self._passed: tuple[Guard, dict[str, URL]] = (self.guard, {})  # the URLs this guard let through, parsed

    async def __aenter__(self) -> Invoker:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60, resolver=GuardedResolver(lambda: self.guard)),
            auto_decompress=True,
            headers={"User-Agent": self.user_agent},  # which worker called: for the endpoint's logs
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

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
            self.guard.check_url(url)
            async with self._session.request(method, url, allow_redirects=False, timeout=limits, **kwargs) as response:
                await _read_capped(response.content, PROBE_BODY_CAP)
                good = ok(response.status)
                error = None if good else f"HTTP {response.status}"
                return Probe(good, response.status, time.monotonic() - started, error)
        except TimeoutError:
            return Probe(False, None, time.monotonic() - started, f"timeout after {timeout:g} s")
        except (aiohttp.ClientError, Refused) as exc:
            return Probe(False, None, time.monotonic() - started, _connection_error(exc))

    def _secret(self, run: Run) -> str | None:
        """The Authorization value from the environment variable the type names (never logged, never stored)."""
        name = run.auth_secret_env
        if not name:
            return None
        if name not in self._secrets:
            self._secrets[name] = os.environ.get(name) or None
        return self._secrets[name]

    @staticmethod
    def _headers(run: Run, secret: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": run.idempotency_key}
        if secret:
            headers["Authorization"] = secret
        return headers

    def _timeout(self, run: Run) -> aiohttp.ClientTimeout:
        key = (run.timeout_ms, run.connect_timeout_ms)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=run.timeout_ms / 1000, sock_connect=run.connect_timeout_ms / 1000
            )
        return timeout

    def _checked_url(self, url: str) -> URL:
        """The URL, parsed, once the guard let it through: remembered while the guard stays the same
        (a refusal is not)."""
        guard, passed = self._passed
        if guard is not self.guard:
            guard, passed = self._passed = (self.guard, {})
        parsed = passed.get(url)
        if parsed is None:
            guard.check_url(url)
            parsed = passed[url] = URL(url)
        return parsed

    async def call(self, run: Run) -> Outcome:
        assert self._session is not None, "Invoker used outside its context"
        secret = self._secret(run)
        try:
            async with self._session.post(
                self._checked_url(run.endpoint_url),
                data=run.request_body(),
                headers=self._headers(run, secret),
                allow_redirects=False,
                timeout=self._timeout(run),
            ) as response:
                body = await _read_capped(response.content, self.body_cap)
                # an endpoint that echoes the token must not put it in the run log
                excerpt = redact(body.decode("utf-8", errors="replace"), secret)
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
        except (aiohttp.ClientError, Refused) as exc:
            error = redact(_connection_error(exc), secret)
            # a refused URL is configuration, not weather: retrying cannot help
            return Outcome(kind="failed" if error.startswith("refused") else "retry", error=error)
        except asyncio.CancelledError:
            raise
