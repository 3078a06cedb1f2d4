"""The banner channel for ``connectors.registry``: always on (it needs no settings)."""

from __future__ import annotations

import aiohttp

from broadcasts.publishers import Publisher
from connectors.banner.publisher import BannerPublisher
from connectors.registry import ChannelSpec
from core.settings import Settings


async def open_banner(_settings: Settings, _session: aiohttp.ClientSession) -> Publisher:
    return BannerPublisher()


# GET /api/alerts is bot.http's route (the chat widget reads it too); the banner declares it, not adds it
CHANNEL = ChannelSpec(BannerPublisher.name, BannerPublisher.label, open_banner, paths=("/api/alerts",))
