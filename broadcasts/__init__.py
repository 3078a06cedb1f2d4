"""Posts and alerts: lifecycle, scheduler, outbox, fan-out, rate limiting and CAP 1.2.

Exception tree of the engine, with the HTTP status and ``error`` code each is answered with (by
``core.http.error_middleware``; the alert API audits every refusal first)::

    BroadcastError                 500
    ├── InvalidRequest             422 invalid         a post or alert cannot be accepted as given
    │   ├── TextTooLong            422 text_too_long   over a channel's limit (extra: channel, limit)
    │   └── NotFound               404 not_found       no such post or alert (an unknown reference in
    │                                                  an alert submission: 422 cap_unknown_reference)
    ├── InvalidState               409 conflict        the action does not fit the lifecycle
    ├── CapError                   4xx cap_*           CAP in and out (tree in broadcasts.cap)
    ├── Unauthorized               401 unauthorized    alert API: no or wrong credentials (broadcasts.api)
    ├── ForbiddenSender            403 forbidden_sender  alert API: not allowed to send for that <sender>
    ├── UnsupportedMediaType       415 unsupported_media_type
    └── PublishError               500                 a channel refused or failed (broadcasts.publishers:
                                                       RetryAfter, Transient, RecipientGone, Rejected,
                                                       EditImpossible, Unsupported); never an HTTP answer
"""

from __future__ import annotations

from core import KoblenzError


class BroadcastError(KoblenzError):
    """Root of the broadcast engine's exceptions; ``message`` is German and polite."""


class InvalidRequest(BroadcastError):
    """A post or alert cannot be accepted as given."""

    status = 422
    code = "invalid"


class TextTooLong(InvalidRequest):
    code = "text_too_long"

    def __init__(self, channel: str, length: int, limit: int) -> None:
        super().__init__(
            f"Der Text für {channel} ist {length:,} Zeichen lang; erlaubt sind höchstens {limit:,} Zeichen. "
            "Bitte kürzen Sie ihn oder geben Sie eine eigene, kürzere Fassung für diesen Kanal an.".replace(
                ",", "."
            ),
            channel=channel,
            limit=limit,
        )
        self.channel, self.length, self.limit = channel, length, limit


class NotFound(InvalidRequest):
    """No such post, alert or referenced alert."""

    status = 404
    code = "not_found"


class InvalidState(BroadcastError):
    """The action does not fit the current state of the post or alert."""

    status = 409
    code = "conflict"
