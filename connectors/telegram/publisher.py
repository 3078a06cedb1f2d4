"""Telegram as a broadcast channel: the outbox's publisher for subscribers (sendMessage, edit, delete).

It sends through the bot token's one ``TelegramClient`` (shared with the chat channel when the
composition root hands it over), so broadcasts and chat replies share the overall budget, the per-chat
pacing and the one error mapping (``errors.api_error``, to the engine's ``PublishError`` tree).

The outbox worker's dispatcher takes the overall turn before each call, so the calls here say
``turn_taken=True`` (the client takes a fresh one only when the chat made the message wait), and they
make one attempt: the worker decides about retries, pauses and deactivations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from broadcasts.publishers import Capabilities, Checked, Outgoing, Sent
from broadcasts.ratelimit import LocalSlots
from connectors.telegram.client import TelegramClient, chat_key
from connectors.telegram.limits import EDIT_WINDOW, GROUP_PER_MINUTE, MAX_TEXT, PER_CHAT_INTERVAL, RATE
from connectors.telegram.transport import WireTransport


class TelegramPublisher(Checked):
    name = "telegram"
    label = "Telegram"

    def __init__(
        self, api_url: str, token: str, rate: float = RATE, timeout: float = 10.0, connections: int = 100
    ) -> None:
        """A publisher over a client of its own (the ``worker`` command, which has no chat channel; closed
        with :meth:`close`); the composition root uses :meth:`over` with the token's one client instead."""
        self._init(
            TelegramClient(WireTransport(api_url, token, timeout, connections), LocalSlots(rate)), rate
        )
        self._owns_client = True

    @classmethod
    def over(cls, client: TelegramClient, rate: float = RATE) -> TelegramPublisher:
        """The publisher over the bot token's one client (shared with the chat channel)."""
        publisher = cls.__new__(cls)
        publisher._init(client, rate)
        publisher._owns_client = False
        return publisher

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()

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

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        return str((await self._send(target, text, reply_to))["message_id"])

    async def _send(self, target: str, text: str, reply_to: str | None) -> dict[str, Any]:
        """One attempt with the turn the worker took (it decides about retries, pauses, deactivation)."""
        return await self.client.send_message(
            chat_key(target),
            text,
            reply_to=int(reply_to) if reply_to is not None else None,
            turn_taken=True,
            attempts=1,
        )

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
        await self.client.edit_message_text(
            chat_key(target), int(message_id), text, turn_taken=True, attempts=1
        )

    async def delete(self, target: str, message_id: str) -> None:
        await self.client.delete_message(chat_key(target), int(message_id), turn_taken=True, attempts=1)


class TelegramChannelPublisher(TelegramPublisher):
    """The city's public Telegram channel (``KOBLENZ_BOT_TELEGRAM_CHANNEL``, e.g. ``@stadt_koblenz``): one
    post reaches every member. Updates edit it (within Telegram's 48 hours, else a correction answers it),
    the all-clear answers it. Same bot token, so the same client and budget as the subscribers' messages;
    a channel takes at most 20 posts per minute (the outbox paces it like a group)."""

    name = "telegram_channel"
    label = "Telegram-Kanal"

    def __init__(
        self, client: TelegramClient, channel: str, rate: float = RATE, owns_client: bool = False
    ) -> None:
        self._init(client, rate)
        self._owns_client = owns_client
        self.channel = channel
        self.capabilities = dataclasses.replace(
            self.capabilities,
            audience="once",
            cannot=(
                "Beiträge, die älter als 48 Stunden sind, können nicht mehr bearbeitet werden; "
                "stattdessen antwortet eine kurze Korrektur auf den Beitrag.",
            ),
        )

    def targets(self, event: str) -> list[str]:
        return [self.channel]

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        message = await self._send(target, text, reply_to)
        message_id = str(message["message_id"])
        username = target[1:] if target.startswith("@") else (message.get("chat") or {}).get("username")
        return Sent(message_id, f"https://t.me/{username}/{message_id}" if username else None)
