"""Posts and alerts: lifecycle, scheduler, outbox, fan-out, rate limiting and CAP 1.2 (issue 5).

Exception tree of the engine (CAP parsing has its own root, ``broadcasts.cap.CapError``)::

    BroadcastError
    ├── InvalidRequest        a post or alert cannot be accepted (German ``message`` says why)
    │   ├── TextTooLong       a text is over a channel's limit; names the channel and the limit
    │   └── NotFound          no such post, alert or referenced alert
    ├── InvalidState          the action does not fit the lifecycle (e.g. cancel a sent post)
    └── PublishError          a channel refused or failed (broadcasts.publishers: RetryAfter,
                              Transient, RecipientGone, Rejected, EditImpossible, Unsupported)
"""

from __future__ import annotations

from core import KoblenzError


class BroadcastError(KoblenzError):
    """Root of the broadcast engine's exceptions; ``message`` is German and polite."""


class InvalidRequest(BroadcastError):
    """A post or alert cannot be accepted as given."""


class TextTooLong(InvalidRequest):
    def __init__(self, channel: str, length: int, limit: int) -> None:
        super().__init__(
            f"Der Text für {channel} ist {length:,} Zeichen lang; erlaubt sind höchstens {limit:,} Zeichen. "
            "Bitte kürzen Sie ihn oder geben Sie eine eigene, kürzere Fassung für diesen Kanal an.".replace(
                ",", "."
            )
        )
        self.channel, self.length, self.limit = channel, length, limit


class NotFound(InvalidRequest):
    """No such post, alert or referenced alert."""


class InvalidState(BroadcastError):
    """The action does not fit the current state of the post or alert."""
