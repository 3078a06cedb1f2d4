"""Typed, frozen events: the only currency between channels, the dialogue and broadcasts.

Channels translate their platform's payloads into ``IncomingMessage`` and render ``Reply`` back; they never
decide what to say.

A reply's body is structure, not markup: a tuple of blocks, each channel renders them its own way (HTML
``<b>`` on Telegram, DOM nodes in the widget, plain lines on the Rasa REST channel)::

    Title(text)           a card's heading: the service, the warning's headline
    Paragraph(text)       running text; a line break inside is kept (an address under a name)
    Bullets(items)        a list; in plain text each item is a "• " line

``Reply.text`` is the plain-text rendering of the blocks (what the JSON API's ``text`` field, the
conversation store and the CLI carry): blocks separated by a blank line, a list directly under the
block that introduces it (one ending in ":"). Links and quick replies stay beside the body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

ReplyKind = Literal["service", "alerts", "news", "subscribe", "unsubscribe", "handoff", "smalltalk", "fallback"]
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
class Title:
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = Title | Paragraph | Bullets
BULLET = "• "


def paragraphs(text: str) -> tuple[Block, ...]:
    """Plain text as blocks: one paragraph per blank-line-separated part (no markup is interpreted)."""
    return tuple(Paragraph(part.strip()) for part in text.split("\n\n") if part.strip())


def block_text(block: Block) -> str:
    if isinstance(block, Bullets):
        return "\n".join(BULLET + item for item in block.items)
    return block.text


def plain_text(blocks: Iterable[Block]) -> str:
    """The blocks as plain text, without any markup."""
    text = ""
    for block in blocks:
        rendered = block_text(block)
        if not rendered:
            continue
        if text:
            lead_in = isinstance(block, Bullets) and text.endswith(":")
            text += "\n" if lead_in else "\n\n"
        text += rendered
    return text


def block_dict(block: Block) -> dict[str, object]:
    """The JSON form: ``{"type": "title"|"paragraph", "text"}`` or ``{"type": "bullets", "items"}``."""
    if isinstance(block, Title):
        return {"type": "title", "text": block.text}
    if isinstance(block, Paragraph):
        return {"type": "paragraph", "text": block.text}
    return {"type": "bullets", "items": list(block.items)}


@dataclass(frozen=True)
class Reply:
    """What the bot says. ``blocks`` is the body; ``text`` its plain rendering, derived from the blocks.

    ``Reply("Hallo", "smalltalk")`` (a plain string, no blocks) makes paragraphs of the text; with
    ``Reply.of(blocks, kind, ...)`` the text is rendered from the blocks."""

    text: str
    kind: ReplyKind
    service_id: str | None = None
    aspect: str | None = None
    confidence: float | None = None
    links: tuple[Link, ...] = ()
    quick_replies: tuple[QuickReply, ...] = ()
    notices: tuple[str, ...] = field(default=())
    blocks: tuple[Block, ...] = ()

    def __post_init__(self) -> None:
        if not self.blocks:
            object.__setattr__(self, "blocks", paragraphs(self.text))
            return
        rendered = plain_text(self.blocks)
        if self.text and self.text != rendered:
            raise ValueError("Reply.text is rendered from the blocks; pass either text or blocks")
        object.__setattr__(self, "text", rendered)

    @classmethod
    def of(
        cls,
        blocks: Iterable[Block],
        kind: ReplyKind,
        *,
        service_id: str | None = None,
        aspect: str | None = None,
        confidence: float | None = None,
        links: tuple[Link, ...] = (),
        quick_replies: tuple[QuickReply, ...] = (),
        notices: tuple[str, ...] = (),
    ) -> Reply:
        return cls(
            "",
            kind,
            service_id=service_id,
            aspect=aspect,
            confidence=confidence,
            links=links,
            quick_replies=quick_replies,
            notices=notices,
            blocks=tuple(blocks),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "blocks": [block_dict(block) for block in self.blocks],
            "kind": self.kind,
            "service_id": self.service_id,
            "aspect": self.aspect,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "links": [{"title": link.title, "url": link.url, "kind": link.kind} for link in self.links],
            "quick_replies": [{"title": q.title, "payload": q.payload} for q in self.quick_replies],
            "notices": list(self.notices),
        }
