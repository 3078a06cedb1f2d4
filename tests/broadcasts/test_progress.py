"""Delivery progress of a post or an alert chain (broadcasts.progress): counts per channel, the rate of the
last minute, the ETA, deliveries over time, the links to the live posts, and sending failed ones again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts import NotFound
from broadcasts.models import Alert, Broadcast, Delivery, OutboundMessage
from broadcasts.progress import progress, retry_failed
from broadcasts.states import AlertState, DeliveryState, FanoutState, MessageKind, PostState
from core.db import create_engine, migrate, sessionmaker
from core.time import utcnow

NOW = 1_900_000_000.0
Row = tuple[str, DeliveryState, float | None, str | None]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


async def _post(
    engine: AsyncEngine,
    deliveries: list[Row],
    state: PostState = PostState.SENDING,
    fanout: FanoutState = FanoutState.DONE,
) -> int:
    async with sessionmaker(engine).begin() as session:
        post = Broadcast(
            topic="presse", text="t", variants={}, state=state, created_by="anna", role="redaktion"
        )
        session.add(post)
        await session.flush()
        message = OutboundMessage(
            kind=MessageKind.POST,
            broadcast_id=post.id,
            topic="presse",
            texts={},
            priority=10,
            fanout_state=fanout,
        )
        session.add(message)
        await session.flush()
        for index, (channel, delivery_state, sent_at, url) in enumerate(deliveries):
            session.add(
                Delivery(
                    message_id=message.id,
                    channel=channel,
                    chat_id=str(index),
                    priority=10,
                    state=delivery_state,
                    sent_at=sent_at,
                    public_url=url,
                    attempts=3 if delivery_state == DeliveryState.FAILED else 1,
                    last_error="boom" if delivery_state == DeliveryState.FAILED else None,
                )
            )
        return post.id


async def test_counts_rate_eta_and_links_per_channel(engine: AsyncEngine) -> None:
    sent = DeliveryState.SENT
    rows: list[Row] = [("telegram", sent, NOW - 30 + i, None) for i in range(30)]  # 30 in the last minute
    rows += [("telegram", sent, NOW - 600, None)]  # long ago: not in the rate
    rows += [("telegram", DeliveryState.PENDING, None, None)] * 60
    rows += [("telegram", DeliveryState.FAILED, None, None)] * 2
    rows += [
        ("mastodon", sent, NOW - 5, "https://social.example/@stadt/1"),
        ("mastodon", DeliveryState.FAILED, None, None),
    ]
    post_id = await _post(engine, rows)
    data = await progress(sessionmaker(engine), broadcast_id=post_id, now=NOW)
    by = {c.channel: c for c in data.channels}
    telegram, mastodon = by["telegram"], by["mastodon"]
    assert (telegram.sent, telegram.pending, telegram.failed) == (31, 60, 2)
    assert telegram.rate_per_minute == 30
    assert telegram.eta_seconds == 120  # 60 pending at 30 per minute
    assert (mastodon.sent, mastodon.failed, mastodon.pending, mastodon.eta_seconds) == (1, 1, 0, 0)
    assert mastodon.links == ("https://social.example/@stadt/1",)
    assert data.running and (data.sent, data.pending, data.failed) == (32, 60, 3)
    # deliveries over time: every sent delivery is in one bucket, oldest first
    assert sum(count for _, count in data.series) == 32
    assert data.series[0][1] == 1 and data.series == tuple(sorted(data.series))
    assert data.as_dict()["channels"][0]["links"] == ["https://social.example/@stadt/1"]


async def test_eta_is_unknown_while_nothing_goes_out(engine: AsyncEngine) -> None:
    post_id = await _post(
        engine, [("telegram", DeliveryState.PENDING, None, None)], fanout=FanoutState.SUBSCRIBERS
    )
    data = await progress(sessionmaker(engine), broadcast_id=post_id, now=time.time())
    assert data.channels[0].eta_seconds is None and data.fanout_running and data.series == ()


async def test_retry_failed_puts_them_back_and_reopens_the_post(engine: AsyncEngine) -> None:
    post_id = await _post(
        engine,
        [
            ("telegram", DeliveryState.SENT, NOW, None),
            ("telegram", DeliveryState.FAILED, None, None),
            ("x", DeliveryState.FAILED, None, None),
        ],
        state=PostState.PARTLY_FAILED,
    )
    sessions = sessionmaker(engine)
    assert await retry_failed(sessions, broadcast_id=post_id, channel="x") == 1
    assert await retry_failed(sessions, broadcast_id=post_id) == 1
    assert await retry_failed(sessions, broadcast_id=post_id) == 0
    async with sessions() as session:
        pending = (
            await session.scalars(select(Delivery).where(Delivery.state == DeliveryState.PENDING))
        ).all()
        assert len(pending) == 2 and all(d.attempts == 0 and d.last_error is None for d in pending)
        assert (await session.get(Broadcast, post_id)).state == PostState.SENDING  # type: ignore[union-attr]


async def test_an_alert_chain_counts_every_message_of_it(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        root = Alert(
            identifier="a1",
            sender="s",
            sent=utcnow(),
            status="Actual",
            msg_type="Alert",
            scope="Public",
            infos=[],
            cap_xml="<x/>",
            state=AlertState.CANCELLED,
            created_by="f",
            role="feuerwehr",
        )
        session.add(root)
        await session.flush()
        cancel = Alert(
            identifier="a2",
            sender="s",
            sent=root.sent,
            status="Actual",
            msg_type="Cancel",
            scope="Public",
            infos=[],
            cap_xml="<y/>",
            state=AlertState.CANCELLED,
            root_id=root.id,
            created_by="f",
            role="feuerwehr",
        )
        session.add(cancel)
        for kind in (MessageKind.ALERT, MessageKind.ALLCLEAR):
            message = OutboundMessage(
                kind=kind,
                alert_id=root.id,
                topic="warnungen",
                texts={},
                priority=0,
                fanout_state=FanoutState.DONE,
            )
            session.add(message)
            await session.flush()
            session.add(
                Delivery(
                    message_id=message.id,
                    channel="telegram",
                    chat_id="1",
                    priority=0,
                    state=DeliveryState.SENT,
                    sent_at=NOW,
                )
            )
        await session.flush()
        cancel_id = cancel.id
    data = await progress(sessions, alert_id=cancel_id, now=NOW)
    assert data.kind == "alert" and data.sent == 2 and not data.running
    with pytest.raises(NotFound):
        await progress(sessions, alert_id=999)
    with pytest.raises(NotFound):
        await progress(sessions, broadcast_id=999)
