"""Telegram as an outbound channel (``connectors.registry``): on when ``KOBLENZ_BOT_TELEGRAM_TOKEN`` is
set; posts and alerts go to the subscribers through ``publisher.TelegramPublisher``."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp

from broadcasts.publishers import Publisher
from broadcasts.ratelimit import LocalSlots
from connectors.registry import ChannelSpec
from connectors.telegram.client import TelegramClient
from connectors.telegram.publisher import TelegramChannelPublisher, TelegramPublisher
from connectors.telegram.transport import WireTransport
from core.settings import Settings


async def open_publisher(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    return TelegramPublisher(
        settings.telegram_api_url,
        settings.telegram_token.get_secret_value(),
        settings.telegram_rate,
        settings.telegram_timeout,
        settings.delivery_concurrency + 8,
    )


def details(settings: Settings) -> dict[str, Any]:
    return {"rate_per_second": settings.telegram_rate}


async def open_channel_publisher(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    """For the ``worker`` command: a client of its own (the server shares the token's one client)."""
    transport = WireTransport(
        settings.telegram_api_url, settings.telegram_token.get_secret_value(), settings.telegram_timeout, 8
    )
    client = TelegramClient(transport, LocalSlots(settings.telegram_rate))
    return TelegramChannelPublisher(
        client, settings.telegram_channel, settings.telegram_rate, owns_client=True
    )


def channel_details(settings: Settings) -> dict[str, Any]:
    return {"channel": settings.telegram_channel}


CHANNEL = ChannelSpec(
    name="telegram",
    label="Telegram",
    open=open_publisher,
    requires=("telegram_token",),
    details=details,
)
CHANNEL_POST = ChannelSpec(
    name="telegram_channel",
    label="Telegram-Kanal",
    open=open_channel_publisher,
    requires=("telegram_token", "telegram_channel"),
    details=channel_details,
)
CHANNELS = (CHANNEL, CHANNEL_POST)


def sharing(client: TelegramClient) -> tuple[ChannelSpec, ChannelSpec]:
    """Both Telegram channels with their publishers over ``client``: the bot token's one client, which
    the composition root opened and also hands to the chat channel. (``open_publisher`` gives the
    publisher a client of its own, for the ``worker`` command, which has no chat channel.)"""

    async def open_over(settings: Settings, _session: aiohttp.ClientSession) -> Publisher:
        return TelegramPublisher.over(client, settings.telegram_rate)

    async def open_channel_over(settings: Settings, _session: aiohttp.ClientSession) -> Publisher:
        return TelegramChannelPublisher(client, settings.telegram_channel, settings.telegram_rate)

    return (
        dataclasses.replace(CHANNEL, open=open_over),
        dataclasses.replace(CHANNEL_POST, open=open_channel_over),
    )
