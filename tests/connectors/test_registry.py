"""The channel registry (connectors/registry.py): every connector package with a ``channel_spec`` is
found without a central list, a channel is on exactly when its settings are present, the publishers of
the channels that are on are opened (and closed), and ``/health`` lists the channels without secrets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

import connectors
from app.web import create_app
from connectors import registry
from connectors.registry import ChannelSpec, ChannelSpecError
from core.settings import Settings
from tests import broadcasting as h
from tests.conftest import make_settings
from tests.fakes.rasa import FakeRasa
from tests.fakes.telegram_api import FakeTelegramAPI

SECRET_TOKEN = "987654:GEHEIM-bot-token-abcdef"
PULL = ("banner", "feed", "cap")  # in the order of their packages, then of their specs


def test_discovery_finds_every_package_with_a_channel_spec() -> None:
    folder = Path(connectors.__file__).parent
    with_spec = {p.parent.name for p in folder.glob("*/channel_spec.py")}
    assert {"telegram", "feeds", "banner"} <= with_spec
    found = registry.discover()
    origins = {spec.open.__module__.split(".")[1] for spec in found.values()}
    assert origins == with_spec  # every package with a spec, and nothing else (web, rasa_rest have none)
    assert {"telegram", "telegram_channel", "feed", "cap", "banner"} <= set(found)
    assert all(isinstance(spec, ChannelSpec) and spec.label for spec in found.values())


def test_a_channel_is_on_exactly_when_its_settings_are_present(tmp_path: Path) -> None:
    off = make_settings(tmp_path)
    on = make_settings(tmp_path, telegram_token=SECRET_TOKEN)
    telegram = registry.discover()["telegram"]
    assert not telegram.enabled(off) and telegram.missing(off) == ["KOBLENZ_BOT_TELEGRAM_TOKEN"]
    assert telegram.enabled(on) and telegram.missing(on) == []
    assert [s.name for s in registry.enabled(off)] == list(PULL)  # the pull channels need no settings
    assert [s.name for s in registry.enabled(on)] == [*PULL, "telegram"]


def test_required_settings_and_extra_conditions(tmp_path: Path) -> None:
    async def never(_settings: Settings, _session: aiohttp.ClientSession) -> Any:
        raise AssertionError("not opened in this test")

    spec = ChannelSpec("x", "X", never, requires=("public_url",), when=lambda s: s.broadcast_worker)
    assert not spec.enabled(make_settings(tmp_path))
    assert spec.missing(make_settings(tmp_path)) == ["KOBLENZ_BOT_PUBLIC_URL"]
    assert spec.enabled(make_settings(tmp_path, public_url="https://bot.koblenz.de"))
    assert not spec.enabled(
        make_settings(tmp_path, public_url="https://bot.koblenz.de", broadcast_worker=False)
    )


def test_a_spec_module_must_declare_its_channel() -> None:
    class Module:
        __name__ = "connectors.kaputt.channel_spec"
        CHANNEL = "telegram"

    with pytest.raises(ChannelSpecError, match="CHANNEL"):
        registry._specs_of(Module())


async def test_publishers_opens_the_channels_that_are_on(tmp_path: Path) -> None:
    async with registry.publishers(make_settings(tmp_path)) as opened:
        assert sorted(opened) == sorted(PULL)
        assert not any(p.capabilities.push for p in opened.values())
    async with registry.publishers(make_settings(tmp_path, telegram_token=SECRET_TOKEN)) as opened:
        telegram = opened["telegram"]
        assert telegram.capabilities.push and telegram.capabilities.max_text == 4096
        assert telegram.label == "Telegram" and telegram.preview("Hallo") == "Hallo"
        assert opened["cap"].capabilities.alerts and not opened["cap"].capabilities.posts
        assert opened["feed"].capabilities.posts and not opened["feed"].capabilities.push


def test_the_feed_routes_come_from_the_registry(tmp_path: Path) -> None:
    paths = {route.path for route in registry.routes(make_settings(tmp_path))}  # type: ignore[attr-defined]
    assert paths == {
        "/feeds/rss.xml",
        "/feeds/atom.xml",
        "/feeds/cap.atom",
        "/alerts/{identifier}.cap.xml",
        "/cap/{identifier}.xml",
    }


def test_health_lines_say_what_is_missing(tmp_path: Path) -> None:
    lines = {line["name"]: line for line in registry.health(make_settings(tmp_path))}
    assert lines["telegram"] == {
        "name": "telegram",
        "label": "Telegram",
        "enabled": False,
        "state": "off",
        "missing": ["KOBLENZ_BOT_TELEGRAM_TOKEN"],
    }
    assert lines["feed"]["state"] == "configured" and lines["feed"]["paths"][0] == "/feeds/rss.xml"


# -- /health of the running app -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(token=SECRET_TOKEN, per_second=200)
    await api.start()
    yield api
    await api.stop()


async def test_health_lists_the_channels_without_secrets(
    aiohttp_client: Any, tmp_path: Path, fake: FakeTelegramAPI, fake_rasa: FakeRasa
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    settings = h.settings_for(
        tmp_path,
        url,
        fake,
        telegram_token=SECRET_TOKEN,
        rasa_url=fake_rasa.url,
        alert_senders={"leitstelle": {"token": "alarm-token-1234567890", "hmac_secret": "hmac-9876543210"}},
    )
    client: TestClient = await aiohttp_client(create_app(settings))
    response = await client.get("/health")
    raw = await response.text()
    for secret in (SECRET_TOKEN, "GEHEIM", "alarm-token", "hmac-9876543210", "test-key"):
        assert secret not in raw
    channels = {line["name"]: line for line in json.loads(raw)["channels"]}
    assert {"telegram", "telegram_channel", "feed", "cap", "banner"} <= set(channels)
    # a channel whose settings are missing is listed as off, naming what to set (never a value)
    assert channels["telegram_channel"]["state"] == "off"
    assert channels["telegram_channel"]["missing"] == ["KOBLENZ_BOT_TELEGRAM_CHANNEL"]
    telegram = channels["telegram"]
    assert telegram["enabled"] and telegram["state"] == "sending" and telegram["push"]
    assert telegram["label"] == "Telegram" and telegram["max_text"] == 4096
    for name in PULL:
        assert channels[name]["enabled"] and channels[name]["state"] == "serving"
        assert channels[name]["push"] is False
    assert channels["banner"]["paths"] == ["/api/alerts"] and channels["banner"]["carries"] == ["alerts"]
    assert "/feeds/cap.atom" in channels["cap"]["paths"]
