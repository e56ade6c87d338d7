"""`syncsched worker --processes N`: N worker processes started and stopped as one.

One event loop spends a core at a few thousand runs a second (aiohttp's client is most of it);
N processes use N cores. Each process is a whole worker (its own event loop, pool, LISTEN, heartbeats)
with its share of --concurrency and its own worker id (`<id>/1` … `<id>/N`); all claim from the same
run log, whose claims never hand one run to two claimers. The supervisor only starts them, forwards
stop requests and reports the first failure.

Stop requests reach the processes through a pipe: the supervisor's second one means "exit now". A
signal to a process itself only ever drains it, since Ctrl-C (the whole process group) and a service
manager's SIGTERM (often the whole group too) reach it besides the supervisor's request. A process
whose supervisor dies sees the pipe close and drains.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from syncsched.errors import ConfigError, SyncschedError

if TYPE_CHECKING:
    from syncsched.worker import WorkerSettings

log = logging.getLogger("syncsched.worker")

MAX_PROCESSES = 64


def shares(settings: WorkerSettings, processes: int) -> list[WorkerSettings]:
    """Each process's settings: its part of --concurrency (they add up to it), its worker id, and
    its metrics port (--metrics-port for the first, the next ports for the others)."""
    if processes > settings.concurrency:
        raise ConfigError(f"--processes {processes} needs --concurrency of at least {processes}")
    port = settings.metrics_port
    if port is not None and port + processes - 1 > 65535:
        raise ConfigError(f"--metrics-port {port} leaves no room for {processes} processes (ports up to 65535)")
    base, extra = divmod(settings.concurrency, processes)
    return [
        replace(
            settings,
            worker_id=f"{settings.worker_id}/{i + 1}",
            concurrency=base + (1 if i < extra else 0),
            metrics_port=None if port is None else port + i,
            processes=1,
        )
        for i in range(processes)
    ]


def supervise(children: list[WorkerSettings], run: Callable[[WorkerSettings, int], int]) -> int:
    """Run `run(settings, stop_fd)` in one process per settings until all have ended; the exit code
    is the first failure's (the others are then stopped too), else 0."""
    # fork: nothing runs yet in this process (no event loop, thread or connection) to be copied
    context = multiprocessing.get_context("fork")
    pipes: list[int] = []  # the write end of each process's stop pipe
    requests = 0  # stop requests so far: a process started after one gets them too

    def stop(_signum: int = 0, _frame: object = None) -> None:
        nonlocal requests
        requests += 1
        for write in pipes:
            with contextlib.suppress(OSError):  # that process has ended
                os.write(write, b".")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes: list[multiprocessing.process.BaseProcess] = []
    for settings in children:
        read, write = os.pipe()
        process = context.Process(
            target=_child, args=(run, settings, read, [*pipes, write]), name=f"syncsched worker {settings.worker_id}"
        )
        process.start()
        os.close(read)
        os.write(write, b"." * requests)
        pipes.append(write)
        processes.append(process)
    code = 0
    running: dict[object, multiprocessing.process.BaseProcess] = {process.sentinel: process for process in processes}
    while running:
        for sentinel in multiprocessing.connection.wait(list(running)):  # type: ignore[arg-type]
            ended = running.pop(sentinel)
            ended.join()
            exit_code = ended.exitcode or 0
            if exit_code and not code:
                code = exit_code if exit_code > 0 else 1  # killed by a signal
                log.error("%s ended with exit code %d: stopping the others", ended.name, exit_code)
                stop()
    return code


def _child(
    run: Callable[[WorkerSettings, int], int], settings: WorkerSettings, stop_fd: int, others: list[int]
) -> None:
    for fd in others:  # the write ends (its own pipe's too): only the supervisor may hold them open
        os.close(fd)
    # until its event loop takes them over (it drains): not the supervisor's handler, copied by fork
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        code = run(settings, stop_fd)
    except SyncschedError as exc:
        print(f"syncsched: error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)
