"""One conditional GET of a feed through the project's aiohttp session; feedparser never touches the
network (it gets the bytes).

- ``If-None-Match`` / ``If-Modified-Since`` from the last answer: a 304 costs no body and no parsing.
- A timeout for the whole exchange (a slow feed is cut off), a size limit counted on the unpacked bytes
  while streaming (gzip is unpacked by aiohttp; a body beyond the limit is abandoned, not read).
- Redirects followed by hand, at most ``MAX_REDIRECTS``: a loop is recognised (a URL seen before), and the
  final URL is reported, so ``/health`` can show that a feed moved (a 301: update ``FEEDS``).

Every failure is a ``FeedError`` with a German reason (shown to staff as the feed's ``last_error``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from connectors.ingest import FeedError

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
USER_AGENT = "koblenz-bot-feeds/1.0 (Stadt Koblenz, Buergerbot)"
CHUNK = 64 * 1024
STATUS_TEXT = {
    400: "ungültige Anfrage",
    401: "Anmeldung verlangt",
    403: "Zugriff verweigert",
    404: "nicht gefunden",
    410: "dauerhaft entfernt",
    429: "zu viele Anfragen",
    500: "Serverfehler",
    502: "Gateway-Fehler",
    503: "Dienst nicht verfügbar",
    504: "Gateway-Zeitüberschreitung",
}


@dataclass(frozen=True)
class Fetched:
    """The answer: ``body`` None when the feed did not change (304)."""

    body: bytes | None
    final_url: str
    etag: str | None
    last_modified: str | None
    content_type: str = ""
    redirects: tuple[tuple[int, str], ...] = field(default=())  # (status, target) per hop

    @property
    def not_modified(self) -> bool:
        return self.body is None

    @property
    def moved_permanently(self) -> bool:
        return bool(self.redirects) and all(status in PERMANENT for status, _ in self.redirects)


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 20.0,
    max_bytes: int = 5_000_000,
) -> Fetched:
    """GET ``url`` (conditionally); raise ``FeedError`` with the reason when it cannot be read."""
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(session, url, etag, last_modified, timeout, max_bytes)
    except TimeoutError:
        raise FeedError(
            f"Zeitüberschreitung: keine vollständige Antwort innerhalb von {timeout:g} s."
        ) from None
    except aiohttp.ClientError as error:
        raise FeedError(f"Verbindung fehlgeschlagen: {_describe(error)}") from None


async def _fetch(
    session: aiohttp.ClientSession,
    url: str,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    max_bytes: int,
) -> Fetched:
    headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = URL(url)
    seen = {str(current)}
    hops: list[tuple[int, str]] = []
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
    while True:
        async with session.get(
            current, headers=headers, allow_redirects=False, timeout=client_timeout
        ) as response:
            if response.status in REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise FeedError(f"Weiterleitung (HTTP {response.status}) ohne Zieladresse.")
                target = current.join(URL(location))
                if target.scheme not in ("http", "https"):
                    raise FeedError(f"Weiterleitung auf eine Adresse, die kein Web-Feed ist: {target}")
                if str(target) in seen:
                    raise FeedError(
                        f"Weiterleitungsschleife: {target} leitet nach {len(hops) + 1} Schritten wieder "
                        "auf eine schon besuchte Adresse."
                    )
                hops.append((response.status, str(target)))
                if len(hops) > MAX_REDIRECTS:
                    raise FeedError(f"Zu viele Weiterleitungen (mehr als {MAX_REDIRECTS}); zuletzt: {target}")
                seen.add(str(target))
                current = target
                continue
            if response.status == 304:
                return Fetched(
                    None,
                    str(current),
                    response.headers.get("ETag") or etag,
                    response.headers.get("Last-Modified") or last_modified,
                    redirects=tuple(hops),
                )
            if response.status != 200:
                reason = STATUS_TEXT.get(response.status, response.reason or "")
                raise FeedError(f"HTTP {response.status}" + (f" ({reason})" if reason else "") + ".")
            declared = response.content_length
            if declared is not None and declared > max_bytes and not response.headers.get("Content-Encoding"):
                raise FeedError(_too_large(max_bytes))
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise FeedError(_too_large(max_bytes))
            return Fetched(
                bytes(body),
                str(current),
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
                response.headers.get("Content-Type", ""),
                tuple(hops),
            )


def _too_large(max_bytes: int) -> str:
    return f"Der Feed ist größer als {max_bytes / 1_000_000:g} MB und wurde nicht gelesen."


def _describe(error: aiohttp.ClientError) -> str:
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"Server {error.host}:{error.port} nicht erreichbar"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "die Antwort brach ab oder war falsch gepackt"
    return type(error).__name__
