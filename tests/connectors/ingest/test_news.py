"""What the chat hears of: sent posts, with the feed as the source of posts made from feed entries."""

from __future__ import annotations

import datetime as dt

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Broadcast
from broadcasts.publishers import Capabilities, Checked
from broadcasts.service import SYSTEM, Broadcasts
from broadcasts.states import PostState
from connectors.ingest.models import EntryState
from connectors.ingest.news import FeedNews
from connectors.ingest.suggestions import suggestions
from tests.connectors.ingest.helpers import ago, poller_for, spec
from tests.fakes.feed_server import FakeFeeds, FeedItem

Sessions = async_sessionmaker[AsyncSession]


async def _sent(sessions: Sessions, *ids: int, at: dt.datetime | None = None) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(Broadcast)
            .where(Broadcast.id.in_(ids))
            .values(state=PostState.SENT, started_at=at or dt.datetime.now(dt.UTC))
        )


async def test_latest_posts_by_topic_with_their_source(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    published = ago(hours=3)
    feeds.set_items(
        "rss",
        [
            FeedItem(
                "c-1",
                "Neue Corona-Impfstelle",
                "<p>Ab Montag im Rathaus.</p>",
                "https://example.invalid/c",
                published,
            )
        ],
    )
    service = Broadcasts(sessions)
    feed = spec("Gesundheitsamt", f"{feeds.url}/rss", topic="gesundheit", mode="publish")
    await poller_for([feed], http, sessions, service).poll(feed)
    city = await service.create(SYSTEM, "verkehr", "Balduinbrücke gesperrt\nWegen Bauarbeiten bis Freitag.")
    unsent = await service.create(SYSTEM, "gesundheit", "Noch nicht gesendet")
    news = FeedNews(sessions)
    assert await news.latest(None, 10) == []  # scheduled or draft posts are not news yet

    async with sessions() as session:
        from_feed = (
            await session.scalars(select(Broadcast.id).where(Broadcast.id.not_in([city, unsent])))
        ).one()
    await _sent(sessions, from_feed, at=ago(hours=2))
    await _sent(sessions, city, at=ago(hours=1))

    (health,) = await news.latest("gesundheit", 10)
    assert health.title == "Neue Corona-Impfstelle" and health.text == "Ab Montag im Rathaus."
    assert health.source == "Gesundheitsamt" and health.link == "https://example.invalid/c"
    assert health.published_at == published
    (traffic,) = await news.latest("verkehr", 10)
    assert (traffic.title, traffic.text, traffic.source) == (
        "Balduinbrücke gesperrt",
        "Wegen Bauarbeiten bis Freitag.",
        "Stadt Koblenz",
    )
    assert [i.title for i in await news.latest(None, 10)] == [
        "Balduinbrücke gesperrt",
        "Neue Corona-Impfstelle",
    ]
    assert len(await news.latest(None, 1)) == 1


class Strict(Checked):
    """A channel with a tiny limit: a feed post's fixed Telegram text does not fit."""

    name, label = "telegram", "Telegram"
    capabilities = Capabilities(send=True, edit=False, delete=False, push=True, max_text=60)


async def test_a_post_a_channel_refuses_becomes_a_suggestion(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items(
        "rss",
        [
            FeedItem(
                "long",
                "Ein langer Titel einer Meldung",
                "Ein Text, der nicht passt. " * 5,
                None,
                ago(hours=1),
            )
        ],
    )
    feed = spec("Presse", f"{feeds.url}/rss", topic="presse", mode="publish")
    poller = poller_for([feed], http, sessions, Broadcasts(sessions, channels=[Strict()]))
    result = await poller.poll(feed)
    assert result.published == 0 and result.new == 1
    (suggestion,) = await suggestions(sessions, 5)
    assert suggestion.title == "Ein langer Titel einer Meldung" and suggestion.state == EntryState.NEW
    (row,) = poller.health()
    assert row["state"] == "ok"
    assert "nicht automatisch veröffentlicht" in row["last_error"] and "Telegram" in row["last_error"]
    # the next round does not try again
    feeds.conditional = False
    assert (await poller.poll(feed)).published == 0
