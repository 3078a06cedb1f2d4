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
    ├── RetryAfter       429: pause the whole channel (or one recipient) for ``seconds``
    ├── Transient        5xx, timeouts, connection errors: retry with backoff
    ├── RecipientGone    403 (blocked, kicked, deactivated): deactivate the subscriber
    ├── EditImpossible   the message is too old or gone: send a correction instead
    ├── Rejected         any other 4xx: the message itself is bad, retrying will not help
    └── Unsupported      the channel cannot do this at all (e.g. ``send`` on a pull channel)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from broadcasts import BroadcastError, TextTooLong


class PublishError(BroadcastError):
    pass


class RetryAfter(PublishError):
    """Wait ``seconds``: the whole channel pauses (one account, one limit), or, with
    ``whole_channel=False``, only this recipient (one of several webhook receivers said 429)."""

    def __init__(self, seconds: float, message: str = "rate limited", whole_channel: bool = True) -> None:
        super().__init__(message)
        self.seconds = seconds
        self.whole_channel = whole_channel


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
    # push channels: "subscribers" = one delivery per subscriber (Telegram chats); "once" = one delivery
    # per message and target (``Channel.targets``: X, Mastodon, Facebook, the Telegram channel, webhooks)
    audience: Literal["subscribers", "once"] = "subscribers"
    # how an update reaches a message that was sent: "edit" (within ``edit_window``; else a correction as
    # a reply), "replace" (delete it and post the update anew: X), "new" (a new post: Instagram, webhooks)
    on_update: Literal["edit", "replace", "new"] = "edit"
    # how an all-clear reaches it: "reply" (an answer to the alert's post) or "new" (a post of its own)
    on_allclear: Literal["reply", "new"] = "reply"


@dataclass(frozen=True)
class Outgoing:
    """What a channel may need beyond its text, for one delivery: structured facts of the message (from
    ``outbound_messages.meta``) and a key that is unique per delivery and stable across retries (an
    idempotency key, the webhook's ``X-Koblenz-Delivery``) for channels that post once per message
    (``audience="once"``); a subscriber channel's deliveries (up to 100,000 of one message) share the
    message's facts with an empty key. Publishers that only need the text ignore it."""

    kind: str  # broadcasts.states.MessageKind value: post, alert, update, allclear
    event: str  # post.published, alert.issued, alert.updated, alert.cancelled
    key: str = ""  # unique per delivery, stable across its retries ("" at scheduling time)
    message_id: int = 0
    topic: str = ""
    headline: str = ""  # alerts: the CAP headline; posts: empty
    summary: str = ""  # the short form (headline, instruction, areas) for channels with small limits
    severity: str = ""  # CAP severity word (Extreme, Severe, Moderate, Minor, Unknown); posts: ""
    severity_label: str = ""  # its German label (core.alerts.severity_label)
    event_name: str = ""  # CAP event, e.g. "Bombenentschärfung"; names a content warning
    areas: tuple[str, ...] = ()  # Stadtteile; () = the whole city
    instruction: str = ""
    link: str | None = None
    image_url: str | None = None
    image_alt: str | None = None
    exercise: bool = False  # CAP status Exercise/Test: everything marked ÜBUNG
    identifier: str | None = None  # the CAP identifier of the message (alerts)
    sender_name: str = ""  # the issuing authority, for people
    sent: str = ""  # ISO 8601 time of the message
    data: Mapping[str, Any] = field(default_factory=dict)  # the event's JSON payload (webhooks)

    def meta(self) -> dict[str, Any]:
        """The stored form (``outbound_messages.meta``), without the per-delivery key."""
        return {
            k: (list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v)
            for k, v in self.__dict__.items()
            if k not in ("key", "message_id")
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], key: str = "", message_id: int = 0) -> Outgoing:
        known = {f for f in cls.__dataclass_fields__ if f not in ("key", "message_id")}
        values = {k: v for k, v in meta.items() if k in known}
        if "areas" in values:
            values["areas"] = tuple(values["areas"] or ())
        values.setdefault("kind", "post")
        values.setdefault("event", "post.published")
        return cls(key=key, message_id=message_id, **values)


@dataclass(frozen=True)
class Sent:
    """What ``send`` may return instead of the bare provider id: the id and the public link to the post."""

    id: str
    url: str | None = None


def fit_text(text: str, limit: int | None, length: Callable[[str], int], link: str | None = None) -> str:
    """``text`` shortened to ``limit`` as ``length`` counts: cut only between words, with "…", and
    ``link`` kept whole at the end (added when missing). Unchanged when it fits."""
    text = text.strip()
    if link and link not in text:
        text = f"{text}\n\n{link}"
    if limit is None or length(text) <= limit:
        return text
    body = text.replace(link, "").rstrip() if link else text
    tail = f"\n\n{link}" if link else ""
    words = body.split(" ")
    while words:
        words.pop()
        candidate = " ".join(words).rstrip(" ,;:-–\n") + "…" + tail
        if length(candidate) <= limit:
            return candidate
    return tail.strip() or text[:1]


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

    def length(self, text: str, outgoing: Outgoing | None = None) -> int:
        """The length of ``text`` as this platform counts it (with what ``outgoing`` adds, e.g. a content
        warning)."""
        ...

    def check(self, text: str, outgoing: Outgoing | None = None) -> None:
        """Raise TextTooLong (naming the channel and the limit) when the text cannot go out here."""
        ...

    def fit(self, text: str, outgoing: Outgoing) -> str:
        """This channel's text derived by rules from the common ``text`` (the short ``outgoing.summary``
        when the full text is too long; cut between words; the link kept)."""
        ...

    def targets(self, event: str) -> list[str]:
        """For ``audience="once"`` channels: where a message of ``event`` goes (``[name]``; a webhook
        channel: every configured receiver that wants the event)."""
        ...


class Publisher(Channel, Protocol):
    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        """Send; return the provider's message id (or ``Sent`` with the public link)."""
        ...

    async def edit(
        self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None
    ) -> None: ...

    async def delete(self, target: str, message_id: str) -> None: ...


class Checked:
    """Base for publishers: ``check`` against ``capabilities.max_text`` (counted with ``length``);
    ``preview`` shows the text as it is."""

    name = ""
    label = ""
    capabilities = Capabilities(send=False, edit=False, delete=False, push=False)

    def length(self, text: str, outgoing: Outgoing | None = None) -> int:
        return text_length(text)

    def check(self, text: str, outgoing: Outgoing | None = None) -> None:
        limit = self.capabilities.max_text
        if limit is not None and self.length(text, outgoing) > limit:
            raise TextTooLong(self.label, self.length(text, outgoing), limit)

    def preview(self, text: str) -> str:
        return text

    def fit(self, text: str, outgoing: Outgoing) -> str:
        limit = self.capabilities.max_text
        if limit is None:
            return text
        room = limit - (self.length("", outgoing) - self.length(""))  # what outgoing adds (a warning)

        def count(candidate: str) -> int:
            return self.length(candidate)

        full = fit_text(text, None, count, outgoing.link)  # the link added, nothing cut
        if count(full) <= room:
            return full
        return fit_text(outgoing.summary or text, room, count, outgoing.link)

    def targets(self, event: str) -> list[str]:
        return [self.name]


class PullPublisher(Checked):
    """Base for pull channels: clients read them from the database, so the outbox never calls ``send``;
    if anything does, it is refused (``Unsupported``)."""

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        raise Unsupported(f"{self.label}: wird von den Lesern abgerufen, nicht zugestellt")

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
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
