"""Active alerts for chat and banner under load: one query per cache period, never a stale cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.alert_source import StoreAlerts
from core.db import sessionmaker
from tests import broadcasting as h


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


def _alert_queries(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM alerts" in statement:
            seen.append(statement)

    return seen


async def test_concurrent_chats_share_one_query(engine: AsyncEngine) -> None:
    queries = _alert_queries(engine)
    source = StoreAlerts(sessionmaker(engine), cache_seconds=5)
    results = await asyncio.gather(*(source.active() for _ in range(50)))
    assert all(r == [] for r in results)
    assert len(queries) == 1  # not 50: the answers waiting at the same moment share the query
    await source.active()
    assert len(queries) == 1  # cached


async def test_a_change_during_a_query_is_not_hidden_by_the_cache(engine: AsyncEngine) -> None:
    queries = _alert_queries(engine)
    source = StoreAlerts(sessionmaker(engine), cache_seconds=60)
    first = asyncio.ensure_future(source.active())
    await asyncio.sleep(0)  # the query is under way ...
    source.invalidate()  # ... when an alert is issued
    await first
    await source.active()
    assert len(queries) == 2  # the answer begun before the change was not cached
