"""ChatService: the one entry point every channel uses (web API, Rasa REST, Telegram, CLI)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.conversations import ConversationStore
from bot.dialogue import Dialogue
from bot.events import IncomingMessage, Reply
from bot.privacy import pseudonym

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatResult:
    conversation_id: str
    reply: Reply


class ChatService:
    def __init__(self, dialogue: Dialogue, store: ConversationStore | None, pseudonym_key: str) -> None:
        self.dialogue = dialogue
        self.store = store
        self._key = pseudonym_key

    def conversation_id(self, channel: str, external_id: str) -> str:
        return pseudonym(self._key, channel, external_id)

    async def forget(self, channel: str, external_id: str) -> bool:
        """Delete everything stored about this conversation (the citizen's "Verlauf löschen", /stop)."""
        if self.store is None:
            return False
        return await self.store.delete(self.conversation_id(channel, external_id))

    async def chat(self, channel: str, external_id: str, text: str, payload: str | None = None) -> ChatResult:
        conversation_id = self.conversation_id(channel, external_id)
        state = await self.store.load(conversation_id) if self.store else None
        from bot.dialogue import State

        turn = await self.dialogue.handle(
            IncomingMessage(conversation_id, channel, text, payload), state or State()
        )
        if self.store is not None:
            try:
                await self.store.record(
                    conversation_id, channel, turn.state, turn.clean_text, turn.reply, turn.intent
                )
            except Exception:  # the citizen still gets the answer; the operator sees the failure
                log.exception("could not store conversation turn")
        return ChatResult(conversation_id, turn.reply)
