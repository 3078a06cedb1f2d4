"""The Mastodon channel against the API double: what the city's followers see, and what the engine learns
when something goes wrong."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest

from broadcasts import TextTooLong
from broadcasts.publishers import EditImpossible, Outgoing, Rejected, RetryAfter, Sent, Transient
from connectors.mastodon.errors import TokenRejected
from connectors.mastodon.publisher import MastodonPublisher
from tests.connectors.mastodon.conftest import TOKEN, ImageHost, PublisherFactory
from tests.fakes.mastodon_api import FakeMastodonAPI


def alert(kind: str = "alert", key: str = "koblenz-1", **facts: object) -> Outgoing:
    values: dict[str, object] = {
        "kind": kind,
        "event": {"alert": "alert.issued", "update": "alert.updated", "allclear": "alert.cancelled"}[kind],
        "key": key,
        "headline": "Bombenentschärfung in der Altstadt",
        "severity": "Severe",
        "severity_label": "Gefahr",
        "event_name": "Bombenentschärfung",
    }
    values.update(facts)
    return Outgoing(**values)  # type: ignore[arg-type]


def post(key: str = "koblenz-7", **facts: object) -> Outgoing:
    return Outgoing(kind="post", event="post.published", key=key, **facts)  # type: ignore[arg-type]


# -- what goes out ----------------------------------------------------------------------------------


async def test_alert_is_a_public_german_status_with_a_content_warning(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    sent = await publisher.send("mastodon", "⚠️ Gefahr: Bitte meiden Sie die Altstadt.", outgoing=alert())

    [status] = fake.posted
    assert status.text == "⚠️ Gefahr: Bitte meiden Sie die Altstadt."
    assert status.spoiler_text == "Warnung: Bombenentschärfung (Gefahr)"
    assert (status.visibility, status.language) == ("public", "de")
    assert sent == Sent(status.id, fake.status_json(status.id)["url"])
    assert fake.requests[-1].idempotency_key == "koblenz-1"


async def test_exercise_is_marked_in_the_content_warning(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    await publisher.send("mastodon", "ÜBUNG – Probealarm.", outgoing=alert(exercise=True, event_name=""))

    assert fake.posted[0].spoiler_text == "ÜBUNG – Warnung: Bombenentschärfung in der Altstadt (Gefahr)"


async def test_press_post_has_no_content_warning(fake: FakeMastodonAPI, publisher: MastodonPublisher) -> None:
    await publisher.send("mastodon", "Das Bürgeramt hat am Samstag geöffnet.", outgoing=post())

    [status] = fake.posted
    assert status.spoiler_text == "" and status.language == "de" and status.visibility == "public"


async def test_update_edits_the_same_status_and_keeps_its_warning(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    sent = await publisher.send("mastodon", "Sperrkreis: 300 m.", outgoing=alert())

    await publisher.edit("mastodon", sent.id, "🔄 Aktualisiert: Sperrkreis jetzt 500 m.")

    [status] = fake.posted
    assert status.id == sent.id and fake.created == 1 and fake.edits == 1
    assert status.text == "🔄 Aktualisiert: Sperrkreis jetzt 500 m."
    assert status.spoiler_text == "Warnung: Bombenentschärfung (Gefahr)"  # Mastodon drops it unless resent


async def test_update_with_its_facts_takes_the_new_severity(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    sent = await publisher.send("mastodon", "Sperrkreis: 300 m.", outgoing=alert())

    await publisher.edit(
        "mastodon",
        sent.id,
        "Sperrkreis 1 km.",
        outgoing=alert("update", severity="Extreme", severity_label="Extreme Gefahr"),
    )

    assert fake.posted[0].spoiler_text == "Warnung: Bombenentschärfung (Extreme Gefahr)"


async def test_all_clear_answers_the_alert(fake: FakeMastodonAPI, publisher: MastodonPublisher) -> None:
    first = await publisher.send("mastodon", "Sperrkreis: 300 m.", outgoing=alert())

    reply = await publisher.send(
        "mastodon",
        "✅ Entwarnung: Die Bombe ist entschärft.",
        reply_to=first.id,
        outgoing=alert("allclear", key="koblenz-2"),
    )

    status = fake.statuses[reply.id]
    assert status.in_reply_to_id == first.id
    assert status.spoiler_text == "Entwarnung: Bombenentschärfung"
    assert len(fake.posted) == 2


async def test_all_clear_goes_out_alone_when_the_alert_was_deleted(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    first = await publisher.send("mastodon", "Sperrkreis: 300 m.", outgoing=alert())
    await publisher.delete("mastodon", first.id)

    reply = await publisher.send(
        "mastodon", "✅ Entwarnung.", reply_to=first.id, outgoing=alert("allclear", key="k-2")
    )

    assert fake.statuses[reply.id].in_reply_to_id is None
    assert [s.text for s in fake.posted] == ["✅ Entwarnung."]


async def test_delete_removes_the_status_and_a_second_delete_is_fine(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    sent = await publisher.send("mastodon", "Versehentlich veröffentlicht.", outgoing=post())

    await publisher.delete("mastodon", sent.id)
    await publisher.delete("mastodon", sent.id)  # already gone: done, not an error

    assert fake.posted == [] and fake.deletes == 1
    with pytest.raises(EditImpossible):
        await publisher.edit("mastodon", sent.id, "zu spät")


# -- retries never post twice -----------------------------------------------------------------------


async def test_retry_after_a_lost_answer_creates_one_status(
    fake: FakeMastodonAPI, make_publisher: PublisherFactory
) -> None:
    publisher = make_publisher(fake, timeout=0.3)
    await publisher.start()
    fake.set_delay(0.6, "POST", "/api/v1/statuses")  # the instance posts, but answers too late

    with pytest.raises(Transient):
        await publisher.send("mastodon", "Hochwasser am Deutschen Eck.", outgoing=alert(key="koblenz-42"))
    await asyncio.sleep(0.5)  # the first attempt has gone through on the instance
    fake.set_delay(0, "POST", "/api/v1/statuses")
    sent = await publisher.send("mastodon", "Hochwasser am Deutschen Eck.", outgoing=alert(key="koblenz-42"))

    assert fake.created == 1 and fake.replays == 1
    assert [s.id for s in fake.posted] == [sent.id]


async def test_different_deliveries_are_different_statuses(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    one = await publisher.send("mastodon", "Gleicher Text.", outgoing=post(key="koblenz-1"))
    two = await publisher.send("mastodon", "Gleicher Text.", outgoing=post(key="koblenz-2"))

    assert one.id != two.id and fake.created == 2 and fake.replays == 0


# -- limits from the instance -----------------------------------------------------------------------


async def test_limits_come_from_the_instance(http: object, make_publisher: PublisherFactory) -> None:
    text = "Baustelle " * 70  # 700 characters
    roomy, stock = FakeMastodonAPI(token=TOKEN, max_characters=1000), FakeMastodonAPI(token=TOKEN)
    await roomy.start()
    await stock.start()
    try:
        on_roomy, on_stock = make_publisher(roomy), make_publisher(stock)
        with pytest.raises(TextTooLong):  # before the instance answered: Mastodon's stock 500
            on_roomy.check(text)
        await on_roomy.start()
        await on_stock.start()

        on_roomy.check(text)
        assert on_roomy.capabilities.max_text == 1000
        with pytest.raises(TextTooLong):
            on_stock.check(text)
        await on_roomy.send("mastodon", text, outgoing=post())
        with pytest.raises(Rejected):  # the instance itself refuses it too (422)
            await on_stock.send("mastodon", text, outgoing=post())
        assert len(roomy.posted) == 1 and stock.posted == []
    finally:
        await roomy.stop()
        await stock.stop()


async def test_first_send_loads_the_limits_without_start(make_publisher: PublisherFactory) -> None:
    roomy = FakeMastodonAPI(token=TOKEN, max_characters=1000, characters_reserved_per_url=30)
    await roomy.start()
    try:
        publisher = make_publisher(roomy)
        assert publisher.length("https://www.koblenz.de") == 23

        await publisher.send("mastodon", "Erster Beitrag.", outgoing=post())

        assert publisher.capabilities.max_text == 1000
        assert publisher.length("Infos: https://www.koblenz.de/rathaus") == len("Infos: ") + 30
    finally:
        await roomy.stop()


async def test_content_warning_counts_and_fit_leaves_room_for_it(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    warning = alert()
    cw = "Warnung: Bombenentschärfung (Gefahr)"
    exact = "x" * (500 - len(cw))
    publisher.check(exact, warning)
    with pytest.raises(TextTooLong):
        publisher.check(exact + "x", warning)
    long_text = "Bitte verlassen Sie den Sperrkreis sofort. " * 20
    fitted = publisher.fit(long_text, alert(summary="", link="https://www.koblenz.de/warnung"))

    assert publisher.length(fitted, warning) <= 500
    await publisher.send("mastodon", exact, outgoing=warning)
    await publisher.send("mastodon", fitted, outgoing=alert(key="koblenz-2"))
    assert len(fake.posted) == 2  # the instance counted the same way and accepted both


# -- errors, mapped -------------------------------------------------------------------------------


async def test_rate_limit_becomes_retry_after_until_the_reset(make_publisher: PublisherFactory) -> None:
    fake = FakeMastodonAPI(token=TOKEN, posts_limit=2, posts_window=120)
    await fake.start()
    try:
        publisher = make_publisher(fake)
        await publisher.send("mastodon", "eins", outgoing=post(key="k1"))
        await publisher.send("mastodon", "zwei", outgoing=post(key="k2"))

        with pytest.raises(RetryAfter) as raised:
            await publisher.send("mastodon", "drei", outgoing=post(key="k3"))

        assert 100 <= raised.value.seconds <= 122  # until the first post leaves the 120 s window
        assert fake.created == 2 and fake.rate_limited == 1
    finally:
        await fake.stop()


async def test_throttled_upload_of_a_status_waits_as_long_as_the_instance_says(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    fake.throttle_next(reset_in=30, method="POST", path="/api/v1/statuses")

    with pytest.raises(RetryAfter) as raised:
        await publisher.send("mastodon", "Text", outgoing=post())

    assert 27 <= raised.value.seconds <= 32


async def test_rejected_token_names_the_setting_never_the_secret(
    fake: FakeMastodonAPI, make_publisher: PublisherFactory, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-token-d41d8cd9"
    publisher = make_publisher(fake, token=wrong)

    with caplog.at_level(logging.DEBUG):
        assert await publisher.start() is False
        with pytest.raises(TokenRejected) as raised:
            await publisher.send("mastodon", "Text", outgoing=post())

    assert "KOBLENZ_BOT_MASTODON_TOKEN" in str(raised.value)
    assert publisher.problem is not None and "KOBLENZ_BOT_MASTODON_TOKEN" in publisher.problem
    assert "KOBLENZ_BOT_MASTODON_TOKEN" in caplog.text
    assert wrong not in caplog.text and wrong not in str(raised.value) and wrong not in publisher.problem
    assert fake.posted == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_transient(
    fake: FakeMastodonAPI, publisher: MastodonPublisher, status: int
) -> None:
    fake.fail_next(status, method="POST", path="/api/v1/statuses")

    with pytest.raises(Transient):
        await publisher.send("mastodon", "Text", outgoing=post())
    await publisher.send("mastodon", "Text", outgoing=post())  # the retry goes through

    assert len(fake.posted) == 1


async def test_unreachable_instance_is_transient(make_publisher: PublisherFactory) -> None:
    fake = FakeMastodonAPI(token=TOKEN)
    await fake.start()
    publisher = make_publisher(fake)
    await publisher.start()
    await fake.stop()

    with pytest.raises(Transient):
        await publisher.send("mastodon", "Text", outgoing=post())


async def test_unreachable_instance_at_start_is_logged_and_retried_on_send(
    make_publisher: PublisherFactory,
) -> None:
    fake = FakeMastodonAPI(token=TOKEN, max_characters=800)
    fake.fail_next(503, count=10, path="/api/v")
    await fake.start()
    try:
        publisher = make_publisher(fake)
        assert await publisher.start() is False
        assert publisher.problem and not publisher.limits.loaded
        fake._faults.clear()

        await publisher.send("mastodon", "Jetzt geht es.", outgoing=post())

        assert publisher.limits.loaded and publisher.capabilities.max_text == 800
    finally:
        await fake.stop()


async def test_other_client_errors_are_rejected(fake: FakeMastodonAPI, publisher: MastodonPublisher) -> None:
    fake.fail_next(
        422, error="Validation failed: Text can't be blank", method="POST", path="/api/v1/statuses"
    )

    with pytest.raises(Rejected) as raised:
        await publisher.send("mastodon", "Text", outgoing=post())

    assert "Text can't be blank" in str(raised.value)
    assert not isinstance(raised.value, TokenRejected)


# -- images -----------------------------------------------------------------------------------------


async def test_image_is_uploaded_with_its_alt_text(
    fake: FakeMastodonAPI, publisher: MastodonPublisher, images: ImageHost
) -> None:
    outgoing = post(image_url=f"{images.url}/bild.png", image_alt="Das Rathaus am Jesuitenplatz")

    sent = await publisher.send("mastodon", "Neue Öffnungszeiten.", outgoing=outgoing)

    [status] = fake.posted
    [media_id] = status.media_ids
    assert fake.media[media_id].description == "Das Rathaus am Jesuitenplatz"
    assert fake.media[media_id].mime_type == "image/png" and fake.media[media_id].status_id == sent.id
    assert fake.calls["POST /api/v2/media"] == 1


async def test_retry_reuses_the_upload(
    fake: FakeMastodonAPI, publisher: MastodonPublisher, images: ImageHost
) -> None:
    outgoing = post(image_url=f"{images.url}/bild.png", image_alt="Rathaus")
    fake.fail_next(503, method="POST", path="/api/v1/statuses")

    with pytest.raises(Transient):
        await publisher.send("mastodon", "Mit Bild.", outgoing=outgoing)
    await publisher.send("mastodon", "Mit Bild.", outgoing=outgoing)

    assert fake.media_uploads == 1 and images.requests == 1 and len(fake.posted[0].media_ids) == 1


async def test_edit_keeps_the_image(
    fake: FakeMastodonAPI, publisher: MastodonPublisher, images: ImageHost
) -> None:
    sent = await publisher.send(
        "mastodon", "Mit Bild.", outgoing=post(image_url=f"{images.url}/bild.png", image_alt="Rathaus")
    )

    await publisher.edit("mastodon", sent.id, "Mit Bild, korrigiert.")

    assert len(fake.posted[0].media_ids) == 1 and fake.posted[0].text == "Mit Bild, korrigiert."


async def test_image_still_processing_is_waited_for(
    make_publisher: PublisherFactory, images: ImageHost
) -> None:
    fake = FakeMastodonAPI(token=TOKEN, media_processing=0.6)
    await fake.start()
    try:
        publisher = make_publisher(fake)
        await publisher.send("mastodon", "Mit Bild.", outgoing=post(image_url=f"{images.url}/bild.png"))

        assert len(fake.posted[0].media_ids) == 1
        assert fake.calls["GET /api/v1/media/{id}"] >= 1
    finally:
        await fake.stop()


@pytest.mark.parametrize("name", ["fehlt.png", "seite.html", "gross.png"])
async def test_unusable_image_is_left_out_with_a_warning(
    make_publisher: PublisherFactory, images: ImageHost, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    fake = FakeMastodonAPI(token=TOKEN, image_size_limit=100_000)
    images.big = 200_000
    await fake.start()
    try:
        publisher = make_publisher(fake)
        with caplog.at_level(logging.WARNING):
            await publisher.send("mastodon", "Ohne Bild.", outgoing=post(image_url=f"{images.url}/{name}"))

        [status] = fake.posted
        assert status.media_ids == [] and fake.media_uploads == 0
        assert "without the image" in caplog.text
    finally:
        await fake.stop()


async def test_image_refused_by_the_instance_is_left_out(
    fake: FakeMastodonAPI, publisher: MastodonPublisher, images: ImageHost
) -> None:
    fake.fail_next(422, error="Validation failed: File content type is invalid", path="/api/v2/media")

    await publisher.send("mastodon", "Trotzdem.", outgoing=post(image_url=f"{images.url}/bild.png"))

    assert fake.posted[0].media_ids == []


# -- the event loop keeps running -------------------------------------------------------------------


async def test_slow_instance_does_not_block_the_event_loop(
    fake: FakeMastodonAPI, publisher: MastodonPublisher
) -> None:
    fake.delay = 0.3
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    try:
        await publisher.send("mastodon", "Langsam, aber sicher.", outgoing=post())
        await publisher.edit("mastodon", fake.posted[0].id, "Bearbeitet.")  # two calls, 0.3 s each
    finally:
        ticker.cancel()
    elapsed = time.monotonic() - started

    assert elapsed >= 0.9  # send, then the edit's read and write: three slow calls
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= elapsed / 0.01 / 3 and max(gaps) < 0.1


# -- a token with only the write scopes ---------------------------------------------------------------


async def test_write_only_token_posts_and_edits_with_the_facts_at_hand(
    make_publisher: PublisherFactory,
) -> None:
    fake = FakeMastodonAPI(token=TOKEN, scopes="write:statuses write:media")
    await fake.start()
    try:
        publisher = make_publisher(fake)
        assert await publisher.start() is True and publisher.account is None  # may not read the account
        sent = await publisher.send("mastodon", "Sperrkreis: 300 m.", outgoing=alert())

        with pytest.raises(EditImpossible):  # cannot read the warning to keep it: a correction answers
            await publisher.edit("mastodon", sent.id, "Sperrkreis: 500 m.")
        await publisher.edit("mastodon", sent.id, "Sperrkreis: 500 m.", outgoing=alert("update"))

        [status] = fake.posted
        assert status.text == "Sperrkreis: 500 m."
        assert status.spoiler_text == "Warnung: Bombenentschärfung (Gefahr)"
    finally:
        await fake.stop()
