"""Subscribers and their subscriptions (topics, optional Stadtteile): shared by the channels that collect
them (Telegram) and the broadcast engine that delivers to them.

Stored: the channel, the chat id needed to deliver (nothing else about the person), the topics and
Stadtteile. A subscriber who blocks the bot is deactivated and deleted after the retention period;
``delete_subscriber`` removes everything at once (/stop, GDPR).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from core.db import Base
from core.time import utcnow

TOPICS: dict[str, str] = {
    "warnungen": "Warnungen (Unwetter, Hochwasser, Bombenentschärfung, Großbrand, Trinkwasser …)",
    "gesundheit": "Gesundheit (Corona und andere Gesundheitsinformationen)",
    "presse": "Pressemitteilungen der Stadt",
    "verkehr": "Verkehr (Sperrungen, Baustellen)",
    "veranstaltungen": "Veranstaltungen",
}
TOPICS_WITH_AREAS = frozenset({"warnungen", "verkehr"})


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("channel", "chat_id", name="uq_subscribers_channel_chat"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(64))
    chat_type: Mapped[str] = mapped_column(String(16), default="private")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "topic", name="uq_subscriptions_subscriber_topic"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(32), index=True)
    # Stadtteil names (resident names, e.g. "Karthause"); empty = the whole city
    stadtteile: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")


def _check(topic: str, stadtteile: Sequence[str]) -> None:
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(TOPICS)}")
    if stadtteile and topic not in TOPICS_WITH_AREAS:
        raise ValueError(f"topic {topic!r} has no Stadtteil filter")


async def _get_or_create(session: AsyncSession, channel: str, chat_id: str, chat_type: str) -> Subscriber:
    subscriber = await session.scalar(
        select(Subscriber).where(Subscriber.channel == channel, Subscriber.chat_id == chat_id)
    )
    if subscriber is None:
        # an empty collection up front: reading it later must not lazy-load (no IO outside await)
        subscriber = Subscriber(
            channel=channel, chat_id=chat_id, chat_type=chat_type, active=True, subscriptions=[]
        )
        session.add(subscriber)
        await session.flush()
    elif not subscriber.active:
        subscriber.active, subscriber.deactivated_at = True, None
    return subscriber


async def subscribe(
    sessions: async_sessionmaker[AsyncSession],
    channel: str,
    chat_id: str,
    topic: str,
    stadtteile: Sequence[str] = (),
    chat_type: str = "private",
) -> None:
    """Subscribe to a topic; Stadtteile given are added to the filter (none = whole city)."""
    _check(topic, stadtteile)
    async with sessions.begin() as session:
        subscriber = await _get_or_create(session, channel, chat_id, chat_type)
        existing = next((s for s in subscriber.subscriptions if s.topic == topic), None)
        if existing is None:
            subscriber.subscriptions.append(Subscription(topic=topic, stadtteile=sorted(set(stadtteile))))
        elif stadtteile and existing.stadtteile:
            existing.stadtteile = sorted(set(existing.stadtteile) | set(stadtteile))
        else:
            existing.stadtteile = []  # one of them is city-wide: the whole city wins


async def unsubscribe(
    sessions: async_sessionmaker[AsyncSession], channel: str, chat_id: str, topic: str
) -> bool:
    async with sessions.begin() as session:
        subscriber = await session.scalar(
            select(Subscriber).where(Subscriber.channel == channel, Subscriber.chat_id == chat_id)
        )
        if subscriber is None:
            return False
        result = await session.execute(
            delete(Subscription).where(
                Subscription.subscriber_id == subscriber.id, Subscription.topic == topic
            )
        )
        return bool(getattr(result, "rowcount", 0))


async def subscriptions_of(
    sessions: async_sessionmaker[AsyncSession], channel: str, chat_id: str
) -> dict[str, list[str]]:
    async with sessions() as session:
        subscriber = await session.scalar(
            select(Subscriber)
            .where(Subscriber.channel == channel, Subscriber.chat_id == chat_id)
            .options(selectinload(Subscriber.subscriptions))
        )
        if subscriber is None:
            return {}
        return {s.topic: list(s.stadtteile) for s in subscriber.subscriptions}


async def delete_subscriber(sessions: async_sessionmaker[AsyncSession], channel: str, chat_id: str) -> bool:
    """Forget a subscriber entirely (/stop, GDPR erasure)."""
    async with sessions.begin() as session:
        subscriber = await session.scalar(
            select(Subscriber).where(Subscriber.channel == channel, Subscriber.chat_id == chat_id)
        )
        if subscriber is None:
            return False
        # bulk deletes only: an ORM delete would cascade to the (already deleted) loaded subscriptions
        await session.execute(delete(Subscription).where(Subscription.subscriber_id == subscriber.id))
        await session.execute(delete(Subscriber).where(Subscriber.id == subscriber.id))
        return True


async def deactivate(sessions: async_sessionmaker[AsyncSession], channel: str, chat_id: str) -> None:
    """The platform says the user blocked us (Telegram 403): stop delivering, delete after the retention."""
    async with sessions.begin() as session:
        subscriber = await session.scalar(
            select(Subscriber).where(Subscriber.channel == channel, Subscriber.chat_id == chat_id)
        )
        if subscriber is not None and subscriber.active:
            subscriber.active, subscriber.deactivated_at = False, utcnow()


async def purge_deactivated(
    sessions: async_sessionmaker[AsyncSession], older_than: dt.timedelta, now: dt.datetime | None = None
) -> int:
    cutoff = (now or utcnow()) - older_than
    async with sessions.begin() as session:
        ids = (
            await session.scalars(
                select(Subscriber.id).where(Subscriber.active.is_(False), Subscriber.deactivated_at < cutoff)
            )
        ).all()
        if ids:
            await session.execute(delete(Subscription).where(Subscription.subscriber_id.in_(ids)))
            await session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
    return len(ids)


def covers(subscription_areas: Sequence[str], alert_areas: Sequence[str]) -> bool:
    """Does an alert for ``alert_areas`` (empty = whole city) reach a subscription filtered to some areas?"""
    if not alert_areas or not subscription_areas:
        return True
    return bool(set(subscription_areas) & set(alert_areas))


def as_row(subscriber: Subscriber) -> dict[str, Any]:
    """The CSV/GDPR export row: channel, chat_id, topics and Stadtteile separated by ';'."""
    topics = sorted(s.topic for s in subscriber.subscriptions)
    areas = sorted({a for s in subscriber.subscriptions for a in s.stadtteile})
    return {
        "channel": subscriber.channel,
        "chat_id": subscriber.chat_id,
        "topics": ";".join(topics),
        "stadtteile": ";".join(areas),
    }
