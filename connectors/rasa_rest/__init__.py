"""Rasa's REST channel, for Rasa web-chat clients: ``POST /webhooks/rest/webhook``.

``{"sender", "message"}`` → ``[{"recipient_id", "text", "buttons"}]``, the payload shape of Rasa's
``RestInput``. A button's payload (``svc:…``, ``handoff``) sent back as the message is taken as a button.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.events import Reply
from bot.http import CHAT, check_rate, text_field
from core import BadRequest
from core.http import read_json_object

WEBHOOK_PATH = "/webhooks/rest/webhook"


def messages(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    text = "\n\n".join([*reply.notices, reply.text])
    buttons: list[dict[str, Any]] = [{"title": q.title, "payload": q.payload} for q in reply.quick_replies]
    buttons += [
        {"title": link.title, "type": "web_url", "url": link.url, "payload": link.url} for link in reply.links
    ]
    message: dict[str, Any] = {"recipient_id": recipient, "text": text}
    if buttons:
        message["buttons"] = buttons
    return [message]


async def webhook(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    sender = body.get("sender", "default")
    if not isinstance(sender, str | int) or not str(sender):
        raise BadRequest("Das Feld „sender“ fehlt.", code="invalid_sender")
    sender = str(sender)[:128]
    message = text_field(body, "message") or ""
    check_rate(request, "c:rest:" + sender)
    payload = message if message.startswith(("svc:", "handoff")) else None
    result = await request.app[CHAT].chat("rest", sender, message, payload)
    return web.json_response(messages(sender, result.reply))


def routes() -> list[web.RouteDef]:
    return [web.post(WEBHOOK_PATH, webhook)]
