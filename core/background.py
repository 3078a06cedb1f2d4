"""Periodic background jobs that stop gracefully.

A job is never cancelled in the middle of a database transaction: on shutdown the loop is told to stop and
the running job may finish (up to ``grace`` seconds). Cancelling a query mid-flight can leave a pooled
PostgreSQL connection "idle in transaction" holding locks (seen with asyncpg), which blocks other
sessions, migrations and TRUNCATE until the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from core.db import log_retry

log = logging.getLogger(__name__)


async def wait_any(*events: asyncio.Event) -> None:
    """Return as soon as one of the events is set (a loop's "woken or told to stop")."""
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


@contextlib.asynccontextmanager
async def periodic(
    name: str, interval: float, job: Callable[[], Awaitable[object]], grace: float = 30.0
) -> AsyncIterator[None]:
    """Run ``job`` now and then every ``interval`` seconds while the block is open."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await job()
            except Exception as error:
                log_retry(log, name, error, interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            log.warning("%s did not stop within %.0f s; cancelling it", name, grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
