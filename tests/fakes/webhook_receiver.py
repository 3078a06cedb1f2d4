"""A loopback double of a webhook receiver (the city app's push service, a partner's system) that checks
every delivery the way docs/channels/webhook.md tells a real consumer to.

It is a real aiohttp server on 127.0.0.1 serving ``POST <url>/hooks/<name>``, one path per receiver, each
with its own secret::

    receiver = WebhookReceiver({"app": "app-secret-0123456789", "presse": "presse-secret-0123456789"})
    await receiver.start()        # receiver.url_for("app") = "http://127.0.0.1:<port>/hooks/app"
    ...
    await receiver.stop()

Per request, in this order (like a consumer):

1. fault injection (below), before anything is read;
2. ``Content-Type: application/json``, else 415;
3. the signature: ``X-Koblenz-Timestamp`` a number within ``tolerance`` seconds (default 300) of the
   receiver's ``clock``, ``X-Koblenz-Signature`` = ``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>." +
   body`` with the receiver's secret, compared in constant time; else 401 (``check_signature`` says why);
4. the body: a JSON object whose ``event`` and ``delivery`` equal ``X-Koblenz-Event`` and
   ``X-Koblenz-Delivery``, else 400;
5. de-duplication by ``X-Koblenz-Delivery``: a delivery processed before is answered 200
   ``{"duplicate": true}`` and not processed again; a new one is processed (``accepted``) and answered 200
   ``{"ok": true}``. A delivery refused or failed before is not "processed": its retry counts as new.

Recorded for assertions: ``requests`` (every request as :class:`Received`: receiver name, headers, raw
body, parsed payload, status answered, ``outcome`` "accepted" | "duplicate" | "refused" | "injected",
``reason``), ``accepted`` / ``duplicates`` / ``refused`` / ``injected`` (the same records by outcome),
``events_for(name)`` (the accepted payloads of one receiver), ``deliveries`` (keys processed).

Fault injection, each for the next ``count`` requests (of ``webhook``, or of any receiver when None):
``fail_next(count, status=503, retry_after=None, webhook=None)`` answers ``status`` (5xx, 4xx, 429 with
``Retry-After``, 3xx with ``Location``) without processing; ``delay_next(count, seconds, webhook=None)``
answers late (the sender's timeout): the request is processed after the delay, like a slow consumer, so a
retry of it is a duplicate. ``await receiver.wait_for(predicate, timeout)`` waits for such late work.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.loopback import serve

TOLERANCE = 300  # seconds, as the alert API accepts signatures


def check_signature(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: float = TOLERANCE
) -> str | None:
    """Why the delivery's signature does not hold (None: it holds). Written from the documented scheme,
    not from the bot's code, as a receiver would write it."""
    timestamp = headers.get("X-Koblenz-Timestamp", "")
    signature = headers.get("X-Koblenz-Signature", "")
    if not timestamp.isdigit():
        return "timestamp missing or not a number"
    if abs(now - int(timestamp)) > tolerance:
        return "timestamp outside the tolerance"
    if not signature.startswith("sha256="):
        return "signature missing or not sha256"
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.removeprefix("sha256="), expected):
        return "signature does not match"
    return None


@dataclass
class Received:
    webhook: str
    headers: CIMultiDict[str]  # as received (case-insensitive)
    body: bytes
    status: int = 0
    outcome: str = ""  # accepted, duplicate, refused, injected
    reason: str = ""
    payload: dict[str, Any] | None = None
    time: float = 0.0

    @property
    def event(self) -> str:
        return self.headers.get("X-Koblenz-Event", "")

    @property
    def delivery(self) -> str:
        return self.headers.get("X-Koblenz-Delivery", "")


@dataclass
class _Fault:
    count: int
    webhook: str | None
    status: int = 0
    retry_after: str | None = None
    location: str | None = None
    delay: float = 0.0


@dataclass
class WebhookReceiver:
    secrets: Mapping[str, str]
    tolerance: float = TOLERANCE
    clock: Callable[[], float] = time.time
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    deliveries: set[str] = field(default_factory=set)
    _faults: list[_Fault] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hooks/{name}", self._handle)
        self._runner, self.url = await serve(app, access_log=None, shutdown_timeout=0.5)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url_for(self, name: str) -> str:
        return f"{self.url}/hooks/{name}"

    # -- fault injection ----------------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int = 503,
        retry_after: int | str | None = None,
        webhook: str | None = None,
        location: str | None = None,
    ) -> None:
        self._faults.append(
            _Fault(count, webhook, status, None if retry_after is None else str(retry_after), location)
        )

    def delay_next(self, count: int, seconds: float, webhook: str | None = None) -> None:
        self._faults.append(_Fault(count, webhook, delay=seconds))

    def _fault_for(self, name: str) -> _Fault | None:
        for fault in self._faults:
            if fault.count > 0 and fault.webhook in (None, name):
                fault.count -= 1
                return fault
        return None

    # -- records ------------------------------------------------------------------------------------

    def _by(self, outcome: str) -> list[Received]:
        return [r for r in self.requests if r.outcome == outcome]

    @property
    def accepted(self) -> list[Received]:
        return self._by("accepted")

    @property
    def duplicates(self) -> list[Received]:
        return self._by("duplicate")

    @property
    def refused(self) -> list[Received]:
        return self._by("refused")

    @property
    def injected(self) -> list[Received]:
        return self._by("injected")

    def events_for(self, name: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.accepted if r.webhook == name and r.payload is not None]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the webhook receiver did not get what was expected")
            await asyncio.sleep(0.01)

    # -- the receiver -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        record = Received(name, CIMultiDict(request.headers), body, time=time.time())
        self.requests.append(record)
        fault = self._fault_for(name)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        elif fault is not None:
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            if fault.location is not None:
                headers["Location"] = fault.location
            return self._answer(record, fault.status, "injected", "fault injection", headers)
        secret = self.secrets.get(name)
        if secret is None:
            return self._answer(record, 404, "refused", "unknown receiver")
        if request.content_type != "application/json":
            return self._answer(record, 415, "refused", f"content type {request.content_type}")
        problem = check_signature(secret, request.headers, body, self.clock(), self.tolerance)
        if problem is not None:
            return self._answer(record, 401, "refused", problem)
        try:
            payload = json.loads(body)
        except ValueError:
            return self._answer(record, 400, "refused", "body is not JSON")
        if not isinstance(payload, dict):
            return self._answer(record, 400, "refused", "body is not a JSON object")
        record.payload = payload
        if payload.get("event") != record.event or payload.get("delivery") != record.delivery:
            return self._answer(record, 400, "refused", "body and headers disagree")
        if not record.delivery:
            return self._answer(record, 400, "refused", "X-Koblenz-Delivery missing")
        if record.delivery in self.deliveries:
            return self._answer(record, 200, "duplicate", "", body={"duplicate": True})
        self.deliveries.add(record.delivery)
        return self._answer(record, 200, "accepted", "", body={"ok": True})

    @staticmethod
    def _answer(
        record: Received,
        status: int,
        outcome: str,
        reason: str,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> web.Response:
        record.status, record.outcome, record.reason = status, outcome, reason
        return web.json_response(
            body if body is not None else {"error": reason}, status=status, headers=headers
        )
