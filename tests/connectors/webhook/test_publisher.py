"""The webhook publisher against a receiver that verifies like a real consumer: who gets which event,
the headers and signature, the payload, and how the receiver's answers become the engine's outcomes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import SecretStr

from broadcasts.api import authenticate
from broadcasts.publishers import Rejected, RetryAfter, Sent, Transient, Unsupported
from connectors.webhook.publisher import USER_AGENT, WebhookPublisher
from core.net import free_port
from core.paths import PROJECT_ROOT
from core.settings import AlertSender, Webhook
from tests.connectors.webhook.conftest import EVENTS, SECRETS, PublisherFactory, alert, post, webhooks
from tests.fakes.webhook_receiver import WebhookReceiver

ALL_EVENTS = ("alert.issued", "alert.updated", "alert.cancelled", "post.published")


# -- who gets what ---------------------------------------------------------------------------------


async def test_each_event_goes_only_to_the_webhooks_that_want_it(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    assert publisher.targets("alert.issued") == ["app", "leitstelle"]
    assert publisher.targets("alert.updated") == ["app"]
    assert publisher.targets("alert.cancelled") == ["app", "leitstelle"]
    assert publisher.targets("post.published") == ["app", "presse"]

    number = 0
    for event in ALL_EVENTS:
        for target in publisher.targets(event):
            number += 1
            outgoing = (
                post(f"koblenz-{number}") if event == "post.published" else alert(event, f"koblenz-{number}")
            )
            await publisher.send(target, "Text", reply_to="koblenz-1", outgoing=outgoing)

    for name in SECRETS:
        assert [e["event"] for e in receiver.events_for(name)] == [e for e in ALL_EVENTS if e in EVENTS[name]]
    assert receiver.refused == []


async def test_an_event_the_webhook_did_not_subscribe_to_is_not_posted(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    with pytest.raises(Unsupported, match=r"leitstelle: alert\.updated nicht abonniert"):
        await publisher.send("leitstelle", "Update", reply_to="koblenz-1", outgoing=alert("alert.updated"))
    with pytest.raises(Unsupported, match="presse"):
        await publisher.send("presse", "Warnung", outgoing=alert())
    with pytest.raises(Unsupported, match="nicht \\(mehr\\) eingerichtet"):
        await publisher.send("entfernt", "Warnung", outgoing=alert())
    assert receiver.requests == []


async def test_without_the_event_data_nothing_is_posted(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    with pytest.raises(Rejected):
        await publisher.send("app", "Warnung")
    with pytest.raises(Rejected):
        await publisher.send("app", "Warnung", outgoing=alert(key=""))
    assert receiver.requests == []


# -- headers, signature, payload -------------------------------------------------------------------


async def test_headers_and_signature_are_verified_by_the_receiver(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    before = int(time.time())
    sent = await publisher.send("leitstelle", "Bitte meiden Sie Lützel.", outgoing=alert(key="koblenz-42"))

    assert sent == Sent("koblenz-42", None)
    [delivery] = receiver.accepted
    headers = delivery.headers
    assert delivery.webhook == "leitstelle"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT and "koblenz-bot" in USER_AGENT
    assert headers["X-Koblenz-Event"] == "alert.issued"
    assert headers["X-Koblenz-Delivery"] == "koblenz-42"
    assert before <= int(headers["X-Koblenz-Timestamp"]) <= time.time()
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", headers["X-Koblenz-Signature"])
    body = json.loads(delivery.body)
    assert body["event"] == "alert.issued" and body["delivery"] == "koblenz-42"
    sent_at = dt.datetime.fromisoformat(body["sent_at"])
    assert sent_at.utcoffset() == dt.timedelta(0)
    assert int(sent_at.timestamp()) == int(headers["X-Koblenz-Timestamp"])
    data = body["data"]
    assert data["text"] == "Bitte meiden Sie Lützel."
    assert data["kind"] == "alert" and data["headline"] == "Bombenentschärfung in Lützel"
    assert data["severity"] == "Severe" and data["severity_label"] == "Gefahr"
    assert data["areas"] == ["Lützel"] and data["identifier"] == "TEST-0001"
    assert data["instruction"] == "Bitte verlassen Sie das Sperrgebiet."
    assert data["sender_name"] == "Feuerwehr Koblenz" and data["exercise"] is False
    assert data["topic"] == "warnungen" and data["link"] is None
    assert "previous_delivery" not in data and "event" not in data and "data" not in data
    assert "Lützel".encode() in delivery.body  # UTF-8, not ASCII-escaped


async def test_the_signature_is_the_scheme_the_alert_api_accepts(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    await publisher.send("app", "Warnung", outgoing=alert())
    [delivery] = receiver.accepted
    request = make_mocked_request(
        "POST", "/api/alerts", headers={**delivery.headers, "X-Koblenz-Sender": "bot"}
    )
    senders = {"bot": AlertSender(hmac_secret=SecretStr(SECRETS["app"]))}
    found = authenticate(request, delivery.body, senders)
    assert found is not None and found[0] == "bot"


async def test_a_tampered_body_or_an_old_timestamp_is_refused(
    publisher: WebhookPublisher, make_publisher: PublisherFactory, receiver: WebhookReceiver
) -> None:
    await publisher.send("app", "Warnung", outgoing=alert())
    [delivery] = receiver.accepted
    tampered = delivery.body.replace("Lützel".encode(), b"Horchheim")
    async with (
        aiohttp.ClientSession() as http,
        http.post(receiver.url_for("app"), data=tampered, headers=dict(delivery.headers)) as response,
    ):
        assert response.status == 401
    assert receiver.refused[-1].reason == "signature does not match"

    late = make_publisher(clock=lambda: time.time() - 301)
    with pytest.raises(Rejected, match="401"):
        await late.send("app", "Warnung", outgoing=alert(key="koblenz-2"))
    assert receiver.refused[-1].reason == "timestamp outside the tolerance"
    assert len(receiver.accepted) == 1


async def test_a_wrong_secret_is_refused_and_named(
    make_publisher: PublisherFactory, receiver: WebhookReceiver
) -> None:
    wrong = make_publisher(webhooks(receiver, {**SECRETS, "app": "not-the-receivers-secret"}))
    with pytest.raises(Rejected, match=r"401.*secret"):
        await wrong.send("app", "Warnung", outgoing=alert())
    assert receiver.accepted == [] and receiver.refused[0].reason == "signature does not match"


async def test_updates_and_all_clears_refer_to_the_earlier_delivery(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    first = await publisher.send("app", "Warnung", outgoing=alert(key="koblenz-1"))
    assert isinstance(first, Sent)
    await publisher.send(
        "app", "Aktualisiert", reply_to=first.id, outgoing=alert("alert.updated", "koblenz-2")
    )
    await publisher.send(
        "app",
        "Entwarnung",
        reply_to=first.id,
        outgoing=alert("alert.cancelled", "koblenz-3", identifier="TEST-2"),
    )
    await publisher.send("app", "Aktualisiert", outgoing=alert("alert.updated", "koblenz-4"))

    issued, updated, cancelled, orphan = receiver.events_for("app")
    assert "previous_delivery" not in issued["data"]
    assert (updated["event"], updated["data"]["kind"]) == ("alert.updated", "update")
    assert updated["data"]["previous_delivery"] == "koblenz-1"
    assert (cancelled["event"], cancelled["data"]["kind"]) == ("alert.cancelled", "allclear")
    assert (
        cancelled["data"]["previous_delivery"] == "koblenz-1" and cancelled["data"]["identifier"] == "TEST-2"
    )
    assert orphan["data"]["previous_delivery"] is None  # the first one never arrived


async def test_a_post_carries_its_facts_and_the_event_data(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    outgoing = post()
    outgoing = type(outgoing)(**{**outgoing.__dict__, "data": {"post_id": 17, "text": "not this"}})
    await publisher.send("presse", "Neue Öffnungszeiten ab Montag.", outgoing=outgoing)
    [document] = receiver.events_for("presse")
    assert document["event"] == "post.published"
    data = document["data"]
    assert data["kind"] == "post" and data["topic"] == "presse" and data["post_id"] == 17
    assert data["text"] == "Neue Öffnungszeiten ab Montag."  # the delivery's text wins
    assert data["severity"] == "" and data["areas"] == [] and "previous_delivery" not in data


async def test_the_documented_verification_example_works(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    """docs/channels/webhook.md's Python example accepts a real delivery and refuses a changed one."""
    doc = (PROJECT_ROOT / "docs" / "channels" / "webhook.md").read_text(encoding="utf-8")
    [code] = [block for block in re.findall(r"```python\n(.*?)```", doc, re.S) if "def verify" in block]
    namespace: dict[str, object] = {}
    exec(compile(code, "webhook.md", "exec"), namespace)
    verify = namespace["verify"]
    assert callable(verify)

    await publisher.send("app", "Warnung", outgoing=alert())
    [delivery] = receiver.accepted
    assert verify(SECRETS["app"], delivery.headers, delivery.body) is True
    assert verify(SECRETS["app"], delivery.headers, delivery.body + b" ") is False
    assert verify(SECRETS["presse"], delivery.headers, delivery.body) is False
    assert verify(SECRETS["app"], delivery.headers, delivery.body, now=time.time() + 301) is False


