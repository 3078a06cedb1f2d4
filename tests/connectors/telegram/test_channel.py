"""The Telegram channel end to end: the bot's own aiohttp app with the channel polling the Bot API double,
the real Rasa server where citizens write free text, SQLite and PostgreSQL where data is stored."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.web import create_app
from bot.events import Bullets, Link, Paragraph, QuickReply, Reply, Title
from bot.models import Conversation
from broadcasts.api import SERVICE
from broadcasts.cap import to_cap_xml
from broadcasts.subscribers import Subscriber, deactivate, subscribe, subscriptions_of
from connectors.telegram import TELEGRAM, TelegramChannel
from connectors.telegram.client import TelegramClient, open_client
from connectors.telegram.render import render, split_text, to_html, utf16_len
from core.db import create_engine, sessionmaker
from core.keys import ENGINE
from core.net import free_port
from core.time import utcnow
from tests import broadcasting as h
from tests.conftest import make_settings
from tests.fakes.telegram_api import FakeTelegramAPI, SentMessage

pytestmark = pytest.mark.functional

StartBot = Callable[..., Awaitable[tuple[TelegramChannel, TestClient]]]


@contextlib.asynccontextmanager
async def client_for(fake: FakeTelegramAPI, tmp_path: Path) -> AsyncIterator[TelegramClient]:
    """The bot token's one client as the composition root opens it (its own budget at TELEGRAM_RATE)."""
    settings = make_settings(tmp_path, telegram_token=fake.token, telegram_api_url=fake.url)
    async with open_client(settings) as client:
        yield client


async def deliver(client: TelegramClient, chat_id: int, messages: list[Any]) -> None:
    """A reply's messages, in order, as the channel sends them."""
    for message in messages:
        await client.send_message(chat_id, message.html, parse_mode="HTML", reply_markup=message.keyboard)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def start_bot(aiohttp_client: Any, tmp_path: Path, fake: FakeTelegramAPI) -> StartBot:
    async def start(
        rasa: str = "http://127.0.0.1:9", server_kwargs: dict[str, Any] | None = None, **overrides: Any
    ) -> tuple[TelegramChannel, TestClient]:
        settings = make_settings(
            tmp_path,
            rasa_url=rasa,
            rasa_timeout=5,
            telegram_token=fake.token,
            telegram_api_url=fake.url,
            telegram_poll_timeout=1,
            **overrides,
        )
        client = await aiohttp_client(create_app(settings), server_kwargs=server_kwargs or {})
        channel = client.server.app[TELEGRAM]
        await asyncio.wait_for(channel.ready.wait(), 15)
        return channel, client

    return start


def new_chat() -> int:
    return random.randint(10**6, 10**9)


async def say(fake: FakeTelegramAPI, chat_id: int, text: str, **kwargs: Any) -> SentMessage:
    """A citizen writes; wait for the bot's answer (the next message in that chat)."""
    before = len(fake.messages_to(chat_id))
    fake.enqueue_message(chat_id, text, **kwargs)
    return (await fake.wait_for_messages(chat_id, before + 1, timeout=20))[before]


async def press(fake: FakeTelegramAPI, chat_id: int, label: str) -> None:
    """Press a button and wait until the bot has answered the callback query."""
    _update, query_id = fake.click(chat_id, label)
    await fake.wait_for(lambda: query_id not in fake.unanswered_callbacks and query_id in _answered(fake))


def _answered(fake: FakeTelegramAPI) -> set[str]:
    return {str(answer.get("callback_query_id")) for answer in fake.callback_answers}


def labels(message: SentMessage) -> list[str]:
    return [str(b["text"]) for b in FakeTelegramAPI.buttons(message)]


async def stored_subscriptions(database_url: str, chat_id: int) -> dict[str, list[str]]:
    engine = create_engine(database_url)
    try:
        return await subscriptions_of(sessionmaker(engine), "telegram", str(chat_id))
    finally:
        await engine.dispose()


# -- chat --------------------------------------------------------------------------------------------


