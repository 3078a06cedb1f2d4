"""The lifecycle states of the broadcast engine, each defined once.

They are ``StrEnum``s: a member *is* its string, so the values stored in the database (plain
``VARCHAR(16)`` columns since migration 0004, no CHECK constraint) stay exactly what they were, raw SQL
takes them as bind parameters or f-string values, and JSON shows the plain value.

::

    PostState       draft → scheduled → sending → sent | partly_failed;  draft/scheduled/sending → cancelled
    AlertState      active → updated (an Update superseded it) | cancelled | expired
    MessageKind     post, alert, update (edits what was sent), allclear (answers it)
    FanoutState     chain (updates, all-clears: who got the alert) → subscribers → done
    DeliveryState   pending → in_flight → sent | failed | deactivated | cancelled  (in_flight → pending on
                    retry or when a dead worker's lease runs out)
    AuditOutcome    ok, rejected
"""

from __future__ import annotations

from enum import StrEnum


class PostState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    PARTLY_FAILED = "partly_failed"
    CANCELLED = "cancelled"


# a post may still be (re)scheduled / cancelled in these states; posts in these are on the feeds
SCHEDULABLE = (PostState.DRAFT, PostState.SCHEDULED)
CANCELLABLE = (PostState.DRAFT, PostState.SCHEDULED, PostState.SENDING)
PUBLISHED = (PostState.SENDING, PostState.SENT, PostState.PARTLY_FAILED)


class AlertState(StrEnum):
    ACTIVE = "active"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


ENDED = (AlertState.CANCELLED, AlertState.EXPIRED)


class MessageKind(StrEnum):
    POST = "post"
    ALERT = "alert"
    UPDATE = "update"
    ALLCLEAR = "allclear"


class FanoutState(StrEnum):
    CHAIN = "chain"
    SUBSCRIBERS = "subscribers"
    DONE = "done"


class DeliveryState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    DEACTIVATED = "deactivated"
    CANCELLED = "cancelled"


OPEN = (DeliveryState.PENDING, DeliveryState.IN_FLIGHT)
FINAL = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.DEACTIVATED, DeliveryState.CANCELLED)


class AuditOutcome(StrEnum):
    OK = "ok"
    REJECTED = "rejected"


def sql_list(states: tuple[StrEnum, ...]) -> str:
    """``('a', 'b')`` for raw SQL text; the values are our own constants, never user input."""
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"
