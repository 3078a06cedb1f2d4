"""``POST /api/feedback``: thumbs up or down on one answer, with an optional comment."""

from __future__ import annotations

from aiohttp import web

from bot import BotError, InputRejected
from bot.dialogue import clean
from bot.http import CHAT, LIMITER
from bot.privacy import redact
from connectors.web.feedback import MAX_COMMENT_CHARS, Rating, record_feedback
from core import BadRequest
from core.db import sessionmaker
from core.http import client_key, read_json_object
from core.keys import ENGINE


class FeedbackError(BotError):
    """A feedback request that cannot be stored (429 too many, 404 nothing left to rate)."""


def _rating(value: object) -> Rating:
    if value == "up":
        return "up"
    if value == "down":
        return "down"
    raise BadRequest(code="invalid_rating", message="Das Feld „rating“ muss „up“ oder „down“ sein.")


async def feedback_handler(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    token = body.get("conversation_id")
    if not isinstance(token, str) or not 8 <= len(token) <= 128:
        raise BadRequest(
            code="invalid_conversation_id", message="Die Gesprächs-ID muss 8 bis 128 Zeichen lang sein."
        )
    number = body.get("turn")
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 100_000:
        raise BadRequest(
            code="invalid_turn",
            message="Das Feld „turn“ muss die Nummer der Antwort sein (1 für die erste Antwort).",
        )
    rating = _rating(body.get("rating"))
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise BadRequest(code="invalid_comment", message="Das Feld „comment“ muss ein Text sein.")
    try:
        comment = redact(clean(comment, MAX_COMMENT_CHARS)) if comment else None
    except InputRejected:
        raise BadRequest(
            code="invalid_comment",
            message=f"Der Kommentar ist zu lang (höchstens {MAX_COMMENT_CHARS} Zeichen).",
        ) from None
    limiter = request.app[LIMITER]
    if not (limiter.allow("f:" + token) and limiter.allow("fip:" + client_key(request))):
        raise FeedbackError(
            "Sie senden gerade sehr viele Rückmeldungen. Bitte warten Sie einen Moment.",
            code="rate_limited",
            status=429,
            retry_after=10,
        )
    conversation_id = request.app[CHAT].conversation_id("web", token)
    stored = await record_feedback(
        sessionmaker(request.app[ENGINE]), conversation_id, number, rating, comment
    )
    if not stored:
        raise FeedbackError(
            "Zu dieser Antwort ist nichts mehr gespeichert, vielleicht wurde der Verlauf gelöscht.",
            code="not_found",
            status=404,
        )
    return web.json_response({"stored": True})
