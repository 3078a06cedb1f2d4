"""RSS/Atom feeds and the CAP 1.2 Atom feed (broadcasts/feeds.py), read back with feedparser and checked
against the OASIS CAP 1.2 schema."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from broadcasts.cap import CAP_MIME_TYPE, SCHEMA_PATH, parse_cap_xml, reference_of, to_cap_xml
from broadcasts.capmodel import CapAlert
from broadcasts.feeds import (
    FeedItem,
    active_alerts,
    alert_feed_item,
    atom_feed,
    cap_alert_url,
    cap_atom_feed,
    rss_feed,
)
from broadcasts.templates import render_all_clear, render_template, render_update
from core.alerts import severity_label
from tests.cap_strategies import cap_alerts
from tests.conftest import examples

DATA = Path(__file__).parent.parent / "data" / "cap"
XSD = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
ATOM = "{http://www.w3.org/2005/Atom}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
BASE = "https://buergerbot.example/"
SELF = "https://buergerbot.example/cap/feed.atom"
T0 = dt.datetime(2026, 3, 12, 8, 0, tzinfo=dt.UTC)


def cap_sample(name: str) -> CapAlert:
    return parse_cap_xml((DATA / name).read_bytes())


def post(n: int, minutes: int) -> FeedItem:
    return FeedItem(
        id=f"post-{n}",
        title=f"Pressemitteilung {n}",
        text=f"Text der Mitteilung {n}.",
        link=f"https://www.koblenz.de/presse/{n}/",
        published=T0 + dt.timedelta(minutes=minutes),
    )


def embedded_alerts(feed: bytes) -> list[etree._Element]:
    root = etree.fromstring(feed, etree.XMLParser(resolve_entities=False, no_network=True))
    return [content[0] for content in root.iter(f"{ATOM}content") if content.get("type") == CAP_MIME_TYPE]


# -- posts and alerts -----------------------------------------------------------------------------


def test_rss_feed_of_posts_and_alerts_newest_first() -> None:
    alert = render_template("stromausfall", stadtteile=["Güls"], sent=T0 + dt.timedelta(minutes=30))
    items = [post(1, 0), alert_feed_item(alert, "https://buergerbot.example/warnungen/1"), post(2, 10)]
    parsed = feedparser.parse(rss_feed(items))
    assert parsed.bozo == 0 and parsed.version == "rss20"
    assert [e.title for e in parsed.entries] == [
        "Stromausfall in Güls",
        "Pressemitteilung 2",
        "Pressemitteilung 1",
    ]
    first = parsed.entries[0]
    assert first.link == "https://buergerbot.example/warnungen/1"
    assert "Was Sie tun sollten:" in first.summary
    moderate = severity_label("Moderate")  # the one German vocabulary of core.alerts
    assert moderate != "Moderate"
    assert {tag.term for tag in first.tags} == {"Warnung", moderate}  # RSS shows the labels
    atom_entry = feedparser.parse(atom_feed(items)).entries[0]
    assert {(tag.term, tag.label) for tag in atom_entry.tags} == {
        ("alert", "Warnung"),
        ("Moderate", moderate),
    }
    assert parsed.entries[2].id == "tag:koblenz.de,2026:post/post-1"
    assert parsed.feed.language == "de"


def test_atom_feed_of_posts_and_alerts() -> None:
    items = [post(1, 0), post(2, 10)]
    raw = atom_feed(items, self_url="https://buergerbot.example/feed.atom")
    parsed = feedparser.parse(raw)
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert [e.id for e in parsed.entries] == [
        "tag:koblenz.de,2026:post/post-2",
        "tag:koblenz.de,2026:post/post-1",
    ]
    entry = parsed.entries[0]
    assert entry.links == [
        {"href": "https://www.koblenz.de/presse/2/", "rel": "alternate", "type": "text/html"}
    ]
    assert entry.published_parsed[:5] == (2026, 3, 12, 8, 10)
    assert parsed.feed.updated_parsed[:5] == (2026, 3, 12, 8, 10)
    assert {
        "href": "https://buergerbot.example/feed.atom",
        "rel": "self",
        "type": "application/atom+xml",
    } in (parsed.feed.links)


def test_empty_feeds_are_valid() -> None:
    assert feedparser.parse(rss_feed([])).bozo == 0
    assert feedparser.parse(atom_feed([])).entries == []
    assert feedparser.parse(cap_atom_feed([], SELF, BASE)).bozo == 0


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rss_feed([FeedItem("x", "t", "x", None, dt.datetime(2026, 1, 1))])


# -- CAP feed -------------------------------------------------------------------------------------


def test_cap_feed_lists_only_active_alerts() -> None:
    first = cap_sample("bomb_luetzel_alert.xml")
    update = cap_sample("bomb_luetzel_update.xml")
    cancel = cap_sample("bomb_luetzel_cancel.xml")
    flood = cap_sample("flood_rhein_alert.xml")  # expired on 6 February 2026
    during = dt.datetime(2026, 3, 12, 10, 0, tzinfo=dt.UTC)
    assert active_alerts([first, flood], now=during) == [first]
    assert active_alerts([first, update, flood], now=during) == [update]
    assert active_alerts([first, update, cancel], now=during) == []
    assert (
        active_alerts([first], now=dt.datetime(2026, 3, 12, 20, 0, tzinfo=dt.UTC)) == []
    )  # expired at 19:00 UTC
    # broadcasts.active: exercises are published like real alerts (marked); tests, drafts are not
    exercise = render_template("stromausfall", status="Exercise", sent=during)
    assert active_alerts([exercise], now=during) == [exercise]
    for status in ("Test", "System", "Draft"):
        assert active_alerts([replace(exercise, status=status)], now=during) == []
    assert active_alerts([replace(exercise, scope="Private")], now=during) == []


def test_exercises_are_marked_in_every_feed() -> None:
    during = dt.datetime(2026, 3, 12, 10, 0, tzinfo=dt.UTC)
    exercise = render_template("stromausfall", stadtteile=["Güls"], status="Exercise", sent=during)
    item = alert_feed_item(exercise)
    assert item.title == "Übung: Stromausfall in Güls"
    assert feedparser.parse(rss_feed([item])).entries[0].title == "Übung: Stromausfall in Güls"
    (entry,) = feedparser.parse(cap_atom_feed([exercise], SELF, BASE, now=during)).entries
    assert entry.title == "Übung: Stromausfall in Güls"
    (document,) = embedded_alerts(cap_atom_feed([exercise], SELF, BASE, now=during))
    assert document.findtext(f"{CAP}status") == "Exercise"


def test_cap_feed_entries_link_to_and_embed_valid_cap() -> None:
    now = dt.datetime.now(dt.UTC)
    bomb = render_template("bombenentschaerfung", stadtteile=["Lützel"], ort="Baustelle", uhrzeit="12:00")
    water = render_template(
        "trinkwasser", stadtteile=["Altstadt", "Neuendorf"], sent=bomb.sent + dt.timedelta(seconds=5)
    )
    fire = render_template("grossbrand", ort="Lagerhalle", sent=bomb.sent - dt.timedelta(minutes=5))
    fire_over = render_all_clear(fire, sent=bomb.sent)
    feed = cap_atom_feed([bomb, water, fire, fire_over], SELF, BASE, now=now)

    parsed = feedparser.parse(feed)
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert parsed.feed.id == SELF
    assert [e.title for e in parsed.entries] == [water.info("de").headline, bomb.info("de").headline]
    for entry, alert in zip(parsed.entries, [water, bomb], strict=True):
        url = cap_alert_url(BASE, alert)
        assert url == f"https://buergerbot.example/cap/{quote(alert.identifier, safe='')}.xml"
        assert entry.id == url
        assert entry.links == [
            {"href": url, "rel": "alternate", "type": CAP_MIME_TYPE, "title": reference_of(alert)}
        ]
        assert entry.summary == alert.info("de").description
        assert entry.author == "Stadt Koblenz"
        # what the link points to: the engine serves to_cap_xml(alert) there
        linked = to_cap_xml(alert)
        assert XSD.validate(etree.fromstring(linked))
    documents = embedded_alerts(feed)
    assert len(documents) == 2
    for document, alert in zip(documents, [water, bomb], strict=True):
        assert XSD.validate(document), XSD.error_log
        assert parse_cap_xml(etree.tostring(document)) == alert


def test_cap_feed_follows_an_update() -> None:
    first = render_template("hochwasser", stadtteile=["Altstadt"], gewaesser="Rhein", uhrzeit="18:00")
    update = render_update(
        first, stadtteile=["Altstadt", "Neuendorf"], sent=first.sent + dt.timedelta(minutes=1)
    )
    feed = cap_atom_feed([first, update], SELF, BASE)
    (document,) = embedded_alerts(feed)
    again = parse_cap_xml(etree.tostring(document))
    assert again.msg_type == "Update" and again.stadtteile() == ("Altstadt", "Neuendorf")


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cap_alerts(), max_size=3))
def test_any_cap_feed_embeds_only_schema_valid_cap(alerts: list[CapAlert]) -> None:
    now = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    feed = cap_atom_feed(alerts, SELF, BASE, now=now)
    assert feedparser.parse(feed).bozo == 0
    documents = embedded_alerts(feed)
    assert len(documents) == len(active_alerts(alerts, now=now))
    for document in documents:
        assert XSD.validate(document), XSD.error_log
