"""A loopback double of the Mastodon REST API (https://docs.joinmastodon.org/methods/), for every test that
posts to Mastodon (the Mastodon channel, the broadcast engine).

It is a real aiohttp server on 127.0.0.1 that answers the documented paths with the documented JSON
shapes, parameters as form data (``media_ids[]``), multipart (media) or JSON, as Mastodon.py and other
clients send them::

    GET    /api/v2/instance                    configuration.statuses.max_characters,
                                               characters_reserved_per_url, max_media_attachments;
                                               configuration.media_attachments.supported_mime_types,
                                               image_size_limit, description_limit; api_versions
    GET    /api/v1/instance                    the older shape (Mastodon.py reads the version from it)
    GET    /api/v1/accounts/verify_credentials the account of the token
    POST   /api/v1/statuses                    status, spoiler_text, visibility, language, in_reply_to_id,
                                               media_ids[], sensitive; header Idempotency-Key
    GET    /api/v1/statuses/:id  (+ /source)   a status (public: no token needed)
    PUT    /api/v1/statuses/:id                edit: status, spoiler_text, media_ids[], sensitive, language
    DELETE /api/v1/statuses/:id                returns the deleted status with its source ``text``
    POST   /api/v2/media  (/api/v1/media)      file (multipart), description, focus
    GET    /api/v1/media/:id                   206 while processing, 200 when done

Usage::

    fake = FakeMastodonAPI(token="secret", max_characters=500)
    await fake.start()            # fake.url = "http://127.0.0.1:<port>"  → KOBLENZ_BOT_MASTODON_URL
    ...
    await fake.stop()

Like Mastodon:

- every method but the public ones (instance, reading a status) needs ``Authorization: Bearer <token>``,
  else 401 ``{"error": "The access token is invalid"}``, and one of its scopes (``scopes``, default
  "read write": ``write:statuses`` to post, edit and delete, ``write:media`` for media, ``read:statuses``
  to read a status with a token, ``read:accounts`` or ``profile`` for verify_credentials), else 403
  ``{"error": "This action is outside the authorized scopes"}``;
- a status is at most ``max_characters`` long, counted as Mastodon's ``StatusLengthValidator`` does
  (content warning plus text, every http(s) URL as ``characters_reserved_per_url``, ``@user@domain`` as
  ``@user``, grapheme clusters), else 422 ``{"error": "Validation failed: Text character limit of 500
  exceeded"}``; an empty text without media 422 "Validation failed: Text can't be blank";
- ``Idempotency-Key``: the same key within ``idempotency_ttl`` seconds (an hour) returns the status the
  key created, without creating another (``replays`` counts these);
- an edit replaces text, content warning and media: what it does not send is gone (a missing
  ``spoiler_text`` clears the warning, missing ``media_ids[]`` detach the media), as Mastodon does;
- a reply to an unknown status: 404; editing or deleting an unknown or deleted status: 404
  ``{"error": "Record not found"}``;
- media: type among ``supported_mime_types``, at most ``image_size_limit`` bytes, description at most
  ``description_limit`` characters (else 422); with ``media_processing`` seconds an upload answers 202 with
  ``url: null`` until processed, and a status with unprocessed media is refused (422); more than
  ``max_media_attachments`` media, or media not uploaded by the account (or already attached): 422;
- rate limits with ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (ISO 8601) headers: ``posts_limit``
  statuses per ``posts_window`` seconds (Mastodon: 300 per 3 h per account), ``media_limit`` uploads per
  ``media_window`` (30 per 30 min), ``deletes_limit`` deletes per ``deletes_window`` (30 per 30 min);
  over it 429 ``{"error": "Too many requests"}`` with the reset time.

Recorded for assertions: ``statuses`` (every status by id, deleted ones kept with ``deleted``), ``posted``
(the live ones in order), ``media`` (uploads by id), counters ``created``, ``edits``, ``deletes``,
``replays``, ``media_uploads``, ``rate_limited``, ``calls`` (Counter per "METHOD /path-pattern") and
``requests`` (every :class:`Request`, with its parameters and whether it carried a key).

Fault injection: ``fail_next(status=500, count=1, error=..., method=None, path=None)`` (the next matching
requests get that status and ``{"error": ...}``), ``throttle_next(count, reset_in)`` (429 with a reset
time), ``delay`` (seconds before every answer) and ``set_delay(seconds, method, path)``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import itertools
import re
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from mastodon._url_regex import url_regex  # Mastodon's own URL pattern, as Mastodon.py ships it

from tests.fakes.loopback import serve

STOCK_MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wave",
    "audio/vnd.wave",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/3gpp",
    "video/x-ms-asf",
)
# Mastodon.py's get_status_length: a remote mention counts as its local part
_MENTION = re.compile(r"(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9\.\-]+[a-z0-9]+)", re.IGNORECASE)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VISIBILITIES = ("public", "unlisted", "private", "direct")
TOKEN_INVALID = {"error": "The access token is invalid"}
OUT_OF_SCOPE = {"error": "This action is outside the authorized scopes"}
READ_STATUSES = ("read", "read:statuses")
WRITE_STATUSES = ("write", "write:statuses")
WRITE_MEDIA = ("write", "write:media")
NOT_FOUND = {"error": "Record not found"}
PARAMS = web.RequestKey("params", dict)
AUTHORIZED = web.RequestKey("authorized", bool)


def mastodon_length(text: str, spoiler_text: str = "", url_weight: int = 23) -> int:
    """The length Mastodon checks: spoiler text plus text with URLs as ``url_weight`` characters and
    remote mentions as their local part, in grapheme clusters (approximated: combining marks, joiners,
    variation selectors and skin tones do not count)."""
    countable = url_regex.sub(lambda m: m.group(2) + "x" * url_weight, text)
    countable = _MENTION.sub(r"\1@\3", countable)
    return _clusters(spoiler_text) + _clusters(countable)


def _clusters(text: str) -> int:
    count = 0
    joined = False
    for char in text:
        code = ord(char)
        if joined or unicodedata.category(char) in ("Mn", "Me", "Mc") or 0xFE00 <= code <= 0xFE0F:
            joined = False
            continue
        if char == "\u200d" or 0x1F3FB <= code <= 0x1F3FF:
            joined = char == "\u200d"
            continue
        count += 1
    return count


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Request:
    method: str
    path: str
    route: str  # "METHOD /pattern", the key of ``calls``
    params: dict[str, Any]
    idempotency_key: str | None
    authorized: bool


@dataclass
class StoredStatus:
    id: str
    text: str
    spoiler_text: str
    visibility: str
    language: str | None
    in_reply_to_id: str | None
    media_ids: list[str]
    sensitive: bool
    created_at: float
    idempotency_key: str | None = None
    edited_at: float | None = None
    deleted: bool = False
    history: list[tuple[str, str]] = field(default_factory=list)  # (text, spoiler_text) before each edit


@dataclass
class StoredMedia:
    id: str
    data: bytes
    mime_type: str
    description: str | None
    focus: str | None
    ready_at: float
    status_id: str | None = None


@dataclass
class _Fault:
    status: int
    error: str
    count: int
    method: str | None
    path: str | None
    reset_in: float | None = None


class _Window:
    """A sliding log of events for one rate limit (limit per period seconds)."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()

    def full(self, now: float) -> bool:
        self._expire(now)
        return len(self.times) >= self.limit

    def record(self, now: float) -> None:
        self.times.append(now)

    def headers(self, now: float) -> dict[str, str]:
        self._expire(now)
        reset = self.times[0] + self.period if self.times else now + self.period
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - len(self.times))),
            "X-RateLimit-Reset": dt.datetime.fromtimestamp(reset, dt.UTC).isoformat(timespec="microseconds"),
        }


