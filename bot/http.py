"""The chat's HTTP routes: ``POST /api/chat``, ``DELETE /api/chat/{id}`` and ``GET /api/alerts``.

``routes`` is handed to the composition root (``app.web``), which fills the keys below. Errors are raised
and mapped to JSON once, by ``core.http.error_middleware``.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from typing import Any

from aiohttp import web

from bot import BotError
from bot.chat import ChatService
from catalog.model import Catalog
from core import BadRequest
from core.http import client_key, read_json_object
from core.keys import ALERTS

CATALOG = web.AppKey("catalog", Catalog)
CHAT = web.AppKey("chat", ChatService)


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


class RateLimited(BotError):
    status = 429
    code = "rate_limited"

    def __init__(self) -> None:
        super().__init__("Sie schreiben gerade sehr schnell. Bitte warten Sie einen Moment.", retry_after=10)


def check_rate(request: web.Request, *keys: str) -> None:
    """Count one message against every key (conversation, client address); 429 when one is over."""
    limiter = request.app[LIMITER]
    if not all(limiter.allow(key) for key in keys):
        raise RateLimited()


def text_field(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Das Feld „{name}“ muss ein Text sein.", code=f"invalid_{name}")
    return value


async def chat_handler(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    message = text_field(body, "message", required="payload" not in body) or ""
    payload = text_field(body, "payload", required=False)
    token = text_field(body, "conversation_id", required=False) or secrets.token_urlsafe(16)
    if not 8 <= len(token) <= 128:
        raise BadRequest("Die Gesprächs-ID muss 8 bis 128 Zeichen lang sein.", code="invalid_conversation_id")
    check_rate(request, "c:" + token, "ip:" + client_key(request))
    result = await request.app[CHAT].chat("web", token, message, payload)
    return web.json_response({"conversation_id": token, **result.reply.as_dict()})


async def delete_chat_handler(request: web.Request) -> web.Response:
    await request.app[CHAT].forget("web", request.match_info["conversation_id"])
    return web.json_response({"deleted": True})


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


def routes() -> list[web.RouteDef]:
    return [
        web.post("/api/chat", chat_handler),
        web.delete("/api/chat/{conversation_id}", delete_chat_handler),
        web.get("/api/alerts", alerts_handler),
    ]
