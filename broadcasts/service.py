"""What the press office and the fire service can do, for the CLI and the HTTP API alike: create, schedule
and cancel posts; issue, update and cancel alerts. Every action, accepted or refused, is audited."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from broadcasts import InvalidRequest, InvalidState, NotFound, compose
from broadcasts.active import is_published
from broadcasts.alertrows import areas, columns, referenced_identifiers, to_cap
from broadcasts.berlin import show
from broadcasts.capmodel import CapAlert
from broadcasts.compose import ChannelPreview
from broadcasts.models import (
    PRIORITY_ALERT,
    PRIORITY_POST,
    Alert,
    AuditLog,
    Broadcast,
    Delivery,
    OutboundMessage,
)
from broadcasts.publishers import Channel, Kind, Outgoing, carrying, check_all
from broadcasts.states import (
    CANCELLABLE,
    ENDED,
    OPEN,
    SCHEDULABLE,
    AlertState,
    AuditOutcome,
    DeliveryState,
    FanoutState,
    MessageKind,
    PostState,
)
from broadcasts.subscribers import TOPICS
from broadcasts.texts import alert_text, all_clear_text, correction_text, post_text, update_text
from core.time import utcnow

log = logging.getLogger(__name__)
ALERT_TOPIC = "warnungen"


@dataclasses.dataclass(frozen=True)
class Actor:
    name: str  # who (user name, API sender id)
    role: str  # presse, feuerwehr, admin, system
    origin: str  # where from: "cli:<host>", "api:<address>"


SYSTEM = Actor("system", "system", "engine")


@dataclasses.dataclass(frozen=True)
class AlertResult:
    id: int
    identifier: str
    state: AlertState
    published: bool  # False for Test/Draft/System messages and non-public scope: stored, not sent
    duplicate: bool = False


def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target: str | None,
    details: dict[str, Any] | None = None,
    outcome: AuditOutcome = AuditOutcome.OK,
) -> None:
    session.add(
        AuditLog(
            actor=actor.name[:128],
            role=actor.role[:32],
            action=action,
            target=target,
            origin=actor.origin[:128],
            outcome=outcome,
            details=details or {},
        )
    )


async def audit_rejected(
    sessions: async_sessionmaker[AsyncSession],
    actor: Actor,
    action: str,
    target: str | None,
    reason: str,
    details: dict[str, Any] | None = None,
) -> None:
    """A refused request: nothing else is stored, but the attempt is."""
    async with sessions.begin() as session:
        _audit(
            session, actor, action, target, {"reason": reason[:500], **(details or {})}, AuditOutcome.REJECTED
        )


def _check_url(value: str | None, name: str) -> None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise InvalidRequest(f"{name} muss eine Web-Adresse sein, die mit https:// beginnt.")


def _fixed_post_texts(broadcast: Broadcast) -> dict[str, str]:
    """Texts written by our own rules for Telegram and the feed: Telegram shows the link (or the image
    URL, as the link preview) under the text; the feed shows it as the entry's link instead."""
    variants = broadcast.variants or {}
    return {
        "telegram": post_text(
            variants.get("telegram") or broadcast.text, broadcast.link, broadcast.image_url
        ),
        "feed": variants.get("feed") or broadcast.text,
    }


def post_outgoing(broadcast: Broadcast) -> Outgoing:
    return compose.post_outgoing(
        broadcast.topic, broadcast.text, broadcast.link, broadcast.image_url, broadcast.image_alt
    )


def broadcast_texts(broadcast: Broadcast, channels: Iterable[Channel] = ()) -> dict[str, str]:
    """A post's text per channel: the channel's own variant, else the post's text as the channel's rules
    derive it (``broadcasts.compose``). Without channels: Telegram's and the feed's texts."""
    chosen = compose.chosen(channels, "post", broadcast.channels)
    variants = {k: v for k, v in (broadcast.variants or {}).items() if v}
    texts = compose.texts_for(
        chosen, post_outgoing(broadcast), broadcast.text, variants, _fixed_post_texts(broadcast)
    )
    return texts


