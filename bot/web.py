"""The aiohttp application: chat API, Rasa-REST-compatible webhook, health and OpenAPI.

Resources (database engine, HTTP session, Rasa supervisor, retention loop) are opened and closed in
``cleanup_ctx`` generators; handlers only read them from typed app keys.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncEngine

import broadcasts
import connectors.telegram
import connectors.web
from bot.alerts import AlertSource
from bot.background import periodic
from bot.catalog import Catalog, load_catalog
from bot.chat import ChatService
from bot.conversations import ConversationStore
from bot.db import create_engine, migrate, sessionmaker
from bot.dialogue import Dialogue
from bot.events import Reply
from bot.openapi import OPENAPI
from bot.privacy import load_or_create_key
from bot.search import CatalogSearch
from bot.settings import Settings
from broadcasts.alert_source import StoreAlerts
from nlu.client import RasaClient, RasaPool, rasa_urls
from nlu.server import RasaSupervisor

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024

SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", Catalog)
CHAT = web.AppKey("chat", ChatService)
ENGINE = web.AppKey("engine", AsyncEngine)
SUPERVISOR = web.AppKey("supervisor", RasaSupervisor)
ALERTS = web.AppKey("alerts", AlertSource)


class RateLimiter:
    """Sliding-window limit per key (conversation, client): at most ``limit`` messages per ``window`` s."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > 100_000:  # forget idle keys so memory stays bounded
            for stale in [k for k, v in self._hits.items() if not v or now - v[-1] > self.window][:50_000]:
                del self._hits[stale]
        return True


LIMITER = web.AppKey("limiter", RateLimiter)


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise
    if len(raw) > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(raw))
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _BadRequest("invalid_json", "Die Anfrage ist kein gültiges JSON.") from None
    if not isinstance(body, dict):
        raise _BadRequest("invalid_json", "Erwartet wird ein JSON-Objekt.")
    return body


