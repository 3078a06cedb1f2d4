"""Which outbound channels are on: each connector package switches itself on when its settings are present.

``publishers(settings)`` opens the push channels (one shared HTTP session) for the outbox workers and closes
them on exit. The composition root and the ``worker`` command use it; the engine only sees the publisher
interface.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

from broadcasts.publishers import Publisher
from connectors.telegram.publisher import TelegramPublisher
from core.settings import Settings


@contextlib.asynccontextmanager
async def publishers(settings: Settings) -> AsyncIterator[dict[str, Publisher]]:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.delivery_concurrency, limit_per_host=0)
    )
    found: dict[str, Publisher] = {}
    if settings.telegram_token:
        found["telegram"] = TelegramPublisher(
            session,
            settings.telegram_api_url,
            settings.telegram_token,
            settings.telegram_rate,
            settings.telegram_timeout,
        )
    try:
        yield found
    finally:
        await session.close()
