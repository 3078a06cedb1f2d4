"""``POST /api/feedback``: thumbs up or down on one answer, with an optional comment."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from bot import InputRejected
from bot.dialogue import clean
from bot.http import CHAT, LIMITER, TOKEN_MESSAGE, ConversationToken
from bot.privacy import redact
from connectors import ConnectorError
from connectors.web.feedback import MAX_COMMENT_CHARS, Rating, record_feedback
from core import BadRequest
from core.bodies import Body, read_body
from core.db import sessionmaker
from core.http import client_key
from core.keys import ENGINE

MAX_TURN = 100_000


class FeedbackError(ConnectorError):
    """A feedback request that cannot be stored (429 too many, 404 nothing left to rate)."""


class FeedbackRequest(Body):
    """A thumbs up or down on the conversation's n-th answer (turn), with an optional comment."""

    messages = {
        "conversation_id": TOKEN_MESSAGE,
        "turn": "Das Feld „turn“ muss die Nummer der Antwort sein (1 für die erste Antwort).",
        "rating": "Das Feld „rating“ muss „up“ oder „down“ sein.",
        "comment": f"Der Kommentar ist zu lang (höchstens {MAX_COMMENT_CHARS} Zeichen).",
    }

    conversation_id: ConversationToken
    turn: int = Field(ge=1, le=MAX_TURN, description="number of the answer in the conversation, 1 = first")
    rating: Rating
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS, description="stored redacted")


class Stored(BaseModel):
    stored: bool


async def feedback_handler(request: web.Request) -> web.Response:
    body = await read_body(request, FeedbackRequest)
    token, number, rating = body.conversation_id, body.turn, body.rating
    try:
        comment = redact(clean(body.comment, MAX_COMMENT_CHARS)) if body.comment else None
    except InputRejected:  # normalising may lengthen a text in rare cases
        raise BadRequest(FeedbackRequest.messages["comment"], code="invalid_comment") from None
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
    return web.json_response(Stored(stored=True).model_dump())
