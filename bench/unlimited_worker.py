"""An outbox worker process without a rate limit, for the scale-out benchmark only (the double is not
rate-bound there, so the limiter would measure itself instead of the outbox). Settings from the
environment like ``koblenz-bot worker``; stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broadcasts.engine import running
from broadcasts.ratelimit import LocalSlots
from connectors import registry
from core.db import create_engine
from core.settings import load_settings


async def main() -> None:
    settings = load_settings()
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with (
        registry.publishers(settings) as channels,
        running(engine, settings, channels, slots={"telegram": LocalSlots(1e9)}),
    ):
        await stop.wait()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
