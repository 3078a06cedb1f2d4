"""HTTP routes of the feed channels; rendered on every request from what ``broadcasts.published`` reads
(feedgen is blocking: rendering runs in a thread)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from broadcasts import published
from broadcasts.feeds import atom_feed, cap_atom_feed, rss_feed
from core import KoblenzError
from core.db import sessionmaker
from core.keys import ENGINE, SETTINGS


class FeedNotFound(KoblenzError):
    status = 404
    code = "not_found"


def base_url(request: web.Request) -> str:
    configured = request.app[SETTINGS].public_url
    return configured.rstrip("/") if configured else str(request.url.origin())


async def rss(request: web.Request) -> web.StreamResponse:
    base = base_url(request)
    items = await published.feed_items(sessionmaker(request.app[ENGINE]), base)
    body = await asyncio.to_thread(rss_feed, items, self_url=f"{base}/feeds/rss.xml")
    return web.Response(body=body, content_type="application/rss+xml", charset="utf-8")


async def atom(request: web.Request) -> web.StreamResponse:
    base = base_url(request)
    items = await published.feed_items(sessionmaker(request.app[ENGINE]), base)
    body = await asyncio.to_thread(atom_feed, items, self_url=f"{base}/feeds/atom.xml")
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


async def cap_atom(request: web.Request) -> web.StreamResponse:
    base = base_url(request)
    alerts = await published.active_cap_alerts(sessionmaker(request.app[ENGINE]))
    body = await asyncio.to_thread(cap_atom_feed, alerts, f"{base}/feeds/cap.atom", base)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


async def cap_file(request: web.Request) -> web.StreamResponse:
    xml = await published.cap_xml(sessionmaker(request.app[ENGINE]), request.match_info["identifier"])
    if xml is None:
        raise FeedNotFound("Diese Warnung gibt es nicht.")
    return web.Response(body=xml.encode("utf-8"), content_type="application/cap+xml", charset="utf-8")


FEED_PATHS = ("/feeds/rss.xml", "/feeds/atom.xml")
CAP_PATHS = ("/feeds/cap.atom", "/alerts/{identifier}.cap.xml", "/cap/{identifier}.xml")


def feed_routes() -> list[web.RouteDef]:
    return [web.get("/feeds/rss.xml", rss), web.get("/feeds/atom.xml", atom)]


def cap_routes() -> list[web.RouteDef]:
    return [
        web.get("/feeds/cap.atom", cap_atom),
        web.get("/alerts/{identifier}.cap.xml", cap_file),
        web.get("/cap/{identifier}.xml", cap_file),  # the URL the CAP feed links to
    ]
