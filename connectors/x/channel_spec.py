"""X as an outbound channel (``connectors.registry``): on when the app's keys and the city account's access
token are set (``KOBLENZ_BOT_X_CONSUMER_KEY``, ``..._X_CONSUMER_SECRET``, ``..._X_ACCESS_TOKEN``,
``..._X_ACCESS_TOKEN_SECRET``); posts and alerts go out as public posts through ``publisher.XPublisher``,
at ``KOBLENZ_BOT_X_API_URL``. ``open`` builds the publisher without network I/O."""

from __future__ import annotations

from typing import Any

import aiohttp

from broadcasts.publishers import Publisher
from connectors.registry import ChannelSpec
from connectors.x.publisher import XPublisher
from core.settings import Settings


async def open_publisher(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    return XPublisher(
        session,
        api_url=settings.x_api_url,
        consumer_key=settings.x_consumer_key.get_secret_value(),
        consumer_secret=settings.x_consumer_secret.get_secret_value(),
        access_token=settings.x_access_token.get_secret_value(),
        access_token_secret=settings.x_access_token_secret.get_secret_value(),
        daily_posts=settings.x_daily_posts,
    )


def details(settings: Settings) -> dict[str, Any]:
    return {"api_url": settings.x_api_url, "daily_posts": settings.x_daily_posts}  # never a key


CHANNEL = ChannelSpec(
    name="x",
    label="X",
    open=open_publisher,
    requires=("x_consumer_key", "x_consumer_secret", "x_access_token", "x_access_token_secret"),
    details=details,
)
