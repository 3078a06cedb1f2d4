"""One publisher interface for every outbound channel: capabilities (send, edit, delete), limits
(text length, rates), a preview, and what the channel cannot do.

Push channels (Telegram subscribers) are driven by the outbox workers. Pull channels (RSS/Atom feed, the
CAP Atom feed, the website banner) are read by their clients from the database: a post or alert is on
them as soon as it is published, changes with it and disappears with it, so they never need an outbox row.

Errors of the platforms are mapped here, at the boundary, to ``PublishError`` subclasses::

    PublishError (broadcasts.BroadcastError)
    ├── RetryAfter       429: pause the whole channel for ``seconds``
    ├── Transient        5xx, timeouts, connection errors: retry with backoff
    ├── RecipientGone    403 (blocked, kicked, deactivated): deactivate the subscriber
    ├── EditImpossible   the message is too old or gone: send a correction instead
    ├── Rejected         any other 4xx: the message itself is bad, retrying will not help
    └── Unsupported      the channel cannot do this at all
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from broadcasts import BroadcastError, TextTooLong


class PublishError(BroadcastError):
    pass


class RetryAfter(PublishError):
    def __init__(self, seconds: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.seconds = seconds


class Transient(PublishError):
    pass


class RecipientGone(PublishError):
    pass


class EditImpossible(PublishError):
    pass


class Rejected(PublishError):
    pass


class Unsupported(PublishError):
    pass


@dataclass(frozen=True)
class Capabilities:
    send: bool
    edit: bool
    delete: bool
    push: bool  # True: the outbox delivers to recipients; False: clients read it (feeds, banner)
    max_text: int | None = None  # characters (Telegram counts UTF-16 code units)
    rate_per_second: float | None = None
    per_chat_interval: float | None = None  # seconds between two messages to one private chat
    group_per_minute: int | None = None
    edit_window: dt.timedelta | None = None  # older messages cannot be edited
    cannot: tuple[str, ...] = field(default_factory=tuple)  # what the channel cannot do, said plainly


def text_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


class Publisher(Protocol):
    name: str
    label: str  # German, for people
    capabilities: Capabilities

    def preview(self, text: str) -> str: ...

    def check(self, text: str) -> None:
        """Raise TextTooLong (naming the limit) when the text cannot be published on this channel."""

    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        """Send; return the provider's message id."""

    async def edit(self, target: str, message_id: str, text: str) -> None: ...

    async def delete(self, target: str, message_id: str) -> None: ...


class Checked:
    """Base for publishers: ``check`` against ``capabilities.max_text``."""

    name = ""
    label = ""
    capabilities = Capabilities(send=False, edit=False, delete=False, push=False)

    def check(self, text: str) -> None:
        limit = self.capabilities.max_text
        if limit is not None and text_length(text) > limit:
            raise TextTooLong(self.label, text_length(text), limit)


class _PullChannel(Checked):
    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        raise Unsupported(f"{self.label}: wird von den Lesern abgerufen, nicht zugestellt")

    async def edit(self, target: str, message_id: str, text: str) -> None:
        raise Unsupported(f"{self.label}: zeigt immer den aktuellen Stand")

    async def delete(self, target: str, message_id: str) -> None:
        raise Unsupported(f"{self.label}: zeigt nur veröffentlichte und aktive Einträge")


class FeedPublisher(_PullChannel):
    name = "feed"
    label = "RSS/Atom-Feed"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        cannot=(
            "Feed-Leser holen den Feed selbst ab; wann sie eine Änderung sehen, bestimmt ihr Abrufintervall.",
        ),
    )

    def preview(self, text: str) -> str:
        return text.strip().splitlines()[0][:120] if text.strip() else ""


class CapFeedPublisher(_PullChannel):
    name = "cap"
    label = "CAP-Feed"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        cannot=("Enthält nur Warnungen, keine Pressemitteilungen; beendete Warnungen fallen heraus.",),
    )

    def preview(self, text: str) -> str:
        return text


class BannerPublisher(_PullChannel):
    name = "banner"
    label = "Website-Banner"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        cannot=("Zeigt nur aktive Warnungen, keine Pressemitteilungen.",),
    )

    def preview(self, text: str) -> str:
        return text.strip().splitlines()[0] if text.strip() else ""


PULL_CHANNELS: tuple[_PullChannel, ...] = (FeedPublisher(), CapFeedPublisher(), BannerPublisher())
TELEGRAM_MAX_TEXT = 4096
