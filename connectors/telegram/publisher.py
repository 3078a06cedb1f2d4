"""Telegram as a broadcast channel: the outbox's publisher for subscribers (sendMessage, edit, delete).

It sends through the bot token's one ``TelegramClient`` (shared with the chat channel when the
composition root hands it over), so broadcasts and chat replies share the overall budget, the per-chat
pacing and the one error mapping (``errors.api_error``, to the engine's ``PublishError`` tree).

The outbox worker's dispatcher takes the overall turn before each call, so the calls here say
``turn_taken=True`` (the client takes a fresh one only when the chat made the message wait), and they
make one attempt: the worker decides about retries, pauses and deactivations.
"""

from __future__ import annotations

import aiohttp

from broadcasts.publishers import Capabilities, Checked
from broadcasts.ratelimit import LocalSlots
from connectors.telegram.client import TelegramClient, chat_key
from connectors.telegram.limits import EDIT_WINDOW, GROUP_PER_MINUTE, MAX_TEXT, PER_CHAT_INTERVAL, RATE
from connectors.telegram.transport import AiohttpTransport


class TelegramPublisher(Checked):
    name = "telegram"
    label = "Telegram"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        token: str,
        rate: float = RATE,
        timeout: float = 10.0,
    ) -> None:
        """A publisher over a client of its own on ``session`` (the ``worker`` command, which has no chat
        channel); the composition root uses :meth:`over` with the token's one client instead."""
        self._init(TelegramClient(AiohttpTransport(session, api_url, token, timeout), LocalSlots(rate)), rate)

    @classmethod
    def over(cls, client: TelegramClient, rate: float = RATE) -> TelegramPublisher:
        """The publisher over the bot token's one client (shared with the chat channel)."""
        publisher = cls.__new__(cls)
        publisher._init(client, rate)
        return publisher

    def _init(self, client: TelegramClient, rate: float) -> None:
        self.client = client
        self.capabilities = Capabilities(
            send=True,
            edit=True,
            delete=True,
            push=True,
            max_text=MAX_TEXT,
            rate_per_second=rate,
            per_chat_interval=PER_CHAT_INTERVAL,
            group_per_minute=GROUP_PER_MINUTE,
            edit_window=EDIT_WINDOW,
            cannot=(
                "Nachrichten, die älter als 48 Stunden sind, können nicht mehr bearbeitet oder gelöscht "
                "werden; stattdessen geht eine kurze Korrektur als Antwort auf die erste Nachricht raus.",
                "Bilder werden als Link-Vorschau gezeigt, nicht als eigenes Foto.",
            ),
        )

    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        message = await self.client.send_message(
            chat_key(target),
            text,
            reply_to=int(reply_to) if reply_to is not None else None,
            turn_taken=True,
            attempts=1,
        )
        return str(message["message_id"])

    async def edit(self, target: str, message_id: str, text: str) -> None:
        await self.client.edit_message_text(
            chat_key(target), int(message_id), text, turn_taken=True, attempts=1
        )

    async def delete(self, target: str, message_id: str) -> None:
        await self.client.delete_message(chat_key(target), int(message_id), turn_taken=True, attempts=1)