class Broadcasts:
    """``channels``: the channels the root switched on (``connectors.registry``). Texts are checked
    against each one's limits (``Channel.check``) when a post is scheduled or an alert accepted, and a
    post may have its own variant for each channel that carries posts."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        wake: Callable[[], None] | None = None,
        channels: Iterable[Channel] = (),
    ) -> None:
        self.sessions = sessions
        self._wake = wake or (lambda: None)
        self.channels: dict[str, Channel] = {c.name: c for c in channels}

    def check(self, kind: Kind, texts: Mapping[str, str], default: str) -> None:
        """Refuse a text over a channel's limit: ``TextTooLong`` names the channel and the limit. Each
        channel that carries ``kind`` is checked with its own text in ``texts``, else ``default``."""
        check_all(self.channels.values(), kind, texts, default)

    def _alert_texts(
        self, alert: CapAlert, kind: MessageKind, fixed: dict[str, str]
    ) -> tuple[list[Channel], Outgoing, dict[str, str]]:
        """The channels carrying alerts, the message's facts and each channel's text."""
        channels = compose.chosen(self.channels.values(), "alert", None)
        outgoing = compose.alert_outgoing(alert, kind)
        return (
            channels,
            outgoing,
            compose.texts_for(channels, outgoing, fixed.get("telegram", ""), fixed=fixed),
        )

    def _alert_message(
        self, alert: CapAlert, kind: MessageKind, fixed: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """Texts per channel and meta of an alert message; refused when a text is over a limit."""
        channels, outgoing, texts = self._alert_texts(alert, kind, fixed)
        compose.check_texts(channels, outgoing, texts)
        return texts, compose.meta_for(channels, outgoing) if channels else outgoing.meta()

    async def preview_post(
        self,
        text_: str,
        link: str | None = None,
        image_url: str | None = None,
        variants: Mapping[str, str] | None = None,
        channels: Sequence[str] | None = None,
        topic: str = "presse",
    ) -> list[ChannelPreview]:
        """Each chosen channel's exact text of a post (not stored), its length as the platform counts it
        and whether it fits."""
        draft = Broadcast(
            topic=topic,
            text=text_,
            link=link,
            image_url=image_url,
            variants={k: v for k, v in (variants or {}).items() if v},
            channels=list(channels) if channels is not None else None,
        )
        chosen = compose.chosen(self.channels.values(), "post", draft.channels)
        texts = broadcast_texts(draft, self.channels.values())
        return compose.previews(chosen, post_outgoing(draft), texts, draft.variants)

    async def preview_alert(self, alert: CapAlert) -> list[ChannelPreview]:
        """Each channel's exact text of a new alert (not stored)."""
        kind = {"Update": MessageKind.UPDATE, "Cancel": MessageKind.ALLCLEAR}.get(
            alert.msg_type, MessageKind.ALERT
        )
        if kind == MessageKind.UPDATE:
            fixed = {"telegram": update_text(alert)}
        elif kind == MessageKind.ALLCLEAR:
            fixed = {"telegram": all_clear_text(alert, alert)}
        else:
            fixed = {"telegram": alert_text(alert)}
        return compose.previews(*self._alert_texts(alert, kind, fixed))

    def _check_post(self, broadcast: Broadcast) -> None:
        chosen = compose.chosen(self.channels.values(), "post", broadcast.channels)
        outgoing = post_outgoing(broadcast)
        compose.check_texts(chosen, outgoing, broadcast_texts(broadcast, self.channels.values()))

    async def _check_daily_budget(
        self, session: AsyncSession, broadcast: Broadcast, when: dt.datetime
    ) -> None:
        """Channels with a daily post budget (X: ``X_DAILY_POSTS`` over a rolling 24 h): a press post that
        would exceed it is refused now, naming the budget. Alerts are never counted out: they always go."""
        for channel in compose.chosen(self.channels.values(), "post", broadcast.channels):
            budget = getattr(channel, "daily_posts", None)
            if not budget:
                continue
            start, end = when - dt.timedelta(hours=24), when + dt.timedelta(hours=24)
            sent = await session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.channel == channel.name,
                    Delivery.state == DeliveryState.SENT,
                    Delivery.sent_at > start.timestamp(),
                )
            )
            planned = (
                await session.scalars(
                    select(Broadcast).where(
                        Broadcast.state == PostState.SCHEDULED,
                        Broadcast.id != broadcast.id,
                        Broadcast.scheduled_at > start,
                        Broadcast.scheduled_at < end,
                    )
                )
            ).all()
            near = [
                b
                for b in planned
                if channel in compose.chosen([channel], "post", b.channels)
                and b.scheduled_at is not None
                and abs((b.scheduled_at - when).total_seconds()) < 24 * 3600
            ]
            if int(sent or 0) + len(near) + 1 > budget:
                raise InvalidRequest(
                    f"{channel.label} erlaubt {budget} Beiträge in 24 Stunden; in den 24 Stunden um "
                    f"{show(when)} sind schon {int(sent or 0) + len(near)} gesendet oder geplant. "
                    f"Bitte wählen Sie einen anderen Zeitpunkt oder lassen Sie {channel.label} weg."
                )

    # -- posts ---------------------------------------------------------------------------------------

    async def create(
        self,
        actor: Actor,
        topic: str,
        text_: str,
        link: str | None = None,
        image_url: str | None = None,
        variants: dict[str, str] | None = None,
        channels: Sequence[str] | None = None,
        image_alt: str | None = None,
    ) -> int:
        if topic not in TOPICS:
            raise InvalidRequest(f"Unbekanntes Thema „{topic}“. Möglich sind: {', '.join(TOPICS)}.")
        if not text_.strip():
            raise InvalidRequest("Der Text ist leer.")
        _check_url(link, "Der Link")
        _check_url(image_url, "Die Bild-Adresse")
        if image_url and not (image_alt or "").strip():
            raise InvalidRequest(
                "Bitte beschreiben Sie das Bild in einem Satz (Alternativtext): Menschen, die es nicht "
                "sehen, erfahren sonst nicht, was es zeigt."
            )
        possible = sorted(c.name for c in carrying(self.channels.values(), "post"))
        unknown = set(variants or {}) - set(possible)
        if unknown:
            raise InvalidRequest(
                f"Unbekannter oder nicht eingerichteter Kanal für eine eigene Fassung: "
                f"{', '.join(sorted(unknown))}. Möglich sind: {', '.join(possible) or 'keine'}."
            )
        if channels is not None:
            wrong = sorted(set(channels) - set(possible))
            if wrong:
                raise InvalidRequest(
                    f"Unbekannter oder nicht eingerichteter Kanal: {', '.join(wrong)}. "
                    f"Möglich sind: {', '.join(possible) or 'keine'}."
                )
            if not channels:
                raise InvalidRequest("Bitte wählen Sie mindestens einen Kanal.")
        async with self.sessions.begin() as session:
            broadcast = Broadcast(
                topic=topic,
                text=text_,
                link=link,
                image_url=image_url,
                variants=dict(variants or {}),
                channels=sorted(set(channels)) if channels is not None else None,
                image_alt=(image_alt or "").strip()[:1500] or None,
                state=PostState.DRAFT,
                created_by=actor.name[:64],
                role=actor.role[:32],
            )
            session.add(broadcast)
            await session.flush()
            _audit(session, actor, "broadcast.create", f"broadcast:{broadcast.id}", {"topic": topic})
            return broadcast.id

    async def schedule(self, actor: Actor, broadcast_id: int, at: dt.datetime | None = None) -> Broadcast:
        """Schedule (or reschedule) a draft; ``at`` None = now. Texts over a channel's limit are refused here."""
        now = utcnow()
        when = now if at is None else at.astimezone(dt.UTC)
        if when < now - dt.timedelta(minutes=1):
            raise InvalidRequest(
                f"Der Zeitpunkt {show(when)} liegt in der Vergangenheit. Bitte wählen Sie einen späteren."
            )
        async with self.sessions.begin() as session:
            broadcast = await session.get(Broadcast, broadcast_id, with_for_update=True)
            if broadcast is None:
                raise NotFound(f"Es gibt keine Meldung mit der Nummer {broadcast_id}.")
            if broadcast.state not in SCHEDULABLE:
                raise InvalidState(
                    f"Die Meldung {broadcast_id} ist bereits „{broadcast.state}“ und kann nicht mehr "
                    "eingeplant werden."
                )
            self._check_post(broadcast)
            await self._check_daily_budget(session, broadcast, when)
            broadcast.state, broadcast.scheduled_at, broadcast.updated_at = PostState.SCHEDULED, when, now
            _audit(
                session, actor, "broadcast.schedule", f"broadcast:{broadcast_id}", {"at": when.isoformat()}
            )
        self._wake()
        return broadcast

    async def cancel(self, actor: Actor, broadcast_id: int) -> Broadcast:
        async with self.sessions.begin() as session:
            broadcast = await session.get(Broadcast, broadcast_id, with_for_update=True)
            if broadcast is None:
                raise NotFound(f"Es gibt keine Meldung mit der Nummer {broadcast_id}.")
            if broadcast.state not in CANCELLABLE:
                raise InvalidState(
                    f"Die Meldung {broadcast_id} ist bereits „{broadcast.state}“; absagen geht nur vor "
                    "oder während des Versands."
                )
            before = broadcast.state
            broadcast.state, broadcast.updated_at = PostState.CANCELLED, utcnow()
            stopped = 0
            if before == PostState.SENDING:
                stopped = await _stop_messages(
                    session, select(OutboundMessage.id).where(OutboundMessage.broadcast_id == broadcast_id)
                )
            _audit(
                session,
                actor,
                "broadcast.cancel",
                f"broadcast:{broadcast_id}",
                {"was": before, "stopped_deliveries": stopped},
            )
        return broadcast

    async def get(self, broadcast_id: int) -> Broadcast:
        async with self.sessions() as session:
            broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise NotFound(f"Es gibt keine Meldung mit der Nummer {broadcast_id}.")
        return broadcast

    async def list(self, states: Sequence[PostState] = (), limit: int = 50) -> list[Broadcast]:
        async with self.sessions() as session:
            query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
            if states:
                query = query.where(Broadcast.state.in_(states))
            return list((await session.scalars(query)).all())

    # -- alerts --------------------------------------------------------------------------------------

    async def submit_alert(
        self, actor: Actor, alert: CapAlert, cap_xml: str, send: bool = True
    ) -> AlertResult:
        """Accept a CAP message: Alert (new), Update or Cancel (with references). ``send=False``: store
        and show it (banner, ``/api/alerts``, chat) but send nothing (warnings of other authorities that
        the city may not re-broadcast)."""
        if alert.msg_type == "Alert":
            return await self._issue(actor, alert, cap_xml, send)
        if alert.msg_type in ("Update", "Cancel"):
            return await self._follow_up(actor, alert, cap_xml, send)
        raise InvalidRequest(
            f"CAP-Nachrichten vom Typ „{alert.msg_type}“ werden nicht angenommen (nur Alert, Update, Cancel)."
        )

    async def _existing(self, session: AsyncSession, alert: CapAlert, cap_xml: str) -> AlertResult | None:
        row = await session.scalar(select(Alert).where(Alert.identifier == alert.identifier))
        if row is None:
            return None
        if row.cap_xml.strip() == cap_xml.strip():
            # the same message again (a retry after a timeout): accepted once, answered again
            return AlertResult(row.id, row.identifier, row.state, is_published(alert), duplicate=True)
        raise InvalidState(
            f"Eine andere Warnung mit der Kennung „{alert.identifier}“ wurde bereits angenommen. "
            "Jede CAP-Nachricht braucht eine eigene identifier."
        )

    async def _issue(self, actor: Actor, alert: CapAlert, cap_xml: str, send: bool = True) -> AlertResult:
        published = is_published(alert)
        texts, meta = self._alert_message(alert, MessageKind.ALERT, {"telegram": alert_text(alert)})
        try:
            async with self.sessions.begin() as session:
                existing = await self._existing(session, alert, cap_xml)
                if existing is not None:
                    return existing
                row = Alert(
                    **columns(alert),
                    cap_xml=cap_xml,
                    state=AlertState.ACTIVE,
                    created_by=actor.name[:64],
                    role=actor.role[:32],
                )
                session.add(row)
                await session.flush()
                if published and send:
                    session.add(
                        OutboundMessage(
                            kind=MessageKind.ALERT,
                            alert_id=row.id,
                            topic=ALERT_TOPIC,
                            stadtteile=areas(alert),
                            texts=texts,
                            meta=meta,
                            priority=PRIORITY_ALERT,
                            fanout_state=FanoutState.SUBSCRIBERS,
                        )
                    )
                _audit(
                    session,
                    actor,
                    "alert.issue",
                    f"alert:{alert.identifier}",
                    {
                        "id": row.id,
                        "status": alert.status,
                        "areas": areas(alert),
                        "sent": published and send,
                        "channels": sorted(meta.get("channels", []) + list(meta.get("targets", {}))),
                    },
                )
        except IntegrityError:
            async with self.sessions() as session:
                existing = await self._existing(session, alert, cap_xml)
            if existing is None:
                raise
            return existing
        self._wake()
        return AlertResult(row.id, row.identifier, row.state, published)

    async def _chain_head(self, session: AsyncSession, alert: CapAlert) -> tuple[Alert, Alert]:
        """(root, head) of the chain the references point to."""
        identifiers = referenced_identifiers(alert)
        if not identifiers:
            raise InvalidRequest(
                f"Eine CAP-Nachricht vom Typ {alert.msg_type} braucht references auf die frühere Warnung."
            )
        referenced = list(
            (await session.scalars(select(Alert).where(Alert.identifier.in_(identifiers)))).all()
        )
        if len(referenced) != len(set(identifiers)):
            missing = sorted(set(identifiers) - {r.identifier for r in referenced})
            raise NotFound(f"Die referenzierte Warnung ist unbekannt: {', '.join(missing)}.")
        roots = {r.root_id or r.id for r in referenced}
        if len(roots) != 1:
            raise InvalidRequest("Die references zeigen auf verschiedene Warnungen; bitte nur auf eine.")
        root_id = roots.pop()
        chain = list(
            (
                await session.scalars(
                    select(Alert)
                    .where((Alert.id == root_id) | (Alert.root_id == root_id))
                    .order_by(Alert.id)
                    .with_for_update()
                )
            ).all()
        )
        root = next(a for a in chain if a.id == root_id)
        head = chain[-1]
        if head.state in ENDED:
            raise InvalidState(
                f"Die Warnung „{root.identifier}“ ist bereits beendet ({head.state}) und kann nicht mehr "
                "geändert werden."
            )
        return root, head

    async def _follow_up(self, actor: Actor, alert: CapAlert, cap_xml: str, send: bool = True) -> AlertResult:
        try:
            async with self.sessions.begin() as session:
                existing = await self._existing(session, alert, cap_xml)
                if existing is not None:
                    return existing
                root, head = await self._chain_head(session, alert)
                published = is_published(root)
                state = AlertState.ACTIVE if alert.msg_type == "Update" else AlertState.CANCELLED
                if alert.msg_type == "Update":
                    texts, meta = self._alert_message(
                        alert, MessageKind.UPDATE, {"telegram": update_text(alert)}
                    )
                    texts["telegram:correction"] = correction_text(to_cap(root), alert)
                else:
                    shown = alert if alert.infos else to_cap(head)
                    texts, meta = self._alert_message(
                        dataclasses.replace(shown, identifier=alert.identifier, status=alert.status),
                        MessageKind.ALLCLEAR,
                        {"telegram": all_clear_text(alert, to_cap(head))},
                    )
                row = Alert(
                    **columns(alert),
                    cap_xml=cap_xml,
                    state=state,
                    root_id=root.id,
                    created_by=actor.name[:64],
                    role=actor.role[:32],
                )
                if alert.msg_type == "Cancel" and not alert.infos:
                    row.infos = head.infos
                session.add(row)
                await session.flush()
                chain_messages = select(OutboundMessage.id).where(OutboundMessage.alert_id == root.id)
                stopped = 0
                if alert.msg_type == "Update":
                    await session.execute(
                        update(Alert)
                        .where(((Alert.id == root.id) | (Alert.root_id == root.id)) & (Alert.id != row.id))
                        .where(Alert.state == AlertState.ACTIVE)
                        .values(state=AlertState.UPDATED, updated_at=utcnow())
                    )
                    # earlier fan-outs stop; the update reaches everyone they had not reached yet
                    await session.execute(
                        update(OutboundMessage)
                        .where(
                            OutboundMessage.alert_id == root.id,
                            OutboundMessage.fanout_state != FanoutState.DONE,
                        )
                        .values(fanout_state=FanoutState.DONE)
                    )
                else:
                    await session.execute(
                        update(Alert)
                        .where((Alert.id == root.id) | (Alert.root_id == root.id))
                        .values(state=AlertState.CANCELLED, updated_at=utcnow())
                    )
                    stopped = await _stop_messages(session, chain_messages)
                if published and send:
                    session.add(
                        OutboundMessage(
                            kind=MessageKind.UPDATE if alert.msg_type == "Update" else MessageKind.ALLCLEAR,
                            alert_id=root.id,
                            topic=ALERT_TOPIC,
                            stadtteile=areas(alert),
                            texts=texts,
                            meta=meta,
                            priority=PRIORITY_ALERT,
                            fanout_state=FanoutState.CHAIN,
                        )
                    )
                _audit(
                    session,
                    actor,
                    "alert.update" if alert.msg_type == "Update" else "alert.cancel",
                    f"alert:{root.identifier}",
                    {"id": row.id, "identifier": alert.identifier, "stopped_deliveries": stopped},
                )
        except IntegrityError:
            async with self.sessions() as session:
                existing = await self._existing(session, alert, cap_xml)
            if existing is None:
                raise
            return existing
        self._wake()
        return AlertResult(row.id, row.identifier, row.state, published)

    async def head_of(self, identifier_or_id: str) -> Alert:
        """The current message of the alert chain that ``identifier_or_id`` belongs to."""
        async with self.sessions() as session:
            query = select(Alert).where(Alert.identifier == identifier_or_id)
            row = await session.scalar(query)
            if row is None and identifier_or_id.isdigit():
                row = await session.get(Alert, int(identifier_or_id))
            if row is None:
                raise NotFound(f"Es gibt keine Warnung „{identifier_or_id}“.")
            root_id = row.root_id or row.id
            head = await session.scalar(
                select(Alert)
                .where((Alert.id == root_id) | (Alert.root_id == root_id))
                .order_by(Alert.id.desc())
                .limit(1)
            )
        assert head is not None
        return head


