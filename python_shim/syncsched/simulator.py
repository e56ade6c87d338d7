"""Local simulators of the demo's three endpoints (`python -m syncsched.simulator --port N`).

Realistic enough to show what the worker does with real APIs:
- /xledger: 200-800 ms, now and then a 500;
- /dynamics: 100-400 ms, now and then a 429 with Retry-After: 5;
- /bufdir: 150-300 ms, but cold-starting: after 45 s without a request the next one takes 6 s.
HEAD and GET are health checks (quick, except a cold bufdir).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Behaviour:
    latency: tuple[float, float]
    error_rate: float = 0.0
    error_status: int = 500
    retry_after: str | None = None
    cold_after: float | None = None  # seconds idle before a cold start
    cold_start: float = 6.0


BEHAVIOURS = {
    "xledger": Behaviour(latency=(0.2, 0.8), error_rate=0.04),
    "dynamics": Behaviour(latency=(0.1, 0.4), error_rate=0.07, error_status=429, retry_after="5"),
    "bufdir": Behaviour(latency=(0.15, 0.3), error_rate=0.03, cold_after=45.0),
}


class Simulator:
    def __init__(self, seed: int | None = None) -> None:
        self.random = random.Random(seed)
        self.last_request: dict[str, float] = {}

    async def _delay(self, name: str, behaviour: Behaviour, health: bool) -> None:
        now = time.monotonic()
        idle = now - self.last_request.get(name, float("-inf"))
        self.last_request[name] = now
        if behaviour.cold_after is not None and idle > behaviour.cold_after:
            await asyncio.sleep(behaviour.cold_start)
        elif not health:
            await asyncio.sleep(self.random.uniform(*behaviour.latency))

    async def sync(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        behaviour = BEHAVIOURS.get(name)
        if behaviour is None:
            return web.json_response({"error": f"no endpoint {name}"}, status=404)
        await request.read()
        await self._delay(name, behaviour, health=False)
        if self.random.random() < behaviour.error_rate:
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
            return web.json_response({"error": "simulated failure"}, status=behaviour.error_status, headers=headers)
        exported = self.random.randint(0, 500)
        return web.Response(text=json.dumps({"ok": True, "exported": exported}), content_type="application/json")

    async def health(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        behaviour = BEHAVIOURS.get(name)
        if behaviour is None:
            return web.Response(status=404)
        await self._delay(name, behaviour, health=True)
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{name}", self.sync)
        app.router.add_get("/{name}", self.health)  # aiohttp answers HEAD through the GET route
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description="syncsched's demo endpoints")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    web.run_app(Simulator(args.seed).app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
