"""The Graph API double itself: version prefix, the ways a token may come, documented shapes and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.graph_api import FakeGraphAPI


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraphAPI]:
    api = FakeGraphAPI(in_progress_polls=1, quota_total=1)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, fake: FakeGraphAPI, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, f"{fake.url}/{fake.version}/{path}", **kwargs) as response:
        return response.status, dict(await response.json())


async def test_token_in_query_form_json_or_header(http: aiohttp.ClientSession, fake: FakeGraphAPI) -> None:
    feed = f"{fake.page_id}/feed"
    status, body = await call(http, fake, "POST", feed, params={"access_token": fake.token, "message": "a"})
    assert status == 200 and body["id"].startswith(f"{fake.page_id}_")
    status, _ = await call(http, fake, "POST", feed, data={"access_token": fake.token, "message": "b"})
    assert status == 200
    status, _ = await call(http, fake, "POST", feed, json={"access_token": fake.token, "message": "c"})
    assert status == 200
    bearer = {"Authorization": f"Bearer {fake.token}"}
    status, _ = await call(http, fake, "POST", feed, data={"message": "d"}, headers=bearer)
    assert status == 200 and [p.message for p in fake.feed] == ["a", "b", "c", "d"]
    assert fake.tokens_in_url == 1
    status, body = await call(http, fake, "POST", feed, data={"message": "e"})
    assert status == 400 and body["error"]["code"] == 104
    status, body = await call(
        http, fake, "POST", feed, data={"message": "e"}, headers={"Authorization": "Bearer x"}
    )
    assert body["error"]["code"] == 190 and body["error"]["type"] == "OAuthException"
    async with http.get(f"{fake.url}/v1.0/{feed}", headers=bearer) as response:
        assert response.status == 400 and (await response.json())["error"]["code"] == 2500


async def test_post_edit_comment_delete(http: aiohttp.ClientSession, fake: FakeGraphAPI) -> None:
    auth = {"headers": {"Authorization": f"Bearer {fake.token}"}}
    _, created = await call(
        http,
        fake,
        "POST",
        f"{fake.page_id}/feed",
        data={"message": "m", "link": "https://a.example/"},
        **auth,
    )
    post_id = created["id"]
    assert (await call(http, fake, "POST", post_id, data={"message": "m2"}, **auth))[1] == {"success": True}
    _, comment = await call(http, fake, "POST", f"{post_id}/comments", data={"message": "c"}, **auth)
    assert comment["id"].startswith(post_id) and fake.comments == [(post_id, "c")]
    assert (await call(http, fake, "DELETE", post_id, **auth))[1] == {"success": True}
    status, body = await call(http, fake, "POST", post_id, data={"message": "m3"}, **auth)
    assert status == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == (100, 33)
    assert fake.posts[post_id].edits == ["m2"]


async def test_instagram_container_flow_and_limit(http: aiohttp.ClientSession, fake: FakeGraphAPI) -> None:
    auth = {"headers": {"Authorization": f"Bearer {fake.token}"}}
    ig = fake.ig_user_id
    status, body = await call(http, fake, "POST", f"{ig}/media", data={"caption": "ohne Bild"}, **auth)
    assert status == 400 and body["error"]["code"] == 100
    _, container = await call(
        http,
        fake,
        "POST",
        f"{ig}/media",
        data={"image_url": "https://x.example/a.jpg", "caption": "c"},
        **auth,
    )
    cid = container["id"]
    _, early = await call(http, fake, "POST", f"{ig}/media_publish", data={"creation_id": cid}, **auth)
    assert early["error"]["code"] == 9007
    states = [
        (await call(http, fake, "GET", cid, params={"fields": "status_code"}, **auth))[1]["status_code"]
        for _ in range(2)
    ]
    assert states == ["IN_PROGRESS", "FINISHED"]
    _, published = await call(http, fake, "POST", f"{ig}/media_publish", data={"creation_id": cid}, **auth)
    _, media = await call(http, fake, "GET", published["id"], params={"fields": "permalink"}, **auth)
    assert media["permalink"].startswith("https://www.instagram.com/p/")
    _, limit = await call(
        http, fake, "GET", f"{ig}/content_publishing_limit", params={"fields": "config,quota_usage"}, **auth
    )
    assert limit["data"][0] == {"config": {"quota_total": 1, "quota_duration": 86400}, "quota_usage": 1}
    _, second = await call(
        http,
        fake,
        "POST",
        f"{ig}/media",
        data={"image_url": "https://x.example/b.jpg", "caption": "d"},
        **auth,
    )
    for _ in range(2):
        await call(http, fake, "GET", second["id"], **auth)
    status, over = await call(
        http, fake, "POST", f"{ig}/media_publish", data={"creation_id": second["id"]}, **auth
    )
    assert status == 403 and (over["error"]["code"], over["error"]["error_subcode"]) == (9, 2207042)


async def test_injected_errors_have_the_documented_shape(
    http: aiohttp.ClientSession, fake: FakeGraphAPI
) -> None:
    auth = {"headers": {"Authorization": f"Bearer {fake.token}"}}
    fake.inject(4, count=2, headers={"X-App-Usage": '{"call_count": 100}'})
    async with http.post(
        f"{fake.url}/{fake.version}/{fake.page_id}/feed", data={"message": "x"}, **auth
    ) as response:
        body = await response.json()
        assert response.headers["X-App-Usage"] == '{"call_count": 100}'
    assert set(body["error"]) >= {"message", "type", "code", "fbtrace_id"} and body["error"]["code"] == 4
    assert (await call(http, fake, "POST", f"{fake.page_id}/feed", data={"message": "x"}, **auth))[0] == 400
    assert (await call(http, fake, "POST", f"{fake.page_id}/feed", data={"message": "x"}, **auth))[0] == 200
    fake.inject(2)
    status, body = await call(http, fake, "POST", f"{fake.page_id}/feed", data={"message": "x"}, **auth)
    assert status == 500 and body["error"]["is_transient"] is True
    fake.fail_next(1, status=503)
    async with http.post(f"{fake.url}/{fake.version}/{fake.page_id}/feed", **auth) as response:
        assert response.status == 503 and response.content_type == "text/html"
    assert fake.errors[4] == 2 and fake.errors[2] == 1
