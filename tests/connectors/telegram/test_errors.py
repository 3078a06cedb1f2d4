"""The one mapping of Bot API answers to our errors (connectors/telegram/errors.py): each documented error
→ its ``PublishError``, the same answers as the Bot API double gives them, and no other module reading
Telegram's descriptions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broadcasts.publishers import EditImpossible, PublishError, RecipientGone, Rejected, RetryAfter, Transient
from connectors.telegram.errors import TokenRejected, api_error
from connectors.telegram.transport import WireTransport
from tests.fakes.telegram_api import FakeTelegramAPI

PACKAGE = Path(__file__).resolve().parents[3] / "connectors" / "telegram"


def answer(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


CASES: list[tuple[str, int, Any, type[PublishError] | None]] = [
    ("sendMessage", 429, answer(429, "Too Many Requests: retry after 7", retry_after=7), RetryAfter),
    ("sendMessage", 500, answer(500, "Internal Server Error"), Transient),
    ("sendMessage", 502, None, Transient),  # a proxy's HTML page: no JSON
    ("sendMessage", 504, answer(504, "Gateway Timeout"), Transient),
    ("getUpdates", 409, answer(409, "Conflict: terminated by other getUpdates request"), Transient),
    ("getMe", 401, answer(401, "Unauthorized"), TokenRejected),
    ("getMe", 404, answer(404, "Not Found"), TokenRejected),
    ("sendMessage", 403, answer(403, "Forbidden: bot was blocked by the user"), RecipientGone),
    ("sendMessage", 403, answer(403, "Forbidden: bot was kicked from the group chat"), RecipientGone),
    ("sendMessage", 403, answer(403, "Forbidden: user is deactivated"), RecipientGone),
    (
        "sendMessage",
        403,
        answer(403, "Forbidden: bot can't initiate conversation with a user"),
        RecipientGone,
    ),
    ("sendMessage", 400, answer(400, "Bad Request: chat not found"), RecipientGone),
    (
        "sendMessage",
        400,
        answer(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001),
        RecipientGone,
    ),
    ("editMessageText", 400, answer(400, "Bad Request: message is not modified: specified new ..."), None),
    ("editMessageText", 400, answer(400, "Bad Request: message to edit not found"), EditImpossible),
    ("editMessageText", 400, answer(400, "Bad Request: message can't be edited"), EditImpossible),
    ("deleteMessage", 400, answer(400, "Bad Request: message to delete not found"), EditImpossible),
    ("deleteMessage", 400, answer(400, "Bad Request: message can't be deleted for everyone"), EditImpossible),
    ("sendMessage", 400, answer(400, "Bad Request: can't parse entities: Unsupported start tag"), Rejected),
    ("sendMessage", 400, answer(400, "Bad Request: message is too long"), Rejected),
    ("sendMessage", 400, answer(400, "Bad Request: BUTTON_DATA_INVALID"), Rejected),
    (
        "answerCallbackQuery",
        400,
        answer(400, "Bad Request: query is too old and response timeout expired"),
        Rejected,
    ),
]


# by index: tests/conftest.py hashes parameter values, and the bodies are dicts
@pytest.mark.parametrize(
    "case", range(len(CASES)), ids=[f"{c[0]}-{c[1]}-{c[3] and c[3].__name__}" for c in CASES]
)
def test_each_documented_bot_api_error_maps_to_one_of_ours(case: int) -> None:
    method, status, body, expected = CASES[case]
    error = api_error(method, status, body)
    if expected is None:
        assert error is None
        return
    assert type(error) is expected
    assert str(error).startswith(method)  # says which call failed; never the token or a message text


def test_retry_after_carries_the_wait() -> None:
    error = api_error("sendMessage", 429, answer(429, "Too Many Requests: retry after 7", retry_after=7))
    assert isinstance(error, RetryAfter) and error.seconds == 7.0
    bare = api_error("sendMessage", 429, answer(429, "Too Many Requests"))
    assert isinstance(bare, RetryAfter) and bare.seconds == 1.0


def test_not_modified_is_only_forgiven_for_edits() -> None:
    assert (
        type(api_error("sendMessage", 400, answer(400, "Bad Request: message is not modified"))) is Rejected
    )


def test_only_the_mapping_reads_telegrams_descriptions() -> None:
    readers = []
    for path in PACKAGE.glob("*.py"):
        if path.name == "errors.py":
            continue
        source = path.read_text(encoding="utf-8")
        if re.search(r"""["']description["']|can.t be edited|not modified|blocked by the user""", source):
            readers.append(path.name)
    assert readers == []


@pytest.fixture
async def double() -> AsyncIterator[tuple[FakeTelegramAPI, WireTransport]]:
    fake = FakeTelegramAPI()
    await fake.start()
    transport = WireTransport(fake.url, fake.token, timeout=2.0)
    yield fake, transport
    await transport.close()
    await fake.stop()


async def test_the_doubles_answers_map_like_telegrams(
    double: tuple[FakeTelegramAPI, WireTransport],
) -> None:
    fake, transport = double

    async def error(method: str, **params: Any) -> PublishError | None:
        status, body = await transport.post(method, params)
        assert body["ok"] is False
        return api_error(method, status, body)

    status, body = await transport.post("sendMessage", {"chat_id": 5, "text": "Hallo"})
    message_id = body["result"]["message_id"]
    assert await error("editMessageText", chat_id=5, message_id=message_id, text="Hallo") is None
    assert type(await error("editMessageText", chat_id=5, message_id=999, text="x")) is EditImpossible
    assert type(await error("deleteMessage", chat_id=5, message_id=999)) is EditImpossible
    assert type(await error("sendMessage", chat_id=5, text="a < b", parse_mode="HTML")) is Rejected
    fake.block(6)
    assert type(await error("sendMessage", chat_id=6, text="Hallo")) is RecipientGone
    fake.throttle_next(1, retry_after=3, method="sendMessage")
    throttled = await error("sendMessage", chat_id=7, text="Hallo")
    assert isinstance(throttled, RetryAfter) and throttled.seconds == 3.0
    fake.fail_next(1, status=502, description="Bad Gateway", method="sendMessage")
    assert type(await error("sendMessage", chat_id=7, text="Hallo")) is Transient
    wrong = WireTransport(fake.url, "999:wrong", timeout=2.0)
    status, body = await wrong.post("getMe", {})
    await wrong.close()
    assert type(api_error("getMe", status, body)) is TokenRejected


async def test_no_answer_is_transient_and_the_url_is_not_in_the_error() -> None:
    transport = WireTransport("http://127.0.0.1:9", "123:SECRET", timeout=1.0)
    with pytest.raises(Transient) as caught:
        await transport.post("sendMessage", {"chat_id": 1, "text": "x"})
    assert "SECRET" not in str(caught.value) and str(caught.value).startswith("sendMessage")
