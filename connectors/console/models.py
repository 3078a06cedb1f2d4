"""Storage of the staff console.

- ``ConsoleUser``: a member of staff (name unique, role ``redaktion``/``feuerwehr``/``admin``, argon2id
  hash). Users are managed with ``koblenz-bot users …``; none is seeded.
- ``ConsoleSession``: server-side sessions; only the SHA-256 of the cookie's token is stored.
- ``LoginAttempt``: sign-in attempts (account name as typed, lower case, and the client address) for the
  throttling; successful ones are kept too so that an operator can see them. Old rows are purged.
- ``Approval``: the four-eyes state of a press post (pending → approved | rejected | expired), with the
  wanted send time (``send_at``, UTC; None = as soon as it is approved).
- ``Submission``: the idempotency token of each form that creates something: a double click or a reload
  of the same form finds the token and shows what the first request created.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broadcasts.models import StateColumn, UTCDateTime
from core.db import Base
from core.time import utcnow

ROLES = ("redaktion", "feuerwehr", "admin")


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_name_at", "name", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean, default=False)


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    state: Mapped[ApprovalState] = mapped_column(StateColumn(ApprovalState), default=ApprovalState.PENDING)
    requested_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    send_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)  # requested
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class Submission(Base):
    __tablename__ = "console_submissions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # post, alert
    target: Mapped[int | None] = mapped_column(Integer, default=None)  # the broadcast's or alert's id
    image_alt: Mapped[str | None] = mapped_column(String(1000), default=None)  # a post's image's alt text
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
