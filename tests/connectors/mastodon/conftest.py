"""Fixtures of the Mastodon channel's tests: the API double, a shared HTTP session, publishers over it and
a small image host (the place a post's ``image_url`` points to)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from connectors.mastodon.publisher import MastodonPublisher
from tests.fakes.mastodon_api import FakeMastodonAPI

TOKEN = "mastodon-test-token-5f2c"


def png(width: int = 8, height: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def fake() -> AsyncIterator[FakeMastodonAPI]:
    api = FakeMastodonAPI(token=TOKEN)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


PublisherFactory = Callable[..., MastodonPublisher]


@pytest.fixture
async def make_publisher(http: aiohttp.ClientSession) -> AsyncIterator[PublisherFactory]:
    """``make_publisher(fake, **options)``: a publisher over the double (closed after the test)."""
    made: list[MastodonPublisher] = []

    def make(api: FakeMastodonAPI, token: str = TOKEN, **options: Any) -> MastodonPublisher:
        publisher = MastodonPublisher(http, api.url, token, **options)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        await publisher.close()


@pytest.fixture
async def publisher(fake: FakeMastodonAPI, make_publisher: PublisherFactory) -> MastodonPublisher:
    started = make_publisher(fake)
    assert await started.start()
    return started


class ImageHost:
    """Serves ``/bild.png`` (a small PNG), ``/seite.html`` (not an image), ``/gross.png`` (``big`` bytes
    of PNG type) and 404 for anything else; counts requests."""

    def __init__(self) -> None:
        self.url = ""
        self.requests = 0
        self.big = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def serve(request: web.Request) -> web.Response:
            self.requests += 1
            name = request.match_info["name"]
            if name == "bild.png":
                return web.Response(body=png(), content_type="image/png")
            if name == "seite.html":
                return web.Response(text="<p>keine Grafik</p>", content_type="text/html")
            if name == "gross.png":
                return web.Response(body=b"\x89PNG" + b"0" * self.big, content_type="image/png")
            return web.Response(status=404)

        app = web.Application()
        app.router.add_get("/{name}", serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def images() -> AsyncIterator[ImageHost]:
    host = ImageHost()
    await host.start()
    yield host
    await host.stop()
