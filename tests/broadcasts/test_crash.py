"""Crash safety and scale-out with real ``koblenz-bot worker`` processes against the Telegram double:
kill -9 in the middle of a fan-out loses nothing and duplicates at most what was in flight; two workers
on one PostgreSQL outbox share the work and the rate limit without sending anything twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.cap import to_cap_xml
from broadcasts.models import Delivery
from tests import broadcasting as h
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.processes

KOBLENZ_BOT = str(Path(sys.executable).parent / "koblenz-bot")
MAX_IN_FLIGHT = 40


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(token=h.TOKEN, per_second=100)
    await api.start()
    yield api
    await api.stop()


def _env(url: str, fake: FakeTelegramAPI, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KOBLENZ_BOT_DATABASE_URL": url,
        "KOBLENZ_BOT_TELEGRAM_TOKEN": h.TOKEN,
        "KOBLENZ_BOT_TELEGRAM_API_URL": fake.url,
        "KOBLENZ_BOT_TELEGRAM_RATE": "100",
        "KOBLENZ_BOT_DELIVERY_LEASE_SECONDS": "2",
        "KOBLENZ_BOT_DELIVERY_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
        "KOBLENZ_BOT_STATE_DIR": str(tmp_path / "state"),
        "KOBLENZ_BOT_CONFIG": str(tmp_path / "none.toml"),
        "KOBLENZ_BOT_LOG_LEVEL": "WARNING",
    }


async def _worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    handle = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            KOBLENZ_BOT, "worker", "--progress-every", "0.5", env=env, stdout=handle, stderr=handle
        )
    finally:
        handle.close()


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _issue(engine: AsyncEngine, identifier: str) -> None:
    alert = h.cap_alert(identifier, "Evakuierung wegen Bombenentschärfung")
    await h.service(engine).submit_alert(h.FIRE, alert, to_cap_xml(alert).decode())


async def _in_flight(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(Delivery).where(Delivery.state == "in_flight")
        return int((await connection.execute(query)).scalar_one())


async def test_kill_9_of_a_worker_loses_nothing_and_duplicates_at_most_what_was_in_flight(
    database_url: str, fake: FakeTelegramAPI, tmp_path: Path
) -> None:
    engine = await h.fresh_engine(database_url)
    chats = list(range(10_001, 10_301))
    await h.add_subscribers(engine, chats)
    await _issue(engine, "koblenz-crash")
    env = _env(database_url, fake, tmp_path)
    log = tmp_path / "worker.log"
    first = await _worker(env, log)
    try:
        await fake.wait_for(lambda: len(fake.sent) >= 100, timeout=60)
        first.kill()  # SIGKILL: no clean-up, no flush, leases left behind
        await first.wait()
        assert first.returncode == -signal.SIGKILL
        held = await _in_flight(engine)
        sent_before = len(fake.sent)
        assert 0 < sent_before < len(chats)
        second = await _worker(env, log)
        try:
            counts = await h.settled(engine, len(chats), timeout=90)
        finally:
            await _stop(second)
    finally:
        await _stop(first)
        await engine.dispose()
    per_chat = Counter(m.chat_id for m in fake.sent)
    assert set(per_chat) == set(chats), "a message was lost"
    duplicates = sum(n - 1 for n in per_chat.values())
    assert duplicates <= held <= MAX_IN_FLIGHT, (duplicates, held)
    assert counts == {"sent": len(chats)}
    assert fake.violations == []


async def test_two_workers_share_one_postgresql_outbox_and_rate_limit(
    postgres_url: str, fake: FakeTelegramAPI, tmp_path: Path
) -> None:
    engine = await h.fresh_engine(postgres_url)
    chats = list(range(20_001, 20_401))
    await h.add_subscribers(engine, chats)
    env = _env(postgres_url, fake, tmp_path)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [await _worker(env, log) for log in logs]
    try:
        await asyncio.sleep(2.0)  # both are up before there is work
        await _issue(engine, "koblenz-scale-out")
        counts = await h.settled(engine, len(chats), timeout=90)
    finally:
        for worker in workers:
            await _stop(worker)
        await engine.dispose()
    assert counts == {"sent": len(chats)}
    per_chat = Counter(m.chat_id for m in fake.sent)
    assert set(per_chat) == set(chats) and max(per_chat.values()) == 1, "duplicate or lost messages"
    assert fake.violations == [], "the shared rate limit was exceeded"
    for log in logs:
        assert "gesendet" in log.read_text(encoding="utf-8"), f"{log.name}: this worker sent nothing"
