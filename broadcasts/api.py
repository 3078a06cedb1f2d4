"""HTTP side of the broadcast engine: the alert API for the fire service's alerting system and (in
``koblenz-bot serve``) the scheduler and worker running in-process. The feeds and each alert's CAP file
are the feed channels' routes (``connectors.feeds``).

``POST /api/alerts`` takes CAP 1.2 XML (``application/cap+xml`` or ``application/xml``) or its JSON form
(``application/json``), authenticated per sender (``alert_senders`` in the settings) by either

- ``Authorization: Bearer <token>``, or
- ``X-Koblenz-Sender: <name>``, ``X-Koblenz-Timestamp: <unix seconds>`` and
  ``X-Koblenz-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body with the sender's secret>``
  (the timestamp must be within 5 minutes; replays of a stored alert are answered as duplicates).

Secrets are compared in constant time. Answers: 202 with the alert's number; bad input a 4xx JSON body
with a German ``message`` (400 not well-formed or unsafe, 401/403 auth, 409 conflict, 413 too large, 415
media type, 422 schema or rule or unknown reference); nothing is stored, but the attempt is audited.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from broadcasts import BroadcastError, InvalidRequest, NotFound
from broadcasts.alert_source import StoreAlerts
from broadcasts.alertrows import to_cap
from broadcasts.cap import (
    CapError,
    CapTooLarge,
    CapUnknownReference,
    check_receivable,
    parse_cap_json,
    parse_cap_xml,
    to_cap_xml,
)
from broadcasts.capmodel import CapAlert
from broadcasts.deliveries import live_posts
from broadcasts.engine import Running, running
from broadcasts.publishers import Publisher
from broadcasts.ratelimit import Slots
from broadcasts.service import Actor, AlertResult, Broadcasts, audit_rejected
from broadcasts.states import AlertState
from broadcasts.templates import render_all_clear, render_update
from core import KoblenzError
from core.bodies import Body, parse_body
from core.db import sessionmaker
from core.http import parse_json_object
from core.keys import ALERTS, ENGINE, SETTINGS
from core.settings import AlertSender, Settings

log = logging.getLogger(__name__)
SERVICE = web.AppKey("broadcasts", Broadcasts)
RUNNING = web.AppKey("broadcast_engine", Running)
SIGNATURE_WINDOW = 300
XML_TYPES = ("application/cap+xml", "application/xml", "text/xml")
F = TypeVar("F", bound="_FollowUpBody")


class Unauthorized(BroadcastError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, www_authenticate='Bearer realm="koblenz-alerts"')


class ForbiddenSender(BroadcastError):
    status = 403
    code = "forbidden_sender"


class UnsupportedMediaType(BroadcastError):
    status = 415
    code = "unsupported_media_type"


# -- bodies in and out ---------------------------------------------------------------------------------


class PreviewBody(Body):
    """A post's texts to preview per channel (nothing is stored)."""

    error_code = "invalid"
    error_status = 422

    text: str = Field(min_length=1, max_length=20_000, description="the post's common text")
    link: str | None = Field(default=None, max_length=2000)
    image_url: str | None = Field(default=None, max_length=2000)
    topic: str = Field(default="presse", max_length=32)
    channels: list[str] | None = Field(
        default=None, description="channel names; null: every channel that is on"
    )
    variants: dict[str, str] = Field(default_factory=dict, description="own text per channel name")


class PreviewItem(BaseModel):
    name: str = Field(description="channel name: telegram, telegram_channel, x, mastodon, facebook, ...")
    label: str
    text: str = Field(description="exactly what goes out")
    length: int = Field(description="as the platform counts it (X: weighted; Telegram: UTF-16 units)")
    limit: int | None
    ok: bool
    error: str | None = None
    variant: bool = Field(description="the staff's own text for this channel")


class Previews(BaseModel):
    id: int | None = None
    state: str | None = None
    channels: list[PreviewItem]


class LivePost(BaseModel):
    message: int
    kind: str
    broadcast: int | None
    alert: int | None
    channel: str
    target: str
    state: str
    attempts: int
    provider_id: str | None
    url: str | None = Field(description="the public link to the live post, where the platform has one")
    error: str | None


class LivePosts(BaseModel):
    posts: list[LivePost]


class _FollowUpBody(Body):
    """The short JSON forms of /update and /cancel; a CAP message (XML or its JSON form) also works."""

    model_config = ConfigDict(extra="forbid")
    error_status = 422
    error_code = "invalid"


