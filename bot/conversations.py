"""Conversation memory in the shared store: pseudonymous, redacted, purged after the retention period."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import Conversation, Turn, utcnow
from bot.dialogue import State
from bot.events import Reply
from bot.privacy import redact


class ConversationStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self, conversation_id: str) -> State:
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            return State.from_json(conversation.state if conversation else None)

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
        async with self._sessions.begin() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                conversation = Conversation(id=conversation_id, channel=channel, created_at=now, state={})
                session.add(conversation)
            conversation.state = state.to_json()
            conversation.updated_at = now
            session.add_all(
                [
                    Turn(
                        conversation_id=conversation_id,
                        created_at=now,
                        role="user",
                        text=redact(user_text),
                        intent=intent,
                        confidence=reply.confidence,
                        service_id=reply.service_id,
                        aspect=reply.aspect,
                        kind=reply.kind,
                    ),
                    Turn(
                        conversation_id=conversation_id,
                        created_at=now,
                        role="bot",
                        text=reply.text,
                        kind=reply.kind,
                        service_id=reply.service_id,
                        aspect=reply.aspect,
                    ),
                ]
            )
