"""Typed, frozen events: the only currency between channels, the dialogue and broadcasts.

Channels translate their platform's payloads into ``IncomingMessage`` and render ``Reply`` back; they never
decide what to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ReplyKind = Literal["service", "alerts", "subscribe", "unsubscribe", "handoff", "smalltalk", "fallback"]
LinkKind = Literal["info", "online", "appointment", "payment", "form", "contact"]


@dataclass(frozen=True)
class IncomingMessage:
    """A citizen's message. ``conversation_id`` is already pseudonymous; ``payload`` is a button's payload."""

    conversation_id: str
    channel: str
    text: str
    payload: str | None = None


@dataclass(frozen=True)
class Link:
    title: str
    url: str
    kind: LinkKind


@dataclass(frozen=True)
class QuickReply:
    """A button that sends ``payload`` back as the next message (e.g. ``svc:reisepass:fees``)."""

    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    kind: ReplyKind
    service_id: str | None = None
    aspect: str | None = None
    confidence: float | None = None
    links: tuple[Link, ...] = ()
    quick_replies: tuple[QuickReply, ...] = ()
    notices: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "kind": self.kind,
            "service_id": self.service_id,
            "aspect": self.aspect,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "links": [{"title": link.title, "url": link.url, "kind": link.kind} for link in self.links],
            "quick_replies": [{"title": q.title, "payload": q.payload} for q in self.quick_replies],
            "notices": list(self.notices),
        }
