"""Conversation memory in the shared store: pseudonymous, redacted, purged after the retention period.

The hot path is one small write per answer: an upsert of the conversation's state and an insert of the two
turns, with SQLAlchemy Core (the ORM unit of work cost more than the dialogue itself, measured with
cProfile). Concurrent answers are committed together (group commit, ``_drain``): under load one
transaction carries many answers instead of each waiting for SQLite's single write lock; every answer is
still committed before it is returned. The state of recent conversations is also kept in a bounded in-memory cache
(write-through, so the database stays the source of truth); deletion and purging go through this class so
the cache never remembers what the database forgot. Several bot processes behind one load balancer need
sticky sessions or ``cache_size=0``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue import State
from bot.events import Reply
from bot.models import Conversation, Turn, delete_conversation, purge_conversations
from bot.privacy import redact
from core.time import utcnow


@dataclass
class _Pending:
    conversation: dict[str, Any]
    turns: list[dict[str, Any]]
    done: asyncio.Future[None]


def _settle(pending: _Pending, error: BaseException | None) -> None:
    if pending.done.done():  # the request was cancelled (citizen went away); the write still happened
        return
    if error is None:
        pending.done.set_result(None)
    else:
        pending.done.set_exception(error)


class ConversationStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], cache_size: int = 10_000, max_batch: int = 256
    ) -> None:
        self._sessions = sessions
        self._cache_size = cache_size
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
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
        """Store one answer; returns once it is committed (together with the answers written alongside)."""
        now = utcnow()
        data = state.to_json()
        pending = _Pending(
            conversation={
                "id": conversation_id,
                "channel": channel,
                "created_at": now,
                "updated_at": now,
                "state": data,
            },
            turns=[
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
            done=asyncio.get_running_loop().create_future(),
        )
        self._queue.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="conversation-writer")
        await pending.done
        self._remember(conversation_id, data, now)

    async def _drain(self) -> None:
        """Group commit: write everything queued in one transaction, until the queue is empty.

        Concurrent answers share a transaction instead of queueing for SQLite's single write lock (or one
        PostgreSQL commit each). Answers that arrive while a batch is written form the next batch. If a batch
        fails, its answers are retried one by one, so one bad row never costs the others.
        """
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            try:
                await self._write(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0], exc)
                    continue
                for one in batch:
                    try:
                        await self._write([one])
                    except Exception as single:
                        _settle(one, single)
                    else:
                        _settle(one, None)
            else:
                for one in batch:
                    _settle(one, None)

    async def _write(self, batch: list[_Pending]) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for one in batch:  # one row per conversation and statement (PostgreSQL refuses to upsert a row twice)
            row = one.conversation
            first = latest.get(row["id"])
            latest[row["id"]] = {**row, "created_at": first["created_at"]} if first else row
        async with self._sessions.begin() as session:
            connection = await session.connection()
            dialect = connection.dialect.name
            upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Conversation)
            await connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=["id"],
                    set_={"state": upsert.excluded.state, "updated_at": upsert.excluded.updated_at},
                ),
                list(latest.values()),
            )
            await connection.execute(insert(Turn), [turn for one in batch for turn in one.turns])

    async def flush(self) -> None:
        """Wait until every answer queued so far is written."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def delete(self, conversation_id: str) -> bool:
        """Forget a conversation: database rows (and what hangs on them) and the cached state."""
        await self.flush()  # an answer still being written must not bring the conversation back
        self._cache.pop(conversation_id, None)
        return await delete_conversation(self._sessions, conversation_id)

    async def purge(self, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
        cutoff = (now or utcnow()) - older_than
        for conversation_id in [cid for cid, (when, _) in self._cache.items() if when < cutoff]:
            del self._cache[conversation_id]
        return await purge_conversations(self._sessions, older_than, now)
