"""A loopback double of Meta's Graph API as the Facebook Page and Instagram channels use it.

A real aiohttp server on 127.0.0.1 answering ``<url>/<version>/<path>`` (the version prefix must be the
configured one, e.g. ``/v26.0/...``). The access token may come as the ``access_token`` query parameter,
in a form-encoded or JSON body, or as ``Authorization: Bearer`` (or ``OAuth``) header. Answers are the
documented JSON shapes; errors the documented error object::

    {"error": {"message": "...", "type": "OAuthException", "code": 190, "error_subcode": 463,
               "fbtrace_id": "...", "is_transient": false}}

Served:

- Facebook Page: ``POST /{page-id}/feed`` (``message`` and/or ``link``) → ``{"id": "<page>_<n>"}``;
  ``POST /{post-id}`` with ``message`` (edit) and ``DELETE /{post-id}`` → ``{"success": true}``;
  ``POST /{object-id}/comments`` with ``message`` → ``{"id": ...}`` (posts and Instagram media);
  ``GET /{post-id}`` → id, message, permalink_url; ``GET /{page-id}`` → id, name.
- Instagram: ``POST /{ig-user-id}/media`` (``image_url`` required, ``caption`` ≤ 2,200 characters and
  ≤ 30 hashtags, ``alt_text``) → a container; ``GET /{container-id}?fields=status_code,status`` answers
  ``IN_PROGRESS`` for ``in_progress_polls`` polls, then the container's outcome (``FINISHED`` unless
  ``next_outcome`` says ``ERROR`` or ``EXPIRED``), ``PUBLISHED`` once published;
  ``POST /{ig-user-id}/media_publish`` with ``creation_id`` → the media id (error 9007 while the container
  is not finished; error 9 / 2207042 over the daily limit); ``GET /{ig-user-id}/content_publishing_limit``
  → ``{"data": [{"config": {"quota_total", "quota_duration"}, "quota_usage"}]}``;
  ``GET /{media-id}?fields=permalink``.
  The double does not fetch ``image_url``; it records it (``containers``).

Wrong version → 400 code 2500; no token → 400 code 104; a wrong token → 400 code 190; unknown objects →
400 code 100 / subcode 33 ("does not exist").

Fault injection: ``inject(code, count=1, path=None, subcode=None, status=None, headers=None)`` answers the
next ``count`` calls (whose path contains ``path``) with that error (190 token, 4/17/32/613/80001 rate
limits, 368 blocked, 100 invalid parameter, 1/2 transient, ...); ``fail_next(count, status=502)`` answers
with a non-JSON server error; ``delay`` slows every answer (client timeouts).

Recorded: ``posts`` (id → :class:`Post`), ``comments`` (list of (object id, message)), ``containers`` (id
→ :class:`Container`), ``media`` (id → :class:`Media`), ``calls`` (Counter of "METHOD kind"),
``requests`` (every (method, path, params)), ``tokens_in_url`` (calls that carried the token in the URL),
``errors`` (Counter of injected or validation error codes answered).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import serve

MAX_CAPTION = 2200
MAX_HASHTAGS = 30
ERROR_TYPES = {190: "OAuthException", 102: "OAuthException", 104: "OAuthException", 368: "OAuthException"}
MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    190: "Error validating access token: Session has expired.",
    368: "The action attempted has been deemed abusive or is otherwise disallowed",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account.",
}


class GraphError(Exception):
    def __init__(
        self,
        code: int,
        message: str | None = None,
        subcode: int | None = None,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.subcode, self.status = code, subcode, status
        self.message = message or MESSAGES.get(code, f"(#{code}) Error")
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": ERROR_TYPES.get(
                self.code, "OAuthException" if self.code < 1000 else "GraphMethodException"
            ),
            "code": self.code,
            "fbtrace_id": "AbCdEfGhIjK",
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.code in (1, 2):
            error["is_transient"] = True
        return {"error": error}


@dataclass
class Post:
    id: str
    message: str
    link: str | None
    created: float
    edits: list[str] = field(default_factory=list)


@dataclass
class Container:
    id: str
    image_url: str
    caption: str
    alt_text: str | None
    outcome: str  # FINISHED, ERROR or EXPIRED once processed
    polls_left: int
    status_code: str = "IN_PROGRESS"
    polls: int = 0


@dataclass
class Media:
    id: str
    container_id: str
    caption: str
    image_url: str
    alt_text: str | None
    permalink: str
    published: float


@dataclass
class _Injected:
    error: GraphError
    count: int
    path: str | None


class FakeGraphAPI:
    def __init__(
        self,
        token: str = "EAAG-test-page-token",
        page_id: str = "104200000000001",
        ig_user_id: str = "17841400000000001",
        version: str = "v26.0",
        *,
        in_progress_polls: int = 2,
        quota_total: int = 100,
        quota_usage: int = 0,
    ) -> None:
        self.token = token
        self.page_id = page_id
        self.ig_user_id = ig_user_id
        self.version = version
        self.in_progress_polls = in_progress_polls
        self.quota_total = quota_total
        self.quota_usage = quota_usage
        self.next_outcome = "FINISHED"  # the outcome of the next container created
        self.delay = 0.0
        self.url = ""
        self.posts: dict[str, Post] = {}
        self.deleted: list[str] = []
        self.comments: list[tuple[str, str]] = []
        self.containers: dict[str, Container] = {}
        self.media: dict[str, Media] = {}
        self.calls: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.tokens_in_url = 0
        self._ids = itertools.count(1)
        self._injected: list[_Injected] = []
        self._server_errors: list[int] = []
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner, self.url = await serve(app, access_log=None)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- fault injection ---------------------------------------------------------------------------

    def inject(
        self,
        code: int,
        count: int = 1,
        path: str | None = None,
        subcode: int | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        default_status = 500 if code in (1, 2) else 400
        error = GraphError(code, message, subcode, status or default_status, headers)
        self._injected.append(_Injected(error, count, path))

    def fail_next(self, count: int = 1, status: int = 502) -> None:
        self._server_errors.extend([status] * count)

    # -- helpers for tests -------------------------------------------------------------------------

    @property
    def feed(self) -> list[Post]:
        """The page's posts that are still there, oldest first."""
        return [p for p in self.posts.values() if p.id not in self.deleted]

    def _new_id(self) -> str:
        return str(next(self._ids))

    # -- dispatch ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        params: dict[str, str] = dict(request.query)
        if "access_token" in request.query:
            self.tokens_in_url += 1
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
            else:
                params.update({k: str(v) for k, v in (await request.post()).items()})
        parts = [p for p in request.match_info["path"].split("/") if p]
        self.requests.append(
            (request.method, "/".join(parts), {k: v for k, v in params.items() if k != "access_token"})
        )
        try:
            if self._server_errors:
                status = self._server_errors.pop(0)
                return web.Response(status=status, text="<html>Bad Gateway</html>", content_type="text/html")
            if not parts or parts[0] != self.version:
                raise GraphError(2500, "Unknown path components: " + "/".join(parts[:1]))
            self._authorise(request, params)
            path = "/".join(parts[1:])
            self._maybe_inject(path)
            answer = self._route(request.method, parts[1:], params)
            return web.json_response(answer)
        except GraphError as error:
            self.errors[error.code] += 1
            return web.json_response(error.payload(), status=error.status, headers=error.headers)

    def _authorise(self, request: web.Request, params: dict[str, str]) -> None:
        token = params.get("access_token")
        header = request.headers.get("Authorization", "")
        if not token and header.split(" ", 1)[0] in ("Bearer", "OAuth"):
            token = header.split(" ", 1)[1].strip() if " " in header else ""
        if not token:
            raise GraphError(104, "An access token is required to request this resource.")
        if token != self.token:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")

    def _maybe_inject(self, path: str) -> None:
        for injected in self._injected:
            if injected.count > 0 and (injected.path is None or injected.path in path):
                injected.count -= 1
                raise injected.error
        self._injected = [i for i in self._injected if i.count > 0]

    def _route(self, method: str, parts: list[str], params: dict[str, str]) -> dict[str, Any]:
        node, edge = parts[0] if parts else "", "/".join(parts[1:])
        if len(parts) > 2 or not node:
            raise GraphError(2500, "Unknown path components")
        if node == self.page_id and edge == "feed" and method == "POST":
            self.calls["POST feed"] += 1
            return self._create_post(params)
        if node == self.ig_user_id:
            if edge == "media" and method == "POST":
                self.calls["POST media"] += 1
                return self._create_container(params)
            if edge == "media_publish" and method == "POST":
                self.calls["POST media_publish"] += 1
                return self._publish(params)
            if edge == "content_publishing_limit" and method == "GET":
                self.calls["GET content_publishing_limit"] += 1
                return {
                    "data": [
                        {
                            "config": {"quota_total": self.quota_total, "quota_duration": 86400},
                            "quota_usage": self.quota_usage,
                        }
                    ]
                }
        if edge == "comments" and method == "POST":
            self.calls["POST comments"] += 1
            if (node not in self.posts and node not in self.media) or node in self.deleted:
                raise _gone(node)
            if not params.get("message"):
                raise GraphError(100, "(#100) The parameter message is required")
            self.comments.append((node, params["message"]))
            return {"id": f"{node}_{self._new_id()}"}
        if edge:
            raise GraphError(2500, f"Unknown path components: /{edge}")
        return self._node(method, node, params)

    def _node(self, method: str, node: str, params: dict[str, str]) -> dict[str, Any]:
        if node in (self.page_id, self.ig_user_id) and method == "GET":
            self.calls["GET account"] += 1
            return {"id": node, "name": "Stadt Koblenz (Test)"}
        if node in self.containers and method == "GET":
            self.calls["GET container"] += 1
            container = self.containers[node]
            container.polls += 1
            if container.status_code == "IN_PROGRESS":
                if container.polls_left > 0:
                    container.polls_left -= 1
                else:
                    container.status_code = container.outcome
            answer: dict[str, Any] = {"id": node, "status_code": container.status_code}
            if container.status_code == "ERROR":
                answer["status"] = (
                    "Error: Media download has failed. The media URI doesn't meet our requirements."
                )
            return answer
        if node in self.media and method == "GET":
            self.calls["GET media"] += 1
            media = self.media[node]
            return {"id": node, "permalink": media.permalink, "caption": media.caption}
        post = self.posts.get(node)
        if post is None or node in self.deleted:
            self.calls[f"{method} unknown"] += 1
            raise _gone(node)
        if method == "GET":
            self.calls["GET post"] += 1
            return {"id": node, "message": post.message, "permalink_url": f"https://www.facebook.com/{node}"}
        if method == "POST":
            self.calls["POST edit"] += 1
            if not params.get("message"):
                raise GraphError(100, "(#100) The parameter message is required")
            post.edits.append(params["message"])
            post.message = params["message"]
            return {"success": True}
        if method == "DELETE":
            self.calls["DELETE post"] += 1
            self.deleted.append(node)
            return {"success": True}
        raise GraphError(100, "(#100) Unsupported method")

    def _create_post(self, params: dict[str, str]) -> dict[str, Any]:
        message, link = params.get("message", ""), params.get("link")
        if not message and not link:
            raise GraphError(100, "(#100) Missing message or attachment")
        if link and not re.match(r"https?://", link):
            raise GraphError(100, "(#100) The link is invalid")
        post_id = f"{self.page_id}_{self._new_id()}"
        self.posts[post_id] = Post(post_id, message, link, time.time())
        return {"id": post_id}

    def _create_container(self, params: dict[str, str]) -> dict[str, Any]:
        image_url = params.get("image_url", "")
        if not re.match(r"https?://", image_url):
            raise GraphError(100, "(#100) The parameter image_url is required")
        caption = params.get("caption", "")
        if len(caption) > MAX_CAPTION:
            raise GraphError(100, "(#100) The caption is too long", subcode=2207008)
        if len(re.findall(r"(?<![\w&#])#\w+", caption)) > MAX_HASHTAGS:
            raise GraphError(100, "(#100) Too many hashtags in the caption", subcode=2207008)
        container_id = f"1790{self._new_id():0>10}"
        self.containers[container_id] = Container(
            container_id,
            image_url,
            caption,
            params.get("alt_text"),
            self.next_outcome,
            self.in_progress_polls,
        )
        self.next_outcome = "FINISHED"
        return {"id": container_id}

    def _publish(self, params: dict[str, str]) -> dict[str, Any]:
        container = self.containers.get(params.get("creation_id", ""))
        if container is None:
            raise GraphError(100, "(#100) The parameter creation_id is required or invalid")
        if container.status_code == "PUBLISHED":
            raise GraphError(100, "(#100) The media has already been published", subcode=2207001)
        if container.status_code != "FINISHED":
            raise GraphError(9007, "Media ID is not available", subcode=2207027)
        if self.quota_usage >= self.quota_total:
            raise GraphError(9, "Application request limit reached", subcode=2207042, status=403)
        self.quota_usage += 1
        container.status_code = "PUBLISHED"
        media_id = f"1791{self._new_id():0>10}"
        self.media[media_id] = Media(
            media_id,
            container.id,
            container.caption,
            container.image_url,
            container.alt_text,
            f"https://www.instagram.com/p/Fake{media_id[-6:]}/",
            time.time(),
        )
        return {"id": media_id}


def _gone(node: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        subcode=33,
    )
