"""Signed webhooks as a broadcast channel: one JSON POST per event and receiver.

``targets(event)`` names the receivers (``Webhook.name``) whose ``events`` include the event; the engine
creates one delivery per target and calls ``send(target, text, reply_to, outgoing)``, which posts::

    POST <webhook.url>
    Content-Type: application/json
    User-Agent: koblenz-bot-webhook/1.0 (Stadt Koblenz, Buergerbot)
    X-Koblenz-Event: alert.issued
    X-Koblenz-Delivery: koblenz-4711            (outgoing.key: the same on every retry of the delivery)
    X-Koblenz-Timestamp: 1767225600             (Unix seconds of this attempt)
    X-Koblenz-Signature: sha256=<hex>           (signing.signature over "<timestamp>." + body)

    {"event": "alert.issued", "delivery": "koblenz-4711", "sent_at": "2026-01-01T00:00:00+00:00",
     "data": {...outgoing.meta() without event and data, outgoing.data merged in, "text": <text>,
              "previous_delivery": <reply_to> (alert.updated and alert.cancelled only)}}

``send`` returns ``Sent(id=<delivery key>)``, so an update's or all-clear's ``reply_to`` is the key of the
alert's delivery to the same receiver (``previous_delivery``). Nothing is edited or deleted: an update or
an all-clear is an event of its own (``on_update="new"``, ``on_allclear="new"``).

Answers: 2xx sent; 5xx, 408, timeouts (``timeout`` seconds per request) and connection errors
``Transient`` (the worker retries with backoff); 429 ``RetryAfter`` (its ``Retry-After``, else
``DEFAULT_RETRY_AFTER``; at most ``MAX_RETRY_AFTER``); 3xx ``Rejected`` (redirects are never followed: the
body and signature would go to another address); 410 ``Rejected`` (receiver gone); any other 4xx
``Rejected``. The log names the receiver, event, delivery key and status: never the secret, the URL (it may
carry a token) or the body.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from broadcasts.publishers import (
    Capabilities,
    Checked,
    Outgoing,
    PublishError,
    Rejected,
    RetryAfter,
    Sent,
    Transient,
    Unsupported,
)
from connectors.webhook.signing import signature
from core.settings import Webhook

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds per request
RATE = 10.0  # POSTs per second over all receivers (our own pace; receivers are few and ours)
DEFAULT_RETRY_AFTER = 30.0  # seconds, when a 429 names no Retry-After
MAX_RETRY_AFTER = 600.0  # a 429 pauses the whole webhook channel: never longer than this
USER_AGENT = "koblenz-bot-webhook/1.0 (Stadt Koblenz, Buergerbot)"
FOLLOW_UPS = ("alert.updated", "alert.cancelled")  # events that refer to an earlier delivery
_NOT_DATA = ("event", "data")  # meta keys that are not part of the payload's ``data``
_EXCERPT = 200  # characters of a receiver's 4xx answer kept in the delivery's error


def payload(
    outgoing: Outgoing, text: str, sent_at: dt.datetime, reply_to: str | None = None
) -> dict[str, Any]:
    """The JSON document of one delivery (docs/channels/webhook.md, "Payload")."""
    data = {k: v for k, v in outgoing.meta().items() if k not in _NOT_DATA}
    data.update(outgoing.data)
    data["text"] = text
    if outgoing.event in FOLLOW_UPS:
        data["previous_delivery"] = reply_to
    return {
        "event": outgoing.event,
        "delivery": outgoing.key,
        "sent_at": sent_at.isoformat(timespec="seconds"),
        "data": data,
    }


def retry_after(value: str | None, now: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), within 1 s and the cap."""
    seconds = DEFAULT_RETRY_AFTER
    if value:
        value = value.strip()
        if value.isdigit():
            seconds = float(value)
        else:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
            except (TypeError, ValueError):
                seconds = DEFAULT_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(1.0, seconds))


