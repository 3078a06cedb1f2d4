"""The Bot API double itself: documented shapes, errors and limits, also as python-telegram-bot sees them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter

from tests.fakes.telegram_api import FakeTelegramAPI, html_to_plain

# PTB 22 itself warns that RetryAfter.retry_after becomes a timedelta.
pytestmark = [
    pytest.mark.functional,  # the double itself, over real sockets and its real time windows
    pytest.mark.filterwarnings("ignore:.*attribute `retry_after` will be of type"),
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, fake: FakeTelegramAPI, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{fake.api_base}/{method}", json=params) as response:
        return response.status, dict(await response.json())


async def test_get_me_wrong_token_and_unknown_method(
    fake: FakeTelegramAPI, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, fake, "getMe")
    assert status == 200 and body["ok"] is True
    assert body["result"]["is_bot"] is True and body["result"]["username"] == fake.username
    async with http.post(f"{fake.url}/bot999:wrong/getMe") as response:
        assert response.status == 401
        assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    status, body = await call(http, fake, "sendTelepathy")
    assert status == 404 and body["description"] == "Not Found"
    # method names are case-insensitive, like Telegram's
    status, _ = await call(http, fake, "getme")
    assert status == 200 and fake.calls["getMe"] == 2


async def test_send_message_shape_and_recording(fake: FakeTelegramAPI, http: aiohttp.ClientSession) -> None:
    markup = {"inline_keyboard": [[{"text": "Online", "url": "https://www.koblenz.de/"}]]}
    status, body = await call(
        http,
        fake,
        "sendMessage",
        chat_id=42,
        text="<b>Reisepass</b> &amp; mehr",
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert status == 200
    message = body["result"]
    assert message["message_id"] == 1 and message["chat"] == {
        "id": 42,
        "type": "private",
        "first_name": "Bürgerin",
    }
    assert message["text"] == "Reisepass & mehr" and isinstance(message["date"], int)
    assert message["reply_markup"] == markup
    [sent] = fake.messages_to(42)
    assert sent.plain == "Reisepass & mehr" and sent.reply_markup == markup and sent.parse_mode == "HTML"


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"text": "a < b", "parse_mode": "HTML"}, "can't parse entities"),
        ({"text": "<b>offen", "parse_mode": "HTML"}, "Can't find end tag"),
        ({"text": "Tom & Jerry", "parse_mode": "HTML"}, "Character '&' is reserved"),
        ({"text": "ende.", "parse_mode": "MarkdownV2"}, "Character '.' is reserved"),
        ({"text": "x" * 4097}, "message is too long"),
        ({"text": "   "}, "message text is empty"),
        (
            {"text": "Hallo", "reply_markup": {"inline_keyboard": [[{"text": "Anrufen", "url": "tel:115"}]]}},
            "Unsupported URL protocol",
        ),
        (
            {
                "text": "Hallo",
                "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]},
            },
            "BUTTON_DATA_INVALID",
        ),
    ],
)
async def test_send_message_rejects_what_telegram_rejects(
    fake: FakeTelegramAPI, http: aiohttp.ClientSession, params: dict[str, Any], description: str
) -> None:
    status, body = await call(http, fake, "sendMessage", chat_id=7, **params)
    assert status == 400 and body["ok"] is False and body["error_code"] == 400
    assert description in body["description"]
    assert fake.sent == []


def test_html_parsing_counts_visible_characters() -> None:
    assert html_to_plain("&lt;b&gt; <i>kursiv</i> &#228;&#x1F600;") == "<b> kursiv ä😀"
    assert len(html_to_plain("<b>" + "x" * 4096 + "</b>")) == 4096


async def test_get_updates_offsets_limit_and_allowed_updates(
    fake: FakeTelegramAPI, http: aiohttp.ClientSession
) -> None:
    first = fake.enqueue_message(5, "eins")
    fake.enqueue_message(5, "zwei")
    fake.enqueue_callback(5, "svc:x:fees", message_id=1)
    _status, body = await call(http, fake, "getUpdates", limit=2)
    assert [u["update_id"] for u in body["result"]] == [first, first + 1]
    assert body["result"][0]["message"]["text"] == "eins"
    # without a higher offset nothing is confirmed
    _status, body = await call(http, fake, "getUpdates")
    assert len(body["result"]) == 3
    _status, body = await call(http, fake, "getUpdates", offset=first + 2, allowed_updates=["message"])
    assert body["result"] == []  # the callback query is filtered out and dropped
    fake.enqueue_message(5, "drei")
    fake.enqueue_message(5, "vier")
    _status, body = await call(http, fake, "getUpdates", offset=-1)
    assert [u["message"]["text"] for u in body["result"]] == ["vier"]


async def test_long_polling_waits_for_an_update_or_the_timeout(
    fake: FakeTelegramAPI, http: aiohttp.ClientSession
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    _status, body = await call(http, fake, "getUpdates", timeout=1)
    assert body["result"] == [] and loop.time() - started >= 0.9
    poll = asyncio.create_task(call(http, fake, "getUpdates", timeout=20))
    await asyncio.sleep(0.2)
    fake.enqueue_message(9, "Hallo")
    _status, body = await asyncio.wait_for(poll, 5)
    assert body["result"][0]["message"]["text"] == "Hallo"


async def test_conflicts_between_pollers_and_with_a_webhook(
    fake: FakeTelegramAPI, http: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(call(http, fake, "getUpdates", timeout=20))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(call(http, fake, "getUpdates", timeout=1))
    status, body = await asyncio.wait_for(first, 5)
    assert status == 409 and "terminated by other getUpdates request" in body["description"]
    await second
    assert (await call(http, fake, "setWebhook", url="http://127.0.0.1:9/hook"))[0] == 200
    status, body = await call(http, fake, "getUpdates")
    assert status == 409 and "webhook is active" in body["description"]
    assert (await call(http, fake, "deleteWebhook"))[0] == 200
    assert (await call(http, fake, "getUpdates"))[0] == 200


async def test_private_chat_limit_answers_429_with_retry_after(
    fake: FakeTelegramAPI, http: aiohttp.ClientSession
) -> None:
    assert (await call(http, fake, "sendMessage", chat_id=1, text="a"))[0] == 200
    status, body = await call(http, fake, "sendMessage", chat_id=1, text="b")
    assert status == 429 and body["parameters"]["retry_after"] == 1
    assert body["description"] == "Too Many Requests: retry after 1"
    assert fake.rate_limited == 1 and [v.kind for v in fake.violations] == ["private_chat"]
    assert (await call(http, fake, "sendMessage", chat_id=2, text="c"))[0] == 200  # other chats are free
    await asyncio.sleep(1.05)
    assert (await call(http, fake, "sendMessage", chat_id=1, text="b"))[0] == 200


async def test_group_and_overall_limits() -> None:
    fake = FakeTelegramAPI(per_second=5, group_per_minute=3)
    await fake.start()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                assert (await call(http, fake, "sendMessage", chat_id=-100, text="x"))[0] == 200
            status, body = await call(http, fake, "sendMessage", chat_id=-100, text="x")
            assert status == 429 and body["parameters"]["retry_after"] >= 59
            await asyncio.sleep(1.05)
            statuses = [
                (await call(http, fake, "sendMessage", chat_id=c, text="x"))[0] for c in range(10, 16)
            ]
            assert statuses == [200] * 5 + [429]
            assert {v.kind for v in fake.violations} == {"group", "overall"}
    finally:
        await fake.stop()


async def test_limits_can_be_recorded_without_enforcing() -> None:
    fake = FakeTelegramAPI(enforce_limits=False)
    await fake.start()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                assert (await call(http, fake, "sendMessage", chat_id=3, text="x"))[0] == 200
        assert len(fake.violations) == 2 and fake.rate_limited == 0
    finally:
        await fake.stop()


async def test_fault_injection(fake: FakeTelegramAPI, http: aiohttp.ClientSession) -> None:
    fake.fail_next(2, status=502, description="Bad Gateway")
    assert [(await call(http, fake, "getMe"))[0] for _ in range(3)] == [502, 502, 200]
    fake.throttle_next(1, retry_after=7)
    status, body = await call(http, fake, "getMe")
    assert status == 429 and body["parameters"] == {"retry_after": 7}
    fake.block(77)
    status, body = await call(http, fake, "sendMessage", chat_id=77, text="Hallo")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    assert fake.forbidden == 1 and fake.server_errors == 2
    fake.set_delay(0.5, "getMe")
    with pytest.raises(TimeoutError):
        async with http.post(f"{fake.api_base}/getMe", timeout=aiohttp.ClientTimeout(total=0.1)):
            pass


async def test_edit_delete_and_callback_errors(fake: FakeTelegramAPI, http: aiohttp.ClientSession) -> None:
    await call(http, fake, "sendMessage", chat_id=4, text="alt")
    status, body = await call(http, fake, "editMessageText", chat_id=4, message_id=1, text="alt")
    assert status == 400 and body["description"].startswith("Bad Request: message is not modified")
    status, body = await call(http, fake, "editMessageText", chat_id=4, message_id=99, text="neu")
    assert status == 400 and body["description"] == "Bad Request: message to edit not found"
    assert (await call(http, fake, "editMessageText", chat_id=4, message_id=1, text="neu"))[0] == 200
    assert fake.current_text(4, 1) == "neu" and fake.edits[0].plain == "neu"
    assert (await call(http, fake, "deleteMessage", chat_id=4, message_id=1))[0] == 200
    status, body = await call(http, fake, "deleteMessage", chat_id=4, message_id=1)
    assert status == 400 and body["description"] == "Bad Request: message to delete not found"
    _update, query_id = fake.enqueue_callback(4, "x", message_id=1)
    assert fake.unanswered_callbacks == [query_id]
    assert (await call(http, fake, "answerCallbackQuery", callback_query_id=query_id))[0] == 200
    status, _ = await call(http, fake, "answerCallbackQuery", callback_query_id=query_id)
    assert status == 400 and fake.unanswered_callbacks == []


async def test_commands_and_webhook_delivery_with_secret(
    fake: FakeTelegramAPI, http: aiohttp.ClientSession
) -> None:
    status, body = await call(
        http, fake, "setMyCommands", commands=[{"command": "Start!", "description": "x"}]
    )
    assert status == 400 and body["description"] == "Bad Request: BOT_COMMAND_INVALID"
    commands = [{"command": "hilfe", "description": "Hilfe anzeigen"}]
    assert (await call(http, fake, "setMyCommands", commands=commands))[0] == 200
    assert fake.my_commands[("default", "")] == commands

    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        status, body = await call(
            http, fake, "setWebhook", url=f"http://127.0.0.1:{port}/hook", secret_token="a b"
        )
        assert status == 400 and "unallowed characters" in body["description"]
        hook_url = f"http://127.0.0.1:{port}/hook"
        assert (await call(http, fake, "setWebhook", url=hook_url, secret_token="s3cret"))[0] == 200
        fake.enqueue_message(11, "per Webhook")
        await fake.wait_for(lambda: bool(received))
        assert received[0][0] == "s3cret" and received[0][1]["message"]["text"] == "per Webhook"
        assert fake.pending_updates == 0
        _status, body = await call(http, fake, "getWebhookInfo")
        assert body["result"]["url"] == hook_url
    finally:
        await runner.cleanup()


async def test_python_telegram_bot_talks_to_the_double(fake: FakeTelegramAPI) -> None:
    """Form-encoded parameters and error mapping as PTB sends and reads them."""
    bot = Bot(fake.token, base_url=f"{fake.url}/bot")
    async with bot:
        assert bot.username == fake.username
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Kosten", callback_data="svc:reisepass:fees")]]
        )
        message = await bot.send_message(21, "<b>Reisepass</b>", parse_mode="HTML", reply_markup=keyboard)
        assert message.text == "Reisepass" and message.chat.id == 21
        assert fake.sent[0].reply_markup == {
            "inline_keyboard": [[{"text": "Kosten", "callback_data": "svc:reisepass:fees"}]]
        }
        with pytest.raises(RetryAfter) as retry:
            await bot.send_message(21, "gleich nochmal")
        with warnings.catch_warnings():  # an int today, a timedelta with PTB_TIMEDELTA=1
            warnings.simplefilter("ignore")
            waited = retry.value.retry_after
        assert waited in (1, dt.timedelta(seconds=1))
        fake.block(22)
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(22, "Hallo")
        with pytest.raises(BadRequest, match=r"(?i)unsupported url protocol"):
            await bot.send_message(
                23, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("115", url="tel:115")]])
            )
        update_id = fake.enqueue_message(24, "/start reisepass")
        [update] = await bot.get_updates(offset=update_id, timeout=1)
        assert update.message is not None and update.message.text == "/start reisepass"
        assert update.message.entities[0].type == "bot_command"
        assert await bot.set_my_commands([("start", "Start")]) is True
    assert json.loads(json.dumps(fake.stats()))["sent"] == 1
