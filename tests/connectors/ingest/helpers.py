"""Helpers of the feed tests: a feed spec, a poller over the test database, a moment in the past."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.service import Broadcasts
from connectors.ingest.config import IngestConfig
from connectors.ingest.poller import FeedPoller
from core.news import FeedSpec


def spec(name: str, url: str, topic: str = "gesundheit", mode: str = "draft", interval: int = 60) -> FeedSpec:
    return FeedSpec(name=name, url=url, topic=topic, mode=mode, interval=interval)  # type: ignore[arg-type]


def poller_for(
    feeds: list[FeedSpec],
    http: aiohttp.ClientSession,
    sessions: async_sessionmaker[AsyncSession],
    broadcasts: Broadcasts | None = None,
    **config: Any,
) -> FeedPoller:
    values: dict[str, Any] = {
        "feeds": tuple(feeds),
        "max_age": dt.timedelta(hours=24),
        "timeout": 2.0,
        "max_bytes": 1_000_000,
    }
    values.update(config)
    return FeedPoller(IngestConfig(**values), http, sessions, broadcasts)


def ago(**delta: float) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).replace(microsecond=0)
