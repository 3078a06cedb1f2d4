"""The console's "Vorschläge": entries of feeds in ``draft`` mode, ready to edit and schedule.

The console cannot import this package (connectors are independent of each other); the root hands it
these functions, e.g. ``lambda: suggestions(sessions, 50)`` for ``connectors.console.web.SUGGESTIONS``.
A suggestion is used (``mark_used``, with the id of the post made from it, so the chat names the feed as
the post's source) or dismissed (``dismiss``); either takes it off the list.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.ingest import SuggestionClosed, SuggestionNotFound
from connectors.ingest.models import EntryState, FeedEntry
from connectors.ingest.texts import entry_text
from core.news import Suggestion


def as_suggestion(entry: FeedEntry) -> Suggestion:
    return Suggestion(
        id=entry.id,
        feed=entry.feed,
        topic=entry.topic,
        title=entry.title,
        text=entry_text(entry.title, entry.summary, entry.feed, entry.published_at),
        link=entry.link,
        published_at=entry.published_at,
        created_at=entry.created_at,
        state=str(entry.state),
    )


async def suggestions(sessions: async_sessionmaker[AsyncSession], limit: int = 50) -> list[Suggestion]:
    """Open suggestions, newest first (by the entry's date, else when it was fetched)."""
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(FeedEntry)
                .where(FeedEntry.state == EntryState.NEW)
                .order_by(FeedEntry.created_at.desc(), FeedEntry.id.desc())
                .limit(max(1, limit))
            )
        ).all()
    return [as_suggestion(row) for row in rows]


async def _close(
    sessions: async_sessionmaker[AsyncSession],
    suggestion_id: int,
    state: EntryState,
    broadcast_id: int | None,
) -> Suggestion:
    async with sessions.begin() as session:
        row = await session.get(FeedEntry, suggestion_id, with_for_update=True)
        if row is None or row.state in (EntryState.SKIPPED, EntryState.PENDING):
            raise SuggestionNotFound(f"Den Vorschlag {suggestion_id} gibt es nicht.")
        if row.state != EntryState.NEW:
            done = "übernommen" if row.state == EntryState.USED else "verworfen"
            raise SuggestionClosed(f"Der Vorschlag {suggestion_id} wurde bereits {done}.")
        row.state = state
        if broadcast_id is not None:
            row.broadcast_id = broadcast_id
        return as_suggestion(row)


async def dismiss(sessions: async_sessionmaker[AsyncSession], suggestion_id: int) -> Suggestion:
    """Take a suggestion off the list without a post."""
    return await _close(sessions, suggestion_id, EntryState.DISMISSED, None)


async def mark_used(
    sessions: async_sessionmaker[AsyncSession], suggestion_id: int, broadcast_id: int | None = None
) -> Suggestion:
    """The press office made a post of it (``broadcast_id``: that post's id)."""
    return await _close(sessions, suggestion_id, EntryState.USED, broadcast_id)