@pytest.mark.rasa
async def test_citizen_asks_and_gets_the_card_with_url_buttons(
    start_bot: StartBot, fake: FakeTelegramAPI, rasa_url: str
) -> None:
    channel, _client = await start_bot(rasa_url)
    chat = new_chat()
    answer = await say(fake, chat, "Was kostet ein Reisepass?")
    assert answer.parse_mode == "HTML" and "<b>Reisepass" in answer.text
    assert "kostet" in answer.plain
    buttons = FakeTelegramAPI.buttons(answer)
    urls = [b["url"] for b in buttons if "url" in b]
    assert urls and all(url.startswith("https://") for url in urls)
    assert any(b.get("callback_data", "").startswith("svc:reisepass:") for b in buttons)
    # a callback button: answered, and the next aspect comes as a new message
    await press(fake, chat, "Unterlagen")
    documents = (await fake.wait_for_messages(chat, 2))[1]
    assert "Bitte bringen Sie mit" in documents.plain
    assert fake.unanswered_callbacks == []
    assert fake.violations == [] and channel.stats["errors"] == 0


async def test_commands_are_registered_in_german(start_bot: StartBot, fake: FakeTelegramAPI) -> None:
    await start_bot()
    commands = fake.my_commands[("default", "")]
    assert [c["command"] for c in commands] == ["start", "hilfe", "abo", "meine", "stop", "datenschutz"]
    assert all(c["description"] and c["description"][0].isupper() for c in commands)
    assert fake.calls["deleteWebhook"] == 1  # polling mode makes sure no webhook blocks getUpdates


async def test_start_with_a_service_payload_and_other_commands(
    start_bot: StartBot, fake: FakeTelegramAPI
) -> None:
    await start_bot()
    chat = new_chat()
    card = await say(fake, chat, "/start reisepass")
    assert "<b>Reisepass beantragen</b>" in card.text and any(
        "url" in b for b in FakeTelegramAPI.buttons(card)
    )
    welcome = await say(fake, chat, "/start")
    assert "digitale Assistent der Stadt Koblenz" in welcome.plain and "Personalausweis" in labels(welcome)
    unknown = await say(fake, chat, "/start gibt-es-nicht")
    assert "kenne ich leider nicht" in unknown.plain
    privacy = await say(fake, chat, "/datenschutz")
    assert "Chat-ID" in privacy.plain and "30 Tage" in privacy.plain
    assert "/abo" in (await say(fake, chat, "/hilfe")).plain
    assert "Befehl kenne ich nicht" in (await say(fake, chat, "/quatsch")).plain


# -- subscriptions -----------------------------------------------------------------------------------


async def test_subscribe_by_buttons_with_stadtteile_and_remove(
    start_bot: StartBot, fake: FakeTelegramAPI, database_url: str
) -> None:
    await start_bot(database_url=database_url)
    chat = new_chat()
    menu = await say(fake, chat, "/abo")
    assert labels(menu)[:5] == ["Warnungen", "Gesundheit", "Pressemitteilungen", "Verkehr", "Veranstaltungen"]
    await press(fake, chat, "Warnungen")
    assert "Für welche Stadtteile" in (fake.current_text(chat, menu.message_id) or "")
    await press(fake, chat, "Güls")
    await press(fake, chat, "Weiter ▶")
    await press(fake, chat, "Metternich")
    await press(fake, chat, "Übernehmen (2 gewählt)")
    assert await stored_subscriptions(database_url, chat) == {"warnungen": ["Güls", "Metternich"]}
    assert "Warnungen – Güls, Metternich" in (fake.current_text(chat, menu.message_id) or "")
    # a topic without Stadtteil filter, confirmed
    await press(fake, chat, "Weiteres Thema abonnieren")
    await press(fake, chat, "Pressemitteilungen")
    await press(fake, chat, "Ja, abonnieren")
    assert set(await stored_subscriptions(database_url, chat)) == {"warnungen", "presse"}
    mine = await say(fake, chat, "/meine")
    assert "Warnungen – Güls, Metternich" in mine.plain and "Pressemitteilungen" in mine.plain
    await press(fake, chat, "✖ Warnungen abbestellen")
    assert await stored_subscriptions(database_url, chat) == {"presse": []}
    assert fake.unanswered_callbacks == [] and all(len(b) <= 64 for b in _callback_data(fake))
    assert fake.violations == []


def _callback_data(fake: FakeTelegramAPI) -> list[bytes]:
    return [
        str(b["callback_data"]).encode()
        for m in [*fake.sent, *fake.edits]
        for b in FakeTelegramAPI.buttons(m)
        if "callback_data" in b
    ]