class FakeMastodonAPI:
    def __init__(
        self,
        token: str = "test-mastodon-token",
        *,
        scopes: str = "read write",
        username: str = "stadt_koblenz",
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        max_media_attachments: int = 4,
        image_size_limit: int = 16 * 1024 * 1024,
        description_limit: int = 1500,
        supported_mime_types: tuple[str, ...] = STOCK_MIME_TYPES,
        version: str = "4.3.2",
        posts_limit: int = 300,
        posts_window: float = 3 * 60 * 60,
        media_limit: int = 30,
        media_window: float = 30 * 60,
        deletes_limit: int = 30,
        deletes_window: float = 30 * 60,
        idempotency_ttl: float = 60 * 60,
        media_processing: float = 0.0,
    ) -> None:
        self.token = token
        self.scopes = frozenset(scopes.split())
        self.username = username
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.max_media_attachments = max_media_attachments
        self.image_size_limit = image_size_limit
        self.description_limit = description_limit
        self.supported_mime_types = supported_mime_types
        self.version = version
        self.idempotency_ttl = idempotency_ttl
        self.media_processing = media_processing
        self.url = ""
        self.delay = 0.0
        # state
        self.statuses: dict[str, StoredStatus] = {}
        self.media: dict[str, StoredMedia] = {}
        self._keys: dict[str, tuple[str, float]] = {}
        self._ids = itertools.count(113_000_000_000_000_001)
        self._posts = _Window(posts_limit, posts_window)
        self._uploads = _Window(media_limit, media_window)
        self._deletions = _Window(deletes_limit, deletes_window)
        self._faults: list[_Fault] = []
        self._delays: dict[tuple[str | None, str | None], float] = {}
        # what was received
        self.created = 0
        self.edits = 0
        self.deletes = 0
        self.replays = 0
        self.media_uploads = 0
        self.rate_limited = 0
        self.calls: Counter[str] = Counter()
        self.requests: list[Request] = []
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware], client_max_size=200 * 1024 * 1024)
        for path in ("/api/v2/instance", "/api/v2/instance/"):
            app.router.add_get(path, self._instance_v2)
        for path in ("/api/v1/instance", "/api/v1/instance/"):
            app.router.add_get(path, self._instance_v1)
        app.router.add_get("/api/v1/accounts/verify_credentials", self._verify_credentials)
        app.router.add_post("/api/v1/statuses", self._create)
        app.router.add_get("/api/v1/statuses/{id}", self._show)
        app.router.add_get("/api/v1/statuses/{id}/source", self._source)
        app.router.add_put("/api/v1/statuses/{id}", self._edit)
        app.router.add_delete("/api/v1/statuses/{id}", self._delete)
        app.router.add_post("/api/v2/media", self._upload)
        app.router.add_post("/api/v1/media", self._upload)
        app.router.add_get("/api/v1/media/{id}", self._media)
        app.router.add_get("/system/media/{id}", self._file)
        self._runner, self.url = await serve(app, access_log=None, shutdown_timeout=0.5)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- fault injection ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        count: int = 1,
        error: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``count`` requests (of ``method``, whose path starts with ``path``) get ``status``."""
        text = error or {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(
            status, f"Error {status}"
        )
        self._faults.append(_Fault(status, text, count, method and method.upper(), path))

    def throttle_next(
        self, count: int = 1, reset_in: float = 30.0, method: str | None = None, path: str | None = None
    ) -> None:
        """429 with X-RateLimit-Reset ``reset_in`` seconds ahead."""
        self._faults.append(
            _Fault(429, "Too many requests", count, method and method.upper(), path, reset_in)
        )

    def set_delay(self, seconds: float, method: str | None = None, path: str | None = None) -> None:
        """Answer requests (of ``method``, whose path starts with ``path``) ``seconds`` late (0: no more)."""
        self._delays[(method and method.upper(), path)] = seconds

    # -- assertions ---------------------------------------------------------------------------------

    @property
    def posted(self) -> list[StoredStatus]:
        return [s for s in self.statuses.values() if not s.deleted]

    def status_json(self, status_id: str) -> dict[str, Any]:
        return self._status_json(self.statuses[status_id])

    # -- plumbing -----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request.match_info.route.resource
        pattern = info.canonical if info is not None else request.path
        route = f"{request.method} {pattern}"
        self.calls[route] += 1
        params = await self._params(request)
        authorized = request.headers.get("Authorization", "") == f"Bearer {self.token}"
        self.requests.append(
            Request(
                request.method,
                request.path,
                route,
                {k: v for k, v in params.items() if k != "file"},
                request.headers.get("Idempotency-Key"),
                authorized,
            )
        )
        request[PARAMS] = params
        request[AUTHORIZED] = authorized
        pause = self.delay + sum(
            s
            for (m, p), s in self._delays.items()
            if (m is None or m == request.method) and self._on(request, p)
        )
        if pause:
            await asyncio.sleep(pause)
        for fault in self._faults:
            if fault.count > 0 and (fault.method is None or fault.method == request.method):
                if self._on(request, fault.path):
                    fault.count -= 1
                    headers: dict[str, str] = {}
                    if fault.reset_in is not None:
                        reset = dt.datetime.fromtimestamp(time.time() + fault.reset_in, dt.UTC)
                        headers = {
                            "X-RateLimit-Limit": "300",
                            "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": reset.isoformat(timespec="microseconds"),
                        }
                    if fault.status == 429:
                        self.rate_limited += 1
                    return web.json_response({"error": fault.error}, status=fault.status, headers=headers)
        self._faults = [f for f in self._faults if f.count > 0]
        return await handler(request)

    @staticmethod
    def _on(request: web.Request, path: str | None) -> bool:
        return path is None or request.path.startswith(path)

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        """Query, form, multipart or JSON parameters; ``key[]`` fields become lists under ``key``."""
        if request.method == "GET":
            raw: list[tuple[str, Any]] = list(request.query.items())
        elif request.content_type == "application/json":
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        else:
            form = await request.post()
            raw = list(form.items())
        params: dict[str, Any] = {}
        for key, value in raw:
            if key.endswith("[]"):
                params.setdefault(key[:-2], []).append(value)
            else:
                params[key] = value
        return params

    def _need_token(self, request: web.Request, *scopes: str) -> web.Response | None:
        """401 without the right token, 403 when it has none of ``scopes`` (Doorkeeper's answers)."""
        if not request[AUTHORIZED]:
            return web.json_response(TOKEN_INVALID, status=401)
        if scopes and self.scopes.isdisjoint(scopes):
            return web.json_response(OUT_OF_SCOPE, status=403)
        return None

    def _new_id(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def _flag(value: Any) -> bool:
        return value in (True, "true", "True", "1", 1, "on")

    # -- instance and account -----------------------------------------------------------------------

    def _configuration(self) -> dict[str, Any]:
        return {
            "urls": {"streaming": self.url.replace("http", "ws", 1)},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "statuses": {
                "max_characters": self.max_characters,
                "max_media_attachments": self.max_media_attachments,
                "characters_reserved_per_url": self.characters_reserved_per_url,
            },
            "media_attachments": {
                "supported_mime_types": list(self.supported_mime_types),
                "description_limit": self.description_limit,
                "image_size_limit": self.image_size_limit,
                "image_matrix_limit": 33177600,
                "video_size_limit": 103809024,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
            "translation": {"enabled": False},
        }

    async def _instance_v2(self, request: web.Request) -> web.Response:
        host = self.url.split("://", 1)[1]
        return web.json_response(
            {
                "domain": host,
                "title": "Testinstanz",
                "version": self.version,
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "",
                "usage": {"users": {"active_month": 1}},
                "thumbnail": {"url": f"{self.url}/thumbnail.png"},
                "languages": ["de"],
                "configuration": self._configuration(),
                "registrations": {"enabled": False, "approval_required": False, "message": None},
                "api_versions": {"mastodon": 2},
                "contact": {"email": "", "account": None},
                "rules": [],
            }
        )

    async def _instance_v1(self, request: web.Request) -> web.Response:
        host = self.url.split("://", 1)[1]
        return web.json_response(
            {
                "uri": host,
                "title": "Testinstanz",
                "short_description": "",
                "description": "",
                "email": "",
                "version": self.version,
                "urls": {"streaming_api": self.url.replace("http", "ws", 1)},
                "stats": {"user_count": 1, "status_count": len(self.posted), "domain_count": 0},
                "thumbnail": None,
                "languages": ["de"],
                "registrations": False,
                "approval_required": False,
                "invites_enabled": False,
                "configuration": self._configuration(),
                "contact_account": None,
                "rules": [],
            }
        )

    def _account(self) -> dict[str, Any]:
        return {
            "id": "1",
            "username": self.username,
            "acct": self.username,
            "display_name": "Stadt Koblenz",
            "locked": False,
            "bot": True,
            "discoverable": True,
            "group": False,
            "created_at": "2024-01-01T00:00:00.000Z",
            "note": "",
            "url": f"{self.url}/@{self.username}",
            "avatar": f"{self.url}/avatar.png",
            "avatar_static": f"{self.url}/avatar.png",
            "header": f"{self.url}/header.png",
            "header_static": f"{self.url}/header.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(self.posted),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    async def _verify_credentials(self, request: web.Request) -> web.Response:
        if (refused := self._need_token(request, "read", "read:accounts", "profile")) is not None:
            return refused
        account = self._account()
        account["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "de",
            "note": "",
            "fields": [],
        }
        return web.json_response(account)

    # -- statuses -----------------------------------------------------------------------------------

    def _media_json(self, media: StoredMedia) -> dict[str, Any]:
        ready = time.time() >= media.ready_at
        url = f"{self.url}/system/media/{media.id}" if ready else None
        return {
            "id": media.id,
            "type": "image" if media.mime_type.startswith("image/") else "unknown",
            "url": url,
            "preview_url": url,
            "remote_url": None,
            "text_url": None,
            "meta": {"focus": {"x": 0.0, "y": 0.0}} if media.focus else {},
            "description": media.description,
            "blurhash": None,
        }

    def _status_json(self, status: StoredStatus) -> dict[str, Any]:
        paragraphs = [p for p in status.text.split("\n\n") if p.strip()]
        content = "".join(f"<p>{html.escape(p).replace(chr(10), '<br />')}</p>" for p in paragraphs)
        replied = self.statuses.get(status.in_reply_to_id or "")
        return {
            "id": status.id,
            "created_at": _iso(status.created_at),
            "edited_at": _iso(status.edited_at) if status.edited_at else None,
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": "1" if replied is not None else None,
            "sensitive": status.sensitive,
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"{self.url}/users/{self.username}/statuses/{status.id}",
            "url": f"{self.url}/@{self.username}/{status.id}",
            "replies_count": sum(1 for s in self.posted if s.in_reply_to_id == status.id),
            "reblogs_count": 0,
            "favourites_count": 0,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": content,
            "reblog": None,
            "application": {"name": "koblenz-bot", "website": None},
            "account": self._account(),
            "media_attachments": [self._media_json(self.media[m]) for m in status.media_ids],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def _validate(
        self, text: str, spoiler_text: str, media_ids: list[str], status_id: str | None = None
    ) -> web.Response | None:
        if len(media_ids) > self.max_media_attachments:
            return web.json_response(
                {"error": f"Cannot attach more than {self.max_media_attachments} files"}, status=422
            )
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None or media.status_id not in (None, status_id):
                return web.json_response({"error": f"Media attachment {media_id} not found"}, status=422)
            if time.time() < media.ready_at:
                return web.json_response(
                    {
                        "error": "Cannot attach files that have not finished processing. Try again in a moment!"
                    },
                    status=422,
                )
        if not text.strip() and not media_ids:
            return web.json_response({"error": "Validation failed: Text can't be blank"}, status=422)
        if mastodon_length(text, spoiler_text, self.characters_reserved_per_url) > self.max_characters:
            return web.json_response(
                {"error": f"Validation failed: Text character limit of {self.max_characters} exceeded"},
                status=422,
            )
        return None

    def _live(self, status_id: str) -> StoredStatus | None:
        status = self.statuses.get(status_id)
        return status if status is not None and not status.deleted else None

    async def _create(self, request: web.Request) -> web.Response:
        if (refused := self._need_token(request, *WRITE_STATUSES)) is not None:
            return refused
        params: dict[str, Any] = request[PARAMS]
        now = time.time()
        key = request.headers.get("Idempotency-Key")
        if key:
            known = self._keys.get(key)
            if known is not None and now - known[1] < self.idempotency_ttl:
                self.replays += 1
                return web.json_response(self._status_json(self.statuses[known[0]]))
        if self._posts.full(now):
            self.rate_limited += 1
            return web.json_response(
                {"error": "Too many requests"}, status=429, headers=self._posts.headers(now)
            )
        text = str(params.get("status") or "")
        spoiler_text = str(params.get("spoiler_text") or "")
        visibility = str(params.get("visibility") or "public")
        media_ids = [str(m) for m in params.get("media_ids") or []]
        if visibility not in VISIBILITIES:
            return web.json_response(
                {"error": "Validation failed: Visibility is not included in the list"}, status=422
            )
        reply_to = str(params["in_reply_to_id"]) if params.get("in_reply_to_id") else None
        if reply_to is not None and self._live(reply_to) is None:
            return web.json_response(
                {"error": "The post you are trying to reply to does not appear to exist."}, status=404
            )
        if (invalid := self._validate(text, spoiler_text, media_ids)) is not None:
            return invalid
        status = StoredStatus(
            id=self._new_id(),
            text=text,
            spoiler_text=spoiler_text,
            visibility=visibility,
            language=str(params["language"]) if params.get("language") else None,
            in_reply_to_id=reply_to,
            media_ids=media_ids,
            sensitive=self._flag(params.get("sensitive")) or bool(spoiler_text),
            created_at=now,
            idempotency_key=key or None,
        )
        self.statuses[status.id] = status
        for media_id in media_ids:
            self.media[media_id].status_id = status.id
        if key:
            self._keys[key] = (status.id, now)
        self._posts.record(now)
        self.created += 1
        return web.json_response(self._status_json(status), headers=self._posts.headers(now))

    async def _show(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:  # public without a token; with one, it needs the scope
            if (refused := self._need_token(request, *READ_STATUSES)) is not None:
                return refused
        status = self._live(request.match_info["id"])
        if status is None:
            return web.json_response(NOT_FOUND, status=404)
        return web.json_response(self._status_json(status))

    async def _source(self, request: web.Request) -> web.Response:
        if (refused := self._need_token(request, *READ_STATUSES)) is not None:
            return refused
        status = self._live(request.match_info["id"])
        if status is None:
            return web.json_response(NOT_FOUND, status=404)
        return web.json_response({"id": status.id, "text": status.text, "spoiler_text": status.spoiler_text})

    async def _edit(self, request: web.Request) -> web.Response:
        if (refused := self._need_token(request, *WRITE_STATUSES)) is not None:
            return refused
        status = self._live(request.match_info["id"])
        if status is None:
            return web.json_response(NOT_FOUND, status=404)
        params: dict[str, Any] = request[PARAMS]
        text = str(params.get("status") or "")
        spoiler_text = str(params.get("spoiler_text") or "")  # not sent: the warning is gone
        media_ids = [str(m) for m in params.get("media_ids") or []]  # not sent: the media are detached
        if (invalid := self._validate(text, spoiler_text, media_ids, status.id)) is not None:
            return invalid
        status.history.append((status.text, status.spoiler_text))
        for media_id in status.media_ids:
            if media_id not in media_ids:
                self.media[media_id].status_id = None
        for media_id in media_ids:
            self.media[media_id].status_id = status.id
        status.text, status.spoiler_text, status.media_ids = text, spoiler_text, media_ids
        status.sensitive = self._flag(params.get("sensitive")) or bool(spoiler_text)
        if params.get("language"):
            status.language = str(params["language"])
        status.edited_at = time.time()
        self.edits += 1
        return web.json_response(self._status_json(status))

    async def _delete(self, request: web.Request) -> web.Response:
        if (refused := self._need_token(request, *WRITE_STATUSES)) is not None:
            return refused
        now = time.time()
        if self._deletions.full(now):
            self.rate_limited += 1
            return web.json_response(
                {"error": "Too many requests"}, status=429, headers=self._deletions.headers(now)
            )
        status = self._live(request.match_info["id"])
        if status is None:
            return web.json_response(NOT_FOUND, status=404)
        status.deleted = True
        self._deletions.record(now)
        self.deletes += 1
        body = self._status_json(status)
        body["text"] = status.text
        return web.json_response(body, headers=self._deletions.headers(now))

    # -- media --------------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        if (refused := self._need_token(request, *WRITE_MEDIA)) is not None:
            return refused
        now = time.time()
        if self._uploads.full(now):
            self.rate_limited += 1
            return web.json_response(
                {"error": "Too many requests"}, status=429, headers=self._uploads.headers(now)
            )
        params: dict[str, Any] = request[PARAMS]
        upload = params.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"error": "Validation failed: File can't be blank"}, status=422)
        data = upload.file.read()
        mime_type = (upload.content_type or "").split(";")[0].strip().lower()
        if mime_type not in self.supported_mime_types:
            return web.json_response({"error": "Validation failed: File content type is invalid"}, status=422)
        if len(data) > self.image_size_limit:
            megabytes = self.image_size_limit // (1024 * 1024)
            return web.json_response(
                {"error": f"Validation failed: File file size must be less than {megabytes} MB"}, status=422
            )
        description = str(params["description"]) if params.get("description") else None
        if description is not None and len(description) > self.description_limit:
            return web.json_response(
                {
                    "error": "Validation failed: Description is too long (maximum is "
                    f"{self.description_limit} characters)"
                },
                status=422,
            )
        synchronous = request.path.startswith("/api/v1/")
        media = StoredMedia(
            id=self._new_id(),
            data=data,
            mime_type=mime_type,
            description=description,
            focus=str(params["focus"]) if params.get("focus") else None,
            ready_at=now if synchronous else now + self.media_processing,
        )
        self.media[media.id] = media
        self._uploads.record(now)
        self.media_uploads += 1
        status = 200 if time.time() >= media.ready_at else 202
        return web.json_response(self._media_json(media), status=status, headers=self._uploads.headers(now))

    async def _media(self, request: web.Request) -> web.Response:
        if (refused := self._need_token(request, *WRITE_MEDIA)) is not None:
            return refused
        media = self.media.get(request.match_info["id"])
        if media is None:
            return web.json_response(NOT_FOUND, status=404)
        ready = time.time() >= media.ready_at
        return web.json_response(self._media_json(media), status=200 if ready else 206)

    async def _file(self, request: web.Request) -> web.Response:
        media = self.media.get(request.match_info["id"])
        if media is None or time.time() < media.ready_at:
            return web.Response(status=404)
        return web.Response(body=media.data, content_type=media.mime_type)
