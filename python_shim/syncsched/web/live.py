"""Live updates: one LISTEN connection for the whole console, fanned out to every open page as
server-sent events. An idle console costs the database that one connection, whatever the viewers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import web

from syncsched import db, queries
from syncsched.errors import ConnectError

log = logging.getLogger("syncsched.web")

KEEPALIVE = 15.0  # seconds between SSE comments that keep proxies from closing an idle stream

# what the pages hear: runs created or retried (the workers' channel), runs claimed, completed or
# failed (syncsched_run_events, which wakes no worker), and alerts
CHANNELS = {queries.RUNS_CHANNEL: "runs", queries.RUN_EVENTS_CHANNEL: "runs", queries.ALERTS_CHANNEL: "alerts"}


def _what(payload: str) -> str | None:
    """What moved, when the payload says (syncsched_run_events: claimed, completed, failed, retrying)."""
    try:
        found = json.loads(payload)
    except ValueError:
        return None
    what = found.get("what") if isinstance(found, dict) else None
    return what if isinstance(what, str) else None


class Hub:
    def __init__(self, dsn: str, pool: db.Pool | None = None) -> None:
        self.dsn = dsn
        self._pool = pool  # renewed when the LISTEN connection is back after an outage
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.listening = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def close_streams(self) -> None:
        """Ends every open stream (the server is shutting down: it must not wait for the pages)."""
        for queue in list(self._subscribers):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)

    def publish(self, channel: str, what: str | None = None) -> None:
        event = json.dumps({"channel": channel, "what": what})
        for queue in list(self._subscribers):
            if queue.full():  # a slow page gets one refresh, not a backlog
                continue
            queue.put_nowait(event)

    async def _listen(self) -> None:
        backoff = 0.5
        outage = False
        while True:
            try:
                conn = await db.async_connect(self.dsn, application_name="syncsched web")
                async with conn:
                    for channel in CHANNELS:
                        await db.listen(conn, channel)
                    log.info("console listening at %s", db.server_of(conn))
                    if outage and self._pool is not None:
                        await self._pool.renew()  # its own reconnection may be backing off for a minute
                    self.listening = True
                    outage = False
                    backoff = 0.5
                    while True:
                        async for channel, payload in db.notifications(conn, KEEPALIVE):
                            self.publish(CHANNELS[channel], _what(payload))
                        await asyncio.wait_for(db.ping(conn), timeout=KEEPALIVE)
            except (db.Error, ConnectError, OSError, TimeoutError) as exc:
                self.listening = False
                outage = True
                log.warning("console LISTEN connection lost (%s); reconnecting in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, db.MAX_RECONNECT_DELAY)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1)
        self._subscribers.add(queue)
        try:
            await response.write(b"retry: 5000\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if event is None:
                    break  # shutting down: the page reconnects to the next console
                await response.write(f"event: change\ndata: {event}\n\n".encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self._subscribers.discard(queue)
        return response
