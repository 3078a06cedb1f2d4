"""The publisher interface (broadcasts/publishers.py): capabilities, limit checks that name the channel and
the limit (counted in UTF-16 code units, as Telegram counts), previews, and pull channels that the outbox
never sends to."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from broadcasts import TextTooLong
from broadcasts.engine import running
from broadcasts.publishers import (
    Capabilities,
    Channel,
    Checked,
    PullPublisher,
    Unsupported,
    carrying,
    check_all,
    previews,
    push_only,
    text_length,
)
from broadcasts.ratelimit import LocalSlots
from broadcasts.service import Broadcasts
from core.db import sessionmaker
from tests import broadcasting as h


class Push(Checked):
    """A push channel with a 10-character limit that records what it sends."""

    name = "push"
    label = "Testkanal"
    capabilities = Capabilities(send=True, edit=False, delete=False, push=True, max_text=10)

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    def preview(self, text: str) -> str:
        return f"[{text}]"

    async def send(self, target: str, text: str, reply_to: str | None = None, outgoing: Any = None) -> str:
        self.sent.append((target, text))
        return str(next(self._ids))

    async def edit(self, target: str, message_id: str, text: str, outgoing: Any = None) -> None:
        raise Unsupported("no edits")

    async def delete(self, target: str, message_id: str) -> None:
        raise Unsupported("no deletes")


class Pull(PullPublisher):
    """A pull channel that only carries alerts and remembers any attempt to send to it."""

    name = "pull"
    label = "Abrufkanal"
    capabilities = Capabilities(send=False, edit=False, delete=False, push=False, posts=False, max_text=5)

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def send(self, target: str, text: str, reply_to: str | None = None, outgoing: Any = None) -> str:
        self.calls.append(text)
        return await super().send(target, text, reply_to)


def test_text_length_counts_utf16_code_units() -> None:
    assert text_length("Koblenz") == 7
    assert text_length("Lützel") == 6  # one code unit for a letter of the BMP
    assert text_length("Achtung 🚨") == 10  # an emoji outside the BMP counts twice
    assert text_length("") == 0


def test_check_names_the_channel_and_the_limit() -> None:
    channel = Push()
    channel.check("x" * 10)
    channel.check("🚨" * 5)  # 10 code units: exactly the limit
    with pytest.raises(TextTooLong) as refused:
        channel.check("🚨" * 5 + "x")  # 6 characters for Python, 11 for the channel
    assert (refused.value.channel, refused.value.length, refused.value.limit) == ("Testkanal", 11, 10)
    assert "Testkanal" in refused.value.message and "höchstens 10 Zeichen" in refused.value.message


def test_the_limit_is_written_the_german_way() -> None:
    class Long(Checked):
        label = "Telegram"
        capabilities = Capabilities(send=True, edit=True, delete=True, push=True, max_text=4096)

    with pytest.raises(TextTooLong, match=r"4\.097 Zeichen lang; erlaubt sind höchstens 4\.096"):
        Long().check("x" * 4097)


def test_a_channel_without_a_limit_takes_any_text() -> None:
    class Unlimited(PullPublisher):
        label = "Feed"

    Unlimited().check("x" * 100_000)


def test_checks_use_each_channels_own_text_and_skip_channels_that_do_not_carry_the_kind() -> None:
    push, pull = Push(), Pull()
    channels: list[Channel] = [push, pull]
    check_all(channels, "post", {"push": "kurz"}, default="viel zu lang für beide")  # pull: no posts
    with pytest.raises(TextTooLong) as refused:
        check_all(channels, "post", {}, default="viel zu lang")
    assert refused.value.channel == "Testkanal"
    with pytest.raises(TextTooLong) as refused:
        check_all(channels, "alert", {"push": "kurz"}, default="sechs!")
    assert (refused.value.channel, refused.value.limit) == ("Abrufkanal", 5)
    assert [c.name for c in carrying(channels, "post")] == ["push"]
    assert [c.name for c in carrying(channels, "alert")] == ["push", "pull"]


def test_previews_show_each_channel_its_own_way() -> None:
    channels: list[Channel] = [Push(), Pull()]
    assert previews(channels, "alert", {"push": "eigen"}, default="Warnung") == {
        "Testkanal": "[eigen]",
        "Abrufkanal": "Warnung",
    }
    assert previews(channels, "post", {}, default="Mitteilung") == {"Testkanal": "[Mitteilung]"}


async def test_pull_channels_refuse_to_send_edit_or_delete() -> None:
    pull = Pull()
    with pytest.raises(Unsupported, match="Abrufkanal"):
        await pull.send("1", "Text")
    with pytest.raises(Unsupported):
        await pull.edit("1", "2", "Text")
    with pytest.raises(Unsupported):
        await pull.delete("1", "2")


def test_push_only_leaves_pull_channels_out() -> None:
    push, pull = Push(), Pull()
    assert push_only({"push": push, "pull": pull}) == {"push": push}


async def test_the_outbox_never_sends_to_a_pull_channel(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    engine = await h.fresh_engine(url)
    try:
        await h.add_subscribers(engine, [1, 2], topic="presse")
        settings = h.settings_for(tmp_path, url)
        push, pull = Push(), Pull()
        push.name, pull.name = "telegram", "feed"  # the channel names the fan-out knows
        # a pull channel alone gets no worker and needs no send budget
        async with running(engine, settings, {"feed": pull}, slots={}) as run:
            assert run.worker is None
        async with running(
            engine, settings, {"telegram": push, "feed": pull}, slots={"telegram": LocalSlots(1000)}
        ) as run:
            assert run.worker is not None and set(run.worker.channels) == {"telegram"}
            service = Broadcasts(sessionmaker(engine), run.wake, [push, pull])
            await service.schedule(h.PRESS, await service.create(h.PRESS, "presse", "Hallo"))
            assert await h.settled(engine, 2) == {"sent": 2}
            # even a queued row for the pull channel is not sent: the worker gives it back
            await h.wait_until(lambda: len(push.sent) == 2, what="two messages")
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO deliveries (message_id, channel, chat_id, is_group, priority, state, "
                        "attempts, next_attempt_at, created_at) SELECT message_id, 'feed', '9', false, "
                        "priority, 'pending', 0, 0, created_at FROM deliveries LIMIT 1"
                    )
                )
            run.wake()
            await asyncio.sleep(0.5)
        assert pull.calls == [] and sorted(chat for chat, _ in push.sent) == ["1", "2"]
        assert (await h.states(engine)).get("pending") == 1
    finally:
        await engine.dispose()
