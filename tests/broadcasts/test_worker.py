"""The outbox worker (broadcasts/worker.py) on SQLite and PostgreSQL with a recording publisher: every row
sent once, alerts before posts, retry with backoff on Transient, RecipientGone deactivates, RetryAfter
pauses the channel and gives the attempt back, EditImpossible sends a correction as a reply, a dead
worker's rows are reclaimed and sent once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts import outbox
from broadcasts.models import Delivery
from broadcasts.publishers import EditImpossible, RecipientGone, RetryAfter, Transient
from broadcasts.ratelimit import LocalSlots
from broadcasts.states import DeliveryState
from broadcasts.subscribers import Subscriber
from core.db import sessionmaker
from tests import broadcasting as h
from tests.broadcasts.outbox_helpers import Recording, deliveries, issue, post, update_of, working


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


async def test_every_row_is_sent_once_and_alerts_go_before_posts(engine: AsyncEngine) -> None:
    chats = [1, 2, 3, 4]
    await h.add_subscribers(engine, chats, topic="presse")
    await h.add_subscribers(engine, chats)
    await post(engine, "Pressemitteilung: Stadtfest am Deutschen Eck")
    await issue(engine, h.cap_alert("koblenz-w1", "Unwetter über Koblenz"))
    publisher = Recording()
    async with working(engine, publisher) as worker:
        assert await h.settled(engine, 8) == {DeliveryState.SENT: 8}
    kinds = ["Unwetter" in text for _chat, text, _reply, _at in publisher.sent]
    assert kinds == [True] * 4 + [False] * 4  # every alert before any post
    assert Counter((chat, text) for chat, text, _r, _a in publisher.sent).most_common(1)[0][1] == 1
    assert worker.stats["sent"] == 8
    assert all(r.provider_message_id and r.sent_at for r in await deliveries(engine))


async def test_a_transient_error_is_retried_with_backoff_and_fails_after_the_last_attempt(
    engine: AsyncEngine,
) -> None:
    await h.add_subscribers(engine, [1, 2])
    await issue(engine, h.cap_alert("koblenz-w2", "Hochwasser"))
    publisher = Recording()
    publisher.fail("1", Transient("sendMessage: 502 Bad Gateway"))
    publisher.fail("2", *[Transient("sendMessage: timeout")] * 3)
    async with working(engine, publisher, max_attempts=3, backoff=0.01):
        await h.settled(engine, 2)
    one, two = await deliveries(engine)
    assert one.state == DeliveryState.SENT and one.attempts == 2  # the second attempt went through
    assert two.state == DeliveryState.FAILED and two.attempts == 3
    assert (two.last_error or "").startswith("after 3 attempts: sendMessage: timeout")
    assert publisher.attempts.count("2") == 3


async def test_the_backoff_grows_with_each_attempt_and_has_jitter(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1])
    await issue(engine, h.cap_alert("koblenz-w3", "Hochwasser"))
    publisher = Recording()
    publisher.fail("1", Transient("sendMessage: 500 Internal Server Error"))
    failed_at = time.time()
    async with working(engine, publisher, backoff=60.0) as worker:
        await h.wait_until(lambda: worker.stats["transient"] == 1, what="a transient error")
        await h.wait_until(_pending_again(engine), what="the row back in the queue")
    [row] = await deliveries(engine)
    # attempt 1: backoff · 2⁰ = 60 s, times a jitter of 0.5…1.5
    assert failed_at + 30.0 <= row.next_attempt_at <= time.time() + 90.0
    assert row.attempts == 1 and row.last_error == "sendMessage: 500 Internal Server Error"


def _pending_again(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return all(r.state == DeliveryState.PENDING for r in await deliveries(engine))

    return check


async def test_a_blocked_chat_is_deactivated_with_its_queued_messages(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2])
    await issue(engine, h.cap_alert("koblenz-w4", "Sturm"))
    await issue(engine, h.cap_alert("koblenz-w5", "Glatteis"))
    publisher = Recording()
    publisher.fail("1", RecipientGone("sendMessage: 403 Forbidden: bot was blocked by the user"))
    async with working(engine, publisher) as worker:
        await h.settled(engine, 4)
    assert [r.state for r in await deliveries(engine, "1")] == [DeliveryState.DEACTIVATED] * 2
    assert [r.state for r in await deliveries(engine, "2")] == [DeliveryState.SENT] * 2
    assert publisher.attempts.count("1") == 1 and worker.stats["deactivated"] == 1
    async with sessionmaker(engine)() as session:
        blocked = await session.scalar(select(Subscriber).where(Subscriber.chat_id == "1"))
        assert blocked is not None and not blocked.active


async def test_a_429_pauses_the_channel_and_gives_the_attempt_back(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1])
    await issue(engine, h.cap_alert("koblenz-w6", "Sturm"))
    publisher = Recording()
    publisher.fail("1", RetryAfter(0.5, "sendMessage: 429 Too Many Requests: retry after 1"))
    slots = LocalSlots(1e6)
    async with working(engine, publisher, slots) as worker:
        await h.settled(engine, 1)
    [row] = await deliveries(engine)
    assert row.state == DeliveryState.SENT and row.attempts == 1  # the 429 did not count as an attempt
    assert worker.stats["rate_limited"] == 1
    paused_until = slots.paused_until()
    assert paused_until > 0 and publisher.sent[0][3] >= paused_until  # nothing went out before


async def test_an_update_edits_or_sends_a_correction_as_a_reply(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2, 3])
    first = h.cap_alert("koblenz-w7", "Hochwasser der Mosel")
    await issue(engine, first)
    publisher = Recording()
    async with working(engine, publisher):
        await h.settled(engine, 3)
        firsts = {r.chat_id: r.provider_message_id for r in await deliveries(engine)}
        async with engine.begin() as connection:  # chat 3's message is older than the 48 h edit window
            await connection.execute(
                update(Delivery).where(Delivery.chat_id == "3").values(sent_at=time.time() - 49 * 3600)
            )
        publisher.fail_edit(EditImpossible("editMessageText: 400 Bad Request: message to edit not found"))
        await update_of(engine, first, "koblenz-w8", "Hochwasser der Mosel: Pegel steigt weiter")
        await h.settled(engine, 6)
    assert len(publisher.edited) == 1  # chat 1 or 2 could be edited, the other one's message was gone
    edited_chat = publisher.edited[0][0]
    assert publisher.edited[0][1] == firsts[edited_chat]
    corrected = {chat: (text, reply) for chat, text, reply, _at in publisher.sent[3:]}
    assert set(corrected) == {"1", "2", "3"} - {edited_chat}
    for chat, (text, reply_to) in corrected.items():
        assert reply_to == firsts[chat] and "Pegel steigt weiter" in text


async def test_a_dead_workers_rows_are_reclaimed_and_sent_once(engine: AsyncEngine) -> None:
    chats = list(range(1, 11))
    await h.add_subscribers(engine, chats)
    await issue(engine, h.cap_alert("koblenz-w9", "Bombenentschärfung"))
    dead = await outbox.claim(engine, "dead-worker", 4, lease=30.0)  # then: kill -9, nothing recorded
    async with engine.begin() as connection:
        await connection.execute(
            update(Delivery).where(Delivery.locked_by == "dead-worker").values(locked_until=time.time() - 1)
        )
    assert await outbox.reclaim_expired(engine) == len(dead) == 4
    publisher = Recording()
    async with working(engine, publisher):
        assert await h.settled(engine, 10) == {DeliveryState.SENT: 10}
    assert sorted(int(chat) for chat, _t, _r, _a in publisher.sent) == chats  # each chat exactly once
    reclaimed = {c.id for c in dead}
    assert all(r.attempts == 2 for r in await deliveries(engine) if r.id in reclaimed)
