"""The OpenAPI description (app/openapi.py) is generated from the request and response models: each
limit it states is the one the model enforces, written once, and every reference resolves."""

from __future__ import annotations

import json
from typing import Any

from app.openapi import OPENAPI
from bot.http import TOKEN_MAX, TOKEN_MIN
from broadcasts.states import AlertState
from connectors.web.feedback import MAX_COMMENT_CHARS
from connectors.web.routes import MAX_TURN

SCHEMAS: dict[str, Any] = OPENAPI["components"]["schemas"]


def _string(schema: dict[str, Any]) -> dict[str, Any]:
    """The string branch of an optional field (``anyOf: [{string...}, {null}]``)."""
    return next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"), schema)


def test_the_limits_are_the_models_limits() -> None:
    feedback = SCHEMAS["FeedbackRequest"]["properties"]
    assert _string(feedback["comment"])["maxLength"] == MAX_COMMENT_CHARS == 500
    assert (feedback["turn"]["minimum"], feedback["turn"]["maximum"]) == (1, MAX_TURN)
    assert feedback["rating"]["enum"] == ["up", "down"]
    for model in ("FeedbackRequest", "ChatRequest"):
        token = _string(SCHEMAS[model]["properties"]["conversation_id"])
        assert (token["minLength"], token["maxLength"]) == (TOKEN_MIN, TOKEN_MAX) == (8, 128)
    assert set(SCHEMAS["FeedbackRequest"]["required"]) == {"conversation_id", "turn", "rating"}
    # the message's limit is a runtime setting: described, never enforced by the schema
    assert "maxLength" not in _string(SCHEMAS["ChatRequest"]["properties"]["message"])
    assert SCHEMAS["AlertState"]["enum"] == [s.value for s in AlertState]
    assert SCHEMAS["UpdateBody"]["additionalProperties"] is False


def test_every_reference_resolves_and_every_body_has_a_schema() -> None:
    text = json.dumps(OPENAPI)
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs and refs <= set(SCHEMAS)
    operations = [op for item in OPENAPI["paths"].values() for op in item.values()]
    for operation in operations:
        for status, answer in operation["responses"].items():
            assert answer["description"], status
        body = operation.get("requestBody")
        if body is not None:
            assert all("schema" in media for media in body["content"].values())


def test_errors_are_described_with_the_one_shape() -> None:
    chat = OPENAPI["paths"]["/api/chat"]["post"]["responses"]
    assert {"200", "400", "413", "429"} <= set(chat)
    assert chat["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(SCHEMAS["ErrorBody"]["required"]) == {"error", "message"}
    alert = OPENAPI["paths"]["/api/alerts"]["post"]["responses"]
    assert {"202", "400", "401", "403", "409", "413", "415", "422"} <= set(alert)
    assert "message_en" in SCHEMAS["AlertErrorBody"]["properties"]
