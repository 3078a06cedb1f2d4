"""What the pull channels read from the database: published posts and alerts (RSS/Atom feeds), the active
alerts (CAP index feed) and one published alert message's CAP XML. Which alerts count as published and
active is defined once, in ``broadcasts.active``; the banner and the chat read ``alert_source``.

Warnings of other authorities (NINA, role ``extern``) are shown on the banner and in the chat, but the
pull channels carry them only when they were re-broadcast (``NINA_REPUBLISH``: the chain has an outbound
message); otherwise our feeds would re-publish them without the agreement the BBK requires."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import active
from broadcasts.alert_source import EXTERNAL_ROLE
from broadcasts.alertrows import to_cap
from broadcasts.capmodel import CapAlert
from broadcasts.feeds import FeedItem, alert_feed_item
from broadcasts.models import Alert, Broadcast, OutboundMessage
from broadcasts.states import PUBLISHED
from core.time import utcnow

FEED_ITEMS = 50


def shareable() -> ColumnElement[bool]:
    """Our own alerts, and other authorities' warnings that were re-broadcast (WHERE clause on Alert)."""
    root = func.coalesce(Alert.root_id, Alert.id)
    shared = exists(select(OutboundMessage.id).where(OutboundMessage.alert_id == root))
    return or_(Alert.role != EXTERNAL_ROLE, shared)


def cap_url(base_url: str, identifier: str) -> str:
    """Where one alert message's CAP XML is served (the alert API answers with it, too)."""
    return f"{base_url}/alerts/{identifier}.cap.xml"


async def feed_items(
    sessions: async_sessionmaker[AsyncSession], base_url: str, limit: int = FEED_ITEMS
) -> list[FeedItem]:
    """The newest published posts and alert messages, newest first."""
    async with sessions() as session:
        posts = (
            await session.scalars(
                select(Broadcast)
                .where(Broadcast.state.in_(PUBLISHED))
                .order_by(Broadcast.started_at.desc())
                .limit(limit)
            )
        ).all()
        alerts = (
            await session.scalars(
                select(Alert).where(active.published(), shareable()).order_by(Alert.sent.desc()).limit(limit)
            )
        ).all()
    items = [
        FeedItem(
            id=f"{base_url}/posts/{p.id}",
            title=(p.variants or {}).get("feed", p.text).strip().splitlines()[0][:120],
            text=(p.variants or {}).get("feed") or p.text,
            link=p.link,
            published=p.started_at or p.created_at,
            kind="post",
        )
        for p in posts
    ]
    items += [alert_feed_item(to_cap(a), cap_url(base_url, a.identifier)) for a in alerts if a.infos]
    items.sort(key=lambda i: i.published, reverse=True)
    return items[:limit]


async def active_cap_alerts(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime | None = None
) -> list[CapAlert]:
    """The current message of every active alert, as CAP."""
    async with sessions() as session:
        query = select(Alert).where(active.active(now or utcnow()), shareable())
        rows = (await session.scalars(query)).all()
    return [to_cap(r) for r in rows]


async def cap_xml(sessions: async_sessionmaker[AsyncSession], identifier: str) -> str | None:
    """The stored CAP XML of one published alert message; None when there is none (or it is not public)."""
    async with sessions() as session:
        row = await session.scalar(select(Alert).where(Alert.identifier == identifier, shareable()))
    if row is None or not active.is_published(row):
        return None
    return row.cap_xml
