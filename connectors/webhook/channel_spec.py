"""Webhooks as an outbound channel (``connectors.registry``): on when ``KOBLENZ_BOT_WEBHOOKS`` lists at
least one receiver; every event goes to the receivers that subscribed to it through
``publisher.WebhookPublisher`` (one delivery per receiver)."""

from __future__ import annotations

from typing import Any

import aiohttp

from broadcasts.publishers import Publisher
from connectors.registry import ChannelSpec
from connectors.webhook.publisher import WebhookPublisher
from core.settings import Settings


async def open_publisher(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    return WebhookPublisher(session, settings.webhooks)


def details(settings: Settings) -> dict[str, Any]:
    """The receivers by name and their events: never a URL (it may carry a token) or a secret."""
    return {"receivers": [{"name": hook.name, "events": list(hook.events)} for hook in settings.webhooks]}


CHANNEL = ChannelSpec(
    name="webhook",
    label="Webhook",
    open=open_publisher,
    requires=("webhooks",),
    details=details,
)
