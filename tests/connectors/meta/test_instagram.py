"""The Instagram channel against the Graph API double: the card under PUBLIC_URL, container → wait →
publish, failing containers, the daily publishing limit, updates as new posts, caption limits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from broadcasts import InvalidRequest, TextTooLong
from broadcasts.publishers import Rejected, RetryAfter, Sent, Transient, Unsupported
from connectors import registry
from connectors.meta import channel_spec
from connectors.meta.card import alt_text, card_for
from connectors.meta.graph import TokenRejected
from connectors.meta.instagram import InstagramPublisher
from core.http import error_middleware
from tests.conftest import make_settings
from tests.connectors.meta.conftest import PUBLIC_URL, alert, post
from tests.fakes.graph_api import FakeGraphAPI

TEXT = "⚠️ Gefahr: Bombenentschärfung in der Altstadt – Altstadt, Ehrenbreitstein. Verlassen Sie den Sperrbereich."


async def test_alert_is_published_with_its_card_in_two_steps(
    instagram: InstagramPublisher, fake: FakeGraphAPI, cards_dir: Path, aiohttp_client: Any
) -> None:
    fake.in_progress_polls = 3
    outgoing = alert()
    sent = await instagram.send("instagram", TEXT, outgoing=outgoing)
    [container] = fake.containers.values()
    [media] = fake.media.values()
    assert isinstance(sent, Sent) and sent.id == media.id and sent.url == media.permalink
    assert container.status_code == "PUBLISHED" and container.polls == 4  # 3 × IN_PROGRESS, then FINISHED
    assert media.caption == TEXT
    assert media.alt_text == alt_text(card_for(outgoing, TEXT))
    assert "Bombenentschärfung in der Altstadt" in media.alt_text
    assert "Betroffen: Altstadt, Ehrenbreitstein" in media.alt_text and "Sperrbereich" in media.alt_text
    assert fake.calls["GET content_publishing_limit"] == 1 and fake.quota_usage == 1
    assert fake.tokens_in_url == 0
    # the image URL Instagram was given is ours, under PUBLIC_URL, and the app serves a valid card there
    assert container.image_url.startswith(f"{PUBLIC_URL}/cards/") and container.image_url.endswith(".jpg")
    app = web.Application(middlewares=[error_middleware])
    app.router.add_routes(channel_spec.INSTAGRAM.routes(make_settings(cards_dir.parent.parent)))  # type: ignore[misc]
    client = await aiohttp_client(app)
    response = await client.get(container.image_url.removeprefix(PUBLIC_URL))
    assert response.status == 200 and response.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(await response.read()))
    assert image.format == "JPEG" and image.size == (1080, 1350)
    assert instagram.health() == {"quota_usage": 0, "quota_total": 100}  # as read before publishing


@pytest.mark.parametrize("outcome", ["ERROR", "EXPIRED"])
async def test_a_container_that_fails_fails_that_post(
    instagram: InstagramPublisher, fake: FakeGraphAPI, outcome: str
) -> None:
    fake.next_outcome = outcome
    with pytest.raises(Rejected) as caught:
        await instagram.send("instagram", TEXT, outgoing=alert())
    assert outcome in caught.value.message and "/cards/" in caught.value.message
    assert fake.calls["POST media_publish"] == 0 and fake.media == {}
    # the next attempt starts afresh with a new container
    assert isinstance(await instagram.send("instagram", TEXT, outgoing=alert()), Sent)
    assert len(fake.containers) == 2


async def test_a_slow_container_is_retried_without_making_another(
    http: aiohttp.ClientSession, fake: FakeGraphAPI, instagram: InstagramPublisher
) -> None:
    fake.in_progress_polls = 1000
    instagram.wait_timeout = 0.2
    with pytest.raises(Transient):
        await instagram.send("instagram", TEXT, outgoing=alert())
    [container] = fake.containers.values()
    container.polls_left = 0  # Instagram is done now
    sent = await instagram.send("instagram", TEXT, outgoing=alert())  # the same delivery's retry
    assert isinstance(sent, Sent) and fake.calls["POST media"] == 1 and len(fake.media) == 1


async def test_publishing_waits_while_the_media_is_not_ready(
    instagram: InstagramPublisher, fake: FakeGraphAPI
) -> None:
    fake.inject(9007, count=2, path="media_publish", subcode=2207027)
    sent = await instagram.send("instagram", TEXT, outgoing=alert())
    assert isinstance(sent, Sent) and fake.calls["POST media_publish"] == 1 and fake.errors[9007] == 2


async def test_daily_limit_makes_alerts_wait_and_refuses_posts(
    instagram: InstagramPublisher, fake: FakeGraphAPI
) -> None:
    fake.quota_total, fake.quota_usage = 25, 25
    with pytest.raises(RetryAfter) as waiting:
        await instagram.send("instagram", TEXT, outgoing=alert())
    assert 60 <= waiting.value.seconds <= 3600 and "Tageslimit" in str(waiting.value)
    with pytest.raises(Rejected, match="Tageslimit"):
        await instagram.send("instagram", "Sperrmüll", outgoing=post())
    assert fake.calls["POST media"] == 0  # nothing rendered for nothing
    # near the limit, the last five stay free for warnings
    fake.quota_usage = 21
    with pytest.raises(Rejected, match="Warnungen vorbehalten"):
        await instagram.send("instagram", "Sperrmüll", outgoing=post())
    assert isinstance(await instagram.send("instagram", TEXT, outgoing=alert()), Sent)
    assert fake.quota_usage == 22 and instagram.health()["quota_total"] == 25


async def test_limit_reached_between_check_and_publish(
    instagram: InstagramPublisher, fake: FakeGraphAPI
) -> None:
    fake.inject(9, path="media_publish", subcode=2207042, status=403)
    with pytest.raises(RetryAfter):
        await instagram.send("instagram", TEXT, outgoing=alert())
    # the container is kept for the retry
    assert isinstance(await instagram.send("instagram", TEXT, outgoing=alert()), Sent)
    assert fake.calls["POST media"] == 1


async def test_updates_and_all_clears_are_new_posts_with_their_own_card(
    instagram: InstagramPublisher, fake: FakeGraphAPI
) -> None:
    caps = instagram.capabilities
    assert (caps.edit, caps.delete, caps.on_update, caps.on_allclear, caps.max_text) == (
        False,
        False,
        "new",
        "new",
        2200,
    )
    first = await instagram.send("instagram", TEXT, outgoing=alert())
    assert isinstance(first, Sent)
    update = await instagram.send(
        "instagram",
        "🔄 Aktualisiert: Sperrbereich erweitert",
        reply_to=first.id,
        outgoing=alert("update", key="k2"),
    )
    clear = await instagram.send(
        "instagram",
        "✅ Entwarnung: Bombenentschärfung",
        reply_to=first.id,
        outgoing=alert("allclear", key="k3"),
    )
    assert isinstance(update, Sent) and isinstance(clear, Sent)
    assert len({first.id, update.id, clear.id}) == 3 and fake.comments == []
    images = [c.image_url for c in fake.containers.values()]
    assert len(set(images)) == 3  # each with its own card
    assert fake.media[clear.id].alt_text.startswith("Entwarnung: ")  # type: ignore[union-attr]
    with pytest.raises(Unsupported):
        await instagram.edit("instagram", first.id, "neu")
    with pytest.raises(Unsupported):
        await instagram.delete("instagram", first.id)


async def test_caption_limits(instagram: InstagramPublisher) -> None:
    with pytest.raises(TextTooLong):
        instagram.check("x" * 2201)
    tags = " ".join(f"#tag{i}" for i in range(31))
    with pytest.raises(InvalidRequest, match="31 Hashtags"):
        instagram.check(tags)
    fitted = instagram.fit(tags, post(link=None, key=""))
    instagram.check(fitted)
    assert fitted.count("#") == 30 and fitted.endswith(" tag30")


async def test_refused_token_stops_instagram(instagram: InstagramPublisher, fake: FakeGraphAPI) -> None:
    assert await instagram.start() and not instagram.stopped  # reads the daily limit, checks the token
    assert instagram.health() == {"quota_usage": 0, "quota_total": 100}
    fake.inject(190)
    with pytest.raises(TokenRejected, match="Instagram: Der Seiten-Token ist ungültig oder abgelaufen"):
        await instagram.send("instagram", TEXT, outgoing=alert())
    calls = len(fake.requests)
    with pytest.raises(TokenRejected):
        await instagram.send("instagram", TEXT, outgoing=alert())
    assert len(fake.requests) == calls
    assert instagram.health()["state"] == "stopped" and instagram.problem and "erneuern" in instagram.problem


async def test_channel_needs_the_account_the_token_and_a_public_url(
    tmp_path: Path, fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    spec = registry.discover()["instagram"]
    assert spec is channel_spec.INSTAGRAM and spec.label == "Instagram"
    assert spec.requires == ("instagram_user_id", "facebook_page_token", "public_url")
    partial = make_settings(tmp_path, instagram_user_id=fake.ig_user_id, facebook_page_token=fake.token)
    assert spec.missing(partial) == ["KOBLENZ_BOT_PUBLIC_URL"]
    assert registry.routes(partial, [spec]) == []  # no card route while the channel is off
    settings = make_settings(
        tmp_path,
        instagram_user_id=fake.ig_user_id,
        facebook_page_token=fake.token,
        public_url=PUBLIC_URL,
        facebook_graph_url=fake.url,
        facebook_api_version=fake.version,
    )
    assert [r.path for r in registry.routes(settings, [spec])] == ["/cards/{name}.jpg"]  # type: ignore[attr-defined]
    publisher = await spec.open(settings, http)
    assert isinstance(publisher, InstagramPublisher) and publisher.name == "instagram"
    publisher.poll_interval = 0.01
    sent = await publisher.send("instagram", "Sperrmüll\nNeue Termine", outgoing=post())
    assert isinstance(sent, Sent)
    name = next(iter(fake.containers.values())).image_url.rsplit("/", 1)[1]
    assert (tmp_path / "state" / "cards" / name).is_file()
