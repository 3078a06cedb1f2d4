"""The webhook receiver double checks signatures, freshness and duplicates like a real consumer, and its
fault injection answers what it is told (signed here by hand, independently of the bot's code)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = "receiver-secret-0123456789"


def signed(
    body: bytes, delivery: str = "d-1", event: str = "alert.issued", at: int | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Koblenz-Event": event,
        "X-Koblenz-Delivery": delivery,
        "X-Koblenz-Timestamp": timestamp,
        "X-Koblenz-Signature": f"sha256={digest}",
    }


def document(delivery: str = "d-1", event: str = "alert.issued") -> bytes:
    return json.dumps({"event": event, "delivery": delivery, "sent_at": "", "data": {}}).encode()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    fake = WebhookReceiver({"app": SECRET})
    await fake.start()
    yield fake
    await fake.stop()


async def post(receiver: WebhookReceiver, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(receiver.url_for("app"), data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_a_signed_delivery_is_processed_once(receiver: WebhookReceiver) -> None:
    body = document()
    assert await post(receiver, body, signed(body)) == (200, {"ok": True})
    assert await post(receiver, body, signed(body)) == (200, {"duplicate": True})
    assert [r.outcome for r in receiver.requests] == ["accepted", "duplicate"]
    assert receiver.events_for("app") == [json.loads(body)]


async def test_tampered_stale_or_unsigned_requests_are_refused(receiver: WebhookReceiver) -> None:
    body = document()
    headers = signed(body)
    assert (await post(receiver, body.replace(b"alert.issued", b"alert.updated"), headers))[0] == 401
    assert (await post(receiver, body, signed(body, at=int(time.time()) - 301)))[0] == 401
    unsigned = {k: v for k, v in headers.items() if k != "X-Koblenz-Signature"}
    assert (await post(receiver, body, unsigned))[0] == 401
    assert (await post(receiver, body, {**headers, "Content-Type": "text/plain"}))[0] == 415
    other = document(delivery="d-2")
    assert (await post(receiver, other, signed(other, delivery="d-1")))[0] == 400  # header ≠ body
    assert [r.reason for r in receiver.refused][:3] == [
        "signature does not match",
        "timestamp outside the tolerance",
        "signature missing or not sha256",
    ]
    assert receiver.accepted == [] and receiver.deliveries == set()


async def test_fault_injection_answers_without_processing(receiver: WebhookReceiver) -> None:
    body = document()
    receiver.fail_next(1, 503)
    receiver.fail_next(1, 429, retry_after=7)
    assert (await post(receiver, body, signed(body)))[0] == 503
    async with (
        aiohttp.ClientSession() as http,
        http.post(receiver.url_for("app"), data=body, headers=signed(body)) as response,
    ):
        assert (response.status, response.headers["Retry-After"]) == (429, "7")
    assert (await post(receiver, body, signed(body)))[0] == 200  # a failed delivery's retry is new
    assert [r.outcome for r in receiver.requests] == ["injected", "injected", "accepted"]