# -- answers: retries, refusals --------------------------------------------------------------------


async def test_a_503_is_transient_and_the_retry_carries_the_same_delivery(
    publisher: WebhookPublisher, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(1, 503, webhook="app")
    outgoing = alert(key="koblenz-7")
    with pytest.raises(Transient, match="503"):
        await publisher.send("app", "Warnung", outgoing=outgoing)
    assert await publisher.send("app", "Warnung", outgoing=outgoing) == Sent("koblenz-7")
    assert await publisher.send("app", "Warnung", outgoing=outgoing) == Sent("koblenz-7")  # answer lost

    assert [r.delivery for r in receiver.requests] == ["koblenz-7"] * 3
    assert [r.outcome for r in receiver.requests] == ["injected", "accepted", "duplicate"]
    assert len(receiver.events_for("app")) == 1


async def test_a_timeout_is_transient_and_the_receiver_drops_the_retry(
    make_publisher: PublisherFactory, receiver: WebhookReceiver
) -> None:
    publisher = make_publisher(timeout=0.2)
    receiver.delay_next(1, 0.6)
    outgoing = alert(key="koblenz-8")
    started = time.monotonic()
    with pytest.raises(Transient, match=r"keine Antwort nach 0\.2 s"):
        await publisher.send("app", "Warnung", outgoing=outgoing)
    assert time.monotonic() - started < 0.6
    await receiver.wait_for(lambda: len(receiver.accepted) == 1)  # the slow consumer did store it
    assert await publisher.send("app", "Warnung", outgoing=outgoing) == Sent("koblenz-8")
    assert [r.outcome for r in receiver.requests] == ["accepted", "duplicate"]


@pytest.mark.parametrize(
    ("status", "words"),
    [(400, "400"), (404, "404"), (422, "422"), (410, "receiver gone"), (403, "403.*secret")],
)
async def test_a_4xx_is_rejected_with_its_status(
    publisher: WebhookPublisher, receiver: WebhookReceiver, status: int, words: str
) -> None:
    receiver.fail_next(1, status)
    with pytest.raises(Rejected, match=words) as caught:
        await publisher.send("app", "Warnung", outgoing=alert())
    assert not isinstance(caught.value, RetryAfter | Transient)
    assert receiver.accepted == []


async def test_a_429_pauses_for_retry_after(publisher: WebhookPublisher, receiver: WebhookReceiver) -> None:
    receiver.fail_next(1, 429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await publisher.send("app", "Warnung", outgoing=alert())
    assert caught.value.seconds == 7
    receiver.fail_next(1, 429)
    with pytest.raises(RetryAfter) as caught:
        await publisher.send("app", "Warnung", outgoing=alert())
    assert caught.value.seconds == 30  # no Retry-After: the default pause
    receiver.fail_next(1, 429, retry_after=86400)
    with pytest.raises(RetryAfter) as caught:
        await publisher.send("app", "Warnung", outgoing=alert())
    assert caught.value.seconds == 600  # never longer than ten minutes


async def test_a_redirect_is_not_followed(publisher: WebhookPublisher, receiver: WebhookReceiver) -> None:
    receiver.fail_next(1, 307, location="https://andere-adresse.example/hook")
    with pytest.raises(Rejected, match=r"307 Weiterleitung nach andere-adresse\.example"):
        await publisher.send("app", "Warnung", outgoing=alert())
    assert len(receiver.requests) == 1


async def test_an_unreachable_receiver_is_transient(make_publisher: PublisherFactory) -> None:
    hook = Webhook(name="weg", url=f"http://127.0.0.1:{free_port()}/hook", secret=SecretStr("x" * 16))
    with pytest.raises(Transient, match=r"127\.0\.0\.1"):
        await make_publisher([hook]).send("weg", "Warnung", outgoing=alert())


async def test_the_log_names_the_delivery_never_the_secret_url_or_body(
    publisher: WebhookPublisher, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await publisher.send("app", "Geheimer Inhalt", outgoing=alert(key="koblenz-5"))
    receiver.fail_next(1, 500)
    with pytest.raises(Transient):
        await publisher.send("app", "Geheimer Inhalt", outgoing=alert(key="koblenz-6"))
    logged = caplog.text
    assert "app" in logged and "alert.issued" in logged and "koblenz-5" in logged and "500" in logged
    for secret in SECRETS.values():
        assert secret not in logged
    assert "Geheimer Inhalt" not in logged and "Bombenentschärfung" not in logged
    assert receiver.url_for("app") not in logged and "sha256=" not in logged


def test_capabilities_say_one_post_per_event_and_no_edits(publisher: WebhookPublisher) -> None:
    caps = publisher.capabilities
    assert (caps.send, caps.edit, caps.delete, caps.push) == (True, False, False, True)
    assert (caps.audience, caps.on_update, caps.on_allclear, caps.max_text) == ("once", "new", "new", None)
    assert caps.posts and caps.alerts and caps.cannot
    publisher.check("x" * 100_000)  # no length limit


async def test_edit_and_delete_are_unsupported(publisher: WebhookPublisher) -> None:
    with pytest.raises(Unsupported):
        await publisher.edit("app", "koblenz-1", "neu")
    with pytest.raises(Unsupported):
        await publisher.delete("app", "koblenz-1")
