"""Fixtures of the webhook channel's tests: a receiver double with three receivers (each with its own
secret and events), a shared HTTP session and publishers over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from broadcasts.publishers import Outgoing
from connectors.webhook.publisher import WebhookPublisher
from core.settings import Webhook
from tests.fakes.webhook_receiver import WebhookReceiver

SECRETS = {
    "app": "app-secret-0123456789abcdef",
    "presse": "presse-secret-0123456789abcdef",
    "leitstelle": "leitstelle-secret-0123456789",
}
EVENTS: dict[str, tuple[str, ...]] = {
    "app": ("alert.issued", "alert.updated", "alert.cancelled", "post.published"),
    "presse": ("post.published",),
    "leitstelle": ("alert.issued", "alert.cancelled"),
}


def alert(event: str = "alert.issued", key: str = "koblenz-1", **changes: Any) -> Outgoing:
    kind = {"alert.issued": "alert", "alert.updated": "update", "alert.cancelled": "allclear"}.get(
        event, "post"
    )
    values: dict[str, Any] = {
        "kind": kind,
        "event": event,
        "key": key,
        "message_id": 3,
        "topic": "warnungen",
        "headline": "Bombenentschärfung in Lützel",
        "summary": "⚠️ Gefahr: Bombenentschärfung in Lützel – Lützel.",
        "severity": "Severe",
        "severity_label": "Gefahr",
        "event_name": "Bombenentschärfung",
        "areas": ("Lützel",),
        "instruction": "Bitte verlassen Sie das Sperrgebiet.",
        "identifier": "TEST-0001",
        "sender_name": "Feuerwehr Koblenz",
        "sent": "2026-03-04T08:15:00+01:00",
    }
    values.update(changes)
    return Outgoing(**values)


def post(key: str = "koblenz-9") -> Outgoing:
    return Outgoing(
        kind="post",
        event="post.published",
        key=key,
        topic="presse",
        headline="Neue Öffnungszeiten",
        summary="Neue Öffnungszeiten",
        sender_name="Stadt Koblenz",
    )


def webhooks(receiver: WebhookReceiver, secrets: dict[str, str] | None = None) -> list[Webhook]:
    secrets = secrets or SECRETS
    return [
        Webhook(name=name, url=receiver.url_for(name), secret=SecretStr(secrets[name]), events=EVENTS[name])
        for name in SECRETS
    ]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    fake = WebhookReceiver(SECRETS)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


PublisherFactory = Callable[..., WebhookPublisher]


@pytest.fixture
def make_publisher(http: aiohttp.ClientSession, receiver: WebhookReceiver) -> PublisherFactory:
    """``make_publisher(hooks=None, **options)``: a publisher over the shared session (default: the three
    receivers of the double)."""

    def make(hooks: Sequence[Webhook] | None = None, **options: Any) -> WebhookPublisher:
        return WebhookPublisher(http, webhooks(receiver) if hooks is None else hooks, **options)

    return make


@pytest.fixture
def publisher(make_publisher: PublisherFactory) -> WebhookPublisher:
    return make_publisher()
