"""The feed channels (connectors/feeds): RSS/Atom of published posts and alerts, the CAP index feed of the
active alerts and each alert message's CAP file, served from the database by their own routes (the URLs
are public contracts), and their publishers: pull channels that declare what they carry."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.cap import reference_of, to_cap_xml
from broadcasts.capmodel import CapAlert
from broadcasts.publishers import Unsupported
from broadcasts.service import Broadcasts, start_due_broadcasts
from connectors.feeds.publisher import CapFeedPublisher, FeedPublisher
from connectors.feeds.routes import cap_routes, feed_routes
from core.http import error_middleware
from core.keys import ENGINE, SETTINGS
from core.time import utcnow
from tests import broadcasting as h
from tests.conftest import make_settings


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


async def _client(aiohttp_client: Any, tmp_path: Path, engine: AsyncEngine, **settings: Any) -> TestClient:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = make_settings(tmp_path, **settings)
    app[ENGINE] = engine
    app.router.add_routes([*feed_routes(), *cap_routes()])
    client: TestClient = await aiohttp_client(app)
    return client


async def _publish(engine: AsyncEngine) -> tuple[Broadcasts, CapAlert]:
    """A published post (with its own feed text), an active alert, and a test alert that stays private."""
    service = h.service(engine)
    post = await service.create(
        h.PRESS,
        "presse",
        "Die Balduinbrücke ist gesperrt.",
        link="https://www.koblenz.de/presse/1/",
        variants={"feed": "Balduinbrücke gesperrt\nUmleitung über die Europabrücke."},
    )
    await service.schedule(h.PRESS, post)
    assert await start_due_broadcasts(service.sessions, utcnow() + dt.timedelta(seconds=1)) == [post]
    alert = h.cap_alert("koblenz-feed-1", "Großbrand in Lützel")
    await service.submit_alert(h.FIRE, alert, to_cap_xml(alert).decode())
    drill = h.cap_alert("koblenz-feed-test", "Nur ein Test", status="Test")
    await service.submit_alert(h.FIRE, drill, to_cap_xml(drill).decode())
    return service, alert


async def test_rss_and_atom_list_published_posts_and_alerts(
    aiohttp_client: Any, tmp_path: Path, engine: AsyncEngine
) -> None:
    await _publish(engine)
    client = await _client(aiohttp_client, tmp_path, engine, public_url="https://bot.koblenz.de/")
    rss = await client.get("/feeds/rss.xml")
    assert rss.status == 200 and rss.content_type == "application/rss+xml" and rss.charset == "utf-8"
    parsed = feedparser.parse(await rss.read())
    assert parsed.bozo == 0 and parsed.version == "rss20"
    titles = [e.title for e in parsed.entries]
    assert sorted(titles) == ["Balduinbrücke gesperrt", "Großbrand in Lützel"]  # the test alert is not
    by_title = {e.title: e for e in parsed.entries}
    assert by_title["Großbrand in Lützel"].link == "https://bot.koblenz.de/alerts/koblenz-feed-1.cap.xml"
    assert "Umleitung über die Europabrücke." in by_title["Balduinbrücke gesperrt"].summary
    assert by_title["Balduinbrücke gesperrt"].link == "https://www.koblenz.de/presse/1/"
    atom = await client.get("/feeds/atom.xml")
    assert atom.content_type == "application/atom+xml"
    parsed_atom = feedparser.parse(await atom.read())
    assert parsed_atom.version == "atom10" and len(parsed_atom.entries) == 2
    assert {
        "href": "https://bot.koblenz.de/feeds/atom.xml",
        "rel": "self",
        "type": "application/atom+xml",
    } in (parsed_atom.feed.links)


async def test_cap_feed_and_cap_files(aiohttp_client: Any, tmp_path: Path, engine: AsyncEngine) -> None:
    _service, alert = await _publish(engine)
    client = await _client(aiohttp_client, tmp_path, engine)
    feed = await client.get("/feeds/cap.atom")
    assert feed.content_type == "application/atom+xml"
    parsed = feedparser.parse(await feed.read())
    assert [e.title for e in parsed.entries] == ["Großbrand in Lützel"]
    origin = str(client.make_url("")).rstrip("/")
    assert parsed.entries[0].id == f"{origin}/cap/koblenz-feed-1.xml"  # links from the request's origin
    for path in ("/alerts/koblenz-feed-1.cap.xml", "/cap/koblenz-feed-1.xml"):
        cap = await client.get(path)
        assert cap.status == 200 and cap.content_type == "application/cap+xml"
        assert await cap.read() == to_cap_xml(alert)  # the stored message, byte for byte
    for hidden in ("/alerts/koblenz-feed-test.cap.xml", "/cap/gibt-es-nicht.xml"):
        missing = await client.get(hidden)
        assert missing.status == 404
        assert await missing.json() == {"error": "not_found", "message": "Diese Warnung gibt es nicht."}


async def test_an_ended_alert_leaves_the_cap_feed(
    aiohttp_client: Any, tmp_path: Path, engine: AsyncEngine
) -> None:
    service, alert = await _publish(engine)
    cancel = h.cap_alert("koblenz-feed-1-cancel", msg_type="Cancel", references=[reference_of(alert)])
    await service.submit_alert(h.FIRE, cancel, to_cap_xml(cancel).decode())
    client = await _client(aiohttp_client, tmp_path, engine)
    assert feedparser.parse(await (await client.get("/feeds/cap.atom")).read()).entries == []


async def test_feed_publishers_are_pull_channels() -> None:
    feed, cap = FeedPublisher(), CapFeedPublisher()
    for publisher in (feed, cap):
        assert not publisher.capabilities.push and not publisher.capabilities.send
        assert publisher.capabilities.max_text is None and publisher.capabilities.cannot
        publisher.check("x" * 100_000)
        with pytest.raises(Unsupported):
            await publisher.send("alle", "Text")
    assert feed.capabilities.posts and feed.capabilities.alerts
    assert cap.capabilities.alerts and not cap.capabilities.posts
    long_title = "Sperrung " + "x" * 200
    assert feed.preview(f"{long_title}\nDetails") == f"Titel: {long_title[:120]}\n{long_title}\nDetails"
    assert feed.preview("   ") == ""