def answer_error(
    name: str, status: int, headers: Mapping[str, str], said: str, now: float
) -> PublishError | None:
    """The error for a receiver's answer with ``status`` (None for 2xx). ``said``: the start of its body."""
    detail = f"webhook {name}: {status}" + (f" {said}" if said else "")
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        host = URL(headers.get("Location", "")).host or "unbekannt"
        return Rejected(
            f"webhook {name}: {status} Weiterleitung nach {host} – Weiterleitungen werden nicht verfolgt; "
            "bitte die URL des Webhooks in KOBLENZ_BOT_WEBHOOKS anpassen."
        )
    if status == 429:
        # one receiver's 429 holds back that receiver only, never the others
        return RetryAfter(retry_after(headers.get("Retry-After"), now), detail, whole_channel=False)
    if status == 408 or status >= 500:
        return Transient(detail)
    if status == 410:
        return Rejected(
            f"webhook {name}: 410 receiver gone – den Empfänger gibt es nicht mehr; "
            "bitte aus KOBLENZ_BOT_WEBHOOKS entfernen."
        )
    if status in (401, 403):
        return Rejected(f"{detail} – Signatur abgelehnt? Bitte das Geheimnis (secret) beider Seiten prüfen.")
    return Rejected(detail)


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    try:
        raw = await response.content.read(_EXCERPT * 4)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return " ".join(raw.decode("utf-8", "replace").split())[:_EXCERPT]


class WebhookPublisher(Checked):
    name = "webhook"
    label = "Webhook"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        webhooks: Sequence[Webhook],
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.time,
        rate: float = RATE,
    ) -> None:
        """Over the registry's shared ``session``; ``clock`` gives the Unix time of the signature."""
        self._session = session
        self._webhooks = {hook.name: hook for hook in webhooks}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._seconds = timeout
        self._clock = clock
        self.capabilities = Capabilities(
            send=True,
            edit=False,
            delete=False,
            push=True,
            max_text=None,
            rate_per_second=rate,
            audience="once",
            on_update="new",
            on_allclear="new",
            cannot=(
                "Webhooks bekommen jedes Ereignis als eigene signierte JSON-Nachricht: eine Aktualisierung "
                "oder Entwarnung wird nicht in die frühere Nachricht eingearbeitet, sondern als eigenes "
                "Ereignis (alert.updated, alert.cancelled) gesendet.",
                "Jeder Empfänger bekommt nur die Ereignisse, die er in KOBLENZ_BOT_WEBHOOKS abonniert hat.",
            ),
        )

    def targets(self, event: str) -> list[str]:
        return [name for name, hook in self._webhooks.items() if event in hook.events]

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        if outgoing is None:
            raise Rejected("webhook: ohne Ereignisdaten (Outgoing) wird nichts gesendet")
        if not outgoing.key:
            raise Rejected("webhook: ohne Zustellschlüssel (X-Koblenz-Delivery) wird nichts gesendet")
        hook = self._webhooks.get(target)
        if hook is None:
            raise Unsupported(f"webhook {target}: nicht (mehr) eingerichtet")
        event = outgoing.event
        if event not in hook.events:
            raise Unsupported(f"webhook {target}: {event} nicht abonniert")
        now = self._clock()
        timestamp = int(now)
        document = payload(outgoing, text, dt.datetime.fromtimestamp(timestamp, dt.UTC), reply_to)
        try:
            body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise Rejected(f"webhook {target}: Ereignisdaten nicht als JSON darstellbar ({exc})") from None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Koblenz-Event": event,
            "X-Koblenz-Delivery": outgoing.key,
            "X-Koblenz-Timestamp": str(timestamp),
            "X-Koblenz-Signature": signature(hook.secret.get_secret_value(), timestamp, body),
        }
        try:
            async with self._session.post(
                hook.url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status = response.status
                said = await _excerpt(response) if 400 <= status < 500 and status != 429 else ""
                answer = {k: response.headers.get(k, "") for k in ("Location", "Retry-After")}
        except TimeoutError:
            log.warning("webhook %s: %s %s timed out after %s s", target, event, outgoing.key, self._seconds)
            raise Transient(f"webhook {target}: keine Antwort nach {self._seconds:g} s") from None
        except aiohttp.ClientError as exc:
            host = URL(hook.url).host or "?"
            log.warning("webhook %s: %s %s failed: %s", target, event, outgoing.key, type(exc).__name__)
            raise Transient(f"webhook {target}: {type(exc).__name__} ({host})") from None
        log.info("webhook %s: %s %s -> %s", target, event, outgoing.key, status)
        error = answer_error(target, status, answer, said, self._clock())
        if error is not None:
            raise error
        return Sent(outgoing.key)

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
        raise Unsupported("webhook: eine Aktualisierung ist ein eigenes Ereignis (alert.updated)")

    async def delete(self, target: str, message_id: str) -> None:
        raise Unsupported("webhook: eine Entwarnung ist ein eigenes Ereignis (alert.cancelled)")
