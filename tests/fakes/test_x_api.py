"""The X API double itself: it checks OAuth 1.0a signatures over the URL called, validates like X and
limits like X, so the channel's tests can trust what it accepts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth1

from tests.fakes.x_api import DUPLICATE, REPLY_GONE, FakeXAPI


@pytest.fixture
async def fake() -> AsyncIterator[FakeXAPI]:
    api = FakeXAPI()
    await api.start()
    yield api
    await api.stop()


def signer(fake: FakeXAPI, consumer_key: str | None = None) -> OAuth1:
    return OAuth1(
        consumer_key or fake.consumer_key,
        client_secret=fake.consumer_secret,
        resource_owner_key=fake.access_token,
        resource_owner_secret=fake.access_token_secret,
    )


async def call(method: str, url: str, auth: Any = None, **kwargs: Any) -> requests.Response:
    return await asyncio.to_thread(requests.request, method, url, auth=auth, timeout=5, **kwargs)


async def tweet(fake: FakeXAPI, body: dict[str, Any]) -> requests.Response:
    return await call("POST", f"{fake.url}/2/tweets", signer(fake), json=body)


async def test_only_a_valid_oauth1_signature_over_the_called_url_gets_in(fake: FakeXAPI) -> None:
    assert (await call("POST", f"{fake.url}/2/tweets", json={"text": "a"})).status_code == 401
    wrong_key = await call("POST", f"{fake.url}/2/tweets", signer(fake, "andere-app"), json={"text": "a"})
    assert wrong_key.status_code == 401 and wrong_key.json()["title"] == "Unauthorized"
    # signed for X's own host, sent here: what a rewrite after signing would do
    prepared = requests.Request(
        "POST", "https://api.twitter.com/2/tweets", json={"text": "a"}, auth=signer(fake)
    ).prepare()
    prepared.url = f"{fake.url}/2/tweets"
    resent = await asyncio.to_thread(requests.Session().send, prepared, timeout=5)
    assert resent.status_code == 401
    good = await tweet(fake, {"text": "Guten Morgen, Koblenz"})
    assert good.status_code == 201 and good.json()["data"]["text"] == "Guten Morgen, Koblenz"
    assert fake.auth_failures == 3 and len(fake.posts) == 1


async def test_it_validates_text_duplicates_replies_and_deletes_like_x(fake: FakeXAPI) -> None:
    too_long = await tweet(fake, {"text": "é" * 281})
    assert too_long.status_code == 403
    assert (
        await tweet(fake, {"text": "https://www.koblenz.de/ " + "a" * 256})
    ).status_code == 201  # 23+1+256
    first = (await tweet(fake, {"text": "Hochwasser"})).json()["data"]["id"]
    duplicate = await tweet(fake, {"text": "Hochwasser"})
    assert duplicate.status_code == 403 and duplicate.json()["detail"] == DUPLICATE
    reply = await tweet(fake, {"text": "Entwarnung", "reply": {"in_reply_to_tweet_id": first}})
    assert reply.status_code == 201 and fake.replies[0].reply_to == first
    deleted = await call("DELETE", f"{fake.url}/2/tweets/{first}", signer(fake))
    assert deleted.json() == {"data": {"deleted": True}}
    assert (await call("DELETE", f"{fake.url}/2/tweets/{first}", signer(fake))).status_code == 404
    gone = await tweet(fake, {"text": "Nochmal", "reply": {"in_reply_to_tweet_id": first}})
    assert gone.status_code == 403 and gone.json()["detail"] == REPLY_GONE
    assert fake.stats()["deletes"] == 1 and fake.stats()["replies"] == 1


async def test_uploads_and_the_daily_cap_with_xs_headers(fake: FakeXAPI) -> None:
    fake.daily_cap = 3
    upload = await call(
        "POST",
        f"{fake.url}/2/media/upload",
        signer(fake),
        files={"media": ("b.png", b"\x89PNG-bytes", "image/png")},
        data={"media_category": "tweet_image"},
    )
    media_id = upload.json()["data"]["id"]
    assert upload.status_code == 200 and upload.json()["data"]["media_key"] == f"3_{media_id}"
    unknown = await tweet(fake, {"text": "Bild", "media": {"media_ids": ["123"]}})
    assert unknown.status_code == 400
    for text in ("eins", "zwei", "drei"):
        answer = await tweet(fake, {"text": text, "media": {"media_ids": [media_id]}})
        assert answer.status_code == 201
    assert answer.headers["x-user-limit-24hour-remaining"] == "0"
    capped = await tweet(fake, {"text": "vier"})
    assert capped.status_code == 429 and capped.headers["x-rate-limit-limit"] == "100"
    assert int(capped.headers["x-user-limit-24hour-reset"]) > int(capped.headers["x-rate-limit-reset"])
    fake.fail_next(503, n=2)
    assert [(await tweet(fake, {"text": "fünf"})).status_code for _ in range(2)] == [503, 503]
    assert fake.stats() == {
        "posts": 3,
        "deletes": 0,
        "media_uploads": 1,
        "replies": 0,
        "rate_limited": 1,
        "server_errors": 2,
        "auth_failures": 0,
    }