async def _stop_messages(session: AsyncSession, message_ids: Any) -> int:
    """Stop fan-out and every queued delivery of these messages (already sent ones stay sent)."""
    await session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(message_ids))
        .values(fanout_state=FanoutState.DONE)
    )
    result = await session.execute(
        update(Delivery)
        .where(Delivery.message_id.in_(message_ids), Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.CANCELLED, last_error="cancelled")
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- engine housekeeping, used by the scheduler --------------------------------------------------------


async def start_due_broadcasts(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime, channels: Sequence[Channel] = ()
) -> list[int]:
    """scheduled → sending for every post that is due, with its outbound message, in one transaction
    per post; a post cancelled meanwhile is skipped (the state check makes the transition atomic)."""
    started = []
    async with sessions() as session:
        due = list(
            (
                await session.scalars(
                    select(Broadcast.id)
                    .where(Broadcast.state == PostState.SCHEDULED, Broadcast.scheduled_at <= now)
                    .order_by(Broadcast.scheduled_at)
                    .limit(50)
                )
            ).all()
        )
    for broadcast_id in due:
        async with sessions.begin() as session:
            result = await session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id, Broadcast.state == PostState.SCHEDULED)
                .values(state=PostState.SENDING, started_at=utcnow(), updated_at=utcnow())
            )
            if not getattr(result, "rowcount", 0):
                continue  # cancelled, or another process took it
            broadcast = await session.get(Broadcast, broadcast_id)
            assert broadcast is not None
            session.add(
                OutboundMessage(
                    kind=MessageKind.POST,
                    broadcast_id=broadcast_id,
                    topic=broadcast.topic,
                    stadtteile=[],
                    texts=broadcast_texts(broadcast, channels),
                    meta=_post_meta(broadcast, channels),
                    priority=PRIORITY_POST,
                    fanout_state=FanoutState.SUBSCRIBERS,
                )
            )
            _audit(
                session,
                SYSTEM,
                "broadcast.start",
                f"broadcast:{broadcast_id}",
                {"scheduled_at": broadcast.scheduled_at.isoformat() if broadcast.scheduled_at else None},
            )
            started.append(broadcast_id)
    return started


