"""One publisher interface for every outbound channel: capabilities (send, edit, delete, push or pull,
posts and/or alerts), limits (text length, rates), a preview, and what the channel cannot do.

The engine knows channels only through these protocols. ``Channel`` is what can be known without
sending (capabilities, ``check``, ``preview``): the service checks texts through it when a post is
scheduled or an alert accepted. ``Publisher`` adds ``send``, ``edit`` and ``delete``. Each connector
package (``connectors/<name>/``) implements one and declares it to ``connectors.registry``, which opens
the channels whose settings are present and hands them to the engine.

Push channels (``capabilities.push``: Telegram subscribers, ...) are driven by the outbox workers. Pull
channels (RSS/Atom feed, CAP Atom feed, website banner) are read by their clients from the database: a post
or alert is on them as soon as it is published, changes with it and disappears with it, so they never get
an outbox row; the worker leaves them out (``push_only``) and their ``send`` refuses (``PullPublisher``).

Errors of the platforms are mapped in the connectors, at the boundary, to ``PublishError`` subclasses::

    PublishError (broadcasts.BroadcastError)
    ├── RetryAfter       429: pause the whole channel for ``seconds``
    ├── Transient        5xx, timeouts, connection errors: retry with backoff
    ├── RecipientGone    403 (blocked, kicked, deactivated): deactivate the subscriber
    ├── EditImpossible   the message is too old or gone: send a correction instead
    ├── Rejected         any other 4xx: the message itself is bad, retrying will not help
    └── Unsupported      the channel cannot do this at all (e.g. ``send`` on a pull channel)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

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
    posts: bool = True  # carries press posts
    alerts: bool = True  # carries alerts (and their updates and all-clears)
    max_text: int | None = None  # characters as the channel counts them (Telegram: UTF-16 code units)
    rate_per_second: float | None = None
    per_chat_interval: float | None = None  # seconds between two messages to one private chat
    group_per_minute: int | None = None
    edit_window: dt.timedelta | None = None  # older messages cannot be edited
    cannot: tuple[str, ...] = field(default_factory=tuple)  # what the channel cannot do, said plainly


def text_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


Kind = Literal["post", "alert"]


class Channel(Protocol):
    """What the engine needs of a channel without sending: checks at scheduling time and previews."""

    name: str  # the key of its texts and deliveries: "telegram", "feed", ...
    label: str  # German, for people
    capabilities: Capabilities

    def preview(self, text: str) -> str:
        """The text as this channel's readers will see it (plain text, for the staff's preview)."""
        ...

    def check(self, text: str) -> None:
        """Raise TextTooLong (naming the channel and the limit) when the text cannot go out here."""
        ...


class Publisher(Channel, Protocol):
    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        """Send; return the provider's message id."""
        ...

    async def edit(self, target: str, message_id: str, text: str) -> None: ...

    async def delete(self, target: str, message_id: str) -> None: ...


class Checked:
    """Base for publishers: ``check`` against ``capabilities.max_text`` (counted with ``length``);
    ``preview`` shows the text as it is."""

    name = ""
    label = ""
    capabilities = Capabilities(send=False, edit=False, delete=False, push=False)

    def length(self, text: str) -> int:
        return text_length(text)

    def check(self, text: str) -> None:
        limit = self.capabilities.max_text
        if limit is not None and self.length(text) > limit:
            raise TextTooLong(self.label, self.length(text), limit)

    def preview(self, text: str) -> str:
        return text


class PullPublisher(Checked):
    """Base for pull channels: clients read them from the database, so the outbox never calls ``send``;
    if anything does, it is refused (``Unsupported``)."""

    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        raise Unsupported(f"{self.label}: wird von den Lesern abgerufen, nicht zugestellt")

    async def edit(self, target: str, message_id: str, text: str) -> None:
        raise Unsupported(f"{self.label}: zeigt immer den aktuellen Stand")

    async def delete(self, target: str, message_id: str) -> None:
        raise Unsupported(f"{self.label}: zeigt nur veröffentlichte und aktive Einträge")


C = TypeVar("C", bound=Channel)


def push_only(channels: Mapping[str, C]) -> dict[str, C]:
    """The channels the outbox delivers to; pull channels are left out."""
    return {name: channel for name, channel in channels.items() if channel.capabilities.push}


def carrying(channels: Iterable[C], kind: Kind) -> list[C]:
    """The channels that carry posts (``kind="post"``) or alerts."""
    return [c for c in channels if (c.capabilities.posts if kind == "post" else c.capabilities.alerts)]


def check_all(channels: Iterable[Channel], kind: Kind, texts: Mapping[str, str], default: str) -> None:
    """Check the text of every channel that carries ``kind``: its own text in ``texts`` (keyed by channel
    name) or else ``default``. Raises the first channel's TextTooLong."""
    for channel in carrying(channels, kind):
        channel.check(texts.get(channel.name, default))


def previews(
    channels: Iterable[Channel], kind: Kind, texts: Mapping[str, str], default: str
) -> dict[str, str]:
    """Label → what readers of each channel carrying ``kind`` will see."""
    return {c.label: c.preview(texts.get(c.name, default)) for c in carrying(channels, kind)}
