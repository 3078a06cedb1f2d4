"""Rasa's REST channel, for Rasa web-chat clients: ``POST /webhooks/rest/webhook``.

``{"sender", "message"}`` → ``[{"recipient_id", "text", "buttons"}]``, the payload shape of Rasa's
``RestInput``. A button's payload (``svc:…``, ``handoff``) sent back as the message is taken as a button.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, RootModel, StringConstraints

from bot.events import Reply, plain_text
from bot.http import CHAT, check_rate
from core.bodies import Body, read_body

WEBHOOK_PATH = "/webhooks/rest/webhook"


class RestRequest(Body):
    """Rasa's ``RestInput`` body."""

    messages = {"sender": "Das Feld „sender“ darf nicht leer sein."}

    sender: Annotated[str, StringConstraints(min_length=1)] | int = Field(
        "default", description="the client's id for the conversation (first 128 characters used)"
    )
    message: str = Field(description="the question, or a button's payload sent back")


class RestButton(BaseModel):
    title: str
    payload: str
    type: Literal["web_url"] | None = None
    url: str | None = None


class RestMessage(BaseModel):
    recipient_id: str
    text: str
    buttons: list[RestButton] | None = None


class RestReply(RootModel[list[RestMessage]]):
    """The bot's messages, as Rasa's REST channel answers."""


def messages(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    """The reply as one Rasa REST message: plain text without markup (Rasa web-chat clients show text as
    it is), the notices first, a title on its own line, list items as "• " lines; buttons for the quick
    replies and links."""
    text = "\n\n".join(part for part in (*reply.notices, plain_text(reply.blocks)) if part)
    buttons: list[dict[str, Any]] = [{"title": q.title, "payload": q.payload} for q in reply.quick_replies]
    buttons += [
        {"title": link.title, "type": "web_url", "url": link.url, "payload": link.url} for link in reply.links
    ]
    message: dict[str, Any] = {"recipient_id": recipient, "text": text}
    if buttons:
        message["buttons"] = buttons
    return [message]


async def webhook(request: web.Request) -> web.Response:
    body = await read_body(request, RestRequest)
    sender, message = str(body.sender)[:128], body.message
    check_rate(request, "c:rest:" + sender)
    payload = message if message.startswith(("svc:", "handoff")) else None
    result = await request.app[CHAT].chat("rest", sender, message, payload)
    return web.json_response(messages(sender, result.reply))


def routes() -> list[web.RouteDef]:
    return [web.post(WEBHOOK_PATH, webhook)]
