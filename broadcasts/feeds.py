"""RSS 2.0 and Atom feeds of published posts and alerts, and the CAP 1.2 Atom feed of active alerts.

Public API::

    FeedItem(id, title, text, link, published, updated=None, kind="post", severity=None)
    alert_feed_item(alert, link) -> FeedItem
    rss_feed(items, *, title=..., link=..., description=..., self_url=None) -> bytes
    atom_feed(items, *, title=..., link=..., self_url=None) -> bytes
    active_alerts(alerts, *, now=None) -> list[CapAlert]
    cap_alert_url(base_url, alert) -> str      # where the engine serves one alert's CAP XML
    cap_atom_feed(alerts, self_url, base_url, *, now=None) -> bytes

Which alerts appear is ``broadcasts.active``'s one definition: published (Actual or Exercise, Public);
the CAP feed lists the active ones. Exercises are listed like real alerts, their titles marked "Übung: ",
and their CAP says ``<status>Exercise</status>``. Severities carry the German label of ``core.alerts``.

The CAP feed follows the usual CAP index pattern (as NWS and MeteoAlarm publish it): one Atom entry per
active CAP message, whose ``link rel="alternate" type="application/cap+xml"`` points to the message at
``{base_url}/cap/{identifier}.xml`` and whose ``content type="application/cap+xml"`` embeds the same,
schema-valid CAP 1.2 document. The engine serves that URL with ``to_cap_xml(alert)``.
Built with feedgen (blocking, but fast: call from a thread for very large feeds).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from feedgen.feed import FeedGenerator
from lxml import etree

from broadcasts.active import headline, is_published
from broadcasts.cap import CAP_MIME_TYPE, reference_of, to_cap_xml
from broadcasts.capmodel import CapAlert, Severity
from broadcasts.templates import alert_text
from core.alerts import severity_label

DEFAULT_TITLE = "Stadt Koblenz: Mitteilungen und Warnungen"
DEFAULT_LINK = "https://www.koblenz.de/"
DEFAULT_DESCRIPTION = "Pressemitteilungen und Warnungen der Stadt Koblenz"
CAP_FEED_TITLE = "Stadt Koblenz: aktive Warnungen (CAP 1.2)"
PUBLISHER = "Stadt Koblenz"
TAG_PREFIX = "tag:koblenz.de,2026:"
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class FeedItem:
    """One published post or alert as the feeds show it."""

    id: str  # stable: the post id or the CAP identifier; made a tag: URI in Atom if it is not an IRI
    title: str
    text: str
    link: str | None
    published: dt.datetime  # timezone-aware
    updated: dt.datetime | None = None
    kind: Literal["post", "alert"] = "post"
    severity: Severity | None = None


def alert_feed_item(alert: CapAlert, link: str | None = None) -> FeedItem:
    """A CAP alert as a feed item (German texts; an exercise's title marked "Übung: ")."""
    info = alert.info("de")
    return FeedItem(
        id=alert.identifier,
        title=headline(alert),
        text=alert_text(alert),
        link=link or info.web,
        published=alert.sent,
        updated=alert.sent,
        kind="alert",
        severity=info.severity,
    )


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"feed times must be timezone-aware: {value.isoformat()}")
    return value


def _atom_id(item_id: str, kind: str) -> str:
    return item_id if _IRI.match(item_id) else f"{TAG_PREFIX}{kind}/{quote(item_id, safe='')}"


_ATOM = "{http://www.w3.org/2005/Atom}"


