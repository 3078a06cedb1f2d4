"""The feed channels for ``connectors.registry``: always on (they need no settings)."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from aiohttp import web

from broadcasts.publishers import Publisher
from connectors.feeds.publisher import CapFeedPublisher, FeedPublisher
from connectors.feeds.routes import CAP_PATHS, FEED_PATHS, cap_routes, feed_routes
from connectors.registry import ChannelSpec
from core.settings import Settings


async def open_feed(_settings: Settings, _session: aiohttp.ClientSession) -> Publisher:
    return FeedPublisher()


async def open_cap(_settings: Settings, _session: aiohttp.ClientSession) -> Publisher:
    return CapFeedPublisher()


def _feed_routes(_settings: Settings) -> Sequence[web.RouteDef]:
    return feed_routes()


def _cap_routes(_settings: Settings) -> Sequence[web.RouteDef]:
    return cap_routes()


CHANNELS = (
    ChannelSpec(FeedPublisher.name, FeedPublisher.label, open_feed, routes=_feed_routes, paths=FEED_PATHS),
    ChannelSpec(CapFeedPublisher.name, CapFeedPublisher.label, open_cap, routes=_cap_routes, paths=CAP_PATHS),
)
