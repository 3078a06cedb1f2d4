"""The one mapping of Mastodon.py's errors to the engine's ``PublishError`` tree.

Mastodon.py raises (``mastodon.errors``)::

    MastodonError
    ├── MastodonRatelimitError       429 with ratelimit_method="throw"    → RetryAfter (until the reset)
    ├── MastodonNetworkError         connection failed, timed out        → Transient
    ├── MastodonAPIError             args: (text, status, reason, error)
    │   ├── MastodonServerError      5xx                                  → Transient
    │   ├── MastodonUnauthorizedError 401                                 → TokenRejected
    │   └── MastodonNotFoundError    404   → EditImpossible (edit), else StatusGone (delete: done)
    │                                403 (scope missing, not our status)  → Forbidden (a Rejected)
    │                                any other 4xx (422 validation)       → Rejected
    └── MastodonIllegalArgumentError, MastodonVersionError, ...          → Rejected

The texts name what to do, never the token itself.
"""

from __future__ import annotations

import time

from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from broadcasts.publishers import EditImpossible, PublishError, Rejected, RetryAfter, Transient

__all__ = ["TOKEN_PROBLEM", "Forbidden", "StatusGone", "TokenRejected", "mapped", "status_of"]

TOKEN_PROBLEM = (
    "Mastodon hat den Zugangsschlüssel abgelehnt: bitte KOBLENZ_BOT_MASTODON_TOKEN prüfen (ein gültiges "
    "Token des städtischen Kontos mit den Rechten write:statuses und write:media)."
)
FALLBACK_WAIT = 60.0  # seconds, when a 429 comes without a usable X-RateLimit-Reset


class TokenRejected(Rejected):
    """The instance does not accept KOBLENZ_BOT_MASTODON_TOKEN (401): nothing with it will work."""


class Forbidden(Rejected):
    """403: the token lacks the scope for this call ("This action is outside the authorized scopes"), or
    the status is not the account's own."""


class StatusGone(Rejected):
    """404: the status (to delete, to answer) does not exist (any more). A delete takes it as done."""


def status_of(error: MastodonError) -> int | None:
    """The HTTP status of an API error (Mastodon.py's args: text, status, reason, error message)."""
    args = error.args
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _detail(action: str, error: MastodonError) -> str:
    args = error.args
    status = status_of(error)
    if status is not None:
        said = args[3] if len(args) > 3 and args[3] else args[2] if len(args) > 2 else ""
        return f"Mastodon {action}: {status} {said}".strip()[:400]
    return f"Mastodon {action}: {type(error).__name__}: {error}"[:400]


def mapped(action: str, error: MastodonError, reset: float | None = None) -> PublishError:
    """The ``PublishError`` for ``error`` of ``action`` ("post", "edit", "delete", ...). ``reset``: the
    client's ``ratelimit_reset`` (epoch seconds, local clock) read right after the failing call."""
    detail = _detail(action, error)
    if isinstance(error, MastodonRatelimitError):
        wait = reset - time.time() if reset is not None else FALLBACK_WAIT
        return RetryAfter(max(1.0, wait), f"{detail} (Limit erreicht)")
    if isinstance(error, MastodonNetworkError | MastodonServerError):
        return Transient(detail)
    if isinstance(error, MastodonUnauthorizedError):
        return TokenRejected(f"{TOKEN_PROBLEM} ({detail})")
    if isinstance(error, MastodonNotFoundError):
        return EditImpossible(detail) if action == "edit" else StatusGone(detail)
    if isinstance(error, MastodonAPIError):
        status = status_of(error)
        if status is None or status >= 500 or status in (408, 425):
            return Transient(detail)  # no usable answer (not JSON, a proxy's page) or "try again"
        return Forbidden(detail) if status == 403 else Rejected(detail)
    return Rejected(detail)
