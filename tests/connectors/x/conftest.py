"""Fixtures of the X channel's tests: the X API double, settings pointing at it, the real publisher opened
through the channel spec (as the registry opens it), and a loopback server for images."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from connectors.x.channel_spec import CHANNEL
from connectors.x.publisher import XPublisher
from core.settings import Settings
from tests.conftest import make_settings
from tests.fakes.x_api import FakeXAPI

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048  # what X receives is checked byte for byte


@pytest.fixture
async def fake() -> AsyncIterator[FakeXAPI]:
    api = FakeXAPI()
    await api.start()
    yield api
    await api.stop()


def x_settings(tmp_path: Path, fake: FakeXAPI, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "x_api_url": fake.url,
        "x_consumer_key": fake.consumer_key,
        "x_consumer_secret": fake.consumer_secret,
        "x_access_token": fake.access_token,
        "x_access_token_secret": fake.access_token_secret,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def publisher(tmp_path: Path, fake: FakeXAPI, http: aiohttp.ClientSession) -> AsyncIterator[XPublisher]:
    opened = await CHANNEL.open(x_settings(tmp_path, fake), http)
    assert isinstance(opened, XPublisher)
    opened.fetch_timeout = 2.0
    yield opened
    opened.close()


@pytest.fixture
async def images() -> AsyncIterator[str]:
    """A loopback web server with a PNG, a missing image, an HTML page, one over 5 MB and a slow one."""

    async def png(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    async def huge(_: web.Request) -> web.Response:
        return web.Response(body=b"\xff" * (5 * 1024 * 1024 + 1), content_type="image/jpeg")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/bild.png", png)
    app.router.add_get("/seite.html", html)
    app.router.add_get("/riesig.jpg", huge)
    app.router.add_get("/langsam.png", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
