"""Mastodon as an outbound channel (``connectors.registry``): on when ``KOBLENZ_BOT_MASTODON_URL`` and
``KOBLENZ_BOT_MASTODON_TOKEN`` are set; posts and alerts go out as public statuses of the city's account
through ``publisher.MastodonPublisher``.

``open`` builds the publisher without network I/O; the composition root then awaits
``publisher.start()`` (loads the instance's limits, checks the token; never raises). Without that call
the first send loads the limits.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from broadcasts.publishers import Publisher
from connectors.mastodon.publisher import MastodonPublisher
from connectors.registry import ChannelSpec
from core.settings import Settings


async def open_publisher(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    return MastodonPublisher(session, settings.mastodon_url, settings.mastodon_token.get_secret_value())


def details(settings: Settings) -> dict[str, Any]:
    return {"instance": settings.mastodon_url}  # the instance's address, never the token


CHANNEL = ChannelSpec(
    name="mastodon",
    label="Mastodon",
    open=open_publisher,
    requires=("mastodon_url", "mastodon_token"),
    details=details,
)
