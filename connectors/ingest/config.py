"""The configured feeds, as the poller uses them.

``FEEDS`` is validated when the settings load (``core.news.FeedSpec``, called from ``core.settings``:
core cannot import this package, and a wrong feed must stop the start, not the first poll). It is a list
of ``{name, url, topic, mode, interval}``, given as

- a JSON list in ``KOBLENZ_BOT_FEEDS``::

    [{"name": "Gesundheitsamt", "url": "https://…/rss.xml", "topic": "gesundheit",
      "mode": "draft", "interval": 300}]

- or ``[[feeds]]`` tables in ``koblenz-bot.toml`` (or the same TOML text in the variable).

``name`` is shown as the source of every post and suggestion (and keys the stored state: renaming a feed
makes it a new feed); ``topic`` one of ``gesundheit``, ``presse``, ``verkehr``, ``veranstaltungen``;
``mode`` ``draft`` (default) or ``publish``; ``interval`` seconds between polls (5 up, default 300).
``FEED_MAX_AGE`` (seconds or ``24h``/``90m``/``2d``, default 24 h): the oldest entry ever taken.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.news import FEED_TOPICS, FeedSpec, parse_duration, parse_feeds
from core.settings import Settings

__all__ = ["FEED_TOPICS", "FeedSpec", "IngestConfig", "parse_duration", "parse_feeds"]


@dataclass(frozen=True)
class IngestConfig:
    feeds: tuple[FeedSpec, ...]
    max_age: dt.timedelta
    timeout: float
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        return cls(
            feeds=tuple(settings.feeds),
            max_age=dt.timedelta(seconds=settings.feed_max_age),
            timeout=settings.feed_timeout,
            max_bytes=settings.feed_max_bytes,
        )
