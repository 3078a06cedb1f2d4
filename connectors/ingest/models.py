"""Storage of the inbound feeds (migration 0008).

- ``FeedState``: one row per configured feed name: the conditional-request validators (ETag,
  Last-Modified) that make the next poll cheap, when it was fetched and last read fine, its state
  (``ok``/``error``) with the last error in German, the URL a redirect ended at, and ``first_seen_done``:
  False until the first successful round, which takes only entries younger than ``FEED_MAX_AGE``.
- ``FeedEntry``: every entry ever seen, unique per feed by its key (the entry's id, else its link): what
  makes de-duplication survive restarts. Draft entries are the console's suggestions (state ``new`` →
  ``used``/``dismissed``); publish entries point at the post they became (``broadcast_id``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broadcasts.models import StateColumn, UTCDateTime
from core.db import Base
from core.time import utcnow


class FeedHealth(StrEnum):
    NEW = "new"  # configured, not fetched yet
    OK = "ok"
    ERROR = "error"


class EntryState(StrEnum):
    NEW = "new"  # draft: a suggestion waiting for the press office
    USED = "used"  # draft: taken into a post; publish: the post is scheduled
    DISMISSED = "dismissed"  # draft: the press office did not want it
    SKIPPED = "skipped"  # older than FEED_MAX_AGE when first seen: recorded, never offered or sent
    PENDING = "pending"  # publish: stored, the post not created yet (retried next round)


class FeedState(Base):
    __tablename__ = "feed_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    etag: Mapped[str | None] = mapped_column(String(512), default=None)
    last_modified: Mapped[str | None] = mapped_column(String(128), default=None)
    last_fetch_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_ok_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    state: Mapped[FeedHealth] = mapped_column(StateColumn(FeedHealth), default=FeedHealth.NEW)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    final_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    first_seen_done: Mapped[bool] = mapped_column(Boolean, default=False)


class FeedEntry(Base):
    __tablename__ = "feed_entries"
    __table_args__ = (
        UniqueConstraint("feed", "entry_key", name="uq_feed_entries_feed_key"),
        Index("ix_feed_entries_state_created", "state", "created_at"),
        Index("ix_feed_entries_topic_published", "topic", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(String(64))
    entry_key: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2000), default=None)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    topic: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    broadcast_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("broadcasts.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[EntryState] = mapped_column(StateColumn(EntryState), default=EntryState.NEW)
