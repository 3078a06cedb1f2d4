"""The link check: is every deep link in the catalog still answering (``koblenz-bot catalog check-links``,
and weekly inside ``koblenz-bot serve``)?

For each URL: a HEAD request first; a GET when the server refuses HEAD (403, 405, 501) or the HEAD request
fails (connection error or timeout). Redirects are followed by hand, at most ten, and reported as a chain.
Each request has its own timeout. At most ``concurrency`` links are checked at once and at most two
requests go to one host at a time; the user agent names the bot and, when configured, the project's
contact page.

A link is broken when the last answer is 4xx or 5xx, or the request timed out or the connection failed. A
redirect that ends on a working page is fine, but reported. The last result is kept in
``<state_dir>/linkcheck.json`` for ``/health`` (:func:`last_result`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from dataclasses import field as default
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from catalog.model import Catalog, load_catalog
from core.settings import Settings
from core.time import utcnow

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds per request
DEFAULT_CONCURRENCY = 8
PER_HOST = 2
MAX_REDIRECTS = 10
HEAD_REFUSED = frozenset({403, 405, 501})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
WEEK = dt.timedelta(days=7)
RESULT_FILE = "linkcheck.json"
AGENT = "KoblenzBot-Linkcheck/1.0"


def user_agent(contact_url: str = "") -> str:
    """``KoblenzBot-Linkcheck/1.0 (+https://…)`` with the contact page, or without when none is set."""
    return f"{AGENT} (+{contact_url})" if contact_url else AGENT


@dataclass(frozen=True)
class Target:
    """One link to check and where it sits in the catalog."""

    service_id: str  # a service id, or "amt:<office id>" for an office's page; "" for a bare URL
    field: str  # links[0] (online), web, sources[1], ...
    url: str


@dataclass
class LinkResult:
    service_id: str
    field: str
    url: str
    ok: bool
    status: int | None = None
    final_url: str | None = None
    redirects: list[dict[str, Any]] = default(default_factory=list)  # [{"status": 301, "url": next}, ...]
    error: str | None = None
    method: str | None = None  # the request that gave the last answer: HEAD or GET

    def as_dict(self) -> dict[str, Any]:
        return {
            "service_id": self.service_id,
            "field": self.field,
            "url": self.url,
            "status": self.status,
            "final_url": self.final_url,
            "redirects": self.redirects,
            "error": self.error,
            "ok": self.ok,
            "method": self.method,
        }


def catalog_targets(catalog: Catalog, include_sources: bool = False) -> list[Target]:
    """Every link of the catalog: the services' deep links and the offices' pages (and, if asked, the
    sources the facts were checked against)."""
    targets: list[Target] = []
    for service in catalog:
        for index, link in enumerate(service.links):
            targets.append(Target(service.id, f"links[{index}] ({link.kind})", str(link.url)))
        if include_sources:
            for index, source in enumerate(service.sources):
                targets.append(Target(service.id, f"sources[{index}]", str(source)))
    for office in catalog.offices.values():
        if office.web is not None:
            targets.append(Target(f"amt:{office.id}", "web", str(office.web)))
        if include_sources:
            for index, source in enumerate(office.sources):
                targets.append(Target(f"amt:{office.id}", f"sources[{index}]", str(source)))
    return targets


class _HostLimits:
    """At most ``per_host`` requests at once to one host (scheme, host and port)."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}

    def of(self, url: str) -> asyncio.Semaphore:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}".lower()
        if key not in self._hosts:
            self._hosts[key] = asyncio.Semaphore(self._per_host)
        return self._hosts[key]


class _Failed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _request(
    session: aiohttp.ClientSession, method: str, url: str, timeout: float
) -> tuple[int, str | None]:
    async with session.request(
        method, url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as response:
        return response.status, response.headers.get("Location")


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"Zeitüberschreitung (keine Antwort nach {timeout:g} s)"
    if isinstance(error, aiohttp.InvalidURL):
        return "ungültige Adresse"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"keine Verbindung: {error.os_error.strerror or error.os_error}"
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | ConnectionError):
        return "Verbindung vom Server abgebrochen"
    if isinstance(error, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return f"fehlerhafte Antwort: {error}"
    return f"Fehler: {type(error).__name__}: {error}"


async def _probe(
    session: aiohttp.ClientSession, url: str, limits: _HostLimits, timeout: float
) -> tuple[int, str | None, str]:
    """One hop: HEAD, then GET when HEAD is refused or fails. Raises _Failed when GET fails too."""
    async with limits.of(url):
        try:
            status, location = await _request(session, "HEAD", url, timeout)
            if status not in HEAD_REFUSED:
                return status, location, "HEAD"
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            if isinstance(error, aiohttp.InvalidURL):
                raise _Failed(_describe(error, timeout)) from None
        try:
            status, location = await _request(session, "GET", url, timeout)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise _Failed(_describe(error, timeout)) from None
        return status, location, "GET"


async def _check_one(
    session: aiohttp.ClientSession, target: Target, limits: _HostLimits, timeout: float
) -> LinkResult:
    result = LinkResult(target.service_id, target.field, target.url, ok=False)
    url = target.url
    try:
        while True:
            if urlsplit(url).scheme not in ("http", "https"):
                raise _Failed(f"keine http(s)-Adresse: {url}")
            status, location, method = await _probe(session, url, limits, timeout)
            result.status, result.method, result.final_url = status, method, url
            if status in REDIRECTS and location:
                if len(result.redirects) >= MAX_REDIRECTS:
                    raise _Failed(f"mehr als {MAX_REDIRECTS} Weiterleitungen")
                url = urljoin(url, location)
                result.redirects.append({"status": status, "url": url})
                continue
            result.ok = status < 400
            if not result.ok:
                result.error = f"HTTP {status}"
            return result
    except _Failed as failed:
        result.error = failed.message
    except Exception as error:  # one odd link must not stop the check of all the others
        result.error = _describe(error, timeout)
    return result


async def check_links(
    targets: Sequence[Target | str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host: int = PER_HOST,
    agent: str = AGENT,
) -> list[LinkResult]:
    """Check the links (catalog targets or bare URLs); the results come back in the same order."""
    if timeout <= 0 or concurrency < 1 or per_host < 1:
        raise ValueError("timeout must be positive, concurrency and per_host at least 1")
    items = [t if isinstance(t, Target) else Target("", "url", t) for t in targets]
    limits = _HostLimits(per_host)
    overall = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=per_host)
    headers = {"User-Agent": agent, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}

    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(target: Target) -> LinkResult:
            async with overall:
                return await _check_one(session, target, limits, timeout)

        return list(await asyncio.gather(*(one(target) for target in items)))


# -- the last result, for /health and the console ------------------------------------------------------


def summary(results: Sequence[LinkResult], checked_at: dt.datetime) -> dict[str, Any]:
    broken = [r for r in results if not r.ok]
    return {
        "checked_at": checked_at.isoformat(timespec="seconds"),
        "total": len(results),
        "ok": len(results) - len(broken),
        "redirected": sum(1 for r in results if r.ok and r.redirects),
        "broken": len(broken),
        "broken_links": [r.as_dict() for r in broken],
    }


def write_result(state_dir: Path, results: Sequence[LinkResult], checked_at: dt.datetime) -> dict[str, Any]:
    """Keep the result in ``state_dir/linkcheck.json`` (written whole: a reader never sees half a file)."""
    data = summary(results, checked_at)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / RESULT_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return data


def last_result(state_dir: Path) -> dict[str, Any] | None:
    """The last link check for ``/health``: when, totals and the broken links; None if never run."""
    path = state_dir / RESULT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("link check result %s unreadable: %s", path, error)
        return None
    if not isinstance(data, dict) or "checked_at" not in data:
        return None
    return data


def _checked_at(data: dict[str, Any] | None) -> dt.datetime | None:
    if data is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(data["checked_at"]))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


async def run_check(
    settings: Settings, timeout: float = DEFAULT_TIMEOUT, concurrency: int = DEFAULT_CONCURRENCY
) -> dict[str, Any]:
    """Check the catalog's links and keep the result; returns the summary."""
    catalog = await asyncio.to_thread(load_catalog, settings.catalog_dir)
    results = await check_links(
        catalog_targets(catalog),
        timeout=timeout,
        concurrency=concurrency,
        agent=user_agent(settings.linkcheck_contact_url),
    )
    data = await asyncio.to_thread(write_result, settings.state_dir, results, utcnow())
    if data["broken"]:
        log.warning(
            "link check: %d of %d links broken: %s",
            data["broken"],
            data["total"],
            ", ".join(f"{r['service_id']} {r['url']} ({r['error']})" for r in data["broken_links"]),
        )
    else:
        log.info("link check: all %d links answer", data["total"])
    return data


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when told to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    return stop.is_set()


async def weekly_loop(
    settings: Settings,
    stop: asyncio.Event,
    *,
    interval: dt.timedelta = WEEK,
    first_delay: float = 300.0,
    poll: float = 3600.0,
) -> None:
    """Run the link check whenever the last result is older than ``interval`` (a week), until ``stop`` is
    set. It first waits ``first_delay`` seconds, so that restarts and short test runs never check; after a
    failed run it tries again after ``poll`` seconds. A check under way is abandoned when told to stop."""
    if await _wait(stop, first_delay):
        return
    while not stop.is_set():
        last = _checked_at(await asyncio.to_thread(last_result, settings.state_dir))
        due = 0.0 if last is None else (last + interval - utcnow()).total_seconds()
        if due <= 0:
            check = asyncio.create_task(run_check(settings), name="link-check")
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({check, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not check.done():
                check.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await check
                return
            if check.exception() is None:
                continue
            log.error("link check failed, next try in %.0f s: %r", poll, check.exception())
            due = poll
        if await _wait(stop, min(due, poll)):
            return


@contextlib.asynccontextmanager
async def weekly(settings: Settings, **options: Any) -> AsyncIterator[None]:
    """The weekly check as a background task while the block is open (``cleanup_ctx`` of the app);
    nothing runs when ``linkcheck_weekly`` is off."""
    if not settings.linkcheck_weekly:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(weekly_loop(settings, stop, **options), name="link-check-weekly")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 5)  # cancels the task after 5 s
        except TimeoutError:
            log.warning("weekly link check did not stop within 5 s; cancelled")
        except Exception:
            log.exception("weekly link check ended with an error")