def _post_meta(broadcast: Broadcast, channels: Sequence[Channel]) -> dict[str, Any]:
    outgoing = post_outgoing(broadcast)
    if not channels:
        return outgoing.meta()  # the fan-out's default: Telegram subscribers
    return compose.meta_for(compose.chosen(channels, "post", broadcast.channels), outgoing)


async def finish_broadcasts(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    """sending → sent / partly_failed once the fan-out is complete and nothing is queued or in flight."""
    finished = []
    async with sessions() as session:
        sending = list(
            (await session.scalars(select(Broadcast.id).where(Broadcast.state == PostState.SENDING))).all()
        )
    for broadcast_id in sending:
        async with sessions.begin() as session:
            messages = select(OutboundMessage.id).where(OutboundMessage.broadcast_id == broadcast_id)
            open_fanout = await session.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(
                    OutboundMessage.broadcast_id == broadcast_id,
                    OutboundMessage.fanout_state != FanoutState.DONE,
                )
            )
            if open_fanout:
                continue
            # while a post goes out, this runs every scheduler tick: one index probe for an open row
            # (ix_deliveries_message_state), not a count of all of a 100,000-row fan-out's deliveries
            still_open = await session.scalar(
                select(Delivery.id)
                .where(Delivery.message_id.in_(messages), Delivery.state.in_(OPEN))
                .limit(1)
            )
            if still_open is not None:
                continue
            counts = dict(
                (
                    await session.execute(
                        select(Delivery.state, func.count())
                        .where(Delivery.message_id.in_(messages))
                        .group_by(Delivery.state)
                    )
                ).all()
            )
            if any(counts.get(s) for s in OPEN):
                continue
            state = PostState.PARTLY_FAILED if counts.get(DeliveryState.FAILED) else PostState.SENT
            result = await session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id, Broadcast.state == PostState.SENDING)
                .values(state=state, finished_at=utcnow(), updated_at=utcnow())
            )
            if getattr(result, "rowcount", 0):
                _audit(
                    session,
                    SYSTEM,
                    f"broadcast.{state}",
                    f"broadcast:{broadcast_id}",
                    {k: int(v) for k, v in counts.items()},
                )
                finished.append(broadcast_id)
    return finished


