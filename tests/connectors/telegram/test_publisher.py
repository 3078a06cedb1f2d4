"""The broadcast publisher against the Bot API double: send, edit, delete, the correction as a reply, the
errors the outbox worker acts on, limits from one place, and the one client shared with the chat."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broadcasts import TextTooLong
from broadcasts.publishers import EditImpossible, RecipientGone, Rejected, RetryAfter, Transient
from broadcasts.ratelimit import LocalSlots
from connectors.telegram.client import TelegramClient
from connectors.telegram.limits import MAX_TEXT
from connectors.telegram.publisher import TelegramPublisher
from connectors.telegram.transport import WireTransport
from tests.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(per_second=1000)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def publisher(fake: FakeTelegramAPI) -> AsyncIterator[TelegramPublisher]:
    publisher = TelegramPublisher(fake.url, fake.token, 500.0, 2.0)
    yield publisher
    await publisher.close()


async def test_send_edit_and_delete(fake: FakeTelegramAPI, publisher: TelegramPublisher) -> None:
    message_id = await publisher.send("4711", "Hochwasser an der Mosel")
    [sent] = fake.messages_to(4711)
    assert message_id == str(sent.message_id) and sent.parse_mode is None  # plain text, as written
    await publisher.edit("4711", message_id, "Hochwasser an der Mosel: Pegel fällt")
    assert fake.current_text(4711, int(message_id)) == "Hochwasser an der Mosel: Pegel fällt"
    await publisher.edit("4711", message_id, "Hochwasser an der Mosel: Pegel fällt")  # again: not modified
    await publisher.delete("4711", message_id)
    assert fake.deleted[0][:2] == (4711, int(message_id))


async def test_the_correction_goes_as_a_reply_when_the_message_cannot_be_edited(
    fake: FakeTelegramAPI, publisher: TelegramPublisher
) -> None:
    with pytest.raises(EditImpossible):
        await publisher.edit("-100123", "999", "neu")  # gone (or older than 48 h)
    with pytest.raises(EditImpossible):
        await publisher.delete("-100123", "999")
    first = await publisher.send("-100123", "Sturmwarnung")
    correction = await publisher.send("-100123", "Korrektur: die Warnung gilt bis 20 Uhr", reply_to=first)
    assert correction != first
    method, params = fake.requests[-1]
    assert method == "sendMessage"
    assert params["reply_parameters"] == {"message_id": int(first), "allow_sending_without_reply": True}


async def test_what_the_outbox_worker_acts_on(fake: FakeTelegramAPI, publisher: TelegramPublisher) -> None:
    fake.block(13)
    with pytest.raises(RecipientGone):
        await publisher.send("13", "Hallo")
    fake.throttle_next(1, retry_after=4, method="sendMessage")
    with pytest.raises(RetryAfter) as throttled:
        await publisher.send("14", "Hallo")
    assert (
        throttled.value.seconds == 4.0 and fake.calls["sendMessage"] == 2
    )  # one attempt: the worker decides
    fake.fail_next(1, status=500, description="Internal Server Error", method="sendMessage")
    with pytest.raises(Transient):
        await publisher.send("15", "Hallo")
    with pytest.raises(Rejected):
        await publisher.send("16", "x" * (MAX_TEXT + 1))


def test_limits_and_capabilities_come_from_one_place() -> None:
    publisher = TelegramPublisher.over(TelegramClient(_Unused(), LocalSlots(30.0)), 30.0)
    caps = publisher.capabilities
    assert (caps.max_text, caps.per_chat_interval, caps.group_per_minute) == (4096, 1.0, 20)
    assert caps.edit_window is not None and caps.edit_window.total_seconds() == 48 * 3600
    publisher.check("x" * MAX_TEXT)
    with pytest.raises(TextTooLong):
        publisher.check("😀" * (MAX_TEXT // 2 + 1))  # Telegram counts UTF-16 code units


async def test_the_publisher_and_the_chat_share_the_tokens_client(fake: FakeTelegramAPI) -> None:
    client = TelegramClient(WireTransport(fake.url, fake.token), LocalSlots(500.0))
    publisher = TelegramPublisher.over(client, 500.0)
    await client.send_message(21, "eine Antwort im Chat")
    await publisher.send("21", "eine Warnung")  # the same chat: waits for its second
    await publisher.close()  # not its client: still open
    await client.send_message(22, "noch eine Antwort")
    await client.close()
    reply, alert = fake.messages_to(21)
    assert publisher.client is client and (reply.text, alert.text) == ("eine Antwort im Chat", "eine Warnung")
    assert fake.violations == []  # the double enforces one message per second per chat


class _Unused:
    async def post(
        self, method: str, params: dict[str, object], timeout: float | None = None
    ) -> tuple[int, object]:
        raise AssertionError("no call expected")

    async def close(self) -> None:
        pass


async def test_the_city_channel_gets_one_post_edited_by_updates_and_answered_by_the_all_clear(
    fake: FakeTelegramAPI,
) -> None:
    """``TELEGRAM_CHANNEL``: one post per message to the channel (a once-per-message channel), through
    the token's one client: updates edit it, the all-clear answers it, and its public link is kept."""
    from broadcasts.publishers import Sent
    from connectors.telegram.publisher import TelegramChannelPublisher

    client = TelegramClient(WireTransport(fake.url, fake.token, 2.0), LocalSlots(500.0))
    channel = TelegramChannelPublisher(client, "@stadt_koblenz", 500.0, owns_client=True)
    assert channel.name == "telegram_channel" and channel.capabilities.audience == "once"
    assert channel.targets("alert.issued") == ["@stadt_koblenz"] == channel.targets("post.published")
    sent = await channel.send("@stadt_koblenz", "⚠️ Gefahr – Stadt Koblenz\n\nHochwasser an der Mosel")
    assert isinstance(sent, Sent) and sent.url == f"https://t.me/stadt_koblenz/{sent.id}"
    await channel.edit("@stadt_koblenz", sent.id, "🔄 Aktualisiert: Hochwasser an der Mosel, Pegel 7,20 m")
    clear = await channel.send("@stadt_koblenz", "✅ Entwarnung: Hochwasser an der Mosel", reply_to=sent.id)
    await channel.close()
    [first, answer] = fake.messages_to("@stadt_koblenz")
    assert fake.current_text("@stadt_koblenz", first.message_id).startswith("🔄 Aktualisiert")
    assert answer.text.startswith("✅ Entwarnung") and isinstance(clear, Sent)
    assert fake.requests[-1][1]["reply_parameters"]["message_id"] == int(sent.id)
