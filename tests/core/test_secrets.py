"""Secrets stay secret: the settings never show them in a repr, a str or a log line, and the Bot API URLs,
which contain the bot token, never reach the logs (not at DEBUG either, not in tracebacks)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.web import create_app
from broadcasts.publishers import PublishError
from connectors.telegram import TELEGRAM
from connectors.telegram.channel_spec import open_publisher
from core.net import free_port
from tests.conftest import make_settings
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "7654321:AAH-secret-part_of-the-token"
SECRETS = {
    "telegram_token": TOKEN,
    "telegram_webhook_secret": "webhook-secret-123",
    "pseudonym_key": "pseudonym-key-456",
}
SENDER_TOKEN = "sender-bearer-token-789"
SENDER_HMAC = "sender-hmac-secret-abc"


def _leaks(text: str) -> list[str]:
    needles = [*SECRETS.values(), TOKEN.split(":", 1)[1], SENDER_TOKEN, SENDER_HMAC]
    return [needle for needle in needles if needle in text]


def test_settings_never_show_a_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(
        tmp_path,
        **SECRETS,
        alert_senders={"leitstelle": {"token": SENDER_TOKEN, "hmac_secret": SENDER_HMAC}},
    )
    assert settings.telegram_token.get_secret_value() == TOKEN  # the value is there, for its one use
    caplog.set_level(logging.DEBUG)
    logging.getLogger("koblenz-bot").info("settings: %s / %r", settings, settings)
    logging.getLogger("koblenz-bot").info("settings: %s", settings.model_dump())
    shown = [repr(settings), str(settings), settings.model_dump_json(), caplog.text]
    assert all(_leaks(text) == [] for text in shown), [_leaks(text) for text in shown]
    assert "**********" in repr(settings)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(token=TOKEN)
    await api.start()
    yield api
    await api.stop()


async def test_bot_api_urls_never_reach_the_logs(
    aiohttp_client: Any, tmp_path: Path, fake: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, including httpx/httpcore, PTB and aiohttp
    settings = make_settings(
        tmp_path, telegram_token=TOKEN, telegram_api_url=fake.url, telegram_poll_timeout=1
    )
    fake.fail_next(1, status=502, description="Bad Gateway", method="getMe")
    client = await aiohttp_client(create_app(settings))
    channel = client.server.app[TELEGRAM]
    await asyncio.wait_for(channel.ready.wait(), 15)
    chat = random.randint(10**6, 10**9)
    fake.enqueue_message(chat, "Hallo")
    await fake.wait_for_messages(chat, 1, timeout=20)
    fake.fail_next(1, status=502, description="Bad Gateway", method="getUpdates")
    await asyncio.sleep(1.5)

    # the broadcast engine's publisher: a 5xx answer and an unreachable API, logged as the worker would
    refused = make_settings(
        tmp_path / "x", telegram_token=TOKEN, telegram_api_url=f"http://127.0.0.1:{free_port()}"
    )
    async with aiohttp.ClientSession() as session:
        for target_settings in (settings, refused):
            publisher = await open_publisher(target_settings, session)
            fake.fail_next(1, status=502, description="Bad Gateway", method="sendMessage")
            try:
                await publisher.send(str(chat), "Test")
            except PublishError:
                logging.getLogger("broadcasts.worker").exception("delivery failed")
    assert fake.calls["getMe"] >= 2 and "delivery failed" in caplog.text
    assert _leaks(caplog.text) == []
