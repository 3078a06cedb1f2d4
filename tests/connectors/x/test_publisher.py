"""The X publisher against the X API double: posts, replies, replacing, deleting, images, the daily
budget, and every platform error mapped to what the outbox does next."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import aiohttp
import pytest

from broadcasts.publishers import Outgoing, Rejected, RetryAfter, Sent, Transient, Unsupported
from connectors.registry import health
from connectors.x.channel_spec import CHANNEL
from connectors.x.errors import TokenRejected
from connectors.x.publisher import XPublisher
from core.settings import Settings
from tests.conftest import make_settings
from tests.connectors.x.conftest import PNG, x_settings
from tests.fakes.x_api import FakeXAPI

ALERT = Outgoing(kind="alert", event="alert.issued")
UPDATE = Outgoing(kind="update", event="alert.updated")
ALLCLEAR = Outgoing(kind="allclear", event="alert.cancelled")
POST = Outgoing(kind="post", event="post.published")
ALERT_TEXT = (
    "⚠️ Gefahr: Unwetterwarnung für Koblenz – ganzes Stadtgebiet. Bleiben Sie in Gebäuden und meiden Sie "
    "Bäume.\n\nhttps://www.koblenz.de/"
)


async def test_an_alert_is_posted_at_the_configured_api_and_linked(
    publisher: XPublisher, fake: FakeXAPI
) -> None:
    sent = await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert isinstance(sent, Sent)
    assert [p.text for p in fake.live()] == [ALERT_TEXT]
    assert sent.id == fake.posts[0].id and sent.url == f"https://x.com/i/web/status/{sent.id}"
    assert fake.calls["POST /2/tweets"] == 1 and fake.auth_failures == 0  # signed over the double's URL


async def test_the_channel_is_on_only_with_all_four_credentials(tmp_path: Path, fake: FakeXAPI) -> None:
    settings = x_settings(tmp_path, fake)
    assert CHANNEL.enabled(settings) and CHANNEL.name == "x" and CHANNEL.label == "X"
    partial = x_settings(tmp_path, fake, x_access_token_secret="")
    assert not CHANNEL.enabled(partial)
    assert CHANNEL.missing(partial) == ["KOBLENZ_BOT_X_ACCESS_TOKEN_SECRET"]
    off = make_settings(tmp_path)
    assert CHANNEL.missing(off) == [
        "KOBLENZ_BOT_X_CONSUMER_KEY",
        "KOBLENZ_BOT_X_CONSUMER_SECRET",
        "KOBLENZ_BOT_X_ACCESS_TOKEN",
        "KOBLENZ_BOT_X_ACCESS_TOKEN_SECRET",
    ]
    line = health(settings, specs=[CHANNEL])[0]
    assert line["enabled"] and line["daily_posts"] == 17
    assert fake.consumer_secret not in repr(line) and fake.access_token not in repr(line)


async def test_the_all_clear_answers_the_alerts_post(publisher: XPublisher, fake: FakeXAPI) -> None:
    alert = await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert isinstance(alert, Sent)
    clear = await publisher.send(
        "x",
        "✅ Entwarnung: Unwetterwarnung für Koblenz – ganzes Stadtgebiet.",
        reply_to=alert.id,
        outgoing=ALLCLEAR,
    )
    assert isinstance(clear, Sent)
    assert [(p.id, p.reply_to) for p in fake.replies] == [(clear.id, alert.id)]


async def test_the_all_clear_goes_on_its_own_when_the_alerts_post_is_gone(
    publisher: XPublisher, fake: FakeXAPI
) -> None:
    alert = await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert isinstance(alert, Sent)
    await publisher.delete("x", alert.id)  # deleted on X by hand, say
    clear = await publisher.send("x", "✅ Entwarnung: Unwetter vorbei.", reply_to=alert.id, outgoing=ALLCLEAR)
    assert isinstance(clear, Sent)
    assert fake.post(clear.id) is not None and fake.replies == [] and len(fake.live()) == 1


async def test_an_update_replaces_the_post_and_a_second_delete_is_no_error(
    publisher: XPublisher, fake: FakeXAPI
) -> None:
    assert publisher.capabilities.on_update == "replace" and not publisher.capabilities.edit
    with pytest.raises(Unsupported):
        await publisher.edit("x", "1", "neu")
    first = await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert isinstance(first, Sent)
    # what the outbox does for on_update="replace": delete the post, then post the updated text
    await publisher.delete("x", first.id)
    updated = "🔄 Aktualisiert: ⚠️ Gefahr: Unwetterwarnung für Koblenz – jetzt auch Hagel."
    second = await publisher.send("x", updated, outgoing=UPDATE)
    assert isinstance(second, Sent) and second.id != first.id
    assert fake.deleted == [first.id] and [p.text for p in fake.live()] == [updated]
    await publisher.delete("x", first.id)  # a retry after the repost failed: already gone, no error
    assert fake.calls["DELETE /2/tweets/{id}"] == 2 and fake.deleted == [first.id]


async def test_a_429_pauses_until_x_rate_limit_reset(publisher: XPublisher, fake: FakeXAPI) -> None:
    fake.throttle_next(reset_in=120)
    with pytest.raises(RetryAfter) as paused:
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert 115 <= paused.value.seconds <= 121
    fake.throttle_next(reset_in=-30)  # a reset in the past: at least one second
    with pytest.raises(RetryAfter) as again:
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert again.value.seconds == 1.0
    fake.throttle_next(headers=False)
    with pytest.raises(RetryAfter) as blind:
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert blind.value.seconds == 60.0
    await publisher.send("x", ALERT_TEXT, outgoing=ALERT)  # then it goes
    assert fake.rate_limited == 3 and len(fake.posts) == 1


async def test_xs_daily_cap_pauses_until_the_24_hour_reset(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    fake = FakeXAPI(daily_cap=1)
    await fake.start()
    try:
        publisher = await CHANNEL.open(x_settings(tmp_path, fake), http)
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
        with pytest.raises(RetryAfter) as paused:
            await publisher.send("x", "Noch eine Warnung", outgoing=ALERT)
        assert 23 * 3600 < paused.value.seconds <= 24 * 3600  # not the 15-minute window's reset
    finally:
        await fake.stop()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_transient(publisher: XPublisher, fake: FakeXAPI, status: int) -> None:
    fake.fail_next(status)
    with pytest.raises(Transient):
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    fake.fail_next(status, path="/2/tweets/")
    with pytest.raises(Transient):
        await publisher.delete("x", "1880000000000000001")
    assert fake.server_errors == 2 and fake.posts == []


async def test_a_slow_or_unreachable_api_is_transient(
    tmp_path: Path, fake: FakeXAPI, http: aiohttp.ClientSession
) -> None:
    publisher = await CHANNEL.open(x_settings(tmp_path, fake), http)
    assert isinstance(publisher, XPublisher)
    publisher.transport.timeout = 0.3
    fake.delay = 1.0
    started = time.monotonic()
    with pytest.raises(Transient):
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    assert time.monotonic() - started < 1.0
    fake.delay = 0.0
    gone = await CHANNEL.open(x_settings(tmp_path, fake, x_api_url="http://127.0.0.1:9"), http)
    with pytest.raises(Transient):
        await gone.send("x", ALERT_TEXT, outgoing=ALERT)


async def test_rejected_keys_name_the_settings_never_the_secrets(
    tmp_path: Path, fake: FakeXAPI, http: aiohttp.ClientSession
) -> None:
    settings: Settings = x_settings(tmp_path, fake, x_access_token_secret="falsches-geheimnis")
    publisher = await CHANNEL.open(settings, http)
    with pytest.raises(TokenRejected) as refused:
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    message = refused.value.message
    assert "KOBLENZ_BOT_X_ACCESS_TOKEN" in message and "KOBLENZ_BOT_X_CONSUMER_KEY" in message
    assert "falsches-geheimnis" not in message and fake.access_token not in message
    assert isinstance(refused.value, Rejected) and fake.auth_failures == 1 and fake.posts == []


async def test_duplicate_content_and_forbidden_are_rejected(publisher: XPublisher, fake: FakeXAPI) -> None:
    await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    with pytest.raises(Rejected, match="duplicate content"):
        await publisher.send("x", ALERT_TEXT, outgoing=ALERT)
    fake.fail_next(403)
    with pytest.raises(Rejected) as forbidden:
        await publisher.send("x", "Etwas anderes", outgoing=ALERT)
    assert type(forbidden.value) is Rejected
    with pytest.raises(Rejected, match="too long"):  # X's own count refuses what check() refuses
        await publisher.send("x", "ü" * 281, outgoing=ALERT)
    assert len(fake.posts) == 1


async def test_a_posts_image_is_fetched_uploaded_and_attached(
    publisher: XPublisher, fake: FakeXAPI, images: str
) -> None:
    post = Outgoing(kind="post", event="post.published", key="koblenz-7", image_url=f"{images}/bild.png")
    sent = await publisher.send("x", "Neue Öffnungszeiten der Stadtbibliothek", outgoing=post)
    assert isinstance(sent, Sent)
    [upload] = fake.uploads
    assert upload.data == PNG and upload.content_type == "image/png" and upload.category == "tweet_image"
    assert fake.posts[0].media_ids == (upload.id,)
    assert fake.calls["POST /2/media/upload"] == 1 and fake.auth_failures == 0  # same signing, same base URL


async def test_a_retry_of_the_same_delivery_does_not_upload_again(
    publisher: XPublisher, fake: FakeXAPI, images: str
) -> None:
    post = Outgoing(kind="post", event="post.published", key="koblenz-8", image_url=f"{images}/bild.png")
    fake.fail_next(503, path="/2/tweets")
    with pytest.raises(Transient):
        await publisher.send("x", "Sperrung der Pfaffendorfer Brücke", outgoing=post)
    await publisher.send("x", "Sperrung der Pfaffendorfer Brücke", outgoing=post)
    assert len(fake.uploads) == 1 and fake.posts[0].media_ids == (fake.uploads[0].id,)


@pytest.mark.parametrize("path", ["/fehlt.png", "/seite.html", "/riesig.jpg", "/langsam.png"])
async def test_a_post_goes_without_an_image_that_cannot_be_fetched(
    publisher: XPublisher, fake: FakeXAPI, images: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    post = Outgoing(kind="post", event="post.published", image_url=f"{images}{path}")
    with caplog.at_level(logging.WARNING, logger="connectors.x.publisher"):
        sent = await publisher.send("x", "Stadtfest am Deutschen Eck", outgoing=post)
    assert isinstance(sent, Sent) and fake.uploads == [] and fake.posts[0].media_ids == ()
    assert "without the image" in caplog.text


async def test_a_post_goes_without_the_image_when_x_refuses_the_upload(
    publisher: XPublisher, fake: FakeXAPI, images: str
) -> None:
    fake.fail_next(400, path="/2/media/upload")
    post = Outgoing(kind="post", event="post.published", image_url=f"{images}/bild.png")
    await publisher.send("x", "Stadtfest am Deutschen Eck", outgoing=post)
    assert len(fake.posts) == 1 and fake.posts[0].media_ids == ()
    fake.fail_next(503, path="/2/media/upload")  # an outage is retried as a whole, not posted bare
    with pytest.raises(Transient):
        await publisher.send("x", "Flohmarkt in Ehrenbreitstein", outgoing=post)
    assert len(fake.posts) == 1


async def test_the_daily_budget_stops_press_posts_but_never_alerts(
    tmp_path: Path, fake: FakeXAPI, http: aiohttp.ClientSession
) -> None:
    now = [1_000_000.0]
    publisher = XPublisher(
        http,
        api_url=fake.url,
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        access_token=fake.access_token,
        access_token_secret=fake.access_token_secret,
        daily_posts=2,
        clock=lambda: now[0],
    )
    assert publisher.daily_posts == 2  # what the engine reads at scheduling time
    await publisher.send("x", "Erste Meldung", outgoing=POST)
    now[0] += 3600
    await publisher.send("x", "Hochwasser am Deutschen Eck", outgoing=ALERT)  # alerts count too
    with pytest.raises(Rejected) as refused:
        await publisher.send("x", "Dritte Meldung", outgoing=POST)
    message = refused.value.message
    assert "2 Beiträgen in 24 Stunden" in message and "KOBLENZ_BOT_X_DAILY_POSTS" in message
    # beyond the budget, alerts, their updates and all-clears still go
    await publisher.send("x", "🔄 Aktualisiert: Hochwasser", outgoing=UPDATE)
    await publisher.send("x", "✅ Entwarnung: Hochwasser", outgoing=ALLCLEAR)
    assert [p.text for p in fake.posts][-2:] == ["🔄 Aktualisiert: Hochwasser", "✅ Entwarnung: Hochwasser"]
    now[0] += 23 * 3600 + 1  # the first post left the rolling 24 hours; the alert's three posts count on
    with pytest.raises(Rejected):
        await publisher.send("x", "Dritte Meldung", outgoing=POST)
    now[0] += 3600
    await publisher.send("x", "Dritte Meldung", outgoing=POST)
    assert sum(p.text == "Dritte Meldung" for p in fake.posts) == 1
