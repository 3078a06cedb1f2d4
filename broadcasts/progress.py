"""How a post or an alert is going out: per channel sent, pending, failed, the rate over the last minute,
an ETA, deliveries over time and the links to the live posts; and ``retry_failed`` to send the failed
deliveries again.

A post is every outbound message of its ``broadcast_id``; an alert is every message of its chain (the
alert, its updates and the all-clear share the ``alert_id`` of the chain's first alert). The staff console
shows these figures and streams them (``/console/api/progress/...``); ``as_dict`` is their JSON form.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from sqlalchemy import Integer, Select, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import NotFound
from broadcasts.models import Alert, Broadcast, Delivery, OutboundMessage
from broadcasts.states import OPEN, DeliveryState, FanoutState, PostState

MAX_BUCKETS = 60
MAX_LINKS = 5


@dataclasses.dataclass(frozen=True)
class ChannelProgress:
    channel: str
    sent: int
    pending: int  # queued or in flight
    failed: int
    deactivated: int  # the recipient left (blocked the bot)
    cancelled: int  # stopped (the post was cancelled, the alert lifted)
    rate_per_minute: int  # sent in the last 60 seconds
    eta_seconds: int | None  # None: pending but nothing sent in the last minute
    links: tuple[str, ...] = ()  # the live posts (public channels)

    @property
    def total(self) -> int:
        return self.sent + self.pending + self.failed + self.deactivated + self.cancelled


@dataclasses.dataclass(frozen=True)
class Progress:
    kind: str  # "post" or "alert"
    id: int  # the broadcast's id, or the id of the alert chain's first message
    channels: tuple[ChannelProgress, ...]
    bucket_seconds: int
    series: tuple[tuple[float, int], ...]  # (bucket start, epoch seconds; deliveries sent in it)
    fanout_running: bool  # recipients are still being added
    now: float

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.channels)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.channels)

    @property
    def running(self) -> bool:
        return self.fanout_running or self.pending > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "running": self.running,
            "fanout_running": self.fanout_running,
            "sent": self.sent,
            "pending": self.pending,
            "failed": self.failed,
            "channels": [
                {**dataclasses.asdict(c), "links": list(c.links), "total": c.total} for c in self.channels
            ],
            "bucket_seconds": self.bucket_seconds,
            "series": [{"at": at, "sent": count} for at, count in self.series],
        }


def _messages(kind: str, target_id: int) -> Select[int]:
    column = OutboundMessage.broadcast_id if kind == "post" else OutboundMessage.alert_id
    return select(OutboundMessage.id).where(column == target_id)


async def alert_root(session: AsyncSession, alert_id: int) -> int:
    row = await session.get(Alert, alert_id)
    if row is None:
        raise NotFound(f"Es gibt keine Warnung mit der Nummer {alert_id}.")
    return row.root_id or row.id


async def _target(session: AsyncSession, broadcast_id: int | None, alert_id: int | None) -> tuple[str, int]:
    if broadcast_id is not None:
        if await session.get(Broadcast, broadcast_id) is None:
            raise NotFound(f"Es gibt keine Meldung mit der Nummer {broadcast_id}.")
        return "post", broadcast_id
    if alert_id is not None:
        return "alert", await alert_root(session, alert_id)
    raise ValueError("broadcast_id or alert_id")


async def progress(
    sessions: async_sessionmaker[AsyncSession],
    *,
    broadcast_id: int | None = None,
    alert_id: int | None = None,
    now: float | None = None,
) -> Progress:
    """The figures of one post (``broadcast_id``) or one alert chain (any ``alert_id`` of it)."""
    now = time.time() if now is None else now
    async with sessions() as session:
        kind, target_id = await _target(session, broadcast_id, alert_id)
        messages = _messages(kind, target_id)
        mine = Delivery.message_id.in_(messages)
        counts = (
            await session.execute(
                select(Delivery.channel, Delivery.state, func.count())
                .where(mine)
                .group_by(Delivery.channel, Delivery.state)
            )
        ).all()
        recent = dict(
            (
                await session.execute(
                    select(Delivery.channel, func.count())
                    .where(mine, Delivery.sent_at > now - 60)
                    .group_by(Delivery.channel)
                )
            ).all()
        )
        link_rows = (
            await session.execute(
                select(Delivery.channel, Delivery.public_url)
                .where(mine, Delivery.public_url.is_not(None), Delivery.state == DeliveryState.SENT)
                .order_by(Delivery.id)
                .limit(200)
            )
        ).all()
        fanning = await session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.id.in_(messages), OutboundMessage.fanout_state != FanoutState.DONE)
        )
        first, last = (
            await session.execute(
                select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
                    mine, Delivery.sent_at.is_not(None)
                )
            )
        ).one()
        bucket = 10
        series: list[tuple[float, int]] = []
        if first is not None and last is not None:
            span = max(float(last) - float(first), 1.0)
            bucket = max(10, math.ceil(span / MAX_BUCKETS / 10) * 10)
            start = math.floor(float(first) / bucket) * bucket
            second = cast(Delivery.sent_at, Integer)  # whole seconds: rounding differs by database
            rows = (
                await session.execute(
                    select(second, func.count()).where(mine, Delivery.sent_at.is_not(None)).group_by(second)
                )
            ).all()
            by_index: dict[int, int] = {}
            for at, n in rows:
                i = max(0, int((int(at) - start) // bucket))
                by_index[i] = by_index.get(i, 0) + int(n)
            buckets = int((float(last) - start) // bucket) + 1
            series = [(start + i * bucket, by_index.get(i, 0)) for i in range(min(buckets, MAX_BUCKETS + 1))]
    per: dict[str, dict[str, int]] = {}
    for channel, state, count in counts:
        per.setdefault(channel, {s.value: 0 for s in DeliveryState})[DeliveryState(state).value] = int(count)
    links: dict[str, list[str]] = {}
    for channel, url in link_rows:
        found = links.setdefault(channel, [])
        if url and url not in found and len(found) < MAX_LINKS:
            found.append(url)
    channels = []
    for channel, row in sorted(per.items()):
        pending = sum(row[s.value] for s in OPEN)
        rate = int(recent.get(channel, 0))
        eta = 0 if not pending else (math.ceil(pending / (rate / 60)) if rate else None)
        channels.append(
            ChannelProgress(
                channel=channel,
                sent=row[DeliveryState.SENT.value],
                pending=pending,
                failed=row[DeliveryState.FAILED.value],
                deactivated=row[DeliveryState.DEACTIVATED.value],
                cancelled=row[DeliveryState.CANCELLED.value],
                rate_per_minute=rate,
                eta_seconds=eta,
                links=tuple(links.get(channel, ())),
            )
        )
    return Progress(kind, target_id, tuple(channels), bucket, tuple(series), bool(fanning), now)


async def retry_failed(
    sessions: async_sessionmaker[AsyncSession],
    *,
    broadcast_id: int | None = None,
    alert_id: int | None = None,
    channel: str | None = None,
) -> int:
    """Put the failed deliveries of a post or an alert chain (optionally of one channel) back in the
    queue, with fresh attempts; a post that had ended "partly failed" is sending again. Returns how many."""
    async with sessions.begin() as session:
        kind, target_id = await _target(session, broadcast_id, alert_id)
        query = update(Delivery).where(
            Delivery.message_id.in_(_messages(kind, target_id)), Delivery.state == DeliveryState.FAILED
        )
        if channel is not None:
            query = query.where(Delivery.channel == channel)
        result = await session.execute(
            query.values(
                state=DeliveryState.PENDING, attempts=0, next_attempt_at=0.0, last_error=None, locked_by=None
            )
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count and kind == "post":
            await session.execute(
                update(Broadcast)
                .where(Broadcast.id == target_id, Broadcast.state == PostState.PARTLY_FAILED)
                .values(state=PostState.SENDING, finished_at=None)
            )
    return count