async def test_deep_link_starts_the_subscription_flow(start_bot: StartBot, fake: FakeTelegramAPI) -> None:
    await start_bot()
    chat = new_chat()
    flow = await say(fake, chat, "/start abo-verkehr")
    assert flow.plain.startswith("Verkehr: Für welche Stadtteile?") and "Ganz Koblenz" in labels(flow)
    await press(fake, chat, "Ganz Koblenz")
    assert "Verkehr – ganz Koblenz" in (fake.current_text(chat, flow.message_id) or "")


@pytest.mark.rasa
async def test_subscribe_and_unsubscribe_by_sentence(
    start_bot: StartBot, fake: FakeTelegramAPI, rasa_url: str, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    await start_bot(rasa_url)
    chat = new_chat()
    confirmation = await say(fake, chat, "Ich will Hochwasserwarnungen für Güls")
    assert await stored_subscriptions(database_url, chat) == {"warnungen": ["Güls"]}
    assert "Erledigt" in confirmation.plain and "Warnungen – Güls" in confirmation.plain
    assert {"Stadtteile ändern", "✖ Warnungen abbestellen"} <= set(labels(confirmation))
    await say(fake, chat, "Bitte informiere mich über Straßensperrungen in Metternich")
    assert await stored_subscriptions(database_url, chat) == {
        "warnungen": ["Güls"],
        "verkehr": ["Metternich"],
    }
    done = await say(fake, chat, "Warnungen abbestellen")
    assert "abbestellt: Warnungen" in done.plain
    assert await stored_subscriptions(database_url, chat) == {"verkehr": ["Metternich"]}


@pytest.mark.rasa
async def test_stop_deletes_subscriber_and_conversation(
    start_bot: StartBot, fake: FakeTelegramAPI, rasa_url: str, database_url: str
) -> None:
    channel, _client = await start_bot(rasa_url, database_url=database_url)
    chat = new_chat()
    await say(fake, chat, "Was kostet ein Reisepass?")
    await say(fake, chat, "/abo")
    await press(fake, chat, "Gesundheit")
    await press(fake, chat, "Ja, abonnieren")
    conversation_id = channel.chat.conversation_id("telegram", str(chat))
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    try:
        async with sessions() as session:
            assert await session.get(Conversation, conversation_id) is not None
        assert await subscriptions_of(sessions, "telegram", str(chat)) == {"gesundheit": []}
        answer = await say(fake, chat, "/stop")
        assert "Alle Ihre Abos sind beendet" in answer.plain
        async with sessions() as session:
            assert await session.get(Conversation, conversation_id) is None
            assert (
                await session.scalars(select(Subscriber).where(Subscriber.chat_id == str(chat)))
            ).all() == []
        again = await say(fake, chat, "/stop")
        assert "nichts zu löschen" in again.plain
    finally:
        await engine.dispose()


async def test_blocked_bot_deactivates_the_subscriber(
    start_bot: StartBot, fake: FakeTelegramAPI, database_url: str
) -> None:
    await start_bot(database_url=database_url)
    chat = new_chat()
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    try:
        await subscribe(sessions, "telegram", str(chat), "warnungen", ["Lützel"])
        fake.block(chat)
        fake.enqueue_message(chat, "/hilfe")
        await fake.wait_for(lambda: fake.forbidden == 1)

        async def deactivated() -> bool:
            async with sessions() as session:
                row = await session.scalar(select(Subscriber).where(Subscriber.chat_id == str(chat)))
                return row is not None and not row.active and row.deactivated_at is not None

        for _ in range(50):
            if await deactivated():
                break
            await asyncio.sleep(0.1)
        assert await deactivated()
    finally:
        await engine.dispose()


async def test_blocked_chats_are_deleted_after_the_retention_period(
    start_bot: StartBot, database_url: str
) -> None:
    channel, _client = await start_bot(database_url=database_url)
    old, recent = new_chat(), new_chat()
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    try:
        for chat in (old, recent):
            await subscribe(sessions, "telegram", str(chat), "presse")
            await deactivate(sessions, "telegram", str(chat))
        async with sessions.begin() as session:
            row = await session.scalar(select(Subscriber).where(Subscriber.chat_id == str(old)))
            assert row is not None
            row.deactivated_at = utcnow() - dt.timedelta(days=31)
        assert await channel.purge_blocked() >= 1
        async with sessions() as session:
            left = set((await session.scalars(select(Subscriber.chat_id))).all())
        assert str(old) not in left and str(recent) in left
    finally:
        await engine.dispose()


# -- robustness --------------------------------------------------------------------------------------


async def test_malformed_updates_are_logged_and_skipped(
    start_bot: StartBot, fake: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    channel, _client = await start_bot()
    chat = new_chat()
    caplog.set_level(logging.INFO, logger="connectors.telegram")
    fake.enqueue_raw({"message": {"text": "ohne alles"}})  # no message_id, date, chat
    fake.enqueue_raw({"message": {"message_id": 1, "date": 1, "text": "ohne Chat"}})
    fake.enqueue_raw({"message": "nur ein Text"})
    fake.enqueue_raw({"brand_new_update_type": {"x": 1}})
    fake.enqueue_raw({"callback_query": {"data": "svc:reisepass:fees"}})
    fake.enqueue_raw("kein Objekt", with_id=False)
    fake.enqueue_raw(
        {"message": {"message_id": 2, "date": 1, "chat": {"id": chat, "type": "private"}}}, with_id=False
    )
    fake.enqueue_raw(
        {
            "message": {
                "message_id": 3,
                "date": 1,
                "chat": {"id": chat, "type": "private"},
                "text": "x" * 100_000,
            }
        }
    )
    answer = await say(fake, chat, "/hilfe")  # polling goes on
    assert "So nutzen Sie den Bot" in answer.plain
    assert len(fake.messages_to(chat)) == 1  # nothing answered the malformed ones
    assert channel.stats["skipped"] == 8 and channel.stats["errors"] == 0
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 8
    assert all("x" * 50 not in r.getMessage() for r in caplog.records)  # texts are never logged


async def test_group_chat_only_when_addressed_and_no_private_data(
    start_bot: StartBot, fake: FakeTelegramAPI, tmp_path: Path
) -> None:
    await start_bot()
    group, member = -100_200_300, 4242
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    await subscribe(sessionmaker(engine), "telegram", str(member), "warnungen", ["Immendorf"])
    await engine.dispose()
    fake.enqueue_message(group, "Was kostet ein Reisepass?", user_id=member)  # not addressed: silence
    addressed = await say(fake, group, f"@{fake.username} Was kostet ein Reisepass?", user_id=member)
    assert len(fake.messages_to(group)) == 1 and "Reisepass" in addressed.plain
    reply = await say(
        fake, group, "und was muss ich mitbringen?", user_id=member, reply_to=addressed.message_id
    )
    assert "Bitte bringen Sie mit" in reply.plain
    mine = await say(fake, group, "/meine", user_id=member)
    assert "privaten Chat" in mine.plain and "Immendorf" not in mine.plain
    assert [b.get("url", "").startswith("https://t.me/") for b in FakeTelegramAPI.buttons(mine)] == [True]
    assert all("Immendorf" not in m.plain for m in fake.messages_to(group))
    assert fake.violations == []  # 20 messages per minute per group respected


async def test_a_chat_writing_too_fast_gets_one_polite_note(
    start_bot: StartBot, fake: FakeTelegramAPI
) -> None:
    channel, _client = await start_bot(chat_rate_per_minute=2)
    chat = new_chat()
    for _ in range(5):
        fake.enqueue_message(chat, "/datenschutz")
    messages = await fake.wait_for_messages(chat, 3)
    await asyncio.sleep(1.5)  # nothing else may follow
    texts = [m.plain for m in fake.messages_to(chat)]
    assert sum("Datenschutz im Telegram-Bot" in t for t in texts) == 2
    assert sum("sehr schnell" in t for t in texts) == 1 and len(texts) == 3 == len(messages)
    assert channel.stats["rate_limited"] == 3


async def test_unreachable_or_rejecting_telegram_never_takes_the_web_chat_down(
    aiohttp_client: Any, tmp_path: Path, fake: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next(1, status=502, description="Bad Gateway", method="getMe")
    settings = make_settings(
        tmp_path, telegram_token=fake.token, telegram_api_url=fake.url, telegram_poll_timeout=1
    )
    client = await aiohttp_client(create_app(settings))
    channel = client.server.app[TELEGRAM]
    assert (await client.get("/health")).status == 200  # the web side is up while Telegram is retried
    await asyncio.wait_for(channel.ready.wait(), 15)
    assert fake.calls["getMe"] == 2
    wrong = make_settings(
        tmp_path / "wrong", telegram_token="999:wrong", telegram_api_url=fake.url, telegram_poll_timeout=1
    )
    client = await aiohttp_client(create_app(wrong))
    await fake.wait_for(lambda: any("rejected" in r.getMessage() for r in caplog.records))
    assert not client.server.app[TELEGRAM].ready.is_set()
    assert (await client.get("/health")).status == 200
    assert all("999:wrong" not in r.getMessage() for r in caplog.records)  # the token is never logged


# -- webhook -----------------------------------------------------------------------------------------


async def test_webhook_checks_the_secret_and_processes_updates(
    start_bot: StartBot, fake: FakeTelegramAPI
) -> None:
    channel, client = await start_bot(telegram_mode="webhook", telegram_webhook_secret="s3cret-Token_1")
    chat = new_chat()
    update = {
        "update_id": 901,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": chat, "type": "private", "first_name": "Ann"},
            "from": {"id": chat, "is_bot": False, "first_name": "Ann"},
            "text": "/hilfe",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        response = await client.post("/webhooks/telegram", json=update, headers=headers)
        assert response.status == 403 and "nicht von Telegram" in (await response.json())["message"]
    assert fake.messages_to(chat) == []
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
    response = await client.post("/webhooks/telegram", json=update, headers=good)
    assert response.status == 200 and (await response.json())["accepted"] is True
    [answer] = await fake.wait_for_messages(chat)
    assert "So nutzen Sie den Bot" in answer.plain
    response = await client.post("/webhooks/telegram", data=b"{kaputt", headers=good)
    assert response.status == 400 and (await response.json())["message"]
    response = await client.post("/webhooks/telegram", json={"update_id": 902, "message": "x"}, headers=good)
    assert response.status == 200 and (await response.json())["accepted"] is False
    assert fake.calls["getUpdates"] == 0 and channel.stats["skipped"] == 1


async def test_webhook_registered_with_secret_and_delivered_by_telegram(
    start_bot: StartBot, fake: FakeTelegramAPI
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/telegram"
    await start_bot(
        server_kwargs={"port": port},
        telegram_mode="webhook",
        telegram_webhook_secret="abc-123",
        telegram_webhook_url=url,
    )
    assert (
        fake.webhook is not None and fake.webhook["url"] == url and fake.webhook["secret_token"] == "abc-123"
    )
    chat = new_chat()
    answer = await say(fake, chat, "/datenschutz")
    assert "Datenschutz" in answer.plain and fake.webhook_deliveries[-1][1] == 200


# -- rendering and sending ---------------------------------------------------------------------------


async def test_escaping_titles_with_markup_characters(fake: FakeTelegramAPI, tmp_path: Path) -> None:
    title = "Hunde_steuer *ermäßigt* <b>für</b> A & B"
    reply = Reply.of(
        (Title(title), Paragraph("Kosten: 5 < 10 € & mehr_als_nichts")),
        "service",
        links=(
            Link("Online beantragen", "https://www.koblenz.de/a_b?x=1&y=<2>", "online"),
            Link("Bürgeramt anrufen", "tel:+4926112900", "contact"),
            Link("E-Mail an das Bürgeramt", "mailto:buergeramt@stadt.koblenz.de", "contact"),
        ),
        quick_replies=(QuickReply("Kosten", "svc:hundesteuer:fees"),),
        notices=("⚠ Aktuelle Warnung: Hochwasser <Mosel>",),
    )
    [message] = render(reply)
    assert message.html.startswith("⚠ Aktuelle Warnung: Hochwasser &lt;Mosel&gt;")
    assert f"<b>{title.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</b>" in message.html
    async with client_for(fake, tmp_path) as client:
        await deliver(client, 55, [message])
    [sent] = fake.sent
    assert title in sent.plain and "5 < 10 € & mehr_als_nichts" in sent.plain
    assert "☎ Bürgeramt anrufen: +4926112900" in sent.plain
    assert "✉ E-Mail an das Bürgeramt: buergeramt@stadt.koblenz.de" in sent.plain
    buttons = FakeTelegramAPI.buttons(sent)
    assert [b.get("url") for b in buttons if "url" in b] == ["https://www.koblenz.de/a_b?x=1&y=<2>"]
    assert [b.get("callback_data") for b in buttons if "callback_data" in b] == ["svc:hundesteuer:fees"]


def test_contacts_already_in_the_text_are_not_repeated() -> None:
    reply = Reply(
        "So erreichen Sie uns: Telefon 0261 129-0 oder die Behördennummer 115.",
        "handoff",
        links=(Link("Rathaus anrufen", "tel:02611290", "contact"), Link("115 anrufen", "tel:115", "contact")),
    )
    [message] = render(reply)
    assert "☎" not in message.html and message.keyboard is None


async def test_long_replies_split_at_paragraphs_and_lines(fake: FakeTelegramAPI, tmp_path: Path) -> None:
    paragraphs = [f"Absatz {i}: " + ("Koblenz liegt an Rhein und Mosel. " * 30).strip() for i in range(12)]
    lines = "\n".join(f"• Zeile {i} mit Text_und*Zeichen <x>" for i in range(250))
    text = "Lange Antwort\n\n" + "\n\n".join(paragraphs) + "\n\n" + lines
    blocks = (Title("Lange Antwort"), *map(Paragraph, paragraphs), Bullets(tuple(lines[2:].split("\n• "))))
    reply = Reply.of(blocks, "service", quick_replies=(QuickReply("Kosten", "svc:x:fees"),))
    assert reply.text == text
    messages = render(reply)
    assert len(messages) >= 3 and messages[0].html.startswith("<b>Lange Antwort</b>\n\nAbsatz 0")
    assert [m.keyboard is not None for m in messages] == [False] * (len(messages) - 1) + [True]
    chunks = split_text(text)
    assert all(utf16_len(c) <= 4096 for c in chunks)
    assert all(c.startswith(("Lange", "Absatz", "• Zeile")) for c in chunks)  # clean boundaries
    assert "".join(c.replace("\n", "") for c in chunks) == text.replace("\n", "")
    async with client_for(fake, tmp_path) as client:
        await deliver(client, 77, messages)
    sent = fake.messages_to(77)
    assert len(sent) == len(messages) and fake.violations == []  # one message per second in a private chat
    assert "".join(m.plain.replace("\n", "") for m in sent) == text.replace("\n", "")
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]
    assert to_html("a_b*c") == "a_b*c"


async def test_sender_waits_out_429_and_retries_5xx(tmp_path: Path) -> None:
    fake = FakeTelegramAPI(per_second=30)
    await fake.start()
    try:
        async with client_for(fake, tmp_path) as client:
            fake.throttle_next(1, retry_after=1, method="sendMessage")
            fake.fail_next(2, status=502, description="Bad Gateway", method="sendMessage")
            [message] = render(Reply("Hallo", "smalltalk"))
            started = asyncio.get_running_loop().time()
            await deliver(client, 1, [message])
            assert asyncio.get_running_loop().time() - started >= 1.0
            assert len(fake.sent) == 1 and fake.rate_limited == 1 and fake.server_errors == 2
            # 60 chats at once: all delivered, paced below 30 messages per second (a loaded machine may
            # delay a request or two so that the double sees them bunched; the sender then waits them out)
            await asyncio.gather(*(deliver(client, 1000 + i, [message]) for i in range(60)))
            assert len(fake.sent) == 61 and len(fake.violations) <= 2
    finally:
        await fake.stop()


async def test_chat_replies_and_an_alert_share_the_bot_tokens_budget(
    start_bot: StartBot, fake: FakeTelegramAPI, database_url: str
) -> None:
    """The chat channel and the outbox worker send with the same token: together they stay within
    Telegram's 30 messages per second, not 30 each (before, a fan-out plus busy chat drew 429s).
    On PostgreSQL the shared limiter is the one row every worker process uses."""
    _channel, client = await start_bot(database_url=database_url)
    app = client.server.app
    subscribers = [new_chat() for _ in range(90)]
    await h.add_subscribers(app[ENGINE], subscribers)
    alert = h.cap_alert("koblenz-shared-budget-1", "Bombenentschärfung in der Altstadt")
    await app[SERVICE].submit_alert(h.FIRE, alert, to_cap_xml(alert).decode())
    await fake.wait_for(lambda: any(fake.messages_to(s) for s in subscribers), timeout=20)  # fan-out running
    citizens = [new_chat() for _ in range(45)]
    for chat in citizens:
        fake.enqueue_message(chat, "Was kostet ein Reisepass?")
    everyone = subscribers + citizens
    await fake.wait_for(lambda: all(fake.messages_to(c) for c in everyone), timeout=60)
    assert all(len(fake.messages_to(c)) == 1 for c in everyone)  # each got exactly its one message
    assert [v for v in fake.violations if v.kind == "overall"] == []
    assert fake.rate_limited == 0
