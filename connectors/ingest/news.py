"""``core.news.NewsSource`` over what has actually been published: the sent posts (the city's own and
those made from feeds) with, for posts made from a feed entry, the entry's title, text, date and the feed
as the source. Draft entries nobody has reviewed are not news the bot repeats."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Broadcast
from broadcasts.states import PUBLISHED
from connectors.ingest.models import FeedEntry
from core.news import NewsItem

CITY = "Stadt Koblenz"


class FeedNews:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def latest(self, topic: str | None, limit: int) -> list[NewsItem]:
        if limit <= 0:
            return []
        query = (
            select(Broadcast)
            .where(Broadcast.state.in_(PUBLISHED))
            .order_by(Broadcast.started_at.desc().nulls_last(), Broadcast.id.desc())
            .limit(limit)
        )
        if topic is not None:
            query = query.where(Broadcast.topic == topic)
        async with self.sessions() as session:
            posts = (await session.scalars(query)).all()
            ids = [post.id for post in posts]
            entries = (
                {
                    entry.broadcast_id: entry
                    for entry in (
                        await session.scalars(select(FeedEntry).where(FeedEntry.broadcast_id.in_(ids)))
                    ).all()
                }
                if ids
                else {}
            )
        items = []
        for post in posts:
            when = post.started_at or post.scheduled_at or post.created_at
            entry = entries.get(post.id)
            if entry is not None:
                items.append(
                    NewsItem(
                        entry.title,
                        entry.summary,
                        post.link or entry.link,
                        post.topic,
                        entry.published_at or when,
                        entry.feed,
                    )
                )
                continue
            title, _, rest = post.text.strip().partition("\n")
            items.append(NewsItem(title.strip(), rest.strip(), post.link, post.topic, when, CITY))
        return items
