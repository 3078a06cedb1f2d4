"""The Telegram channel: citizens ask the bot and manage subscriptions in Telegram.

The composition root (``app.web``) calls ``setup(app, settings, ...)`` once, handing over what the channel
needs. With ``KOBLENZ_BOT_TELEGRAM_TOKEN`` set it starts the channel inside the bot's own process (a
``cleanup_ctx``): long polling by default, or, with ``KOBLENZ_BOT_TELEGRAM_MODE=webhook``, the route
``POST /webhooks/telegram`` that accepts only requests with the right ``X-Telegram-Bot-Api-Secret-Token``.
Without a token nothing is added.

One Telegram client per bot token: the root opens it with ``open_client(settings, budget)`` and hands it
to ``setup`` (chat replies, subscription screens, polling) and to the broadcast publisher
(``channel_spec.sharing(client)``), so everything the bot sends shares one budget, one per-chat pacing
and one error mapping.

Modules: ``client`` (the one client: pacing, retries), ``transport`` (the aiohttp wire under it),
``errors`` (the one mapping of Bot API answers to the ``PublishError`` tree), ``limits`` (Telegram's
limits, from PTB's constants), ``channel`` (updates in, handlers, commands, subscriptions), ``ptb`` (PTB
parses and dispatches, never sends), ``render`` (Reply → HTML messages and keyboards), ``subscriptions``
(topic/Stadtteil detection and the button flows), ``texts`` (German texts), ``publisher`` (broadcasts
out), ``channel_spec`` (the channel as the registry knows it).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat import ChatService
from catalog.model import Catalog
from connectors import ConnectorError
from connectors.telegram.channel import TelegramChannel
from connectors.telegram.client import TelegramClient, open_client
from connectors.telegram.errors import TokenRejected
from core import BadRequest
from core.settings import Settings

__all__ = [
    "TELEGRAM",
    "TelegramChannel",
    "TelegramClient",
    "TokenRejected",
    "open_client",
    "setup",
]

TELEGRAM = web.AppKey("telegram", TelegramChannel)
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
log = logging.getLogger(__name__)
# Bot API URLs contain the token: PTB's bot logs them (and every call's parameters, i.e. citizens' messages)
# at DEBUG, httpx every request URL at INFO. Those loggers stay above that, whatever LOG_LEVEL says
# (tests/core/test_secrets.py runs the channel at DEBUG and finds no token in the log).
for _name, _level in (
    ("telegram.Bot", logging.INFO),
    ("telegram.ext.ExtBot", logging.INFO),
    ("httpx", logging.WARNING),
):
    logging.getLogger(_name).setLevel(_level)


class WebhookRefused(ConnectorError):
    status = 403
    code = "forbidden"


class ChannelStarting(ConnectorError):
    status = 503
    code = "unavailable"


def setup(
    app: web.Application,
    settings: Settings,
    dependencies: Callable[[web.Application], tuple[ChatService, Catalog, async_sessionmaker[AsyncSession]]],
    client: Callable[[web.Application], TelegramClient],
) -> None:
    """Register the Telegram channel on the bot's aiohttp app (no-op without a token).

    ``dependencies`` and ``client`` read, at start-up, what the root's earlier contexts opened: the chat
    service, the catalog, the sessions and the bot token's one Telegram client."""
    if not settings.telegram_token:
        return

    async def channel_context(app: web.Application) -> AsyncIterator[None]:
        chat, catalog, sessions = dependencies(app)
        channel = TelegramChannel(settings, chat, catalog, sessions, client(app))
        app[TELEGRAM] = channel
        await channel.start()
        yield
        await channel.stop()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, settings.telegram_webhook_secret.get_secret_value().encode()):
            raise WebhookRefused("Diese Anfrage kommt nicht von Telegram.")
        channel = request.app.get(TELEGRAM)
        if channel is None:
            raise ChannelStarting("Der Telegram-Kanal startet gerade.")
        try:
            update = json.loads((await request.read()).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadRequest("Die Anfrage ist kein gültiges JSON.", code="invalid_json") from None
        # Malformed updates are logged and acknowledged, so Telegram does not deliver them again.
        return web.json_response({"ok": True, "accepted": channel.feed(update)})

    app.cleanup_ctx.append(channel_context)
    if settings.telegram_mode == "webhook":
        app.router.add_post(WEBHOOK_PATH, webhook)
