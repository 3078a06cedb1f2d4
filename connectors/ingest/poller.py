"""Polling the configured feeds: one task per feed, each on its own interval.

A round of one feed (``FeedPoller.poll``):

1. fetch conditionally (``fetch.fetch``); a 304 only updates the feed's state, nothing is parsed;
2. parse the bytes with feedparser in a worker thread (a big feed must not stall the event loop); a feed
   that is not well-formed XML (feedparser's "bozo" flag with a parse error), not RSS/Atom at all, too
   large, too slow, redirecting in a loop or answering 4xx/5xx is an error of that feed only: its state
   says so (German ``last_error``, also in ``/health`` and the console) and its validators are kept, so
   nothing of a broken answer is taken;
3. keep the entries not seen before (unique key per feed: the entry's id, else its link; stored, so a
   restart does not repeat anything). An entry older than ``FEED_MAX_AGE`` is recorded but never offered
   or sent; on the feed's first successful round an entry without a date counts as old too, so adding a
   feed never floods subscribers with old news;
4. mode ``draft``: the entry waits in the console's "Vorschläge" (state ``new``); mode ``publish``: a post
   to the topic's subscribers and channels (``Broadcasts.create`` + ``schedule`` now), the source named.
   The entry is stored first (``pending``) and marked ``used`` with its post's id after scheduling; a
   round interrupted in between is completed by the next one. A text a channel refuses turns the entry
   into a suggestion instead, and the feed's ``last_error`` says why.

The loops never end on an error: an unexpected one (a busy database) is logged and the feed tried again
after its interval. ``stats`` counts rounds, 304s, errors and the CPU time of the worker threads spent on
successful parses (benchmarks; the whole poll costs more: HTML cleaning is part of parsing, the database
work is not counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import feedparser
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import BroadcastError
from broadcasts.service import Actor, Broadcasts
from connectors.ingest import FeedError
from connectors.ingest.config import IngestConfig
from connectors.ingest.fetch import fetch
from connectors.ingest.html import one_line, plain_text, shorten, to_utc
from connectors.ingest.models import EntryState, FeedEntry, FeedHealth, FeedState
from connectors.ingest.texts import entry_text
from core.db import log_retry
from core.news import FeedSpec
from core.time import utcnow

log = logging.getLogger(__name__)

# bozo reasons that do not make a feed unreadable: a wrong charset or content type in the headers
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
MAX_KEY = 512


@dataclass(frozen=True)
class Item:
    """One parsed entry: plain text only."""

    key: str
    title: str
    summary: str
    link: str | None
    published_at: dt.datetime | None


@dataclass(frozen=True)
class Round:
    """What one round of one feed did."""

    feed: str
    not_modified: bool = False
    new: int = 0  # entries offered or published
    skipped: int = 0  # new to us, but older than FEED_MAX_AGE
    published: int = 0  # posts scheduled in this round
    error: str | None = None


@dataclass
class Stats:
    rounds: int = 0
    not_modified: int = 0
    errors: int = 0
    parsed: int = 0
    parse_cpu_seconds: float = 0.0
    per_feed: dict[str, int] = field(default_factory=dict)


def parse(body: bytes, content_type: str, url: str) -> list[Item]:
    """The entries of an RSS or Atom document; ``FeedError`` when it is not a readable feed."""
    headers = {"content-type": content_type or "application/xml", "content-location": url}
    result = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=True)
    version = result.get("version") or ""
    if result.get("bozo"):
        problem = result.get("bozo_exception")
        if not isinstance(problem, _BENIGN):
            detail = shorten(str(problem), 200) if problem else "unbekannt"
            if not version:
                raise FeedError(f"Keine RSS- oder Atom-Datei: kein lesbares XML ({detail}).")
            raise FeedError(
                f"Der Feed ist kein wohlgeformtes XML ({detail}); seine Einträge wurden nicht übernommen."
            )
    if not version:
        raise FeedError("Keine RSS- oder Atom-Datei: das Dokument ist kein bekanntes Feed-Format.")
    return [_item(entry) for entry in result.get("entries", [])]


def _timed_parse(body: bytes, content_type: str, url: str) -> tuple[list[Item], float]:
    """``parse`` in the worker thread, with the CPU time that thread spent on it (successful parses)."""
    started = time.thread_time()
    return parse(body, content_type, url), time.thread_time() - started


def _item(entry: Any) -> Item:
    summary_html = entry.get("summary")
    if not summary_html and entry.get("content"):
        summary_html = entry["content"][0].get("value")
    summary = plain_text(summary_html)
    title = one_line(entry.get("title"))[:500] or shorten(" ".join(summary.split()), 120) or "(ohne Titel)"
    link = entry.get("link")
    if not (isinstance(link, str) and link.startswith(("https://", "http://")) and len(link) <= 2000):
        link = None
    published = to_utc(entry.get("published_parsed") or entry.get("updated_parsed"))
    key = entry.get("id") or link
    if not key:
        key = "sha256:" + hashlib.sha256(f"{title}\n{summary}\n{published}".encode()).hexdigest()
    elif len(key) > MAX_KEY:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return Item(str(key), title, summary, link, published)


class FeedPoller:
    """Polls ``config.feeds``; posts through ``broadcasts`` (the engine's service) in publish mode."""

    def __init__(
        self,
        config: IngestConfig,
        http: aiohttp.ClientSession,
        sessions: async_sessionmaker[AsyncSession],
        broadcasts: Broadcasts | None,
    ) -> None:
        self.config = config
        self.http = http
        self.sessions = sessions
        self.broadcasts = broadcasts
        self.stats = Stats()
        self._health: dict[str, dict[str, Any]] = {
            feed.name: _health_row(feed, None) for feed in config.feeds
        }

    # -- health ----------------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the stored state of every configured feed (for ``health`` before the first round)."""
        async with self.sessions() as session:
            rows = {row.name: row for row in (await session.scalars(select(FeedState))).all()}
        for feed in self.config.feeds:
            row = rows.get(feed.name)
            self._health[feed.name] = _health_row(feed, row if row and row.url == feed.url else None)

    def health(self) -> list[dict[str, Any]]:
        """One line per feed for ``/health`` and the console: name, topic, mode, state (new/ok/error),
        last_error, last_fetch_at, last_ok_at, final_url and whether it moved (redirected elsewhere)."""
        return [dict(self._health[feed.name]) for feed in self.config.feeds]

    # -- one round -------------------------------------------------------------------------------------

    async def poll(self, feed: FeedSpec) -> Round:
        """One round of one feed. Problems of the feed end as its error state; database errors raise."""
        self.stats.rounds += 1
        self.stats.per_feed[feed.name] = self.stats.per_feed.get(feed.name, 0) + 1
        state = await self._state(feed)
        now = utcnow()
        try:
            answer = await fetch(
                self.http,
                feed.url,
                etag=state.etag,
                last_modified=state.last_modified,
                timeout=self.config.timeout,
                max_bytes=self.config.max_bytes,
            )
            if answer.not_modified:
                self.stats.not_modified += 1
                await self._save(feed, now, ok=True, final_url=answer.final_url)
                return Round(feed.name, not_modified=True)
            assert answer.body is not None
            self.stats.parsed += 1
            items, spent = await asyncio.to_thread(
                _timed_parse, answer.body, answer.content_type, answer.final_url
            )
            self.stats.parse_cpu_seconds += spent
        except FeedError as error:
            self.stats.errors += 1
            log.warning("feed %s (%s): %s", feed.name, feed.url, error.message)
            await self._save(feed, now, ok=False, error=error.message)
            return Round(feed.name, error=error.message)
        if answer.moved_permanently:
            log.warning("feed %s moved permanently to %s; please update FEEDS", feed.name, answer.final_url)
        new, skipped = await self._store(feed, items, first=not state.first_seen_done, now=now)
        await self._save(
            feed,
            now,
            ok=True,
            final_url=answer.final_url,
            etag=answer.etag,
            last_modified=answer.last_modified,
            first_done=True,
        )
        published = await self._publish_pending(feed) if feed.mode == "publish" else 0
        return Round(feed.name, new=new, skipped=skipped, published=published)

    async def _state(self, feed: FeedSpec) -> FeedState:
        async with self.sessions.begin() as session:
            state = await session.get(FeedState, feed.name)
            if state is None:
                state = FeedState(name=feed.name, url=feed.url, state=FeedHealth.NEW, first_seen_done=False)
                session.add(state)
            elif state.url != feed.url:
                # another URL under the same name: a new feed (its validators and first round start over)
                state.url, state.etag, state.last_modified, state.final_url = feed.url, None, None, None
                state.first_seen_done, state.state, state.last_error = False, FeedHealth.NEW, None
            await session.flush()
            return state

    async def _save(
        self,
        feed: FeedSpec,
        now: dt.datetime,
        *,
        ok: bool,
        error: str | None = None,
        final_url: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        first_done: bool = False,
    ) -> None:
        async with self.sessions.begin() as session:
            state = await session.get(FeedState, feed.name)
            assert state is not None
            state.last_fetch_at = now
            if ok:
                state.state, state.last_ok_at, state.last_error = FeedHealth.OK, now, None
                state.final_url = final_url
                if etag is not None or last_modified is not None or first_done:
                    state.etag, state.last_modified = etag, last_modified
                if first_done:
                    state.first_seen_done = True
            else:
                state.state, state.last_error = FeedHealth.ERROR, error
            self._health[feed.name] = _health_row(feed, state)

    async def _note(self, feed: FeedSpec, problem: str) -> None:
        """A problem after a good fetch (a post a channel refused): shown, the feed stays ``ok``."""
        async with self.sessions.begin() as session:
            state = await session.get(FeedState, feed.name)
            if state is not None:
                state.last_error = problem
                self._health[feed.name] = _health_row(feed, state)

    async def _store(
        self, feed: FeedSpec, items: Sequence[Item], *, first: bool, now: dt.datetime
    ) -> tuple[int, int]:
        """Insert the entries not seen before; returns (taken, skipped as too old)."""
        unique: dict[str, Item] = {}
        for item in items:
            unique.setdefault(item.key, item)
        if not unique:
            return 0, 0
        async with self.sessions() as session:
            known: set[str] = set()
            keys = list(unique)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                known |= set(
                    (
                        await session.scalars(
                            select(FeedEntry.entry_key).where(
                                FeedEntry.feed == feed.name, FeedEntry.entry_key.in_(chunk)
                            )
                        )
                    ).all()
                )
        oldest = now - self.config.max_age
        rows = []
        taken = skipped = 0
        fresh_state = EntryState.PENDING if feed.mode == "publish" else EntryState.NEW
        # oldest first: posts go out (and suggestions are listed) in the order they were published
        ordered = sorted(
            (i for k, i in unique.items() if k not in known),
            key=lambda i: i.published_at or now,
        )
        for item in ordered:
            too_old = item.published_at < oldest if item.published_at else first
            state = EntryState.SKIPPED if too_old else fresh_state
            skipped += too_old
            taken += not too_old
            rows.append(
                FeedEntry(
                    feed=feed.name,
                    entry_key=item.key,
                    title=item.title,
                    summary=item.summary,
                    link=item.link,
                    published_at=item.published_at,
                    topic=feed.topic,
                    mode=feed.mode,
                    created_at=now,
                    state=state,
                )
            )
        if not rows:
            return 0, 0
        try:
            async with self.sessions.begin() as session:
                session.add_all(rows)
        except IntegrityError:
            # another process stored some of them meanwhile: one by one, the known ones skipped
            taken = skipped = 0
            for row in rows:
                try:
                    async with self.sessions.begin() as session:
                        session.add(_copy(row))
                except IntegrityError:
                    continue
                skipped += row.state == EntryState.SKIPPED
                taken += row.state != EntryState.SKIPPED
        return taken, skipped

    async def _publish_pending(self, feed: FeedSpec) -> int:
        if self.broadcasts is None:
            await self._note(feed, "Veröffentlichen ist nicht eingerichtet; die Einträge warten.")
            return 0
        async with self.sessions() as session:
            pending = (
                await session.scalars(
                    select(FeedEntry)
                    .where(FeedEntry.feed == feed.name, FeedEntry.state == EntryState.PENDING)
                    .order_by(FeedEntry.published_at, FeedEntry.id)
                )
            ).all()
        actor = Actor(f"feed:{feed.name}"[:64], "system", f"ingest:{feed.name}"[:128])
        published = 0
        for entry in pending:
            text = entry_text(entry.title, entry.summary, feed.name, entry.published_at)
            try:
                broadcast_id = entry.broadcast_id
                if broadcast_id is None:
                    broadcast_id = await self.broadcasts.create(actor, feed.topic, text, link=entry.link)
                    await self._set_entry(entry.id, broadcast_id=broadcast_id)
                await self.broadcasts.schedule(actor, broadcast_id)
            except BroadcastError as refused:
                # e.g. a text over a channel's limit: the press office can edit it (a suggestion)
                await self._set_entry(entry.id, state=EntryState.NEW)
                await self._note(
                    feed,
                    f"„{shorten(entry.title, 80)}“ wurde nicht automatisch veröffentlicht: {refused.message} "
                    "Der Eintrag liegt unter „Vorschläge“.",
                )
                continue
            await self._set_entry(entry.id, state=EntryState.USED)
            published += 1
        return published

    async def _set_entry(
        self, entry_id: int, *, state: EntryState | None = None, broadcast_id: int | None = None
    ) -> None:
        async with self.sessions.begin() as session:
            row = await session.get(FeedEntry, entry_id)
            if row is None:
                return
            if state is not None:
                row.state = state
            if broadcast_id is not None:
                row.broadcast_id = broadcast_id

    # -- the loops -------------------------------------------------------------------------------------

    async def _loop(self, feed: FeedSpec, stop: asyncio.Event, delay: float) -> None:
        if delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        while not stop.is_set():
            try:
                await self.poll(feed)
            except Exception as error:  # the database, not the feed: logged, tried again next round
                log_retry(log, f"feed {feed.name}", error, feed.interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), feed.interval)

    @contextlib.asynccontextmanager
    async def running(self, start_delay: float = 0.0, grace: float | None = None) -> AsyncIterator[None]:
        """Poll every feed on its interval while the block is open (one task per feed). On exit the
        loops are told to stop; a round under way may finish within ``grace`` seconds (default: the
        fetch timeout plus 5 s), then it is cancelled."""
        await self.load()
        stop = asyncio.Event()
        count = max(1, len(self.config.feeds))
        tasks = [
            asyncio.create_task(
                # spread the first rounds over a second, so 50 feeds do not start in the same instant
                self._loop(feed, stop, start_delay + index / count),
                name=f"feed:{feed.name}",
            )
            for index, feed in enumerate(self.config.feeds)
        ]
        try:
            yield
        finally:
            stop.set()
            if tasks:
                wait = self.config.timeout + 5.0 if grace is None else grace
                _done, late = await asyncio.wait(tasks, timeout=wait)
                for task in late:
                    log.warning("%s did not stop within %.0f s; cancelling it", task.get_name(), wait)
                    task.cancel()
                for task in late:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


def _copy(row: FeedEntry) -> FeedEntry:
    return FeedEntry(
        feed=row.feed,
        entry_key=row.entry_key,
        title=row.title,
        summary=row.summary,
        link=row.link,
        published_at=row.published_at,
        topic=row.topic,
        mode=row.mode,
        created_at=row.created_at,
        state=row.state,
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _health_row(feed: FeedSpec, state: FeedState | None) -> dict[str, Any]:
    final_url = state.final_url if state else None
    return {
        "name": feed.name,
        "topic": feed.topic,
        "mode": feed.mode,
        "interval": feed.interval,
        "state": str(state.state) if state else str(FeedHealth.NEW),
        "last_error": state.last_error if state else None,
        "last_fetch_at": _iso(state.last_fetch_at) if state else None,
        "last_ok_at": _iso(state.last_ok_at) if state else None,
        "final_url": final_url,
        "moved": bool(final_url and final_url != feed.url),
    }
