"""The alert API's errors and short JSON bodies (broadcasts/api.py): one tree below BroadcastError,
answered by core.http.error_middleware like every other error (WWW-Authenticate on 401)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from broadcasts import BroadcastError, InvalidState, NotFound, TextTooLong
from broadcasts.api import CancelBody, ForbiddenSender, Unauthorized, UnsupportedMediaType, UpdateBody
from broadcasts.cap import CapError, CapTooLarge
from core import BadRequest, KoblenzError
from core.bodies import parse_body
from core.http import error_middleware


async def answer(exc: Exception) -> tuple[int, dict[str, str], dict[str, Any]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise exc

    response = await error_middleware(make_mocked_request("POST", "/api/alerts"), handler)
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    return response.status, dict(response.headers), json.loads(response.body)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (Unauthorized("Bitte melden Sie sich an."), 401, "unauthorized"),
        (ForbiddenSender("Nicht erlaubt."), 403, "forbidden_sender"),
        (UnsupportedMediaType("Bitte CAP."), 415, "unsupported_media_type"),
        (InvalidState("Schon beendet."), 409, "conflict"),
        (NotFound("Gibt es nicht."), 404, "not_found"),
        (TextTooLong("Telegram", 5000, 4096), 422, "text_too_long"),
        (CapTooLarge("Zu groß.", "too large"), 413, "cap_too_large"),
    ],
)
async def test_every_error_has_its_status_and_code(error: BroadcastError, status: int, code: str) -> None:
    assert isinstance(error, BroadcastError) and isinstance(error, KoblenzError)
    got, headers, body = await answer(error)
    assert (got, body["error"], body["message"]) == (status, code, error.message)
    assert ("WWW-Authenticate" in headers) == (status == 401)
    assert "www_authenticate" not in body


async def test_unauthorized_names_the_realm_every_time() -> None:
    error = Unauthorized("Falscher Schlüssel.")
    for _ in range(2):  # the header comes from the error, not from a one-off mutation of it
        _status, headers, _body = await answer(error)
        assert headers["WWW-Authenticate"] == 'Bearer realm="koblenz-alerts"'


async def test_text_too_long_and_cap_errors_carry_their_details() -> None:
    _s, _h, body = await answer(TextTooLong("Telegram", 5000, 4096))
    assert (body["channel"], body["limit"]) == ("Telegram", 4096)
    error = CapTooLarge("Zu groß.", "too large", element="alert", line=3)
    assert isinstance(error, CapError)
    _s, _h, body = await answer(error)
    assert body == {
        "error": "cap_too_large",
        "message": "Zu groß.",
        "message_en": "too large",
        "element": "alert",
        "line": 3,
    }


def test_the_short_update_and_cancel_bodies() -> None:
    update = parse_body(UpdateBody, {"headline": "Neu", "stadtteile": ["Güls"], "correction": True})
    assert update.correction is True and update.stadtteile == ["Güls"]
    assert parse_body(UpdateBody, {"stadtteile": "Güls; Lay"}).stadtteile == "Güls; Lay"
    assert parse_body(CancelBody, {}).hinweis is None
    for bad, field in (
        ({"headline": 3}, "headline"),
        ({"farbe": "rot"}, "farbe"),
        ({"hinweis": []}, "hinweis"),
    ):
        model = CancelBody if field == "hinweis" else UpdateBody
        with pytest.raises(BadRequest) as info:
            parse_body(model, bad)
        assert (info.value.status, info.value.code) == (422, "invalid")
        assert f"„{field}“" in info.value.message
