"""The Telegram channel: citizens ask the bot and manage subscriptions in Telegram.

The composition root (``app.web``) calls ``setup(app, settings, ...)`` once, handing over what the channel
needs. With ``KOBLENZ_BOT_TELEGRAM_TOKEN`` set it starts the channel inside the bot's own process (a
``cleanup_ctx``): long polling by default, or, with ``KOBLENZ_BOT_TELEGRAM_MODE=webhook``, the route
``POST /webhooks/telegram`` that accepts only requests with the right ``X-Telegram-Bot-Api-Secret-Token``.
Without a token nothing is added.

Modules: ``channel`` (updates in, handlers, commands, subscriptions), ``render`` (Reply → HTML messages and
keyboards), ``sender`` (paced sending, error mapping), ``subscriptions`` (topic/Stadtteil detection and the
button flows), ``texts`` (German texts), ``errors`` (exception tree), ``publisher`` (broadcasts out).
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
from connectors.telegram.channel import TelegramChannel
from connectors.telegram.errors import DeliveryFailed, RecipientBlocked, TelegramChannelError
from connectors.telegram.sender import SharedRate
from core import BadRequest, KoblenzError
from core.settings import Settings

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


class WebhookRefused(KoblenzError):
    status = 403
    code = "forbidden"


class ChannelStarting(KoblenzError):
    status = 503
    code = "unavailable"


def setup(
    app: web.Application,
    settings: Settings,
    dependencies: Callable[[web.Application], tuple[ChatService, Catalog, async_sessionmaker[AsyncSession]]],
    shared_rate: Callable[[web.Application], SharedRate | None],
) -> None:
    """Register the Telegram channel on the bot's aiohttp app (no-op without a token).

    ``dependencies`` and ``shared_rate`` read, at start-up, what the root's earlier contexts opened: the
    chat service, the catalog, the sessions and the bot token's one send budget."""
    if not settings.telegram_token:
        return
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def channel_context(app: web.Application) -> AsyncIterator[None]:
        chat, catalog, sessions = dependencies(app)
        channel = TelegramChannel(settings, chat, catalog, sessions, shared_rate=shared_rate(app))
        app[TELEGRAM] = channel
        await channel.start()
        yield
        await channel.stop()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, settings.telegram_webhook_secret.encode()):
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
