"""Who is asking: a token (Authorization: Bearer, or the console's cookie) mapped by the database to
a role. The console never decides what a role may do: it runs the request under that role."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time

from aiohttp import web

from syncsched import db, queries

COOKIE = "syncsched_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SESSION_TTL = 15.0  # seconds a token's role is trusted before the database is asked again (revocation delay)

DB_ROLES = {"admin": "syncsched_admin", "reader": "syncsched_reader", "tenant": "syncsched_tenant"}
# What the console asks as itself (opening sessions, its health) it asks as this role, which its login
# is a member of: so the login may be NOINHERIT and have no right of its own.
CONSOLE_ROLE = "syncsched_web"


@dataclasses.dataclass(frozen=True)
class Session:
    token_id: int
    role: str  # admin | reader | tenant
    org_id: str | None
    via_cookie: bool
    csrf: str
    token_label: str | None = None  # what the token is for (token create --label)

    @property
    def db_role(self) -> str:
        return DB_ROLES[self.role]

    @property
    def label(self) -> str:
        """How the audit trail names who acted (audit_log.on_behalf_of): the token, what it is for, and
        its role, e.g. `web token 7 "ops laptop" (tenant:acme)`."""
        who = f"{self.role}:{self.org_id}" if self.org_id else self.role
        what = f" {json.dumps(self.token_label, ensure_ascii=False)}" if self.token_label else ""
        return f"web token {self.token_id}{what} ({who})"


class Sessions:
    """Token -> Session, asked of the database (syncsched.web_session) at most every `ttl` seconds."""

    def __init__(self, pool: db.Pool, secret: bytes, ttl: float = SESSION_TTL) -> None:
        self.pool = pool
        self.secret = secret
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Session | None]] = {}

    def csrf_for(self, token: str) -> str:
        return hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()[:40]

    async def lookup(self, token: str, via_cookie: bool) -> Session | None:
        # the token's SHA-256, as syncsched.web_tokens stores it: the token itself never reaches the server
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            async with db.async_transaction_as(self.pool, CONSOLE_ROLE) as conn:
                rows = await db.async_fetch_conn(conn, queries.WEB_SESSION, (key,))
            session = None
            if rows:
                row = rows[0]
                session = Session(
                    row["token_id"], row["role"], row["org_id"], False, self.csrf_for(token), row["label"]
                )
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self.ttl, session)
            cached = self._cache[key]
        found = cached[1]
        if found is None:
            return None
        return dataclasses.replace(found, via_cookie=via_cookie)

    async def from_request(self, request: web.Request) -> Session | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return await self.lookup(header[7:].strip(), via_cookie=False)
        token = request.cookies.get(COOKIE)
        if token:
            return await self.lookup(token, via_cookie=True)
        return None


def csrf_ok(session: Session, request: web.Request, form_value: str | None = None) -> bool:
    """A state-changing request made by a browser (cookie) must carry the page's CSRF token; an API
    request with a Bearer token carries no ambient authority and needs none."""
    if not session.via_cookie:
        return True
    sent = request.headers.get(CSRF_HEADER) or form_value or ""
    return hmac.compare_digest(sent, session.csrf)
