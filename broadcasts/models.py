"""Storage of the broadcast engine: press posts, CAP alerts, the outbox and the audit log.

- ``Broadcast``: a press post with its lifecycle (``broadcasts.states.PostState``: draft → scheduled →
  sending → sent / partly_failed / cancelled). ``scheduled_at`` is stored in UTC; people enter and read
  it in Europe/Berlin (``broadcasts.berlin``).
- ``Alert``: one CAP 1.2 message (identifier unique). An Update or Cancel is its own row that points at
  the first alert of its chain (``root_id``); the newest message of a chain is the one shown.
- ``OutboundMessage``: one text to fan out (a post, an alert, an update, an all-clear) with its texts per
  channel, the audience (topic, Stadtteile) and the progress of its fan-out (resumable after a crash).
- ``Delivery``: the outbox, one row per message, channel and recipient. The unique constraint
  ``(message_id, channel, chat_id)`` makes creating the fan-out idempotent.
- ``RateBucket``: the token bucket of a channel shared by every worker on PostgreSQL.
- ``AuditLog``: append-only (database triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from broadcasts.states import AlertState, AuditOutcome, DeliveryState, FanoutState, MessageKind, PostState
from core.db import Base
from core.time import utcnow


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on both databases (SQLite keeps no offset: naive UTC is stored, aware is read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


E = TypeVar("E", bound=StrEnum)


class StateColumn(TypeDecorator[E]):
    """A lifecycle enum (``broadcasts.states``) stored as its plain string value in a VARCHAR(16): the
    columns of migration 0004 unchanged. Writing a value outside the enum raises; reading gives the member."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


# Lower goes first: alerts and everything about them overtake queued posts.
PRIORITY_ALERT = 0
PRIORITY_POST = 10


class Broadcast(Base):
    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_state_scheduled", "state", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000), default=None)
    image_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    image_alt: Mapped[str | None] = mapped_column(String(1500), default=None)  # the image's alternative text
    # per-channel text variants, e.g. {"telegram": "kürzere Fassung"}; the channel's own text wins
    variants: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the channels chosen for this post (names); None = every channel that is on and carries posts
    channels: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    state: Mapped[PostState] = mapped_column(StateColumn(PostState), default=PostState.DRAFT)
    created_by: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_state_expires", "state", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    sender: Mapped[str] = mapped_column(String(255))
    sent: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(16))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    # one object per CAP info block (de required, en optional): category, event, urgency, severity,
    # certainty, headline, description, instruction, effective, onset, expires, web, contact, areas
    infos: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    stadtteile: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = the whole city
    cap_xml: Mapped[str] = mapped_column(Text)
    state: Mapped[AlertState] = mapped_column(StateColumn(AlertState), default=AlertState.ACTIVE)
    root_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), default=None, index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboundMessage(Base):
    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_messages_fanout", "fanout_state"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[MessageKind] = mapped_column(StateColumn(MessageKind))
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), default=None, index=True
    )
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), default=None, index=True
    )  # the first alert of the chain
    topic: Mapped[str] = mapped_column(String(32))
    stadtteile: Mapped[list[str]] = mapped_column(JSON, default=list)
    texts: Mapped[dict[str, str]] = mapped_column(JSON)  # per channel; "<channel>:correction" for updates
    # broadcasts.publishers.Outgoing.meta() plus "channels" (the subscriber channels it goes to) and
    # "targets" ({channel: [target, ...]} of the channels that post once per message)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    priority: Mapped[int] = mapped_column(Integer)
    fanout_state: Mapped[FanoutState] = mapped_column(
        StateColumn(FanoutState), default=FanoutState.SUBSCRIBERS
    )
    fanout_cursor: Mapped[int] = mapped_column(Integer, default=0)
    fanout_locked_until: Mapped[float] = mapped_column(Float, default=0.0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "channel", "chat_id", name="uq_deliveries_message_channel_chat"),
        Index("ix_deliveries_claim", "state", "priority", "id"),
        Index("ix_deliveries_chat", "channel", "chat_id", "state"),
        Index("ix_deliveries_message_state", "message_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(64))
    is_group: Mapped[bool] = mapped_column(Boolean, default=False)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), default=None, index=True
    )
    # an edit or all-clear refers to the delivery of the first message in that chat
    ref_delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), default=None, index=True
    )
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[DeliveryState] = mapped_column(StateColumn(DeliveryState), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)  # epoch seconds
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    public_url: Mapped[str | None] = mapped_column(String(500), default=None)  # the live post, if public
    locked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    locked_until: Mapped[float | None] = mapped_column(Float, default=None)  # epoch seconds
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[float | None] = mapped_column(Float, default=None)  # epoch seconds


class RateBucket(Base):
    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)  # epoch seconds
    paused_until: Mapped[float] = mapped_column(Float, default=0.0)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255), default=None)
    origin: Mapped[str] = mapped_column(String(128))  # "cli:<host>", "api:<address>", "worker:<id>"
    outcome: Mapped[AuditOutcome] = mapped_column(StateColumn(AuditOutcome), default=AuditOutcome.OK)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
