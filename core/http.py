"""The one mapping of errors to HTTP, and the request helpers every package's routes share.

Every error answer of every endpoint has the same JSON shape::

    {"error": "<machine-readable code>", "message": "<polite German text>", ...extra fields}

``error_middleware`` produces it from a ``KoblenzError`` (its ``status``, ``code``, ``message`` and
``extra``), from aiohttp's own ``HTTPException`` (404, 405, 413, ...) and, for anything unexpected, as a
500 with a generic text while the traceback goes to the log. Handlers raise; they never build error JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from core import BadRequest, KoblenzError

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_MESSAGES = {
    400: "Die Anfrage ist ungültig.",
    401: "Bitte melden Sie sich an.",
    403: "Das ist nicht erlaubt.",
    404: "Diese Adresse gibt es nicht.",
    405: "Diese Methode ist hier nicht erlaubt.",
    413: f"Die Anfrage ist zu groß (höchstens {MAX_BODY_BYTES // 1024} kB).",
    415: "Dieses Format wird hier nicht angenommen.",
    429: "Zu viele Anfragen. Bitte warten Sie einen Moment.",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status, headers=headers)


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    code = exc.reason.lower().replace(" ", "_")
    message = _HTTP_MESSAGES.get(exc.status, exc.reason)
    if exc.status == 413:
        code = "too_large"
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
    return error_response(exc.status, code, message, headers=headers or None)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON with a polite German message; nothing ever answers with a traceback."""
    try:
        return await handler(request)
    except KoblenzError as exc:
        if exc.status >= 500:
            log.exception("error in %s %s", request.method, request.path)
        extra = dict(exc.extra)  # the error stays as it was raised (it may be raised again)
        challenge = extra.pop("www_authenticate", None)
        headers = {"WWW-Authenticate": challenge} if challenge else None
        return error_response(exc.status, exc.code, exc.message, headers=headers, **extra)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _from_http_exception(exc)
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(
            500, "internal", "Es ist ein Fehler aufgetreten. Bitte versuchen Sie es gleich noch einmal."
        )


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, or 413 when it is over ``limit`` bytes (checked before and while reading)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    raw = await request.read()
    if len(raw) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(raw))
    return raw


async def read_json_object(request: web.Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong."""
    return parse_json_object(await read_body(request, limit))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("Die Anfrage ist kein gültiges JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("Erwartet wird ein JSON-Objekt.", code="invalid_json")
    return body


def client_key(request: web.Request) -> str:
    """The client's address, for in-memory rate limiting only; never stored or logged."""
    return request.remote or "unknown"
