"""The Mastodon API double itself: documented shapes, validation, idempotency and rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.mastodon_api import FakeMastodonAPI

TOKEN = "double-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeMastodonAPI]:
    api = FakeMastodonAPI(token=TOKEN, posts_limit=3, posts_window=600)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, fake: FakeMastodonAPI, key: str | None = None, **form: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = dict(AUTH, **({"Idempotency-Key": key} if key else {}))
    async with http.post(f"{fake.url}/api/v1/statuses", data=form, headers=headers) as response:
        return response.status, await response.json(), dict(response.headers)


async def test_instance_states_its_limits(fake: FakeMastodonAPI, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{fake.url}/api/v2/instance") as response:  # public: no token
        body = await response.json()
    assert body["configuration"]["statuses"]["max_characters"] == 500
    assert body["configuration"]["statuses"]["characters_reserved_per_url"] == 23
    assert body["configuration"]["media_attachments"]["image_size_limit"] == 16 * 1024 * 1024


async def test_token_is_required(fake: FakeMastodonAPI, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{fake.url}/api/v1/statuses", data={"status": "x"}) as response:
        assert response.status == 401
        assert await response.json() == {"error": "The access token is invalid"}
    async with http.get(f"{fake.url}/api/v1/accounts/verify_credentials", headers=AUTH) as response:
        assert response.status == 200 and (await response.json())["acct"] == fake.username
    assert fake.posted == []


async def test_character_limit_counts_the_spoiler_text_and_weighs_urls(
    fake: FakeMastodonAPI, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await post(http, fake, status="x" * 496, spoiler_text="CW!!")
    assert status == 200 and body["spoiler_text"] == "CW!!"
    status, body, _ = await post(http, fake, status="x" * 497, spoiler_text="CW!!")
    assert status == 422
    assert body == {"error": "Validation failed: Text character limit of 500 exceeded"}
    url = "https://www.koblenz.de/" + "a" * 200  # counts 23
    status, _, _ = await post(http, fake, status=f"{'y' * 470} {url}")
    assert status == 200 and fake.created == 2


async def test_same_idempotency_key_returns_the_same_status(
    fake: FakeMastodonAPI, http: aiohttp.ClientSession
) -> None:
    _, first, _ = await post(http, fake, key="k-1", status="Einmal")
    _, again, _ = await post(http, fake, key="k-1", status="Einmal")
    _, other, _ = await post(http, fake, key="k-2", status="Einmal")

    assert first["id"] == again["id"] != other["id"]
    assert fake.created == 2 and fake.replays == 1


async def test_rate_limit_headers_and_429(fake: FakeMastodonAPI, http: aiohttp.ClientSession) -> None:
    for n in range(3):
        status, _, headers = await post(http, fake, status=f"Nr. {n}")
        assert status == 200 and headers["X-RateLimit-Remaining"] == str(2 - n)
    status, body, headers = await post(http, fake, status="zu viel")
    assert status == 429 and body == {"error": "Too many requests"}
    assert headers["X-RateLimit-Limit"] == "3" and "X-RateLimit-Reset" in headers
    assert fake.created == 3 and fake.rate_limited == 1


async def test_edit_replaces_spoiler_and_media_unless_resent(
    fake: FakeMastodonAPI, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG....", filename="a.png", content_type="image/png")
    form.add_field("description", "Ein Bild")
    async with http.post(f"{fake.url}/api/v2/media", data=form, headers=AUTH) as response:
        media = await response.json()
    assert response.status == 200 and media["description"] == "Ein Bild"
    _, status, _ = await post(
        http, fake, status="Mit Warnung", spoiler_text="Warnung", **{"media_ids[]": media["id"]}
    )

    async with http.put(
        f"{fake.url}/api/v1/statuses/{status['id']}", data={"status": "Neu"}, headers=AUTH
    ) as r:
        edited = await r.json()

    assert edited["spoiler_text"] == "" and edited["media_attachments"] == [] and edited["edited_at"]
    assert fake.edits == 1
    async with http.delete(f"{fake.url}/api/v1/statuses/{status['id']}", headers=AUTH) as r:
        assert r.status == 200 and (await r.json())["text"] == "Neu"
    async with http.delete(f"{fake.url}/api/v1/statuses/{status['id']}", headers=AUTH) as r:
        assert r.status == 404 and await r.json() == {"error": "Record not found"}


async def test_fault_injection(fake: FakeMastodonAPI, http: aiohttp.ClientSession) -> None:
    fake.fail_next(503, count=2, method="POST")
    assert (await post(http, fake, status="a"))[0] == 503
    assert (await post(http, fake, status="a"))[0] == 503
    assert (await post(http, fake, status="a"))[0] == 200
