"""The one mapping of tweepy's and requests' errors to the engine's ``PublishError`` tree.

tweepy raises (``tweepy.errors``) for API v2 answers, requests for the network::

    tweepy.HTTPException          .response: the requests.Response
    ├── TooManyRequests    429    → RetryAfter (until x-rate-limit-reset; the 24-hour reset when the
    │                                daily cap is spent; at least 1 s; 60 s without a usable header)
    ├── Unauthorized       401    → TokenRejected (the operator must fix the keys)
    ├── Forbidden          403    → Rejected (duplicate content, text too long, not allowed)
    ├── NotFound           404    → PostGone (a delete takes it as done)
    ├── BadRequest         400    → Rejected
    ├── TwitterServerError 5xx    → Transient
    └── any other status          → Rejected
    requests.RequestException     → Transient (timeouts, refused or reset connections)

The texts name the settings to check, never a key or secret itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import requests
import tweepy

from broadcasts.publishers import PublishError, Rejected, RetryAfter, Transient

__all__ = [
    "FALLBACK_WAIT",
    "TOKEN_PROBLEM",
    "PostGone",
    "TokenRejected",
    "is_reply_target_gone",
    "mapped",
    "retry_after",
]

TOKEN_PROBLEM = (
    "X hat die Zugangsdaten abgelehnt (401): bitte KOBLENZ_BOT_X_CONSUMER_KEY, "
    "KOBLENZ_BOT_X_CONSUMER_SECRET, KOBLENZ_BOT_X_ACCESS_TOKEN und KOBLENZ_BOT_X_ACCESS_TOKEN_SECRET prüfen "
    "(Schlüssel der App und Zugangstoken des städtischen Kontos mit Lese- und Schreibrecht)."
)
FALLBACK_WAIT = 60.0  # seconds, when a 429 comes without a usable reset header
# X's answer to a reply whose post is deleted (the all-clear then goes as a post of its own)
_REPLY_GONE = "deleted or not visible"


class TokenRejected(Rejected):
    """X does not accept the app's keys or the account's access token (401): nothing will work until the
    operator fixes the ``KOBLENZ_BOT_X_*`` settings."""


class PostGone(Rejected):
    """404: the post (to delete) does not exist (any more). A delete takes it as done."""


def _headers(error: tweepy.HTTPException) -> Mapping[str, str]:
    headers = getattr(error.response, "headers", None)
    return headers if headers is not None else {}


def _epoch(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, TypeError, ValueError):
        return None


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds to wait after a 429: until ``x-rate-limit-reset`` (epoch seconds), or until the 24-hour reset
    when X says the daily cap is spent (``x-user-limit-24hour-remaining`` / ``x-app-limit-24hour-remaining``
    0); at least one second; ``FALLBACK_WAIT`` without a usable header."""
    now = time.time() if now is None else now
    resets = []
    for prefix in ("x-user-limit-24hour", "x-app-limit-24hour"):
        if headers.get(f"{prefix}-remaining") == "0":
            resets.append(_epoch(headers, f"{prefix}-reset"))
    resets.append(_epoch(headers, "x-rate-limit-reset"))
    known = [r for r in resets if r is not None]
    if not known:
        return FALLBACK_WAIT
    return max(1.0, max(known) - now)


def _said(error: tweepy.HTTPException) -> str:
    """What X said (the problem's detail or the errors' messages), shortened; never a header."""
    messages = [m for m in getattr(error, "api_messages", []) if isinstance(m, str)]
    return "; ".join(messages)[:300]


def is_reply_target_gone(error: PublishError) -> bool:
    """A refused reply because the post it answers is deleted or hidden (X: 403)."""
    return isinstance(error, Rejected) and _REPLY_GONE in str(error)


def mapped(action: str, error: Exception) -> PublishError:
    """The ``PublishError`` for ``error`` of ``action`` ("Beitrag", "Antwort", "Löschen", "Bild")."""
    if isinstance(error, tweepy.HTTPException):
        status = getattr(error.response, "status_code", None)
        detail = f"X {action}: {status} {_said(error)}".strip()
        if isinstance(error, tweepy.TooManyRequests):
            return RetryAfter(retry_after(_headers(error)), f"{detail} (Limit erreicht)")
        if isinstance(error, tweepy.Unauthorized):
            return TokenRejected(TOKEN_PROBLEM)
        if isinstance(error, tweepy.NotFound):
            return PostGone(detail)
        if isinstance(error, tweepy.TwitterServerError):
            return Transient(detail)
        return Rejected(detail)
    if isinstance(error, requests.RequestException):
        return Transient(f"X {action}: {type(error).__name__} (keine Antwort)")
    return Rejected(f"X {action}: {type(error).__name__}")
