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
from broadcasts.service import Broadcasts
from connectors import registry
from core.db import sessionmaker
from tests import broadcasting as h
from tests.fakes.mastodon_api import FakeMastodonAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.fakes.x_api import FakeXAPI

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


async def test_kill_9_during_a_multi_channel_send_posts_once_on_mastodon_and_loses_nothing(
    database_url: str, fake: FakeTelegramAPI, tmp_path: Path
) -> None:
    """An alert to Telegram subscribers, the Telegram channel, X, Mastodon and a webhook; the worker is
    killed while the social platforms are still answering (2 s each). After a restart every channel has
    the alert; Mastodon has exactly one status (the delivery's Idempotency-Key), the webhook receiver
    one delivery (it de-duplicates by X-Koblenz-Delivery), X and the Telegram channel at most one more
    post each (the bound of what was in flight)."""
    x, mastodon = FakeXAPI(), FakeMastodonAPI()
    hooks = WebhookReceiver({"app": "crash-test-webhook-secret-123"})
    for double in (x, mastodon, hooks):
        await double.start()
    x.delay = mastodon.delay = 2.0
    hooks.delay_next(1, 2.0)
    social = {
        "KOBLENZ_BOT_TELEGRAM_CHANNEL": "@stadt_koblenz_test",
        "KOBLENZ_BOT_X_API_URL": x.url,
        "KOBLENZ_BOT_X_CONSUMER_KEY": x.consumer_key,
        "KOBLENZ_BOT_X_CONSUMER_SECRET": x.consumer_secret,
        "KOBLENZ_BOT_X_ACCESS_TOKEN": x.access_token,
        "KOBLENZ_BOT_X_ACCESS_TOKEN_SECRET": x.access_token_secret,
        "KOBLENZ_BOT_MASTODON_URL": mastodon.url,
        "KOBLENZ_BOT_MASTODON_TOKEN": mastodon.token,
        "KOBLENZ_BOT_WEBHOOKS": f'[{{"name": "app", "url": "{hooks.url_for("app")}", '
        '"secret": "crash-test-webhook-secret-123"}]',
    }
    env = {**_env(database_url, fake, tmp_path), **social}
    settings = h.settings_for(
        tmp_path,
        database_url,
        fake,
        telegram_channel="@stadt_koblenz_test",
        x_api_url=x.url,
        x_consumer_key=x.consumer_key,
        x_consumer_secret=x.consumer_secret,
        x_access_token=x.access_token,
        x_access_token_secret=x.access_token_secret,
        mastodon_url=mastodon.url,
        mastodon_token=mastodon.token,
        webhooks=[{"name": "app", "url": hooks.url_for("app"), "secret": "crash-test-webhook-secret-123"}],
    )
    engine = await h.fresh_engine(database_url)
    chats = list(range(30_001, 30_201))
    await h.add_subscribers(engine, chats)
    async with registry.publishers(settings) as channels:
        assert {"telegram", "telegram_channel", "x", "mastodon", "webhook"} <= set(channels)
        alert = h.cap_alert("koblenz-crash-social", "Evakuierung wegen Bombenentschärfung")
        await Broadcasts(sessionmaker(engine), channels=channels.values()).submit_alert(
            h.FIRE, alert, to_cap_xml(alert).decode()
        )
    log = tmp_path / "worker.log"
    first = await _worker(env, log)
    try:
        await fake.wait_for(lambda: len(fake.sent) >= 60, timeout=60)
        await asyncio.sleep(0.3)  # the social posts are on their way, none answered yet
        assert not x.posts and not mastodon.posted
        first.kill()
        await first.wait()
        second = await _worker(env, log)
        try:
            counts = await h.settled(engine, len(chats) + 4, timeout=90)
        finally:
            await _stop(second)
    finally:
        await _stop(first)
        await engine.dispose()
        for double in (x, mastodon, hooks):
            await double.stop()
    assert counts == {"sent": len(chats) + 4}
    assert set(Counter(m.chat_id for m in fake.sent)) >= set(chats), "a subscriber's message was lost"
    assert len(mastodon.posted) == 1, "Mastodon: the idempotency key must prevent a second status"
    assert 1 <= len(x.live()) <= 2
    assert len({r.headers["X-Koblenz-Delivery"] for r in hooks.requests if r.outcome != "refused"}) == 1
    assert len(hooks.events_for("app")) == 1  # the receiver processed it once
    channel_posts = [m for m in fake.sent if m.chat_id == "@stadt_koblenz_test"]
    assert 1 <= len(channel_posts) <= 2