def _restore_entry_links(atom: bytes, links: dict[str, dict[str, str]]) -> bytes:
    """feedgen 1.0.0 drops rel/type/title of entry links (lkiesow/python-feedgen#135): put them back."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(atom, parser)
    for entry in root.iter(f"{_ATOM}entry"):
        wanted = links.get(entry.findtext(f"{_ATOM}id") or "")
        if wanted is None:
            continue
        for link in entry.iter(f"{_ATOM}link"):
            if link.get("href") == wanted["href"]:
                for key, value in wanted.items():
                    link.set(key, value)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _generator(
    title: str, link: str, description: str, self_url: str | None, items: Sequence[FeedItem]
) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(self_url or link)
    fg.title(title)
    fg.subtitle(description)  # also the RSS <description>
    fg.link(href=link, rel="alternate")
    if self_url:
        fg.link(href=self_url, rel="self")
    fg.language("de")
    fg.author({"name": PUBLISHER})
    times = [_aware(item.updated or item.published) for item in items]
    fg.updated(max(times) if times else dt.datetime.now(dt.UTC).replace(microsecond=0))
    for item in sorted(items, key=lambda i: _aware(i.published)):  # feedgen prepends: newest first
        entry = fg.add_entry()
        entry.id(_atom_id(item.id, item.kind))
        entry.title(item.title)
        entry.description(item.text)  # Atom <summary>, RSS <description>
        if item.link:
            entry.link(href=item.link, rel="alternate")
        entry.published(item.published)
        entry.updated(item.updated or item.published)
        entry.category({"term": item.kind, "label": "Warnung" if item.kind == "alert" else "Mitteilung"})
        if item.severity:
            entry.category(
                {
                    "term": item.severity,
                    "label": severity_label(item.severity),
                    "scheme": "urn:oasis:names:tc:emergency:cap:1.2#severity",
                }
            )
    return fg


def rss_feed(
    items: Iterable[FeedItem],
    *,
    title: str = DEFAULT_TITLE,
    link: str = DEFAULT_LINK,
    description: str = DEFAULT_DESCRIPTION,
    self_url: str | None = None,
) -> bytes:
    """RSS 2.0 of published posts and alerts, newest first."""
    fg = _generator(title, link, description, self_url, list(items))
    return bytes(fg.rss_str(pretty=True))


def atom_feed(
    items: Iterable[FeedItem],
    *,
    title: str = DEFAULT_TITLE,
    link: str = DEFAULT_LINK,
    description: str = DEFAULT_DESCRIPTION,
    self_url: str | None = None,
) -> bytes:
    """Atom 1.0 of published posts and alerts, newest first."""
    entries = list(items)
    fg = _generator(title, link, description, self_url, entries)
    links = {
        _atom_id(item.id, item.kind): {"href": item.link, "rel": "alternate", "type": "text/html"}
        for item in entries
        if item.link
    }
    return _restore_entry_links(bytes(fg.atom_str(pretty=True)), links)


# -- CAP index feed -------------------------------------------------------------------------------


def _key(reference: str) -> tuple[str, str]:
    sender, identifier, _ = [*reference.split(","), "", ""][:3]
    return sender, identifier


def _expired(alert: CapAlert, now: dt.datetime) -> bool:
    expires = alert.info("de").expires
    return expires is not None and _aware(expires) <= now


def active_alerts(
    alerts: Iterable[CapAlert],
    *,
    now: dt.datetime | None = None,
) -> list[CapAlert]:
    """The alerts still in force, newest first.

    Out: Cancels, messages superseded by a later Update or Cancel in ``alerts`` (matched on sender and
    identifier), expired ones (German block's ``expires`` not after ``now``) and unpublished ones
    (``broadcasts.active.is_published``: Test, System, Draft, not Public). Exercises stay in.
    """
    now = now or dt.datetime.now(dt.UTC)
    items = list(alerts)
    superseded = {_key(reference) for alert in items for reference in alert.references}
    active = [
        alert
        for alert in items
        if alert.msg_type in ("Alert", "Update")
        and is_published(alert)
        and (alert.sender, alert.identifier) not in superseded
        and not _expired(alert, now)
    ]
    return sorted(active, key=lambda a: a.sent, reverse=True)


def cap_alert_url(base_url: str, alert: CapAlert) -> str:
    return f"{base_url.rstrip('/')}/cap/{quote(alert.identifier, safe='')}.xml"


def cap_atom_feed(
    alerts: Iterable[CapAlert],
    self_url: str,
    base_url: str,
    *,
    now: dt.datetime | None = None,
    title: str = CAP_FEED_TITLE,
) -> bytes:
    """Atom index of the active alerts; each entry links to and embeds its CAP 1.2 XML."""
    active = active_alerts(alerts, now=now)
    links: dict[str, dict[str, str]] = {}
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(title)
    fg.link(href=self_url, rel="self")
    fg.link(href=base_url, rel="alternate")
    fg.author({"name": PUBLISHER})
    fg.language("de")
    fg.updated(max((a.sent for a in active), default=(now or dt.datetime.now(dt.UTC)).replace(microsecond=0)))
    for alert in reversed(active):  # feedgen prepends: newest ends up first
        info = alert.info("de")
        url = cap_alert_url(base_url, alert)
        entry = fg.add_entry()
        entry.id(url)
        entry.title(headline(alert))
        entry.summary(info.description)
        links[url] = {"href": url, "rel": "alternate", "type": CAP_MIME_TYPE, "title": reference_of(alert)}
        entry.link(href=url, rel="alternate", type=CAP_MIME_TYPE)
        entry.published(alert.sent)
        entry.updated(alert.sent)
        entry.author({"name": info.sender_name or PUBLISHER})
        entry.category({"term": info.event, "label": info.event})
        entry.content(content=to_cap_xml(alert), type=CAP_MIME_TYPE)
    return _restore_entry_links(bytes(fg.atom_str(pretty=True)), links)
