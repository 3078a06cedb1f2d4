"""``POST /api/feedback``: thumbs up or down on one answer, with an optional comment."""

from __future__ import annotations

from aiohttp import web

from bot import InputRejected
from bot.db import sessionmaker
from bot.dialogue import clean
from bot.privacy import redact
from bot.web import CHAT, ENGINE, LIMITER, _BadRequest, _client_key, _error, _json_body
from connectors.web.feedback import MAX_COMMENT_CHARS, Rating, record_feedback


def _rating(value: object) -> Rating:
    if value == "up":
        return "up"
    if value == "down":
        return "down"
    raise _BadRequest("invalid_rating", "Das Feld „rating“ muss „up“ oder „down“ sein.")


async def feedback_handler(request: web.Request) -> web.Response:
    body = await _json_body(request)
    token = body.get("conversation_id")
    if not isinstance(token, str) or not 8 <= len(token) <= 128:
        raise _BadRequest("invalid_conversation_id", "Die Gesprächs-ID muss 8 bis 128 Zeichen lang sein.")
    number = body.get("turn")
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 100_000:
        raise _BadRequest(
            "invalid_turn", "Das Feld „turn“ muss die Nummer der Antwort sein (1 für die erste Antwort)."
        )
    rating = _rating(body.get("rating"))
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise _BadRequest("invalid_comment", "Das Feld „comment“ muss ein Text sein.")
    try:
        comment = redact(clean(comment, MAX_COMMENT_CHARS)) if comment else None
    except InputRejected:
        raise _BadRequest(
            "invalid_comment", f"Der Kommentar ist zu lang (höchstens {MAX_COMMENT_CHARS} Zeichen)."
        ) from None
    limiter = request.app[LIMITER]
    if not (limiter.allow("f:" + token) and limiter.allow("fip:" + _client_key(request))):
        return _error(
            429,
            "rate_limited",
            "Sie senden gerade sehr viele Rückmeldungen. Bitte warten Sie einen Moment.",
            retry_after=10,
        )
    conversation_id = request.app[CHAT].conversation_id("web", token)
    stored = await record_feedback(
        sessionmaker(request.app[ENGINE]), conversation_id, number, rating, comment
    )
    if not stored:
        return _error(
            404,
            "not_found",
            "Zu dieser Antwort ist nichts mehr gespeichert, vielleicht wurde der Verlauf gelöscht.",
        )
    return web.json_response({"stored": True})
