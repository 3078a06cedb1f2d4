"""HTTP side of the broadcast engine: the alert API for the fire service's alerting system, the feeds, each
alert's CAP file, and (in ``koblenz-bot serve``) the scheduler and worker running in-process.

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

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web
from sqlalchemy import or_, select

from broadcasts import BroadcastError, InvalidState, NotFound, TextTooLong
from broadcasts.alert_source import StoreAlerts
from broadcasts.alertrows import to_cap
from broadcasts.cap import (
    CapError,
    CapTooLarge,
    CapUnknownReference,
    parse_cap_json,
    parse_cap_xml,
    to_cap_xml,
)
from broadcasts.capmodel import CapAlert
from broadcasts.engine import Running, running
from broadcasts.feeds import FeedItem, alert_feed_item, atom_feed, cap_atom_feed, rss_feed
from broadcasts.models import Alert, Broadcast, utcnow
from broadcasts.publishers import Publisher
from broadcasts.ratelimit import Slots
from broadcasts.service import Actor, AlertResult, Broadcasts, audit_rejected
from broadcasts.templates import render_all_clear, render_update
from core.db import sessionmaker
from core.keys import ALERTS, ENGINE, SETTINGS
from core.settings import AlertSender, Settings

log = logging.getLogger(__name__)
SERVICE = web.AppKey("broadcasts", Broadcasts)
RUNNING = web.AppKey("broadcast_engine", Running)
SIGNATURE_WINDOW = 300
XML_TYPES = ("application/cap+xml", "application/xml", "text/xml")
FEED_ITEMS = 50


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> web.Response:
        headers = {"WWW-Authenticate": 'Bearer realm="koblenz-alerts"'} if self.status == 401 else None
        return web.json_response(
            {"error": self.code, "message": self.message, **self.extra}, status=self.status, headers=headers
        )


def _origin(request: web.Request) -> str:
    return f"api:{request.remote or 'unknown'}"


# -- authentication ----------------------------------------------------------------------------------


def authenticate(
    request: web.Request, body: bytes | None, senders: dict[str, AlertSender]
) -> tuple[str, AlertSender] | None:
    """The configured sender this request comes from, or ApiError 401. A bearer token is checked before
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
        raise ApiError(401, "unauthorized", "Der Zugangsschlüssel (Bearer-Token) ist ungültig.")
    signature = request.headers.get("X-Koblenz-Signature", "")
    if signature and body is None:
        return None
    if signature and body is not None:
        name = request.headers.get("X-Koblenz-Sender", "")
        signer = senders.get(name)
        timestamp = request.headers.get("X-Koblenz-Timestamp", "")
        if signer is None or signer.hmac_secret is None:
            raise ApiError(
                401, "unauthorized", "Unbekannter Absender oder kein Signaturschlüssel hinterlegt."
            )
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            raise ApiError(401, "unauthorized", "X-Koblenz-Timestamp fehlt oder ist keine Zahl.") from None
        if skew > SIGNATURE_WINDOW:
            raise ApiError(
                401, "unauthorized", "Die Signatur ist abgelaufen (Zeitstempel älter als 5 Minuten)."
            )
        expected = hmac.new(
            signer.hmac_secret.get_secret_value().encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(signature.removeprefix("sha256=").encode(), expected.encode()):
            raise ApiError(401, "unauthorized", "Die Signatur (HMAC-SHA256) stimmt nicht.")
        return name, signer
    raise ApiError(
        401,
        "unauthorized",
        "Bitte melden Sie sich an: Authorization: Bearer <Token> oder eine HMAC-Signatur "
        "(X-Koblenz-Sender, X-Koblenz-Timestamp, X-Koblenz-Signature).",
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
    raise ApiError(
        415,
        "unsupported_media_type",
        "Bitte senden Sie CAP 1.2 als application/cap+xml (oder application/xml) oder als application/json.",
    )


def _check_sender(name: str, sender: AlertSender, alert: CapAlert) -> None:
    if sender.cap_senders and alert.sender not in sender.cap_senders:
        raise ApiError(
            403,
            "forbidden_sender",
            f"Der Absender „{name}“ darf keine Warnungen im Namen von „{alert.sender}“ senden.",
        )


def _accepted(request: web.Request, result: AlertResult) -> web.Response:
    base = _base_url(request)
    return web.json_response(
        {
            "id": result.id,
            "identifier": result.identifier,
            "state": result.state,
            "published": result.published,
            "duplicate": result.duplicate,
            "cap": f"{base}/alerts/{result.identifier}.cap.xml",
        },
        status=202,
    )


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
        result = await service.submit_alert(actor, alert, xml)
    except ApiError as exc:
        await audit_rejected(service.sessions, actor, action, None, exc.message, {"status": exc.status})
        return exc.response()
    except CapError as exc:
        await audit_rejected(
            service.sessions, actor, action, None, exc.message_en, {"status": exc.http_status}
        )
        return web.json_response(exc.to_dict(), status=exc.http_status)
    except NotFound as exc:
        unknown = CapUnknownReference(exc.message)
        await audit_rejected(service.sessions, actor, action, None, exc.message, {"status": 422})
        return web.json_response({**unknown.to_dict(), "message": exc.message}, status=422)
    except InvalidState as exc:
        await audit_rejected(service.sessions, actor, action, None, exc.message, {"status": 409})
        return ApiError(409, "conflict", exc.message).response()
    except TextTooLong as exc:
        await audit_rejected(service.sessions, actor, action, None, exc.message, {"status": 422})
        return ApiError(422, "text_too_long", exc.message, channel=exc.channel, limit=exc.limit).response()
    except BroadcastError as exc:
        await audit_rejected(service.sessions, actor, action, None, exc.message, {"status": 422})
        return ApiError(422, "invalid", exc.message).response()
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


def _simple_json(body: bytes, allowed: set[str]) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "Die Anfrage ist kein gültiges JSON.") from None
    if not isinstance(data, dict) or set(data) - allowed:
        raise ApiError(
            422, "invalid", f"Erwartet wird ein JSON-Objekt mit diesen Feldern: {', '.join(sorted(allowed))}."
        )
    for key, value in data.items():
        if value is not None and not isinstance(value, str | list):
            raise ApiError(422, "invalid", f"Das Feld „{key}“ muss ein Text sein.")
    return data


async def post_update(request: web.Request) -> web.StreamResponse:
    key = request.match_info["alert"]

    async def build(
        service: Broadcasts, body: bytes | None, alert: CapAlert | None = None, xml: str = ""
    ) -> Any:
        head = await _target(service, key)
        if alert is not None:
            if alert.msg_type != "Update":
                raise ApiError(
                    422, "invalid", "An /update bitte eine CAP-Nachricht mit msgType Update senden."
                )
            return alert, xml
        assert body is not None
        fields = _simple_json(body, {"headline", "description", "instruction", "stadtteile", "correction"})
        update = render_update(
            head,
            headline=fields.get("headline"),
            description=fields.get("description"),
            instruction=fields.get("instruction"),
            stadtteile=fields.get("stadtteile"),
            correction=bool(fields.get("correction")),
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
                raise ApiError(
                    422, "invalid", "An /cancel bitte eine CAP-Nachricht mit msgType Cancel senden."
                )
            return alert, xml
        assert body is not None
        fields = _simple_json(body, {"hinweis"}) if body.strip() else {}
        cancel = render_all_clear(head, hinweis=fields.get("hinweis"))
        return cancel, to_cap_xml(cancel).decode("utf-8")

    return await _handle_submission(request, "alert.cancel", build)


# -- CAP files and feeds -----------------------------------------------------------------------------


def _base_url(request: web.Request) -> str:
    configured = request.app[SETTINGS].public_url
    return configured.rstrip("/") if configured else str(request.url.origin())


async def cap_file(request: web.Request) -> web.StreamResponse:
    identifier = request.match_info["identifier"]
    async with request.app[SERVICE].sessions() as session:
        row = await session.scalar(select(Alert).where(Alert.identifier == identifier))
    if row is None or row.status not in ("Actual", "Exercise") or row.scope != "Public":
        return ApiError(404, "not_found", "Diese Warnung gibt es nicht.").response()
    return web.Response(body=row.cap_xml.encode("utf-8"), content_type="application/cap+xml", charset="utf-8")


async def _feed_items(request: web.Request) -> list[FeedItem]:
    base = _base_url(request)
    async with request.app[SERVICE].sessions() as session:
        posts = (
            await session.scalars(
                select(Broadcast)
                .where(Broadcast.state.in_(("sending", "sent", "partly_failed")))
                .order_by(Broadcast.started_at.desc())
                .limit(FEED_ITEMS)
            )
        ).all()
        alerts = (
            await session.scalars(
                select(Alert)
                .where(Alert.status.in_(("Actual", "Exercise")), Alert.scope == "Public")
                .order_by(Alert.sent.desc())
                .limit(FEED_ITEMS)
            )
        ).all()
    items = [
        FeedItem(
            id=f"{base}/posts/{p.id}",
            title=(p.variants or {}).get("feed", p.text).strip().splitlines()[0][:120],
            text=(p.variants or {}).get("feed") or p.text,
            link=p.link,
            published=p.started_at or p.created_at,
            kind="post",
        )
        for p in posts
    ]
    items += [alert_feed_item(to_cap(a), f"{base}/alerts/{a.identifier}.cap.xml") for a in alerts if a.infos]
    items.sort(key=lambda i: i.published, reverse=True)
    return items[:FEED_ITEMS]


async def rss(request: web.Request) -> web.StreamResponse:
    items = await _feed_items(request)
    body = await asyncio.to_thread(rss_feed, items, self_url=f"{_base_url(request)}/feeds/rss.xml")
    return web.Response(body=body, content_type="application/rss+xml", charset="utf-8")


async def atom(request: web.Request) -> web.StreamResponse:
    items = await _feed_items(request)
    body = await asyncio.to_thread(atom_feed, items, self_url=f"{_base_url(request)}/feeds/atom.xml")
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


async def cap_atom(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICE].sessions() as session:
        rows = (
            await session.scalars(
                select(Alert).where(
                    Alert.state == "active",
                    or_(Alert.expires_at.is_(None), Alert.expires_at > _now()),
                    Alert.scope == "Public",
                )
            )
        ).all()
    base = _base_url(request)
    body = await asyncio.to_thread(cap_atom_feed, [to_cap(r) for r in rows], f"{base}/feeds/cap.atom", base)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


def _now() -> Any:
    return utcnow()


# -- wiring ------------------------------------------------------------------------------------------


def setup(
    app: web.Application,
    settings: Settings,
    publishers: Callable[[Settings], AbstractAsyncContextManager[dict[str, Publisher]]],
    slots: Callable[[web.Application], dict[str, Slots]],
) -> None:
    """Register the broadcast routes (alert API, feeds, CAP files) and, when ``broadcast_worker`` is on,
    run the scheduler and one outbox worker inside the web process (the embedded default of ``serve``).

    ``publishers`` opens the push channels the root switched on; ``slots`` reads the send budgets the root
    created (one per bot token, shared with the chat's replies)."""

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = app[ENGINE]
        sessions = sessionmaker(engine)
        source = app.get(ALERTS)
        if isinstance(source, StoreAlerts):
            source.bind(sessions)
        if not settings.broadcast_worker:
            app[SERVICE] = Broadcasts(sessions)
            yield
            return
        # the first round waits a second: the web app's own start-up (migrations, purge) goes first
        async with (
            publishers(settings) as channels,
            running(engine, settings, channels, slots=slots(app), start_delay=1.0) as run,
        ):
            app[RUNNING] = run
            app[SERVICE] = Broadcasts(sessions, run.wake)
            yield

    app.cleanup_ctx.append(engine_ctx)
    app.router.add_post("/api/alerts", post_alert)
    app.router.add_post("/api/alerts/{alert}/update", post_update)
    app.router.add_post("/api/alerts/{alert}/cancel", post_cancel)
    app.router.add_get("/alerts/{identifier}.cap.xml", cap_file)
    app.router.add_get("/cap/{identifier}.xml", cap_file)  # the URL the CAP feed links to
    app.router.add_get("/feeds/rss.xml", rss)
    app.router.add_get("/feeds/atom.xml", atom)
    app.router.add_get("/feeds/cap.atom", cap_atom)
