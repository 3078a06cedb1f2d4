"""The Telegram channel: citizens ask the bot and manage subscriptions in Telegram.

``setup(app, settings)`` is called once by ``bot.web.create_app``. With ``KOBLENZ_BOT_TELEGRAM_TOKEN`` set
it starts the channel inside the bot's own process (a ``cleanup_ctx``): long polling by default, or, with
``KOBLENZ_BOT_TELEGRAM_MODE=webhook``, the route ``POST /webhooks/telegram`` that accepts only requests with
the right ``X-Telegram-Bot-Api-Secret-Token``. Without a token nothing is added.

Modules: ``channel`` (updates in, handlers, commands, subscriptions), ``render`` (Reply → HTML messages and
keyboards), ``sender`` (paced sending, error mapping), ``subscriptions`` (topic/Stadtteil detection and the
button flows), ``texts`` (German texts), ``errors`` (exception tree).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.settings import Settings
from connectors.telegram.channel import TelegramChannel
from connectors.telegram.errors import DeliveryFailed, RecipientBlocked, TelegramChannelError

__all__ = [
    "TELEGRAM",
    "DeliveryFailed",
    "RecipientBlocked",
    "TelegramChannel",
    "TelegramChannelError",
    "setup",
]

TELEGRAM = web.AppKey("telegram", TelegramChannel)
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
log = logging.getLogger(__name__)


def setup(app: web.Application, settings: Settings) -> None:
    """Register the Telegram channel on the bot's aiohttp app (no-op without a token)."""
    if not settings.telegram_token:
        return
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from bot.db import sessionmaker
    from bot.web import CATALOG, CHAT, ENGINE  # imported here: bot.web imports this package

    async def channel_context(app: web.Application) -> AsyncIterator[None]:
        from broadcasts.api import TELEGRAM_SLOTS

        channel = TelegramChannel(
            settings,
            app[CHAT],
            app[CATALOG],
            sessionmaker(app[ENGINE]),
            shared_rate=app.get(TELEGRAM_SLOTS),  # the broadcast engine's limiter for this bot token
        )
        app[TELEGRAM] = channel
        await channel.start()
        yield
        await channel.stop()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, settings.telegram_webhook_secret.encode()):
            return web.json_response(
                {"error": "forbidden", "message": "Diese Anfrage kommt nicht von Telegram."}, status=403
            )
        channel = request.app.get(TELEGRAM)
        if channel is None:
            return web.json_response(
                {"error": "unavailable", "message": "Der Telegram-Kanal startet gerade."}, status=503
            )
        try:
            update = json.loads((await request.read()).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return web.json_response(
                {"error": "invalid_json", "message": "Die Anfrage ist kein gültiges JSON."}, status=400
            )
        # Malformed updates are logged and acknowledged, so Telegram does not deliver them again.
        return web.json_response({"ok": True, "accepted": channel.feed(update)})

    app.cleanup_ctx.append(channel_context)
    if settings.telegram_mode == "webhook":
        app.router.add_post(WEBHOOK_PATH, webhook)
