"""The chat API's bodies (bot/http.py) and the channels' that reuse them: codes, German messages, limits."""

from __future__ import annotations

from typing import Any

import pytest

from bot.events import Bullets, Link, Paragraph, QuickReply, Reply, Title
from bot.http import TOKEN_MAX, TOKEN_MIN, ChatReply, ChatRequest
from connectors.rasa_rest import RestReply, RestRequest, messages
from connectors.web.feedback import MAX_COMMENT_CHARS
from connectors.web.routes import MAX_TURN, FeedbackRequest
from core import BadRequest
from core.bodies import Body, parse_body

TOKEN = "widget-session-0001"


@pytest.mark.parametrize(
    ("model", "data", "code", "german"),
    [
        (ChatRequest, {}, "invalid_message", "„message“ fehlt"),
        (ChatRequest, {"message": 42}, "invalid_message", "„message“ muss ein Text sein"),
        (ChatRequest, {"message": "hi", "conversation_id": "x"}, "invalid_conversation_id", "8 bis 128"),
        (
            ChatRequest,
            {"payload": "svc:x:fees", "conversation_id": "x" * 129},
            "invalid_conversation_id",
            "8",
        ),
        (FeedbackRequest, {"conversation_id": TOKEN, "turn": 1, "rating": "meh"}, "invalid_rating", "„up“"),
        (FeedbackRequest, {"conversation_id": TOKEN, "turn": 0, "rating": "up"}, "invalid_turn", "Nummer"),
        (FeedbackRequest, {"conversation_id": TOKEN, "turn": True, "rating": "up"}, "invalid_turn", "Zahl"),
        (
            FeedbackRequest,
            {"conversation_id": TOKEN, "turn": MAX_TURN + 1, "rating": "up"},
            "invalid_turn",
            "",
        ),
        (FeedbackRequest, {"conversation_id": TOKEN, "rating": "up"}, "invalid_turn", "„turn“ fehlt"),
        (
            FeedbackRequest,
            {"conversation_id": TOKEN, "turn": 1, "rating": "up", "comment": "x" * (MAX_COMMENT_CHARS + 1)},
            "invalid_comment",
            f"höchstens {MAX_COMMENT_CHARS} Zeichen",
        ),
        (RestRequest, {"sender": "u1"}, "invalid_message", "„message“ fehlt"),
        (RestRequest, {"sender": "", "message": "hi"}, "invalid_sender", "„sender“ darf nicht leer sein"),
        (RestRequest, {"sender": [1], "message": "hi"}, "invalid_sender", "„sender“"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    model: type[Body], data: dict[str, Any], code: str, german: str
) -> None:
    with pytest.raises(BadRequest) as info:
        parse_body(model, data)
    assert (info.value.status, info.value.code) == (400, code)
    assert german in info.value.message


def test_good_bodies() -> None:
    assert parse_body(ChatRequest, {"payload": "handoff", "x": 1}).message is None
    assert parse_body(ChatRequest, {"message": "x" * 5000}).message  # the length is the dialogue's business
    chat = parse_body(ChatRequest, {"message": "Hallo", "conversation_id": "a" * TOKEN_MIN})
    assert chat.conversation_id == "a" * TOKEN_MIN
    assert parse_body(ChatRequest, {"message": "Hallo", "conversation_id": "a" * TOKEN_MAX}).conversation_id
    feedback = parse_body(
        FeedbackRequest,
        {"conversation_id": TOKEN, "turn": MAX_TURN, "rating": "down", "comment": "x" * MAX_COMMENT_CHARS},
    )
    assert feedback.rating == "down" and feedback.comment
    assert parse_body(RestRequest, {"message": "hi"}).sender == "default"
    assert parse_body(RestRequest, {"sender": 42, "message": "hi"}).sender == 42


REPLY = Reply.of(
    (Title("Reisepass"), Paragraph("Sie brauchen:"), Bullets(("Foto", "alter Pass"))),
    "service",
    service_id="reisepass",
    aspect="documents",
    confidence=0.91234,
    links=(Link("Termin", "https://example.org/termin", "appointment"),),
    quick_replies=(QuickReply("Kosten", "svc:reisepass:fees"),),
    notices=("Warnung: Hochwasser",),
)


def test_the_reply_models_describe_what_the_handlers_send() -> None:
    """The OpenAPI description is generated from these models: they must say what is really sent."""
    body = {"conversation_id": TOKEN, **REPLY.as_dict()}
    assert set(body) == set(ChatReply.model_fields)
    assert ChatReply.model_validate(body).model_dump(mode="json") == body
    sent = messages("u1", REPLY)
    assert RestReply.model_validate(sent).model_dump(mode="json", exclude_none=True) == sent
