"""One text in, a fitting text per channel out.

A post or an alert becomes an ``OutboundMessage`` with

- ``texts``: the exact text per channel: the channel's own variant (posts: ``--variant x=…``; refused at
  scheduling time when over the channel's limit) or the common text derived by the channel's rules
  (``Channel.fit``: the full text when it fits, else the short form — headline, instruction, areas —
  cut between words, the link kept);
- ``meta``: the structured facts (``publishers.Outgoing.meta()``: kind, event, headline, severity, areas,
  instruction, link, image, exercise, identifier, authority) plus ``channels`` (the subscriber channels it
  goes to) and ``targets`` (``{channel: [target, ...]}`` of the channels that post once per message).

The same functions build the staff's previews (CLI ``broadcast preview``, the API, the console), so a
preview is exactly what goes out, with its length as the platform counts it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from broadcasts import TextTooLong
from broadcasts.capmodel import CapAlert
from broadcasts.publishers import Channel, Kind, Outgoing, carrying
from broadcasts.states import MessageKind
from broadcasts.texts import areas_text, post_text
from core.alerts import severity_label

EVENTS = {
    MessageKind.POST: "post.published",
    MessageKind.ALERT: "alert.issued",
    MessageKind.UPDATE: "alert.updated",
    MessageKind.ALLCLEAR: "alert.cancelled",
}


@dataclasses.dataclass(frozen=True)
class ChannelPreview:
    """What one channel will show: its exact text, the length as it counts and its limit."""

    name: str
    label: str
    text: str
    length: int
    limit: int | None
    ok: bool
    error: str | None = None
    variant: bool = False  # the staff's own text for this channel

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _exercise(alert: CapAlert) -> bool:
    return alert.status in ("Exercise", "Test")


def alert_outgoing(alert: CapAlert, kind: MessageKind) -> Outgoing:
    """The structured facts of an alert message (Alert, Update or the all-clear of a Cancel)."""
    info = alert.info("de") if alert.infos else None
    stadtteile = alert.stadtteile() if alert.infos else ()
    headline = info.headline if info else ""
    instruction = (info.instruction if info else "").strip()
    prefix = "ÜBUNG – " if _exercise(alert) else ""
    if kind == MessageKind.ALLCLEAR:
        summary = f"{prefix}✅ Entwarnung: {headline} – {areas_text(alert)}."
    else:
        marker = "🔄 Aktualisiert: " if kind == MessageKind.UPDATE else ""
        label = severity_label(info.severity) if info else "Warnung"
        first_sentence = instruction.split(". ")[0].rstrip(".") + "." if instruction else ""
        summary = f"{prefix}{marker}⚠️ {label}: {headline} – {areas_text(alert)}. {first_sentence}".strip()
    return Outgoing(
        kind=str(kind),
        event=EVENTS[kind],
        topic="warnungen",
        headline=headline,
        summary=summary,
        severity=info.severity if info else "",
        severity_label=severity_label(info.severity) if info else "",
        event_name=info.event if info else "",
        areas=tuple(stadtteile),
        instruction=instruction,
        link=(info.web if info else None) or None,
        exercise=_exercise(alert),
        identifier=alert.identifier,
        sender_name=(info.sender_name if info else "") or "Stadt Koblenz",
        sent=alert.sent.isoformat(),
    )


def post_outgoing(
    topic: str, body: str, link: str | None, image_url: str | None, image_alt: str | None = None
) -> Outgoing:
    first_line = body.strip().split("\n", 1)[0]
    return Outgoing(
        kind=str(MessageKind.POST),
        event=EVENTS[MessageKind.POST],
        topic=topic,
        headline=first_line[:200],
        summary=first_line,
        link=link,
        image_url=image_url,
        image_alt=image_alt,
        sender_name="Stadt Koblenz",
    )


def chosen(channels: Iterable[Channel], kind: Kind, names: Sequence[str] | None) -> list[Channel]:
    """The channels a message goes to: those carrying ``kind``, limited to ``names`` when given."""
    carriers = carrying(channels, kind)
    if names is None:
        return carriers
    wanted = set(names)
    return [c for c in carriers if c.name in wanted]


def channel_text(channel: Channel, outgoing: Outgoing, default: str, variants: Mapping[str, str]) -> str:
    own = variants.get(channel.name)
    if own:
        return post_text(own, outgoing.link, outgoing.image_url) if outgoing.kind == "post" else own
    return channel.fit(default, outgoing)


def texts_for(
    channels: Sequence[Channel],
    outgoing: Outgoing,
    default: str,
    variants: Mapping[str, str] | None = None,
    fixed: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The text per channel (``fixed``: texts already written for a channel, e.g. Telegram's)."""
    texts = dict(fixed or {})
    for channel in channels:
        if channel.name not in texts:
            texts[channel.name] = channel_text(channel, outgoing, default, variants or {})
    return texts


def check_texts(channels: Sequence[Channel], outgoing: Outgoing, texts: Mapping[str, str]) -> None:
    """Refuse a text over a channel's limit (``TextTooLong`` names the channel and the limit)."""
    for channel in channels:
        if channel.name in texts:
            channel.check(texts[channel.name], outgoing)


def meta_for(channels: Sequence[Channel], outgoing: Outgoing) -> dict[str, Any]:
    """``Outgoing.meta()`` with the audience: subscriber channels and once-per-message targets."""
    meta = outgoing.meta()
    meta["channels"] = [
        c.name for c in channels if c.capabilities.push and c.capabilities.audience == "subscribers"
    ]
    meta["targets"] = {
        c.name: c.targets(outgoing.event)
        for c in channels
        if c.capabilities.push and c.capabilities.audience == "once"
    }
    return meta


def previews(
    channels: Sequence[Channel],
    outgoing: Outgoing,
    texts: Mapping[str, str],
    variants: Mapping[str, str] | None = None,
) -> list[ChannelPreview]:
    result = []
    for channel in channels:
        body = texts.get(channel.name)
        if body is None:
            continue
        error = None
        try:
            channel.check(body, outgoing)
        except TextTooLong as exc:
            error = exc.message
        result.append(
            ChannelPreview(
                name=channel.name,
                label=channel.label,
                text=channel.preview(body),
                length=channel.length(body, outgoing),
                limit=channel.capabilities.max_text,
                ok=error is None,
                error=error,
                variant=bool((variants or {}).get(channel.name)),
            )
        )
    return result
