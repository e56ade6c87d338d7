"""A real HTTP endpoint on 127.0.0.1 for worker tests, in a thread, recording what it is sent.

POSTs are runs (and webhook alerts); HEAD and GET are health checks and warm-ups, answered by a
behaviour of their own and recorded apart.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float
    finished: float = 0.0


@dataclass
class Reply:
    status: int = 200
    body: str = '{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Behaviour = Callable[[Request, int], Reply]  # (request, how many requests came before it) -> reply


class _Server(ThreadingHTTPServer):
    # Dozens of connections opened at once: socketserver's listen backlog of 5 drops the rest of
    # their SYNs, which the client sends again a second later (requests that arrive late, in bursts).
    request_queue_size = 1024


class Endpoint:
    def __init__(
        self, behaviour: Behaviour | None = None, health: Behaviour | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.behaviour: Behaviour = behaviour or (lambda _request, _n: Reply())
        self.health: Behaviour = health or (lambda _request, _n: Reply(body=""))
        self.requests: list[Request] = []
        self.probes: list[Request] = []
        self._lock = threading.Lock()
        self._active = 0
        self.max_active = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Request(
                    self.path, dict(self.headers.items()), json.loads(self.rfile.read(length)), time.monotonic()
                )
                with endpoint._lock:
                    n = len(endpoint.requests)
                    endpoint.requests.append(request)
                    endpoint._active += 1
                    endpoint.max_active = max(endpoint.max_active, endpoint._active)
                self._reply(endpoint.behaviour(request, n))
                with endpoint._lock:
                    endpoint._active -= 1
                request.finished = time.monotonic()

            def _probe(self) -> None:
                request = Request(self.path, dict(self.headers.items()), {}, time.monotonic())
                with endpoint._lock:
                    n = len(endpoint.probes)
                    endpoint.probes.append(request)
                self._reply(endpoint.health(request, n))
                request.finished = time.monotonic()

            def _reply(self, reply: Reply) -> None:
                time.sleep(reply.delay)
                body = reply.body.encode()
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_HEAD = _probe
            do_GET = _probe

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
