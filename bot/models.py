"""The conversation's tables: conversations under a pseudonym and their turns; retention and deletion."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.time import utcnow


class Conversation(Base):
    """One conversation, keyed by a pseudonym (HMAC of channel and the channel's id; no names, no IPs)."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    turns: Mapped[list[Turn]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True
    )


class Turn(Base):
    """One message in a conversation, its text with e-mail addresses, phone numbers and IBANs removed."""

    __tablename__ = "turns"
    __table_args__ = (Index("ix_turns_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    role: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    service_id: Mapped[str | None] = mapped_column(String(64))
    aspect: Mapped[str | None] = mapped_column(String(16))
    conversation: Mapped[Conversation] = relationship(back_populates="turns")


async def purge_conversations(
    sessions: async_sessionmaker[AsyncSession], older_than: dt.timedelta, now: dt.datetime | None = None
) -> int:
    """Delete conversations (and their turns) idle for longer than the retention; return how many."""
    cutoff = (now or utcnow()) - older_than
    async with sessions.begin() as session:
        ids = (await session.scalars(select(Conversation.id).where(Conversation.updated_at < cutoff))).all()
        if ids:
            await session.execute(delete(Turn).where(Turn.conversation_id.in_(ids)))
            await session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    return len(ids)


async def delete_conversation(sessions: async_sessionmaker[AsyncSession], conversation_id: str) -> bool:
    async with sessions.begin() as session:
        await session.execute(delete(Turn).where(Turn.conversation_id == conversation_id))
        result = await session.execute(delete(Conversation).where(Conversation.id == conversation_id))
    return bool(getattr(result, "rowcount", 0))
