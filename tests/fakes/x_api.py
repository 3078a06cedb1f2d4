"""A loopback double of the X API v2 (https://docs.x.com/x-api), for every test that posts to X.

A real aiohttp server on 127.0.0.1 with the endpoints the city's channel uses, answering with the
documented payloads:

    POST   /2/tweets          {"text", "reply": {"in_reply_to_tweet_id"}, "media": {"media_ids": [...]}}
                              → 201 {"data": {"id": "...", "text": "...", "edit_history_tweet_ids": [...]}}
    DELETE /2/tweets/:id      → 200 {"data": {"deleted": true}}; unknown or deleted id → 404
    POST   /2/media/upload    multipart: ``media`` (raw bytes), ``media_category`` (tweet_image, ...)
                              → 200 {"data": {"id": "...", "media_key": "3_...", "size": n,
                                               "expires_after_secs": 86400, "image": {"image_type": ...}}}

Errors are RFC 7807 problems like X's (``{"title", "detail", "type", "status"}``).

Usage::

    fake = FakeXAPI(consumer_key="ck", consumer_secret="cs", access_token="at", access_token_secret="ats")
    await fake.start()            # fake.url = "http://127.0.0.1:<port>"  → KOBLENZ_BOT_X_API_URL
    ...
    await fake.stop()

Authentication: every call must carry an OAuth 1.0a ``Authorization: OAuth ...`` header (user context)
whose ``oauth_consumer_key`` and ``oauth_token`` are the configured ones, HMAC-SHA1 signed over the URL that
was really called (query and form parameters included, JSON and multipart bodies not, RFC 5849), with a
fresh nonce; else 401 ``Unauthorized``. ``auth_failures`` counts them.

Validation like X's: a text over 280 as X counts it (``twitter_text.parse_tweet``: weighted) → 403; the
same text as a live post of the account → 403 "You are not allowed to create a Tweet with duplicate
content."; a reply to a post that is unknown or deleted → 403 "... deleted or not visible to you."; an
empty text without media → 400; an unknown media id → 400; an upload without ``media``, an unknown
category or over 5 MB → 400.

Limits: ``window_limit`` posts per 15-minute window (default 100) and, when set, ``daily_cap`` posts per
rolling 24 hours. Every answer to ``POST /2/tweets`` carries ``x-rate-limit-limit`` / ``-remaining`` /
``-reset`` (epoch seconds; with a daily cap also ``x-user-limit-24hour-limit`` / ``-remaining`` /
``-reset``); beyond a limit the answer is 429 "Too Many Requests" with those headers.

Fault injection: ``fail_next(status, n=1, path=None)`` (the next ``n`` calls, or those to paths starting
with ``path``, answer ``status``), ``throttle_next(n=1, reset_in=30, headers=True)`` (429 with
``x-rate-limit-reset`` ``reset_in`` seconds ahead, or with no rate headers at all), ``delay`` (seconds
before each answer: slow responses, client timeouts).

Recorded for assertions: ``posts`` (every :class:`Post` created, ``live()`` those not deleted),
``deleted`` (ids), ``uploads`` (:class:`Upload`), ``replies`` (posts that answer one), ``calls`` (a
Counter by "METHOD /path"), ``rate_limited`` / ``server_errors`` (how many 429 / 5xx answers),
``stats()`` (the counts in one dict).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from oauthlib.oauth1.rfc5849 import signature, utils
from twitter_text import parse_tweet

from tests.fakes.loopback import serve

MAX_WEIGHTED = 280
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MEDIA_CATEGORIES = ("tweet_image", "tweet_gif", "tweet_video", "dm_image", "dm_gif", "dm_video", "subtitles")
WINDOW = 15 * 60.0
DAY = 24 * 3600.0
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
REPLY_GONE = "You attempted to reply to a Tweet that is deleted or not visible to you."
TITLES = {
    400: "Invalid Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found Error",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Post:
    id: str
    text: str
    reply_to: str | None = None
    media_ids: tuple[str, ...] = ()
    at: float = 0.0
    deleted: bool = False


@dataclass
class Upload:
    id: str
    category: str
    content_type: str
    size: int
    data: bytes = field(repr=False, default=b"")


@dataclass
class _Injected:
    status: int
    count: int
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def problem(status: int, detail: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    title = TITLES.get(status, "Error")
    body = {"title": title, "detail": detail or title, "type": "about:blank", "status": status}
    return web.json_response(body, status=status, headers=headers)


class FakeXAPI:
    def __init__(
        self,
        consumer_key: str = "test-consumer-key",
        consumer_secret: str = "test-consumer-secret",
        access_token: str = "1-test-access-token",
        access_token_secret: str = "test-access-token-secret",
        window_limit: int = 100,
        daily_cap: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret
        self.window_limit = window_limit
        self.daily_cap = daily_cap
        self.clock = clock
        self.delay = 0.0
        self.posts: list[Post] = []
        self.deleted: list[str] = []
        self.uploads: list[Upload] = []
        self.calls: Counter[str] = Counter()
        self.rate_limited = 0
        self.server_errors = 0
        self.auth_failures = 0
        self._ids = itertools.count(1_880_000_000_000_000_001)
        self._injected: deque[_Injected] = deque()
        self._nonces: set[str] = set()
        self._posted_at: deque[float] = deque()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=2 * MAX_IMAGE_BYTES)
        app.router.add_post("/2/tweets", self._create)
        app.router.add_delete("/2/tweets/{id}", self._delete)
        app.router.add_post("/2/media/upload", self._upload)
        app.middlewares.append(self._middleware)
        self._runner, self.url = await serve(app)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- switches and views --------------------------------------------------------------------------

    def fail_next(self, status: int = 503, n: int = 1, path: str | None = None) -> None:
        self._injected.append(_Injected(status, n, path))

    def throttle_next(self, n: int = 1, reset_in: float = 30.0, headers: bool = True) -> None:
        reset = {
            "x-rate-limit-limit": str(self.window_limit),
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(self.clock() + reset_in)),
        }
        self._injected.append(_Injected(429, n, None, reset if headers else {}))

    def live(self) -> list[Post]:
        return [p for p in self.posts if not p.deleted]

    @property
    def replies(self) -> list[Post]:
        return [p for p in self.posts if p.reply_to is not None]

    def post(self, post_id: str) -> Post | None:
        return next((p for p in self.posts if p.id == post_id), None)

    def stats(self) -> dict[str, int]:
        return {
            "posts": len(self.posts),
            "deletes": len(self.deleted),
            "media_uploads": len(self.uploads),
            "replies": len(self.replies),
            "rate_limited": self.rate_limited,
            "server_errors": self.server_errors,
            "auth_failures": self.auth_failures,
        }

    # -- plumbing ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
        self.calls[f"{request.method} {route or request.path}"] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        injected = self._take_injected(request.path)
        if injected is not None:
            if injected.status == 429:
                self.rate_limited += 1
            elif injected.status >= 500:
                self.server_errors += 1
            return problem(injected.status, headers=injected.headers)
        if not await self._authorized(request):
            self.auth_failures += 1
            return problem(401)
        response: web.StreamResponse = await handler(request)
        return response

    def _take_injected(self, path: str) -> _Injected | None:
        for injected in self._injected:
            if injected.path is None or path.startswith(injected.path):
                injected.count -= 1
                if injected.count <= 0:
                    self._injected.remove(injected)
                return injected
        return None

    async def _authorized(self, request: web.Request) -> bool:
        """OAuth 1.0a, RFC 5849: the configured consumer and token, HMAC-SHA1 over the URL called."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return False
        try:
            params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        except ValueError:
            return False
        if (
            params.get("oauth_consumer_key") != self.consumer_key
            or params.get("oauth_token") != self.access_token
            or params.get("oauth_signature_method") != "HMAC-SHA1"
        ):
            return False
        nonce = params.get("oauth_nonce", "")
        if not nonce or nonce in self._nonces:
            return False
        form = None
        if request.content_type == "application/x-www-form-urlencoded":
            form = (await request.read()).decode()
        collected = signature.collect_parameters(
            uri_query=request.query_string, body=form, headers={"Authorization": header}
        )
        base = signature.signature_base_string(
            request.method,
            signature.base_string_uri(f"{request.scheme}://{request.host}{request.path}"),
            signature.normalize_parameters(collected),
        )
        key = f"{utils.escape(self.consumer_secret)}&{utils.escape(self.access_token_secret)}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(params.get("oauth_signature", ""), expected):
            return False
        self._nonces.add(nonce)
        return True

    def _limit_headers(self) -> dict[str, str]:
        now = self.clock()
        while self._posted_at and self._posted_at[0] <= now - DAY:
            self._posted_at.popleft()
        in_window = [t for t in self._posted_at if t > now - WINDOW]
        window_reset = (in_window[0] if in_window else now) + WINDOW
        headers = {
            "x-rate-limit-limit": str(self.window_limit),
            "x-rate-limit-remaining": str(max(0, self.window_limit - len(in_window))),
            "x-rate-limit-reset": str(int(window_reset)),
        }
        if self.daily_cap is not None:
            day_reset = (self._posted_at[0] if self._posted_at else now) + DAY
            headers.update(
                {
                    "x-user-limit-24hour-limit": str(self.daily_cap),
                    "x-user-limit-24hour-remaining": str(max(0, self.daily_cap - len(self._posted_at))),
                    "x-user-limit-24hour-reset": str(int(day_reset)),
                }
            )
        return headers

    # -- endpoints -----------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        headers = self._limit_headers()
        if headers["x-rate-limit-remaining"] == "0" or headers.get("x-user-limit-24hour-remaining") == "0":
            self.rate_limited += 1
            return problem(429, headers=headers)
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return problem(400, "The request body must be a JSON object.")
        text = body.get("text") or ""
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        media_ids = tuple(str(m) for m in (body.get("media") or {}).get("media_ids") or ())
        if not isinstance(text, str) or (not text and not media_ids):
            return problem(400, "One or more parameters to your request was invalid.")
        if parse_tweet(text).weightedLength > MAX_WEIGHTED:
            return problem(403, "Your Tweet text is too long.")
        if any(p.text == text for p in self.live()):
            return problem(403, DUPLICATE)
        if reply_to is not None:
            target = self.post(str(reply_to))
            if target is None or target.deleted:
                return problem(403, REPLY_GONE)
        known = {u.id for u in self.uploads}
        if any(m not in known for m in media_ids):
            return problem(400, "One or more media ids are not valid.")
        post = Post(str(next(self._ids)), text, str(reply_to) if reply_to else None, media_ids, self.clock())
        self.posts.append(post)
        self._posted_at.append(post.at)
        data = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
        return web.json_response({"data": data}, status=201, headers=self._limit_headers())

    async def _delete(self, request: web.Request) -> web.Response:
        post = self.post(request.match_info["id"])
        if post is None or post.deleted:
            return problem(404, f"Could not find tweet with id: [{request.match_info['id']}].")
        post.deleted = True
        self.deleted.append(post.id)
        return web.json_response({"data": {"deleted": True}})

    async def _upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return problem(400, "The media upload must be multipart/form-data.")
        form = await request.post()
        media = form.get("media")
        category = str(form.get("media_category") or "tweet_image")
        if not isinstance(media, web.FileField):
            return problem(400, "The media field is missing.")
        if category not in MEDIA_CATEGORIES:
            return problem(400, f"Unknown media_category: {category}.")
        data = media.file.read()
        if not data or len(data) > MAX_IMAGE_BYTES:
            return problem(400, "Image file size must be <= 5242880 bytes.")
        upload = Upload(str(next(self._ids)), category, media.content_type, len(data), data)
        self.uploads.append(upload)
        payload = {
            "id": upload.id,
            "media_key": f"3_{upload.id}",
            "size": upload.size,
            "expires_after_secs": 86400,
            "image": {"image_type": upload.content_type},
        }
        return web.json_response({"data": payload})
