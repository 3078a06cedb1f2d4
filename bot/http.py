"""The chat's HTTP routes: ``POST /api/chat``, ``DELETE /api/chat/{id}`` and ``GET /api/alerts``.

``routes`` is handed to the composition root (``app.web``), which fills the keys below. Errors are raised
and mapped to JSON once, by ``core.http.error_middleware``. The bodies in and out are the pydantic models
below; ``app.openapi`` describes the endpoints from them, so each limit is written once, here.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from typing import Annotated, Literal, Self

from aiohttp import web
from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from bot import BotError
from bot.chat import ChatService
from bot.events import LinkKind, ReplyKind
from catalog.aspects import Aspect
from catalog.model import Catalog
from core.alerts import severity_label
from core.bodies import Body, read_body
from core.http import client_key
from core.keys import ALERTS
from core.settings import Settings

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


# -- bodies in and out --------------------------------------------------------------------------------

TOKEN_MIN, TOKEN_MAX = 8, 128
ConversationToken = Annotated[
    str,
    StringConstraints(min_length=TOKEN_MIN, max_length=TOKEN_MAX),
    Field(description="opaque token chosen by the client or returned by the first answer; send it back"),
]
TOKEN_MESSAGE = f"Die Gesprächs-ID muss {TOKEN_MIN} bis {TOKEN_MAX} Zeichen lang sein."
_DEFAULT_MAX_CHARS = f"{Settings.model_fields['max_message_chars'].default:,}".replace(",", ".")


class ChatRequest(Body):
    """A citizen's message, or a quick reply's payload (at least one of the two)."""

    model_config = {"json_schema_extra": {"anyOf": [{"required": ["message"]}, {"required": ["payload"]}]}}
    messages = {"conversation_id": TOKEN_MESSAGE}

    # the message's length limit is a runtime setting: longer ones get a polite answer, not an error
    message: str | None = Field(
        None,
        description=f"the question; longer than MAX_MESSAGE_CHARS (default {_DEFAULT_MAX_CHARS}) "
        "is answered with a request for a shorter one",
    )
    payload: str | None = Field(
        None, description="a quick reply's payload: svc:<service_id>:<aspect>, handoff"
    )
    conversation_id: ConversationToken | None = None

    @model_validator(mode="after")
    def _message_or_payload(self) -> Self:
        if self.message is None and self.payload is None:
            raise PydanticCustomError("missing", "message or payload required", {"field": "message"})
        return self


class LinkOut(BaseModel):
    title: str
    url: str
    kind: LinkKind


class QuickReplyOut(BaseModel):
    title: str
    payload: str = Field(description="send it back as the next request's payload")


class TextBlock(BaseModel):
    type: Literal["title", "paragraph"]
    text: str


class BulletsBlock(BaseModel):
    type: Literal["bullets"]
    items: list[str]


class ChatReply(BaseModel):
    """The bot's answer: ``bot.events.Reply.as_dict()`` and the conversation token."""

    conversation_id: str = Field(description="opaque token; send it back to continue")
    text: str = Field(description="plain-text rendering of blocks, no markup")
    blocks: list[Annotated[TextBlock | BulletsBlock, Field(discriminator="type")]] = Field(
        description="the reply's body as structure"
    )
    kind: ReplyKind
    service_id: str | None
    aspect: Aspect | None
    confidence: float | None
    links: list[LinkOut]
    quick_replies: list[QuickReplyOut]
    notices: list[str] = Field(description="e.g. an active warning, shown before the answer")


class Deleted(BaseModel):
    deleted: bool


class BannerAlert(BaseModel):
    identifier: str
    headline: str
    severity: str
    severity_label: str
    description: str
    instruction: str
    areas: list[str]
    web: str | None
    expires: str | None = Field(description="ISO 8601 with offset")
    authority: str = Field(
        "", description="the issuing authority when not the city, e.g. 'Deutscher Wetterdienst' (NINA)"
    )


class ActiveAlerts(BaseModel):
    """Active warnings for the website banner and the chat widget, most severe first."""

    alerts: list[BannerAlert]


# -- handlers -------------------------------------------------------------------------------------------


async def chat_handler(request: web.Request) -> web.Response:
    body = await read_body(request, ChatRequest)
    token = body.conversation_id or secrets.token_urlsafe(16)
    check_rate(request, "c:" + token, "ip:" + client_key(request))
    result = await request.app[CHAT].chat("web", token, body.message or "", body.payload)
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
                    "severity_label": severity_label(a.severity),
                    "description": a.description,
                    "instruction": a.instruction,
                    "areas": list(a.areas),
                    "web": a.web,
                    "expires": a.expires.isoformat() if a.expires else None,
                    "authority": a.authority,
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
