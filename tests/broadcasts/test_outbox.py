"""The outbox (broadcasts/outbox.py) on SQLite and PostgreSQL: idempotent fan-out, claiming by lease
(alerts first, disjoint claims, one row per chat in flight), recording outcomes, reclaiming the rows of a
dead worker, releasing, deactivating a chat."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts import outbox
from broadcasts.models import Delivery, OutboundMessage
from broadcasts.outbox import Outcome
from broadcasts.states import DeliveryState, FanoutState
from broadcasts.subscribers import Subscriber
from core.db import sessionmaker
from tests import broadcasting as h
from tests.broadcasts.outbox_helpers import deliveries, fan_out_all, issue, post


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


async def test_fan_out_targets_areas_and_creates_nothing_twice(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2])  # the whole city
    await h.add_subscribers(engine, [11], stadtteile=["Lützel"])
    await h.add_subscribers(engine, [21], stadtteile=["Güls"])
    await h.add_subscribers(engine, [31], topic="presse")
    await issue(engine, h.cap_alert("koblenz-o1", "Bombenentschärfung in Lützel", areas=["Lützel"]))
    rows = await deliveries(engine)
    assert sorted(r.chat_id for r in rows) == ["1", "11", "2"]
    async with engine.begin() as connection:  # a crashed fan-out is started again from the beginning
        await connection.execute(
            update(OutboundMessage).values(
                fanout_state=FanoutState.SUBSCRIBERS, fanout_cursor=0, fanout_locked_until=0
            )
        )
    for message_id in {r.message_id for r in rows}:
        assert await outbox.fan_out(engine, message_id)
    assert len(await deliveries(engine)) == 3


async def test_claim_by_lease_alerts_first_disjoint_and_one_row_per_chat(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2, 3], topic="presse")
    await h.add_subscribers(engine, [1, 2, 3])
    await post(engine, "Neue Öffnungszeiten im Bürgeramt")
    await issue(engine, h.cap_alert("koblenz-o2", "Sturm über Koblenz"))
    before = time.time()
    first = await outbox.claim(engine, "worker-a", 2, lease=30.0)
    second = await outbox.claim(engine, "worker-b", 10, lease=30.0)
    assert len(first) == 2 and len(second) == 1  # the posts wait: their chats have an alert in flight
    assert {c.id for c in first}.isdisjoint({c.id for c in second})
    assert {c.chat_id for c in first + second} == {"1", "2", "3"}
    assert len({c.priority for c in first + second}) == 1  # all three are the alert's rows
    rows = {r.id: r for r in await deliveries(engine)}
    for claimed in first:
        row = rows[claimed.id]
        assert row.state == DeliveryState.IN_FLIGHT and row.locked_by == "worker-a" and row.attempts == 1
        assert row.locked_until is not None and before + 30.0 <= row.locked_until <= time.time() + 30.0
    assert await outbox.claim(engine, "worker-c", 10, lease=30.0) == []


async def test_outcomes_are_recorded_and_a_429_gives_the_attempt_back(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2, 3])
    await issue(engine, h.cap_alert("koblenz-o3", "Hochwasser"))
    claimed = {c.chat_id: c for c in await outbox.claim(engine, "w", 10, lease=30.0)}
    later = time.time() + 60.0
    await outbox.record(
        engine,
        [
            Outcome(claimed["1"].id, DeliveryState.SENT, "17", time.time()),
            Outcome(
                claimed["2"].id,
                DeliveryState.PENDING,
                next_attempt_at=later,
                error="429",
                refund_attempt=True,
            ),
            Outcome(claimed["3"].id, DeliveryState.FAILED, error="Bad Request: message is too long"),
        ],
    )
    rows = {r.chat_id: r for r in await deliveries(engine)}
    assert (rows["1"].state, rows["1"].provider_message_id, rows["1"].locked_by) == (
        DeliveryState.SENT,
        "17",
        None,
    )
    assert rows["2"].state == DeliveryState.PENDING and rows["2"].attempts == 0
    assert rows["2"].next_attempt_at == pytest.approx(later)
    assert rows["3"].state == DeliveryState.FAILED and "too long" in (rows["3"].last_error or "")
    assert await outbox.claim(engine, "w", 10, lease=30.0) == []  # the retry is not due yet


async def test_a_dead_workers_rows_are_reclaimed_after_their_lease(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2, 3, 4])
    await issue(engine, h.cap_alert("koblenz-o4", "Stromausfall"))
    dead = await outbox.claim(engine, "dead-worker", 2, lease=30.0)
    alive = await outbox.claim(engine, "alive-worker", 2, lease=30.0)
    assert await outbox.reclaim_expired(engine) == 0  # nobody's lease is over yet
    async with engine.begin() as connection:
        await connection.execute(
            update(Delivery).where(Delivery.locked_by == "dead-worker").values(locked_until=time.time() - 1)
        )
    assert await outbox.reclaim_expired(engine) == 2
    rows = {r.id: r for r in await deliveries(engine)}
    assert all(rows[c.id].state == DeliveryState.PENDING and rows[c.id].locked_by is None for c in dead)
    assert all(rows[c.id].state == DeliveryState.IN_FLIGHT for c in alive)
    again = await outbox.claim(engine, "alive-worker", 10, lease=30.0)
    assert {c.id for c in again} == {c.id for c in dead} and all(c.attempts == 2 for c in again)


async def test_release_gives_rows_back_untouched(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2])
    await issue(engine, h.cap_alert("koblenz-o5", "Glatteis"))
    claimed = await outbox.claim(engine, "w", 10, lease=30.0)
    await outbox.release(engine, "someone-else", [c.id for c in claimed])  # not theirs: nothing happens
    assert all(r.state == DeliveryState.IN_FLIGHT for r in await deliveries(engine))
    await outbox.release(engine, "w", [c.id for c in claimed])
    assert all(r.state == DeliveryState.PENDING and r.attempts == 0 for r in await deliveries(engine))


async def test_a_blocked_chat_is_deactivated_with_everything_queued_for_it(engine: AsyncEngine) -> None:
    await h.add_subscribers(engine, [1, 2])
    await issue(engine, h.cap_alert("koblenz-o6", "Sturm"))
    await issue(engine, h.cap_alert("koblenz-o7", "Hitze"))
    await fan_out_all(engine)
    assert await outbox.deactivate_chat(engine, "telegram", "1") == 2
    rows = await deliveries(engine, "1")
    assert [r.state for r in rows] == [DeliveryState.DEACTIVATED] * 2
    assert all(r.state == DeliveryState.PENDING for r in await deliveries(engine, "2"))
    async with sessionmaker(engine)() as session:
        subscriber = await session.scalar(select(Subscriber).where(Subscriber.chat_id == "1"))
        assert subscriber is not None and not subscriber.active and subscriber.deactivated_at is not None