async def expire_alerts(sessions: async_sessionmaker[AsyncSession], now: dt.datetime) -> list[str]:
    """Alerts past their expiry end by themselves: off the banner and feed, queued messages dropped."""
    ended = []
    async with sessions() as session:
        heads = list(
            (
                await session.scalars(
                    select(Alert).where(
                        Alert.state == AlertState.ACTIVE,
                        Alert.expires_at.is_not(None),
                        Alert.expires_at <= now,
                    )
                )
            ).all()
        )
    for head in heads:
        root_id = head.root_id or head.id
        async with sessions.begin() as session:
            result = await session.execute(
                update(Alert)
                .where(Alert.id == head.id, Alert.state == AlertState.ACTIVE)
                .values(state=AlertState.EXPIRED, updated_at=utcnow())
            )
            if not getattr(result, "rowcount", 0):
                continue
            await session.execute(
                update(Alert)
                .where((Alert.id == root_id) | (Alert.root_id == root_id), Alert.state == AlertState.UPDATED)
                .values(state=AlertState.EXPIRED, updated_at=utcnow())
            )
            stopped = await _stop_messages(
                session, select(OutboundMessage.id).where(OutboundMessage.alert_id == root_id)
            )
            _audit(
                session, SYSTEM, "alert.expired", f"alert:{head.identifier}", {"stopped_deliveries": stopped}
            )
            ended.append(head.identifier)
    return ended


