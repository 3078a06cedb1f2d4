"""Conversation memory in the shared store: pseudonymous, redacted, purged after the retention period.

The hot path is one small write per answer: an upsert of the conversation's state and an insert of the two
turns, with SQLAlchemy Core in one transaction (the ORM unit of work cost more than the dialogue itself,
measured with cProfile). The state of recent conversations is also kept in a bounded in-memory cache
(write-through, so the database stays the source of truth); deletion and purging go through this class so
the cache never remembers what the database forgot. Several bot processes behind one load balancer need
sticky sessions or ``cache_size=0``.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import Conversation, Turn, delete_conversation, purge_conversations, utcnow
from bot.dialogue import State
from bot.events import Reply
from bot.privacy import redact


class ConversationStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache_size: int = 10_000) -> None:
        self._sessions = sessions
        self._cache_size = cache_size
        self._cache: OrderedDict[str, tuple[dt.datetime, dict[str, Any]]] = OrderedDict()

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    def _remember(self, conversation_id: str, state: dict[str, Any], when: dt.datetime) -> None:
        if self._cache_size <= 0:
            return
        self._cache[conversation_id] = (when, state)
        self._cache.move_to_end(conversation_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def load(self, conversation_id: str) -> State:
        cached = self._cache.get(conversation_id)
        if cached is not None:
            self._cache.move_to_end(conversation_id)
            return State.from_json(cached[1])
        async with self._sessions() as session:
            data = await session.scalar(select(Conversation.state).where(Conversation.id == conversation_id))
        return State.from_json(data)

    async def record(
        self,
        conversation_id: str,
        channel: str,
        state: State,
        user_text: str,
        reply: Reply,
        intent: str | None,
    ) -> None:
        now = utcnow()
        data = state.to_json()
        async with self._sessions.begin() as session:
            dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
            upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Conversation).values(
                id=conversation_id, channel=channel, created_at=now, updated_at=now, state=data
            )
            await session.execute(
                upsert.on_conflict_do_update(index_elements=["id"], set_={"state": data, "updated_at": now})
            )
            await session.execute(
                insert(Turn),
                [
                    {
                        "conversation_id": conversation_id,
                        "created_at": now,
                        "role": "user",
                        "text": redact(user_text),
                        "intent": intent,
                        "confidence": reply.confidence,
                        "service_id": reply.service_id,
                        "aspect": reply.aspect,
                        "kind": reply.kind,
                    },
                    {
                        "conversation_id": conversation_id,
                        "created_at": now,
                        "role": "bot",
                        "text": reply.text,
                        "intent": None,
                        "confidence": None,
                        "service_id": reply.service_id,
                        "aspect": reply.aspect,
                        "kind": reply.kind,
                    },
                ],
            )
        self._remember(conversation_id, data, now)

    async def delete(self, conversation_id: str) -> bool:
        """Forget a conversation: database rows (and what hangs on them) and the cached state."""
        self._cache.pop(conversation_id, None)
        return await delete_conversation(self._sessions, conversation_id)

    async def purge(self, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
        cutoff = (now or utcnow()) - older_than
        for conversation_id in [cid for cid, (when, _) in self._cache.items() if when < cutoff]:
            del self._cache[conversation_id]
        return await purge_conversations(self._sessions, older_than, now)
