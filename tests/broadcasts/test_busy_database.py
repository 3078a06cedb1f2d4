"""While another process holds SQLite's write lock longer than the busy timeout (a bulk import), the
scheduler and the outbox worker retry their rounds and say so in one WARNING line each, without a
traceback; when the lock is free again they simply go on."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from broadcasts.engine import running
from broadcasts.publishers import Capabilities
from broadcasts.ratelimit import LocalSlots
from core.db import create_engine, migrate
from tests.conftest import make_settings

pytestmark = pytest.mark.functional  # a real lock held by another connection, real retry waits


class Idle:
    """A push channel that is never asked to send (there is nothing to deliver)."""

    name, label = "telegram", "Telegram"
    capabilities = Capabilities(send=True, edit=True, delete=True, push=True)

    def preview(self, text: str) -> str:
        return text

    def check(self, text: str) -> None:
        return None

    async def send(self, target: str, text: str, reply_to: str | None = None, outgoing: Any = None) -> str:
        raise AssertionError("nothing to send")

    async def edit(self, target: str, message_id: str, text: str, outgoing: Any = None) -> None:
        raise AssertionError("nothing to edit")

    async def delete(self, target: str, message_id: str) -> None:
        raise AssertionError("nothing to delete")


async def test_a_locked_database_is_one_warning_line_per_round_and_then_work_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url, sqlite_busy_seconds=0.2)
    await migrate(engine)
    settings = make_settings(tmp_path, database_url=url)
    holder = sqlite3.connect(path, isolation_level=None)
    caplog.set_level(logging.INFO)
    try:
        async with running(engine, settings, {"telegram": Idle()}, slots={"telegram": LocalSlots(30)}):
            holder.execute("BEGIN IMMEDIATE")  # a bulk import holds the one write lock ...
            await asyncio.sleep(2.5)
            busy = [r for r in caplog.records if "database is busy" in r.getMessage()]
            holder.execute("COMMIT")  # ... and lets it go
            caplog.clear()
            await asyncio.sleep(2.5)
            after = [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        holder.close()
        await engine.dispose()
    rounds = {r.getMessage().split(":")[0] for r in busy}
    assert {"scheduler round", "outbox claim"} <= rounds
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in busy)
    assert after == []  # the rounds succeed again without a word
