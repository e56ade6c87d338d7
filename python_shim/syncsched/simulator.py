"""Local simulators of the demo's three endpoints (`python -m syncsched.simulator --port N`).

Realistic enough to show what the worker does with real APIs, and sure to show it within the
demo's first minutes (faults come on a fixed cadence of the endpoint's calls, not by chance):
- /xledger: 200-800 ms, a 500 for one call in 20 (the 3rd, the 23rd, ...);
- /dynamics: 100-400 ms, a 429 with Retry-After: 5 for one call in 12 (the 2nd, the 14th, ...);
- /bufdir: 150-300 ms, a 500 for one call in 30, and cold-starting: the first request, and the first
  after 45 s without one, boots it for 6 s, and every request meanwhile waits for the boot.
HEAD and GET are health checks and warm-ups (quick, except a cold bufdir).
Every request is one line on stdout (the demo's simulator.log), faults named.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web


@dataclass(frozen=True)
class Behaviour:
    latency: tuple[float, float]
    fail_every: int | None = None  # one call (POST) in this many fails ...
    first_failure: int = 1  # ... starting with this one
    error_status: int = 500
    retry_after: str | None = None
    cold_after: float | None = None  # seconds idle before a cold start
    cold_start: float = 6.0

    def fails(self, call: int) -> bool:
        return (
            self.fail_every is not None
            and call >= self.first_failure
            and (call - self.first_failure) % self.fail_every == 0
        )


BEHAVIOURS = {
    "xledger": Behaviour(latency=(0.2, 0.8), fail_every=20, first_failure=3),
    "dynamics": Behaviour(latency=(0.1, 0.4), fail_every=12, first_failure=2, error_status=429, retry_after="5"),
    "bufdir": Behaviour(latency=(0.15, 0.3), fail_every=30, first_failure=5, cold_after=45.0),
}


class Simulator:
    def __init__(self, seed: int | None = None) -> None:
        self.random = random.Random(seed)
        self.last_request: dict[str, float] = {}
        self.booted_at: dict[str, float] = {}  # when a cold endpoint is up
        self.calls: dict[str, int] = {}

    async def _delay(self, name: str, behaviour: Behaviour, health: bool) -> bool:
        """Wait as the endpoint would; returns whether the request waited for a cold start."""
        now = time.monotonic()
        idle = now - self.last_request.get(name, float("-inf"))
        self.last_request[name] = now
        if behaviour.cold_after is not None and idle > behaviour.cold_after:
            self.booted_at[name] = now + behaviour.cold_start
        booting = self.booted_at.get(name, now) - now
        if booting > 0:
            await asyncio.sleep(booting)
            return True
        if not health:
            await asyncio.sleep(self.random.uniform(*behaviour.latency))
        return False

    async def sync(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        name = request.match_info["name"]
        behaviour = BEHAVIOURS.get(name)
        if behaviour is None:
            return _logged(request, started, web.json_response({"error": f"no endpoint {name}"}, status=404))
        await request.read()
        self.calls[name] = call = self.calls.get(name, 0) + 1
        cold = await self._delay(name, behaviour, health=False)
        notes = [f"cold start ({behaviour.cold_start:g} s)"] if cold else []
        if behaviour.fails(call):
            headers, error = {}, "simulated failure"
            if behaviour.retry_after:
                headers["Retry-After"] = behaviour.retry_after
                error = f"rate limited: Retry-After {behaviour.retry_after} s"
            notes.append(error)
            response = web.json_response({"error": error}, status=behaviour.error_status, headers=headers)
            return _logged(request, started, response, notes)
        exported = self.random.randint(0, 500)
        response = web.Response(text=json.dumps({"ok": True, "exported": exported}), content_type="application/json")
        return _logged(request, started, response, notes)

    async def health(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        name = request.match_info["name"]
        behaviour = BEHAVIOURS.get(name)
        if behaviour is None:
            return _logged(request, started, web.Response(status=404))
        cold = await self._delay(name, behaviour, health=True)
        notes = [f"cold start ({behaviour.cold_start:g} s)"] if cold else []
        return _logged(request, started, web.Response(text="ok"), notes)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{name}", self.sync)
        app.router.add_get("/{name}", self.health)  # aiohttp answers HEAD through the GET route
        return app


def _logged(request: web.Request, started: float, response: web.Response, notes: Sequence[str] = ()) -> web.Response:
    """One line per request: time, method, path, status, duration, idempotency key, what was simulated."""
    fields = [
        f"{datetime.now(UTC):%H:%M:%S.%f}"[:-3],
        request.method,
        request.path,
        str(response.status),
        f"{time.monotonic() - started:.3f}s",
        request.headers.get("Idempotency-Key", ""),
        "; ".join(notes),
    ]
    print(" ".join(f for f in fields if f), flush=True)
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description="syncsched's demo endpoints")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    web.run_app(Simulator(args.seed).app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