async def pending_fanouts(engine: AsyncEngine) -> list[tuple[int, int]]:
    """(message id, priority) of the messages whose fan-out is not complete, alerts first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT id, priority FROM outbound_messages WHERE fanout_state != :done "
                "AND fanout_locked_until < :now ORDER BY priority, id LIMIT 20"
            ),
            {"now": time.time(), "done": FanoutState.DONE.value},
        )
        return [(int(r[0]), int(r[1])) for r in rows.all()]


async def purge_deliveries(sessions: async_sessionmaker[AsyncSession], older_than: dt.timedelta) -> int:
    """Forget who got what once it can no longer be needed: messages older than the retention whose
    alert (if any) has ended. Posts and alerts themselves stay (they are public)."""
    cutoff = utcnow() - older_than
    async with sessions.begin() as session:
        ended_alerts = select(Alert.id).where(Alert.root_id.is_(None), Alert.state.in_(ENDED))
        old = select(OutboundMessage.id).where(
            OutboundMessage.created_at < cutoff,
            (OutboundMessage.alert_id.is_(None)) | (OutboundMessage.alert_id.in_(ended_alerts)),
        )
        result = await session.execute(
            delete(Delivery).where(Delivery.message_id.in_(old), Delivery.state.not_in(OPEN))
        )
    return int(getattr(result, "rowcount", 0) or 0)
