"""A small Graph API client over the project's aiohttp session, and the one mapping of the Graph API's
error object to the engine's ``PublishError`` tree.

Every call goes to ``{graph_url}/{version}/{path}`` (both settings) with the page access token in the
``Authorization: Bearer`` header, never in a URL (so no token can end up in a log line or an error
text); POST parameters are sent form-encoded, GET/DELETE parameters in the query string. An answer is the
JSON object of the platform; an error is the documented error object::

    {"error": {"message": "...", "type": "OAuthException", "code": 190, "error_subcode": 463,
               "fbtrace_id": "...", "is_transient": false}}

Once the platform has refused the token (code 190 and the older 102, 463, 467), the client is *stopped*:
every later call raises the same ``TokenRejected`` at once, without a request, until the operator has
renewed the token and restarted the bot; ``stopped`` holds the German text for operators.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from broadcasts.publishers import PublishError, Rejected, RetryAfter, Transient

log = logging.getLogger(__name__)

TIMEOUT = 15.0  # seconds per call
TOKEN_ENV = "KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN"
TOKEN_CODES = frozenset({190, 102, 463, 467})
RATE_CODES = frozenset({4, 17, 32, 613})
BUC_RATE_CODES = range(80000, 80100)  # business use case rate limits (pages, Instagram, ...)
TRANSIENT_CODES = frozenset({1, 2})
NOT_READY = 9007
GONE_SUBCODE = (
    33  # code 100: "Object with ID ... does not exist, cannot be loaded due to missing permissions"
)
BLOCKED = 368
DEFAULT_WAIT = 300.0  # seconds to pause on a rate limit when the headers do not say how long
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage", "X-Ad-Account-Usage")


def token_problem(platform: str) -> str:
    """The operator's text when the page token is refused (the token itself is never shown)."""
    return f"{platform}: Der Seiten-Token ist ungültig oder abgelaufen. Bitte {TOKEN_ENV} erneuern."


class TokenRejected(Rejected):
    """The platform refuses the page token (expired, revoked, password changed): nothing will work until
    an operator renews it. The worker records the delivery as failed."""


class ObjectGone(Rejected):
    """Code 100 with subcode 33: the post or media does not exist (any more)."""


class NotReady(Transient):
    """Code 9007: the media container is not ready to be published yet."""


def _estimated_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until calls are accepted again, from ``Retry-After`` or the usage headers'
    ``estimated_time_to_regain_access`` (minutes, the business use case headers); None if not given."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(1.0, float(retry_after))
        except ValueError:
            pass
    minutes: list[float] = []

    def collect(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key == "estimated_time_to_regain_access" and isinstance(inner, int | float):
                    minutes.append(float(inner))
                else:
                    collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)

    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            collect(json.loads(raw))
        except ValueError:
            continue
    longest = max(minutes, default=0.0)
    return longest * 60.0 if longest > 0 else None


def mapped(
    platform: str, action: str, status: int, body: Any, headers: Mapping[str, str] | None = None
) -> PublishError:
    """The ``PublishError`` for a failed call (HTTP ``status``, parsed JSON ``body`` or None)."""
    headers = headers or {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        detail = f"{platform} {action}: HTTP {status} ohne Fehlerobjekt"
        if status == 401:
            return TokenRejected(token_problem(platform))
        if status == 429:
            return RetryAfter(_estimated_wait(headers) or DEFAULT_WAIT, detail)
        if status >= 500 or status == 408 or 200 <= status < 300:
            return Transient(detail)  # a proxy's page, a truncated answer: try again
        return Rejected(detail)
    code = error.get("code")
    code = code if isinstance(code, int) else 0
    subcode = error.get("error_subcode")
    subcode = subcode if isinstance(subcode, int) else None
    message = " ".join(str(error.get("message") or "").split())[:300]
    trace = error.get("fbtrace_id")
    detail = f"{platform} {action}: ({code}{f'/{subcode}' if subcode else ''}) {message}"
    if trace:
        detail += f" [fbtrace_id {trace}]"
    if code in TOKEN_CODES or subcode in (463, 467):
        return TokenRejected(token_problem(platform), detail=detail, graph_code=code, graph_subcode=subcode)
    if code in RATE_CODES or code in BUC_RATE_CODES:
        return RetryAfter(_estimated_wait(headers) or DEFAULT_WAIT, f"{detail} (Limit erreicht)")
    if code == NOT_READY:
        return NotReady(detail, graph_code=code, graph_subcode=subcode)
    if code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        return Transient(detail, graph_code=code, graph_subcode=subcode)
    if code == 100 and subcode == GONE_SUBCODE:
        return ObjectGone(detail, graph_code=code, graph_subcode=subcode)
    if code == BLOCKED:
        return Rejected(
            f"{platform} hat das Veröffentlichen vorübergehend gesperrt (Richtlinien, Code 368); bitte in "
            f"der Meta Business Suite prüfen. {detail}",
            graph_code=code,
            graph_subcode=subcode,
        )
    return Rejected(detail, graph_code=code, graph_subcode=subcode)


class GraphClient:
    """Calls of one page token; ``platform`` ("Facebook", "Instagram") names the channel in error texts."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        graph_url: str,
        version: str,
        token: str,
        *,
        platform: str = "Facebook",
        timeout: float = TIMEOUT,
    ) -> None:
        self.session = session
        self.base = f"{graph_url.rstrip('/')}/{version}"
        self.platform = platform
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.stopped: str | None = None  # the operator's text once the token was refused
        self.calls = 0

    def health(self) -> dict[str, Any]:
        """For ``/health``: ``{"state": "stopped", "reason": ...}`` once the token was refused, else {}."""
        return {"state": "stopped", "reason": self.stopped} if self.stopped else {}

    async def get(self, path: str, action: str, **params: str) -> dict[str, Any]:
        return await self.call("GET", path, action, params)

    async def post(self, path: str, action: str, **params: str) -> dict[str, Any]:
        return await self.call("POST", path, action, params)

    async def delete(self, path: str, action: str) -> dict[str, Any]:
        return await self.call("DELETE", path, action, {})

    async def call(self, method: str, path: str, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One call; its JSON object, or the mapped ``PublishError`` raised."""
        if self.stopped:
            raise TokenRejected(self.stopped)
        segments = path.strip("/").split("/")
        if any(segment in ("", ".", "..") for segment in segments):
            raise Rejected(f"{self.platform} {action}: ungültige ID {path!r}")
        url = f"{self.base}/{'/'.join(quote(segment, safe='_-') for segment in segments)}"
        form = method == "POST"
        self.calls += 1
        try:
            async with self.session.request(
                method,
                url,
                params=None if form else dict(params),
                data=dict(params) if form else None,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                raw = await response.read()
                status, headers = response.status, response.headers
        except TimeoutError as exc:
            raise Transient(f"{self.platform} {action}: keine Antwort nach {self.timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise Transient(
                f"{self.platform} {action}: Verbindung fehlgeschlagen ({type(exc).__name__})"
            ) from exc
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if 200 <= status < 300 and isinstance(body, dict) and "error" not in body:
            return body
        error = mapped(self.platform, action, status, body, headers)
        if isinstance(error, TokenRejected):
            if not self.stopped:
                log.error("%s (%s)", error.message, error.extra.get("detail", f"HTTP {status}"))
            self.stopped = error.message
        raise error
