"""Fixtures of the feed tests: the loopback feed double, a migrated database, an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, sessionmaker
from tests.fakes.feed_server import FakeFeeds


@pytest.fixture
async def feeds() -> AsyncIterator[FakeFeeds]:
    fake = FakeFeeds(slow_seconds=3.0)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