class UpdateBody(_FollowUpBody):
    """Only what changes; the rest of the alert stays as it is."""

    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    stadtteile: list[str] | str | None = Field(
        None, description="the Stadtteile now affected (a list, or one text separated by ';')"
    )
    correction: bool = Field(False, description="a correction of a mistake, not a change of the situation")


class CancelBody(_FollowUpBody):
    """The all-clear ("Entwarnung"); an empty body is the same as ``{}``."""

    hinweis: str | None = Field(None, description="one more sentence for the all-clear")


class AlertAccepted(BaseModel):
    """Accepted: stored, and (for public Actual/Exercise messages) being sent."""

    id: int = Field(description="the alert's number")
    identifier: str = Field(description="CAP identifier")
    state: AlertState
    published: bool = Field(description="false for Test messages and non-public scopes: stored, not sent")
    duplicate: bool = Field(description="the same message was accepted before")
    cap: str = Field(description="URL of the stored CAP XML")


def _origin(request: web.Request) -> str:
    return f"api:{request.remote or 'unknown'}"


# -- authentication ----------------------------------------------------------------------------------


def authenticate(
    request: web.Request, body: bytes | None, senders: dict[str, AlertSender]
) -> tuple[str, AlertSender] | None:
    """The configured sender this request comes from, or Unauthorized. A bearer token is checked before
    the body is read (``body`` None); a signature needs the body: None is returned until it is given."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        offered = header[7:].strip().encode()
        found = None
        for name, sender in senders.items():  # compare with every token: no early exit, constant time each
            if sender.token is not None and hmac.compare_digest(
                offered, sender.token.get_secret_value().encode()
            ):
                found = (name, sender)
        if found is not None:
            return found
        raise Unauthorized("Der Zugangsschlüssel (Bearer-Token) ist ungültig.")
    signature = request.headers.get("X-Koblenz-Signature", "")
    if signature and body is None:
        return None
    if signature and body is not None:
        name = request.headers.get("X-Koblenz-Sender", "")
        signer = senders.get(name)
        timestamp = request.headers.get("X-Koblenz-Timestamp", "")
        if signer is None or signer.hmac_secret is None:
            raise Unauthorized("Unbekannter Absender oder kein Signaturschlüssel hinterlegt.")
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            raise Unauthorized("X-Koblenz-Timestamp fehlt oder ist keine Zahl.") from None
        if skew > SIGNATURE_WINDOW:
            raise Unauthorized("Die Signatur ist abgelaufen (Zeitstempel älter als 5 Minuten).")
        expected = hmac.new(
            signer.hmac_secret.get_secret_value().encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(signature.removeprefix("sha256=").encode(), expected.encode()):
            raise Unauthorized("Die Signatur (HMAC-SHA256) stimmt nicht.")
        return name, signer
    raise Unauthorized(
        "Bitte melden Sie sich an: Authorization: Bearer <Token> oder eine HMAC-Signatur "
        "(X-Koblenz-Sender, X-Koblenz-Timestamp, X-Koblenz-Signature)."
    )


# -- reading the alert -------------------------------------------------------------------------------


async def _read(request: web.Request, limit: int) -> bytes:
    """The body, refused above the CAP size limit before it is all read (the app's 64 kB does not apply)."""
    if request.content_length is not None and request.content_length > limit:
        raise CapTooLarge(
            f"Die Nachricht ist zu groß ({request.content_length} Bytes). Erlaubt sind höchstens {limit} Bytes.",
            f"message too large ({request.content_length} bytes); the limit is {limit} bytes",
        )
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise CapTooLarge(
                f"Die Nachricht ist zu groß (über {limit} Bytes). Erlaubt sind höchstens {limit} Bytes.",
                f"message larger than the limit of {limit} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(request: web.Request, body: bytes, limit: int) -> tuple[CapAlert, str]:
    content_type = request.content_type.lower()
    if content_type in XML_TYPES:
        alert = parse_cap_xml(body, limit)
        return alert, body.decode("utf-8", errors="replace")
    if content_type == "application/json":
        alert = parse_cap_json(body, limit)
        return alert, to_cap_xml(alert).decode("utf-8")
    raise UnsupportedMediaType(
        "Bitte senden Sie CAP 1.2 als application/cap+xml (oder application/xml) oder als application/json."
    )


def _check_sender(name: str, sender: AlertSender, alert: CapAlert) -> None:
    if sender.cap_senders and alert.sender not in sender.cap_senders:
        raise ForbiddenSender(
            f"Der Absender „{name}“ darf keine Warnungen im Namen von „{alert.sender}“ senden."
        )


def _accepted(request: web.Request, result: AlertResult) -> web.Response:
    accepted = AlertAccepted(
        id=result.id,
        identifier=result.identifier,
        state=result.state,
        published=result.published,
        duplicate=result.duplicate,
        cap=f"{_base_url(request)}/alerts/{result.identifier}.cap.xml",
    )
    return web.json_response(accepted.model_dump(mode="json"), status=202)


async def _handle_submission(request: web.Request, action: str, build: Any = None) -> web.StreamResponse:
    settings: Settings = request.app[SETTINGS]
    actor = Actor("unbekannt", "api", _origin(request))
    service = request.app[SERVICE]
    try:
        known = authenticate(request, None, settings.alert_senders)  # bearer: before reading the body
        if known is not None:
            actor = Actor(known[0], known[1].role, _origin(request))
        body = await _read(request, settings.alert_max_bytes)
        if known is None:
            known = authenticate(request, body, settings.alert_senders)
        assert known is not None
        name, sender = known
        actor = Actor(name, sender.role, _origin(request))
        if (
            build is not None
            and request.content_type.lower() == "application/json"
            and not _is_cap_json(body)
        ):
            alert, xml = await build(service, body)
        else:
            alert, xml = _parse(request, body, settings.alert_max_bytes)
            if build is not None:
                alert, xml = await build(service, None, alert, xml)
        _check_sender(name, sender, alert)
        check_receivable(alert)  # an area that provably does not touch Koblenz, or expired: 422
        result = await service.submit_alert(actor, alert, xml)
    except KoblenzError as exc:
        # every refusal is audited, then answered by core.http.error_middleware like any other error;
        # an unknown alert here is an unknown reference (422), not a missing page
        error = CapUnknownReference(exc.message, german=exc.message) if isinstance(exc, NotFound) else exc
        reason = exc.message_en if isinstance(exc, CapError) else exc.message
        await audit_rejected(service.sessions, actor, action, None, reason, {"status": error.status})
        if error is exc:
            raise
        raise error from exc
    running_engine = request.app.get(RUNNING)
    if running_engine is not None:
        running_engine.wake()
    store = request.app.get(ALERTS)
    if isinstance(store, StoreAlerts):
        store.invalidate()
    return _accepted(request, result)


def _is_cap_json(body: bytes) -> bool:
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        data = json.loads(body)
        return isinstance(data, dict) and "identifier" in data and "msgType" in data
    return False


async def post_alert(request: web.Request) -> web.StreamResponse:
    return await _handle_submission(request, "alert.submit")


async def _target(service: Broadcasts, key: str) -> CapAlert:
    return to_cap(await service.head_of(key))


def _follow_up_body(body: bytes, model: type[F]) -> F:
    """A short JSON form (empty: ``{}``): 400 ``invalid_json``, or 422 ``invalid`` naming a bad field."""
    return parse_body(model, parse_json_object(body) if body.strip() else {})


async def post_update(request: web.Request) -> web.StreamResponse:
    key = request.match_info["alert"]

    async def build(
        service: Broadcasts, body: bytes | None, alert: CapAlert | None = None, xml: str = ""
    ) -> Any:
        head = await _target(service, key)
        if alert is not None:
            if alert.msg_type != "Update":
                raise InvalidRequest("An /update bitte eine CAP-Nachricht mit msgType Update senden.")
            return alert, xml
        assert body is not None
        fields = _follow_up_body(body, UpdateBody)
        update = render_update(
            head,
            headline=fields.headline,
            description=fields.description,
            instruction=fields.instruction,
            stadtteile=fields.stadtteile,
            correction=fields.correction,
        )
        return update, to_cap_xml(update).decode("utf-8")

    return await _handle_submission(request, "alert.update", build)


async def post_cancel(request: web.Request) -> web.StreamResponse:
    key = request.match_info["alert"]

    async def build(
        service: Broadcasts, body: bytes | None, alert: CapAlert | None = None, xml: str = ""
    ) -> Any:
        head = await _target(service, key)
        if alert is not None:
            if alert.msg_type != "Cancel":
                raise InvalidRequest("An /cancel bitte eine CAP-Nachricht mit msgType Cancel senden.")
            return alert, xml
        assert body is not None
        cancel = render_all_clear(head, hinweis=_follow_up_body(body, CancelBody).hinweis)
        return cancel, to_cap_xml(cancel).decode("utf-8")

    return await _handle_submission(request, "alert.cancel", build)


# -- previews and where things went (read-only; same credentials as the alert API) --------------------


async def _reader(request: web.Request, body: bytes = b"") -> None:
    """Authenticated like the alert API (a bearer token, or a signature over the body)."""
    authenticate(request, body, request.app[SETTINGS].alert_senders)


async def post_preview(request: web.Request) -> web.Response:
    settings: Settings = request.app[SETTINGS]
    body = await _read(request, settings.alert_max_bytes)
    await _reader(request, body)
    data = parse_body(PreviewBody, parse_json_object(body))
    previews = await request.app[SERVICE].preview_post(
        data.text, data.link, data.image_url, data.variants, data.channels, data.topic
    )
    return web.json_response({"channels": [p.as_dict() for p in previews]})


async def get_broadcast_preview(request: web.Request) -> web.Response:
    await _reader(request)
    service = request.app[SERVICE]
    b = await service.get(_int(request.match_info["id"]))
    previews = await service.preview_post(b.text, b.link, b.image_url, b.variants or {}, b.channels, b.topic)
    return web.json_response({"id": b.id, "state": str(b.state), "channels": [p.as_dict() for p in previews]})


async def get_deliveries(request: web.Request) -> web.Response:
    """Per message and channel that posts once: state, attempts, the provider's id, the live post's link."""
    await _reader(request)
    service = request.app[SERVICE]
    broadcast = request.match_info.get("id")
    alert = request.match_info.get("alert")
    if alert is not None:
        await service.head_of(alert)  # 404 for an unknown alert
    posts = await live_posts(
        service.sessions, _int(broadcast) if broadcast is not None else None, alert, limit=200
    )
    return web.json_response({"posts": posts})


def _int(value: str) -> int:
    if not value.isdigit():
        raise NotFound(f"Es gibt keine Meldung mit der Nummer {value[:20]}.")
    return int(value)


# -- links ------------------------------------------------------------------------------------------


def _base_url(request: web.Request) -> str:
    configured = request.app[SETTINGS].public_url
    return configured.rstrip("/") if configured else str(request.url.origin())


# -- wiring ------------------------------------------------------------------------------------------


def setup(
    app: web.Application,
    settings: Settings,
    publishers: Callable[[Settings], AbstractAsyncContextManager[dict[str, Publisher]]],
    slots: Callable[[web.Application], dict[str, Slots]],
) -> None:
    """Register the alert API and, when ``broadcast_worker`` is on, run the scheduler and one outbox
    worker inside the web process (the embedded default of ``serve``). The feeds and CAP files are the
    feed channels' routes (``connectors.feeds``), added by the root.

    ``publishers`` opens the channels the root switched on: the service checks texts through all of
    them, the worker sends through the push channels; ``slots`` reads the send budgets the root created
    (one per bot token, shared with the chat's replies)."""

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = app[ENGINE]
        sessions = sessionmaker(engine)
        source = app.get(ALERTS)
        if isinstance(source, StoreAlerts):
            source.bind(sessions)
        async with publishers(settings) as channels:
            if not settings.broadcast_worker:
                app[SERVICE] = Broadcasts(sessions, channels=channels.values())
                yield
                return
            # the first round waits a second: the web app's own start-up (migrations, purge) goes first
            async with running(engine, settings, channels, slots=slots(app), start_delay=1.0) as run:
                app[RUNNING] = run
                app[SERVICE] = Broadcasts(sessions, run.wake, channels.values())
                yield

    app.cleanup_ctx.append(engine_ctx)
    app.router.add_post("/api/alerts", post_alert)
    app.router.add_post("/api/alerts/{alert}/update", post_update)
    app.router.add_post("/api/alerts/{alert}/cancel", post_cancel)
    app.router.add_get("/api/alerts/{alert}/deliveries", get_deliveries)
    app.router.add_get("/api/broadcasts/{id}/deliveries", get_deliveries)
    app.router.add_get("/api/broadcasts/{id}/preview", get_broadcast_preview)
    app.router.add_post("/api/preview", post_preview)
