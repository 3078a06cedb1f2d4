"""A loopback double of the news feeds the bot polls (RSS 2.0 and Atom 1.0, as the health office's, the
police's and the city's content systems serve them), with every fault the poller must survive.

A real aiohttp server on 127.0.0.1::

    fake = FakeFeeds()
    await fake.start()                     # fake.url = "http://127.0.0.1:<port>"
    fake.set_items("rss", [FeedItem("id-1", "Titel", "<p>Text</p>", published=...)])
    feed_url = fake.url + "/rss"
    ...
    await fake.stop()

Paths (each feed's entries are set with ``set_items(name, items)``; the body, its ETag and Last-Modified
change only when the entries change):

    /rss            RSS 2.0 (``<item>`` with guid, title, description, link, pubDate in RFC 822)
    /atom           Atom 1.0 (``<entry>`` with id, title, summary type="html", link rel="alternate", updated)
    /gzip           the "gzip" feed as RSS, sent with ``Content-Encoding: gzip``
    /moved          301 to /new (permanent); /new serves the "new" feed as RSS
    /hop            302 → /hop2 → /rss (temporary, two hops)
    /loop-a         302 to /loop-b, which 302s back to /loop-a (a redirect loop)
    /far/<n>        302 to /far/<n-1> ... /far/0 serves the "far" feed (n hops)
    /malformed      XML that is not well-formed and not recognisable (truncated in the middle of a tag)
    /bozo           an RSS 2.0 document that is almost right: an unescaped "&" and an undefined entity
                    (feedparser's loose parser still finds entries and sets ``bozo``)
    /html           an HTML page (200, text/html), not a feed
    /slow           RSS, but only after ``slow_seconds`` (default 5)
    /huge           valid RSS start, then ``huge_bytes`` (default 8 MB) of items streamed in chunks, no
                    Content-Length; ``bytes_sent["/huge"]`` shows how much was actually written
    /404            404 Not Found
    /500            500 Internal Server Error

Conditional requests on every feed path: ``If-None-Match`` equal to the current ETag, or
``If-Modified-Since`` not older than Last-Modified → 304 with no body. ``conditional=False`` turns that
off (a server that always sends the full feed).

Counters: ``requests`` (Counter per path), ``not_modified`` (Counter of 304s per path), ``bytes_sent``
(body bytes per path), ``headers`` (the request headers of the latest request per path).
Fault switches: ``fail_next(path, n, status=500)`` answers the next n requests of a path with that status.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import gzip
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from tests.fakes.loopback import serve


@dataclass(frozen=True)
class FeedItem:
    id: str | None
    title: str
    summary_html: str
    link: str | None = None
    published: dt.datetime | None = None


def rss(items: list[FeedItem], title: str = "Testfeed") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://example.invalid/</link>",
        "<description>Testfeed</description>",
    ]
    for item in items:
        parts.append("<item>")
        if item.id is not None:
            parts.append(f'<guid isPermaLink="false">{escape(item.id)}</guid>')
        parts.append(f"<title>{escape(item.title)}</title>")
        parts.append(f"<description>{escape(item.summary_html)}</description>")
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.published:
            parts.append(f"<pubDate>{email.utils.format_datetime(item.published)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


def atom(items: list[FeedItem], title: str = "Testfeed") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(title)}</title><id>urn:test:feed</id>",
        "<updated>2025-01-01T00:00:00Z</updated>",
    ]
    for item in items:
        parts.append("<entry>")
        if item.id is not None:
            parts.append(f"<id>{escape(item.id)}</id>")
        parts.append(f"<title>{escape(item.title)}</title>")
        parts.append(f'<summary type="html">{escape(item.summary_html)}</summary>')
        if item.link:
            parts.append(f'<link rel="alternate" href="{escape(item.link)}"/>')
        if item.published:
            parts.append(f"<updated>{item.published.isoformat()}</updated>")
        parts.append("</entry>")
    parts.append("</feed>")
    return "\n".join(parts).encode()


MALFORMED = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Kaputt</title><item><title>Eins</ti'
BOZO = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Fast richtig</title>'
    b"<item><guid>bozo-1</guid><title>Rock &amp; Roll & mehr&nbsp;heute</title>"
    b"<description>Text</description><link>https://example.invalid/bozo</link></item>"
    b"</channel></rss>"
)
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Startseite</title></head><body><p>Keine RSS-Datei</p></body></html>"
)


class FakeFeeds:
    def __init__(self, slow_seconds: float = 5.0, huge_bytes: int = 8_000_000) -> None:
        self.slow_seconds = slow_seconds
        self.huge_bytes = huge_bytes
        self.conditional = True
        self.url = ""
        self.requests: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        self._items: dict[str, list[FeedItem]] = {}
        self._changed: dict[str, dt.datetime] = {}
        self._failures: dict[str, list[int]] = {}
        self._runner: web.AppRunner | None = None

    # -- content and faults ----------------------------------------------------------------------------

    def set_items(self, name: str, items: list[FeedItem]) -> None:
        """The entries of feed ``name`` ("rss", "atom", "gzip", "new", "far", "slow"); a change gives it a
        new ETag and a Last-Modified one second later than before."""
        self._items[name] = list(items)
        before = self._changed.get(name, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        self._changed[name] = max(
            before + dt.timedelta(seconds=1), dt.datetime.now(dt.UTC).replace(microsecond=0)
        )

    def items(self, name: str) -> list[FeedItem]:
        return list(self._items.get(name, []))

    def fail_next(self, path: str, count: int = 1, status: int = 500) -> None:
        self._failures.setdefault(path, []).extend([status] * count)

    # -- server ----------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner, self.url = await serve(app, access_log=None, shutdown_timeout=0.5)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests[path] += 1
        self.headers[path] = dict(request.headers)
        failures = self._failures.get(path)
        if failures:
            return web.Response(status=failures.pop(0), text="Fehler")
        if path == "/404":
            return web.Response(status=404, text="Not Found")
        if path == "/500":
            return web.Response(status=500, text="Internal Server Error")
        if path == "/moved":
            raise web.HTTPMovedPermanently("/new")
        if path == "/hop":
            raise web.HTTPFound("/hop2")
        if path == "/hop2":
            raise web.HTTPFound("/rss")
        if path == "/loop-a":
            raise web.HTTPFound("/loop-b")
        if path == "/loop-b":
            raise web.HTTPFound(f"{self.url}/loop-a")
        if path.startswith("/far/"):
            hops = int(path.rsplit("/", 1)[1])
            if hops > 0:
                raise web.HTTPFound(f"/far/{hops - 1}")
            return self._feed(request, "far", rss)
        if path == "/malformed":
            return self._body(path, MALFORMED, "application/rss+xml")
        if path == "/bozo":
            return self._body(path, BOZO, "application/rss+xml")
        if path == "/html":
            return self._body(path, HTML_PAGE, "text/html; charset=utf-8")
        if path == "/huge":
            return await self._huge(request)
        if path == "/slow":
            await asyncio.sleep(self.slow_seconds)
            return self._feed(request, "slow", rss)
        if path == "/rss":
            return self._feed(request, "rss", rss)
        if path == "/new":
            return self._feed(request, "new", rss)
        if path == "/atom":
            return self._feed(request, "atom", atom, "application/atom+xml")
        if path == "/gzip":
            return self._feed(request, "gzip", rss, gzipped=True)
        return web.Response(status=404, text="Not Found")

    def _body(self, path: str, body: bytes, content_type: str) -> web.Response:
        self.bytes_sent[path] += len(body)
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _feed(
        self,
        request: web.Request,
        name: str,
        render: Any,
        content_type: str = "application/rss+xml; charset=utf-8",
        gzipped: bool = False,
    ) -> web.Response:
        body = render(self._items.get(name, []))
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        changed = self._changed.get(name, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        last_modified = email.utils.format_datetime(changed, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": last_modified}
        if self.conditional and self._unchanged(request, etag, changed):
            self.not_modified[request.path] += 1
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = content_type
        if gzipped:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.bytes_sent[request.path] += len(body)
        return web.Response(body=body, headers=headers)

    @staticmethod
    def _unchanged(request: web.Request, etag: str, changed: dt.datetime) -> bool:
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            return etag in [tag.strip() for tag in if_none_match.split(",")]
        since = request.headers.get("If-Modified-Since")
        if since:
            with contextlib.suppress(TypeError, ValueError):
                return email.utils.parsedate_to_datetime(since) >= changed
        return False

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Riesig</title>'
        await response.write(head)
        self.bytes_sent[request.path] += len(head)
        chunk = b"<item><title>" + b"x" * 60_000 + b"</title></item>"
        try:
            while self.bytes_sent[request.path] < self.huge_bytes:
                await response.write(chunk)
                self.bytes_sent[request.path] += len(chunk)
            await response.write(b"</channel></rss>")
            await response.write_eof()
        except ConnectionResetError:  # the client gave up (the poller's size limit)
            pass
        return response