class _BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every error is JSON with a polite German message; nothing ever answers 5xx with a traceback."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except _BadRequest as exc:
        return _error(400, exc.code, exc.message)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", f"Die Anfrage ist zu groß (höchstens {MAX_BODY_BYTES // 1024} kB).")
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return _error(
            500, "internal", "Es ist ein Fehler aufgetreten. Bitte versuchen Sie es gleich noch einmal."
        )


def _text_field(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _BadRequest(f"invalid_{name}", f"Das Feld „{name}“ muss ein Text sein.")
    return value


def _client_key(request: web.Request) -> str:
    # Used in memory for rate limiting only; never stored or logged.
    return request.remote or "unknown"


async def chat_handler(request: web.Request) -> web.Response:
    body = await _json_body(request)
    message = _text_field(body, "message", required="payload" not in body) or ""
    payload = _text_field(body, "payload", required=False)
    token = _text_field(body, "conversation_id", required=False) or secrets.token_urlsafe(16)
    if not 8 <= len(token) <= 128:
        raise _BadRequest("invalid_conversation_id", "Die Gesprächs-ID muss 8 bis 128 Zeichen lang sein.")
    limiter = request.app[LIMITER]
    if not (limiter.allow("c:" + token) and limiter.allow("ip:" + _client_key(request))):
        return _error(
            429,
            "rate_limited",
            "Sie schreiben gerade sehr schnell. Bitte warten Sie einen Moment.",
            retry_after=10,
        )
    result = await request.app[CHAT].chat("web", token, message, payload)
    return web.json_response({"conversation_id": token, **result.reply.as_dict()})


async def delete_chat_handler(request: web.Request) -> web.Response:
    token = request.match_info["conversation_id"]
    chat = request.app[CHAT]
    await chat.forget("web", token)
    return web.json_response({"deleted": True})


def _rest_messages(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    text = "\n\n".join([*reply.notices, reply.text])
    buttons: list[dict[str, Any]] = [{"title": q.title, "payload": q.payload} for q in reply.quick_replies]
    buttons += [
        {"title": link.title, "type": "web_url", "url": link.url, "payload": link.url} for link in reply.links
    ]
    message: dict[str, Any] = {"recipient_id": recipient, "text": text}
    if buttons:
        message["buttons"] = buttons
    return [message]


async def rest_webhook_handler(request: web.Request) -> web.Response:
    body = await _json_body(request)
    sender = body.get("sender", "default")
    if not isinstance(sender, str | int) or not str(sender):
        raise _BadRequest("invalid_sender", "Das Feld „sender“ fehlt.")
    sender = str(sender)[:128]
    message = _text_field(body, "message") or ""
    if not request.app[LIMITER].allow("c:rest:" + sender):
        return _error(
            429, "rate_limited", "Sie schreiben gerade sehr schnell. Bitte warten Sie einen Moment."
        )
    payload = message if message.startswith(("svc:", "handoff")) else None
    result = await request.app[CHAT].chat("rest", sender, message, payload)
    return web.json_response(_rest_messages(sender, result.reply))


async def health_handler(request: web.Request) -> web.Response:
    database = "ok"
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(sql_text("SELECT 1"))
    except Exception:
        database = "unavailable"
    supervisor = request.app.get(SUPERVISOR)
    rasa = "ready" if supervisor is not None and supervisor.ready.is_set() else "unavailable"
    answering, in_use = supervisor.servers() if supervisor is not None else (0, 0)
    status = "ok" if database == "ok" and rasa == "ready" and answering == in_use else "degraded"
    return web.json_response(
        {
            "status": status,
            "database": database,
            "nlu": rasa,
            "nlu_servers": {"answering": answering, "total": in_use},
            "services": len(request.app[CATALOG].services),
        },
        status=200 if database == "ok" else 503,
    )


async def alerts_handler(request: web.Request) -> web.Response:
    """Active warnings for the website banner and the chat widget."""
    alerts = await request.app[ALERTS].active()
    return web.json_response(
        {
            "alerts": [
                {
                    "identifier": a.identifier,
                    "headline": a.headline,
                    "severity": a.severity,
                    "description": a.description,
                    "instruction": a.instruction,
                    "areas": list(a.areas),
                    "web": a.web,
                    "expires": a.expires.isoformat() if a.expires else None,
                }
                for a in alerts
            ]
        },
        headers={"Cache-Control": "no-cache"},
    )


async def openapi_handler(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


# -- resources ---------------------------------------------------------------------------------------


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].database_url)
    await migrate(engine)
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _conversation_purger(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]

    async def purge() -> None:
        store = app[CHAT].store
        removed = await store.purge(dt.timedelta(days=settings.retention_days)) if store else 0
        if removed:
            log.info(
                "retention: deleted %d conversations older than %d days", removed, settings.retention_days
            )

    async with periodic("conversation-purge", settings.purge_interval_seconds, purge):
        yield


def create_app(
    settings: Settings, alerts: AlertSource | None = None, manage_rasa: bool | None = None
) -> web.Application:
    catalog = load_catalog(settings.catalog_dir)
    app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[CATALOG] = catalog
    app[LIMITER] = RateLimiter(settings.chat_rate_per_minute)
    key = load_or_create_key(settings.pseudonym_key, settings.state_dir)
    alert_source = alerts or StoreAlerts()  # active alerts from the broadcast engine's table
    app[ALERTS] = alert_source

    async def _services(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        should_manage = settings.rasa_manage if manage_rasa is None else manage_rasa
        servers = rasa_urls(settings.rasa_url, settings.rasa_processes if should_manage else 1)
        pool = RasaPool(
            [RasaClient(session, url, settings.rasa_timeout) for url in servers],
            per_server=settings.rasa_parallel,
        )
        supervisor = RasaSupervisor(
            pool,
            settings.rasa_config,
            settings.model_dir,
            settings.state_dir / "rasa" / "server.log",
            settings.rasa_startup_timeout,
        )
        if should_manage:
            await supervisor.start()
        elif await pool.status() is not None:
            supervisor.ready.set()
        app[SUPERVISOR] = supervisor
        dialogue = Dialogue(
            catalog,
            CatalogSearch(catalog),
            pool,
            alert_source,
            settings.max_message_chars,
            settings.intent_threshold,
            settings.ambiguity_margin,
        )
        store = ConversationStore(sessionmaker(app[ENGINE]))
        app[CHAT] = ChatService(dialogue, store, key)
        yield
        await store.flush()  # answers already given are written before the database closes
        await supervisor.stop()
        await session.close()

    app.cleanup_ctx.extend([_database, _services, _conversation_purger])
    app.router.add_post("/api/chat", chat_handler)
    app.router.add_delete("/api/chat/{conversation_id}", delete_chat_handler)
    app.router.add_post("/webhooks/rest/webhook", rest_webhook_handler)
    app.router.add_get("/health", health_handler)
    app.router.add_get("/api/alerts", alerts_handler)
    app.router.add_get("/openapi.json", openapi_handler)
    connectors.web.setup(app, settings)  # the website widget: /widget.js, demo page at /, feedback
    broadcasts.setup(app, settings)  # alert API, feeds, CAP files; scheduler + worker in-process
    connectors.telegram.setup(app, settings)  # Telegram channel when a token is set (polling/webhook)
    return app
