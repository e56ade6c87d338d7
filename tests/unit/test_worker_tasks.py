"""A task of the worker's that ends on an error stops the worker, which says so (without a database)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from syncsched.worker import Worker, WorkerSettings


def test_a_task_that_ends_on_an_error_stops_the_worker_and_says_which(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> Worker:
        worker = Worker(WorkerSettings(dsn="host=127.0.0.1", worker_id="w1"))

        async def broken() -> None:
            raise AttributeError("'int' object has no attribute 'get'")

        async def cancelled() -> None:
            await asyncio.sleep(60)

        ended = asyncio.create_task(broken(), name="the LISTEN task")
        ended.add_done_callback(worker._task_ended)
        stopped = asyncio.create_task(cancelled(), name="the reap loop")
        stopped.add_done_callback(worker._task_ended)
        stopped.cancel()
        with contextlib.suppress(AttributeError, asyncio.CancelledError):
            await asyncio.gather(ended, stopped)
        await asyncio.sleep(0)  # (done callbacks run on the next turn of the loop)
        return worker

    with caplog.at_level(logging.INFO, logger="syncsched.worker"):
        worker = asyncio.run(scenario())
    assert isinstance(worker._broken, AttributeError)
    assert worker._stopping.is_set()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "the LISTEN task ended on an error, stopping: AttributeError(\"'int' object has no attribute 'get'\")"
    ]
