"""Storage: SQLAlchemy 2 (async) models of the bot, the engine, Alembic migrations and retention.

SQLite (aiosqlite) is the embedded default; PostgreSQL (asyncpg) works the same. The schema is owned by
Alembic (``migrations/``); ``migrate()`` brings any database to the newest revision at start-up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Text, delete, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


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


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across app crashes, fast commits
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to the newest Alembic revision."""

    def _upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


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
