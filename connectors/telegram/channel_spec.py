"""Telegram as an outbound channel (``connectors.registry``): on when ``KOBLENZ_BOT_TELEGRAM_TOKEN`` is
set; posts and alerts go to the subscribers through ``publisher.TelegramPublisher``."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp

from broadcasts.publishers import Publisher
from connectors.registry import ChannelSpec
from connectors.telegram.client import TelegramClient
from connectors.telegram.publisher import TelegramPublisher
from core.settings import Settings


async def open_publisher(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    return TelegramPublisher(
        session,
        settings.telegram_api_url,
        settings.telegram_token.get_secret_value(),
        settings.telegram_rate,
        settings.telegram_timeout,
    )


def details(settings: Settings) -> dict[str, Any]:
    return {"rate_per_second": settings.telegram_rate}


CHANNEL = ChannelSpec(
    name="telegram",
    label="Telegram",
    open=open_publisher,
    requires=("telegram_token",),
    details=details,
)


def sharing(client: TelegramClient) -> ChannelSpec:
    """This channel with its publisher over ``client``: the bot token's one client, which the composition
    root opened and also hands to the chat channel. (``open_publisher`` gives the publisher a client of
    its own, for the ``worker`` command, which has no chat channel.)"""

    async def open_over(settings: Settings, _session: aiohttp.ClientSession) -> Publisher:
        return TelegramPublisher.over(client, settings.telegram_rate)

    return dataclasses.replace(CHANNEL, open=open_over)
