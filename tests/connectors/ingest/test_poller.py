"""Polling feeds against the loopback double: parsing, conditional requests, de-duplication across
restarts, the first-add age rule, draft and publish mode, and broken feeds that stop nobody."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import AuditLog, Broadcast
from broadcasts.service import SYSTEM, Broadcasts
from broadcasts.states import PostState
from connectors.ingest import SuggestionClosed, SuggestionNotFound
from connectors.ingest.models import EntryState, FeedEntry, FeedState
from connectors.ingest.suggestions import dismiss, mark_used, suggestions
from core.news import FeedSpec
from tests.connectors.ingest.helpers import ago, poller_for, spec
from tests.fakes.feed_server import FakeFeeds, FeedItem

Sessions = async_sessionmaker[AsyncSession]


async def entries(sessions: Sessions, feed: str | None = None) -> list[FeedEntry]:
    async with sessions() as session:
        query = select(FeedEntry).order_by(FeedEntry.id)
        if feed is not None:
            query = query.where(FeedEntry.feed == feed)
        return list((await session.scalars(query)).all())


async def posts(sessions: Sessions) -> list[Broadcast]:
    async with sessions() as session:
        return list((await session.scalars(select(Broadcast).order_by(Broadcast.id))).all())


# -- formats --------------------------------------------------------------------------------------------


async def test_rss_and_atom_entries_become_suggestions(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items(
        "rss",
        [
            FeedItem(
                "rss-1",
                "Impfaktion im Gesundheitsamt",
                "<p>Am Samstag.</p>",
                "https://example.invalid/1",
                ago(hours=2),
            )
        ],
    )
    feeds.set_items(
        "atom",
        [
            FeedItem(
                "urn:atom:1",
                "Hitzeschutz",
                "<p>Trinken Sie viel.</p>",
                "https://example.invalid/2",
                ago(hours=1),
            )
        ],
    )
    poller = poller_for(
        [spec("Gesundheitsamt", f"{feeds.url}/rss"), spec("Kreisverwaltung", f"{feeds.url}/atom")],
        http,
        sessions,
    )
    rounds = [await poller.poll(feed) for feed in poller.config.feeds]
    assert [r.new for r in rounds] == [1, 1] and not any(r.error for r in rounds)

    shown = {s.title: s for s in await suggestions(sessions, 10)}
    assert set(shown) == {"Impfaktion im Gesundheitsamt", "Hitzeschutz"}
    rss_one, atom_one = shown["Impfaktion im Gesundheitsamt"], shown["Hitzeschutz"]
    assert rss_one.feed == "Gesundheitsamt" and rss_one.link == "https://example.invalid/1"
    assert atom_one.feed == "Kreisverwaltung" and atom_one.link == "https://example.invalid/2"
    assert "Trinken Sie viel." in atom_one.text and "Quelle: Kreisverwaltung" in atom_one.text
    assert rss_one.topic == "gesundheit" and rss_one.state == "new"
    assert [row["state"] for row in poller.health()] == ["ok", "ok"]


async def test_gzip_encoded_feed_is_read(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items("gzip", [FeedItem("g-1", "Baustelle Moselring", "Ab Montag.", None, ago(minutes=5))])
    poller = poller_for([spec("Verkehr", f"{feeds.url}/gzip", topic="verkehr")], http, sessions)
    result = await poller.poll(poller.config.feeds[0])
    assert result.new == 1 and result.error is None
    assert "gzip" in feeds.headers["/gzip"]["Accept-Encoding"]
    assert [e.title for e in await entries(sessions)] == ["Baustelle Moselring"]


# -- conditional requests -------------------------------------------------------------------------------


async def test_not_modified_costs_no_body_and_no_parsing(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items("rss", [FeedItem("a", "Eins", "Text", None, ago(hours=1))])
    poller = poller_for([spec("Presse", f"{feeds.url}/rss", topic="presse")], http, sessions)
    feed = poller.config.feeds[0]
    await poller.poll(feed)
    sent, parsed = feeds.bytes_sent["/rss"], poller.stats.parsed

    again = await poller.poll(feed)
    assert again.not_modified and again.new == 0
    assert feeds.not_modified["/rss"] == 1
    assert feeds.bytes_sent["/rss"] == sent and poller.stats.parsed == parsed
    assert feeds.headers["/rss"]["If-None-Match"].startswith('"')
    assert "If-Modified-Since" in feeds.headers["/rss"]

    # after a restart (a new poller on the same database) the stored validators still apply
    restarted = poller_for([feed], http, sessions)
    assert (await restarted.poll(feed)).not_modified
    assert feeds.not_modified["/rss"] == 2

    # a change is fetched and only the new entry is taken
    feeds.set_items("rss", [*feeds.items("rss"), FeedItem("b", "Zwei", "Text", None, ago(minutes=1))])
    changed = await restarted.poll(feed)
    assert not changed.not_modified and changed.new == 1


# -- de-duplication ---------------------------------------------------------------------------------------


async def test_entries_are_deduplicated_across_restarts(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.conditional = False  # a server that always sends everything
    feeds.set_items(
        "rss",
        [
            FeedItem("id-1", "Mit id", "Text", "https://example.invalid/same", ago(hours=3)),
            FeedItem(None, "Nur mit Link", "Text", "https://example.invalid/only-link", ago(hours=2)),
        ],
    )
    feed = spec("Polizei", f"{feeds.url}/rss", topic="presse")
    first = await poller_for([feed], http, sessions).poll(feed)
    assert first.new == 2

    for _restart in range(2):
        again = await poller_for([feed], http, sessions).poll(feed)
        assert again.new == 0 and again.skipped == 0
    stored = await entries(sessions)
    assert sorted(e.entry_key for e in stored) == ["https://example.invalid/only-link", "id-1"]

    feeds.set_items("rss", [*feeds.items("rss"), FeedItem("id-2", "Neu", "Text", None, ago(minutes=1))])
    later = await poller_for([feed], http, sessions).poll(feed)
    assert later.new == 1
    assert len(await entries(sessions)) == 3


async def test_same_entry_in_two_feeds_is_kept_per_feed(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    item = FeedItem("shared", "Gemeinsam", "Text", None, ago(hours=1))
    feeds.set_items("rss", [item])
    feeds.set_items("atom", [item])
    poller = poller_for([spec("A", f"{feeds.url}/rss"), spec("B", f"{feeds.url}/atom")], http, sessions)
    assert [(await poller.poll(f)).new for f in poller.config.feeds] == [1, 1]


# -- first add: FEED_MAX_AGE ---------------------------------------------------------------------------------


async def test_first_round_takes_only_entries_younger_than_max_age(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items(
        "rss",
        [
            FeedItem("young", "Von heute", "Text", None, ago(hours=1)),
            FeedItem("old", "Von vorgestern", "Text", None, ago(hours=30)),
            FeedItem("undated", "Ohne Datum", "Text", None, None),
        ],
    )
    feed = spec("Gesundheitsamt", f"{feeds.url}/rss", mode="publish")
    service = Broadcasts(sessions)
    poller = poller_for([feed], http, sessions, service)
    first = await poller.poll(feed)
    assert (first.new, first.skipped, first.published) == (1, 2, 1)
    assert [p.text.split("\n")[0] for p in await posts(sessions)] == ["Von heute"]
    assert {e.entry_key: e.state for e in await entries(sessions)} == {
        "young": EntryState.USED,
        "old": EntryState.SKIPPED,
        "undated": EntryState.SKIPPED,
    }

    # later rounds: an undated new entry is news now; an old one appearing late still is not
    feeds.set_items(
        "rss",
        [
            *feeds.items("rss"),
            FeedItem("undated-2", "Neu ohne Datum", "Text", None, None),
            FeedItem("old-2", "Spät aufgetaucht", "Text", None, ago(days=3)),
        ],
    )
    later = await poller.poll(feed)
    assert (later.new, later.skipped, later.published) == (1, 1, 1)
    assert [p.text.split("\n")[0] for p in await posts(sessions)] == ["Von heute", "Neu ohne Datum"]


async def test_max_age_setting_is_respected(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items(
        "rss",
        [
            FeedItem("a", "Vor 2 h", "T", None, ago(hours=2)),
            FeedItem("b", "Vor 20 min", "T", None, ago(minutes=20)),
        ],
    )
    feed = spec("Presse", f"{feeds.url}/rss", topic="presse")
    poller = poller_for([feed], http, sessions, max_age=dt.timedelta(hours=1))
    result = await poller.poll(feed)
    assert (result.new, result.skipped) == (1, 1)
    assert [s.title for s in await suggestions(sessions, 10)] == ["Vor 20 min"]


async def test_a_new_url_under_the_same_name_is_a_new_feed(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items("rss", [FeedItem("a", "Eins", "T", None, ago(hours=1))])
    feeds.set_items(
        "atom", [FeedItem("b", "Alt", "T", None, ago(hours=40)), FeedItem(None, "Ohne alles", "T")]
    )
    await poller_for([spec("Presse", f"{feeds.url}/rss")], http, sessions).poll(
        spec("Presse", f"{feeds.url}/rss")
    )
    moved = spec("Presse", f"{feeds.url}/atom")
    result = await poller_for([moved], http, sessions).poll(moved)
    # first round again: the old and the undated entry of the new URL are not taken
    assert (result.new, result.skipped) == (0, 2)
    assert "If-None-Match" not in feeds.headers["/atom"]


# -- draft and publish ---------------------------------------------------------------------------------------


async def test_publish_mode_schedules_a_post_naming_the_source(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    published = dt.datetime(2030, 3, 3, 14, 0, tzinfo=dt.UTC)
    feeds.set_items(
        "rss",
        [
            FeedItem(
                "p-1",
                "Sperrung Pfaffendorfer Brücke",
                "<p>Von 20 bis 5 Uhr.</p>",
                "https://example.invalid/p1",
                published,
            )
        ],
    )
    feed = spec("Verkehrsmeldungen", f"{feeds.url}/rss", topic="verkehr", mode="publish")
    service = Broadcasts(sessions)
    poller = poller_for([feed], http, sessions, service, max_age=dt.timedelta(days=10_000))
    result = await poller.poll(feed)
    assert result.published == 1

    (post,) = await posts(sessions)
    assert post.state == PostState.SCHEDULED and post.topic == "verkehr"
    assert (
        post.scheduled_at is not None
        and abs((post.scheduled_at - dt.datetime.now(dt.UTC)).total_seconds()) < 30
    )
    assert post.link == "https://example.invalid/p1"
    assert post.text == (
        "Sperrung Pfaffendorfer Brücke\n\nVon 20 bis 5 Uhr.\n\n"
        "Quelle: Verkehrsmeldungen (veröffentlicht am 03.03.2030, 15:00 Uhr)"
    )
    assert post.created_by == "feed:Verkehrsmeldungen"
    (entry,) = await entries(sessions)
    assert entry.broadcast_id == post.id and entry.state == EntryState.USED
    assert await suggestions(sessions, 10) == []  # a published entry is no suggestion
    async with sessions() as session:
        actions = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
    assert actions == ["broadcast.create", "broadcast.schedule"]

    # the next round sends nothing twice
    feeds.conditional = False
    assert (await poller.poll(feed)).published == 0
    assert len(await posts(sessions)) == 1


async def test_draft_mode_only_suggests_and_the_console_can_use_or_dismiss(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items(
        "rss",
        [
            FeedItem("d-1", "Erste", "T", None, ago(hours=2)),
            FeedItem("d-2", "Zweite", "T", None, ago(hours=1)),
        ],
    )
    feed = spec("Pressestelle", f"{feeds.url}/rss", topic="presse", mode="draft")
    await poller_for([feed], http, sessions, Broadcasts(sessions)).poll(feed)
    assert await posts(sessions) == []
    open_ones = await suggestions(sessions, 10)
    assert {s.title for s in open_ones} == {"Erste", "Zweite"}

    first, second = sorted(open_ones, key=lambda s: s.title)
    post_id = await Broadcasts(sessions).create(SYSTEM, "presse", first.text)
    used = await mark_used(sessions, first.id, post_id)
    assert used.state == "used"
    assert (await dismiss(sessions, second.id)).state == "dismissed"
    assert await suggestions(sessions, 10) == []
    with pytest.raises(SuggestionClosed):
        await dismiss(sessions, first.id)
    with pytest.raises(SuggestionNotFound):
        await mark_used(sessions, 999_999)
    (entry,) = [e for e in await entries(sessions) if e.entry_key == "d-1"]
    assert entry.broadcast_id == post_id


# -- broken feeds ----------------------------------------------------------------------------------------------

BROKEN = {
    "Kaputt": ("/malformed", "kein wohlgeformtes XML"),
    "Fast": ("/bozo", "kein wohlgeformtes XML"),
    "Webseite": ("/html", "Keine RSS- oder Atom-Datei"),
    "Riesig": ("/huge", "größer als 1 MB"),
    "Langsam": ("/slow", "Zeitüberschreitung"),
    "Schleife": ("/loop-a", "Weiterleitungsschleife"),
    "Weit": ("/far/6", "Zu viele Weiterleitungen"),
    "Fehlt": ("/404", "HTTP 404 (nicht gefunden)"),
    "Fehler": ("/500", "HTTP 500 (Serverfehler)"),
}


async def test_broken_feeds_show_their_error_and_never_stop_the_others(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items("rss", [FeedItem("ok-1", "Gute Nachricht", "T", None, ago(minutes=30))])
    broken = [spec(name, f"{feeds.url}{path}") for name, (path, _) in BROKEN.items()]
    # a short interval for the good feed (the settings accept 5 s and more; the model is built directly)
    good = FeedSpec.model_construct(
        name="Gut", url=f"{feeds.url}/rss", topic="presse", mode="draft", interval=1
    )
    poller = poller_for([*broken, good], http, sessions, timeout=1.0)
    async with poller.running(grace=3.0):
        await _until(lambda: all(row["state"] != "new" for row in poller.health()), 10)
        feeds.set_items(
            "rss", [*feeds.items("rss"), FeedItem("ok-2", "Noch eine", "T", None, ago(minutes=1))]
        )
        await _until(lambda: poller.stats.per_feed.get("Gut", 0) >= 3, 10)
    health = {row["name"]: row for row in poller.health()}
    for name, (_path, reason) in BROKEN.items():
        assert health[name]["state"] == "error", name
        assert reason in health[name]["last_error"], (name, health[name]["last_error"])
        assert health[name]["last_ok_at"] is None
    assert health["Gut"]["state"] == "ok" and health["Gut"]["last_error"] is None
    # nothing of a broken feed is taken; the good one kept going (its second entry arrived)
    assert {e.feed for e in await entries(sessions)} == {"Gut"}
    assert {s.title for s in await suggestions(sessions, 10)} == {"Gute Nachricht", "Noch eine"}
    assert feeds.bytes_sent["/huge"] < feeds.huge_bytes  # the download was abandoned, not read to the end
    async with sessions() as session:
        stored = {s.name: s for s in (await session.scalars(select(FeedState))).all()}
    assert stored["Kaputt"].state == "error" and "XML" in (stored["Kaputt"].last_error or "")


async def test_a_recovered_feed_is_ok_again(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items("rss", [FeedItem("x", "Eins", "T", None, ago(hours=1))])
    feed = spec("Presse", f"{feeds.url}/rss")
    poller = poller_for([feed], http, sessions)
    feeds.fail_next("/rss", 1, 503)
    failed = await poller.poll(feed)
    assert failed.error == "HTTP 503 (Dienst nicht verfügbar)."
    assert poller.health()[0]["state"] == "error"
    recovered = await poller.poll(feed)
    assert recovered.new == 1 and poller.health()[0]["state"] == "ok"
    assert poller.health()[0]["last_error"] is None


async def test_redirects_are_followed_and_reported(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: Sessions
) -> None:
    feeds.set_items("new", [FeedItem("n", "Umgezogen", "T", None, ago(hours=1))])
    feeds.set_items("rss", [FeedItem("r", "Über zwei Stationen", "T", None, ago(hours=1))])
    feeds.set_items("far", [FeedItem("f", "Fünf Weiterleitungen", "T", None, ago(hours=1))])
    moved = spec("Umzug", f"{feeds.url}/moved")
    hop = spec("Hops", f"{feeds.url}/hop")
    far = spec("Fern", f"{feeds.url}/far/5")
    poller = poller_for([moved, hop, far], http, sessions)
    assert [(await poller.poll(f)).new for f in (moved, hop, far)] == [1, 1, 1]
    health = {row["name"]: row for row in poller.health()}
    assert health["Umzug"]["final_url"] == f"{feeds.url}/new" and health["Umzug"]["moved"]
    assert health["Hops"]["final_url"] == f"{feeds.url}/rss"
    assert health["Fern"]["final_url"] == f"{feeds.url}/far/0"
    # the conditional request after a redirect ends in a 304 at the final URL
    assert (await poller.poll(moved)).not_modified


async def _until(condition: object, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
