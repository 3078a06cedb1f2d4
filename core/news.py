"""Recent news as the conversation sees them, and the configured news feeds.

The read interface between ``bot`` (which answers "Was gibt es Neues zu Corona?") and the package that
stores the posts and ingested feed entries (``connectors.ingest.news.FeedNews`` implements
``NewsSource``); the root hands the implementation to the dialogue, like ``core.alerts.AlertSource``.
``StaticNews`` holds what it is given (nothing by default): for the CLI's ``ask`` and for tests.

``Suggestion`` is one ingested entry of a feed in "draft" mode, as the staff console's "Vorschläge" shows
it (``connectors.ingest.suggestions`` reads and updates them; the root hands those functions over).

``FeedSpec`` / ``parse_feeds`` / ``parse_duration`` validate the ``FEEDS`` and ``FEED_MAX_AGE`` settings
(``core.settings`` calls them at start-up, so a wrong feed is refused before anything runs).
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

# the subscriber topics a feed may feed (``broadcasts.subscribers.TOPICS`` minus the warnings, which
# come as CAP alerts, never as feed posts)
FEED_TOPICS: tuple[str, ...] = ("gesundheit", "presse", "verkehr", "veranstaltungen")
FeedMode = Literal["draft", "publish"]
MIN_INTERVAL = 5


@dataclass(frozen=True)
class NewsItem:
    """A recent post or feed entry. ``published_at`` is timezone-aware (None when the source gave no
    date); ``source`` names who published it (the feed's name, or "Stadt Koblenz" for the city's posts)."""

    title: str
    text: str
    link: str | None
    topic: str
    published_at: dt.datetime | None
    source: str


class NewsSource(Protocol):
    async def latest(self, topic: str | None, limit: int) -> list[NewsItem]:
        """The newest items, newest first; ``topic`` None = every topic."""
        ...


class StaticNews:
    def __init__(self, items: Sequence[NewsItem] = ()) -> None:
        self.items = list(items)

    async def latest(self, topic: str | None, limit: int) -> list[NewsItem]:
        far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
        chosen = [i for i in self.items if topic is None or i.topic == topic]
        chosen.sort(key=lambda i: i.published_at or far_past, reverse=True)
        return chosen[: max(0, limit)]


@dataclass(frozen=True)
class Suggestion:
    """An entry of a "draft" feed for the press office: the text ready to edit and schedule."""

    id: int
    feed: str
    topic: str
    title: str
    text: str  # the proposed post text (title, summary, source), plain text
    link: str | None
    published_at: dt.datetime | None
    created_at: dt.datetime
    state: str  # new, used, dismissed


# -- configuration: FEEDS and FEED_MAX_AGE ------------------------------------------------------------


class FeedSpec(BaseModel):
    """One configured feed: ``{name, url, topic, mode, interval}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    url: str
    topic: str
    mode: FeedMode = "draft"
    interval: int = Field(default=300, ge=MIN_INTERVAL)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or not value.isprintable():
            raise ValueError("a readable name such as 'Gesundheitsamt' (shown as the source)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL, not {value!r}")
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value not in FEED_TOPICS:
            raise ValueError(f"unknown topic {value!r}; known: {', '.join(FEED_TOPICS)}")
        return value


def parse_feeds(value: Any) -> list[Any]:
    """``FEEDS`` as a list of feed tables: a list already (the TOML file's ``[[feeds]]``), or text with a
    JSON list, a TOML document with ``[[feeds]]`` tables, or a TOML inline array. Raises ValueError."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if not isinstance(value, str):
        raise ValueError("a list of {name, url, topic, mode, interval}")
    text = value.strip()
    if not text:
        return []
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError as json_error:
        parsed = _toml_feeds(text, str(json_error))
    if not isinstance(parsed, list):
        raise ValueError("a list of {name, url, topic, mode, interval}")
    return parsed


def _toml_feeds(text: str, json_error: str) -> Any:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        try:
            document = tomllib.loads("feeds = " + text)
        except tomllib.TOMLDecodeError:
            raise ValueError(f"neither JSON nor TOML: {json_error}") from None
    if set(document) != {"feeds"}:
        raise ValueError("TOML: expected [[feeds]] tables and nothing else")
    return document["feeds"]


def unique_names(feeds: Sequence[FeedSpec]) -> None:
    names = [feed.name for feed in feeds]
    doubles = sorted({name for name in names if names.count(name) > 1})
    if doubles:
        raise ValueError(f"feed names must be unique; given twice: {', '.join(doubles)}")


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int:
    """Seconds from a number (seconds) or text: "86400", "24h", "90m", "2d", "1d12h", "45s"."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 86400 (seconds), 24h, 90m or 2d")
    if isinstance(value, int | float):
        seconds = int(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text.isdigit():
            seconds = int(text)
        else:
            seconds, number = 0, ""
            position = 0
            while position < len(text):
                char = text[position]
                if char.isdigit():
                    number += char
                    position += 1
                    continue
                unit = "min" if text.startswith("min", position) else char
                if unit not in _UNITS or not number:
                    raise ValueError(f"{value!r}: a duration such as 86400 (seconds), 24h, 90m or 2d")
                seconds += int(number) * _UNITS[unit]
                number, position = "", position + len(unit)
            if number or not text:
                raise ValueError(f"{value!r}: every number needs a unit (s, m, h, d), e.g. 24h")
    else:
        raise ValueError("a duration such as 86400 (seconds), 24h, 90m or 2d")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds
