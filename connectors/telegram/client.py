"""The one Telegram client of a bot token: every Bot API call of the bot goes through it (chat replies,
subscription screens, callback answers, polling, broadcasts and, next, channel posts).

It keeps all of Telegram's send limits in one place, composed around the transport (never inherited):

- overall, per bot token: the ``Slots`` of ``broadcasts.ratelimit`` that the composition root creates
  once per token and shares with the outbox worker (in memory, or one row in PostgreSQL for every worker
  process), so chat replies and broadcasts take their turns from one budget;
- per chat: ``broadcasts.ratelimit.ChatPacer`` (one message per second to a chat, 20 per minute to a
  group, supergroup or channel), shared by replies and broadcasts to the same chat;
- order: a chat's calls go out one after the other, in the order they were made.

Each message first waits for its chat, then takes the overall turn as the last step before the write. The
outbox worker takes the overall turn in its dispatcher (it picks the most urgent row at that moment) and
says so with ``turn_taken=True``; if the chat is busy (a reply just went there, or a group's minute is
full), that turn is let go and a fresh one is taken after the chat's wait, so no write lands late in
somebody else's second.

Answers are read by the one mapping ``errors.api_error``. A 429 pauses the token's budget (every worker)
and the chat; chat replies wait it out and retry (``attempts``), and retry network errors and 5xx with
backoff; the outbox worker calls with ``attempts=1`` and decides itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from telegram import TelegramObject

from broadcasts.publishers import RetryAfter, Transient
from broadcasts.ratelimit import ChatPacer, Clock, LocalSlots, Sleep, Slots
from connectors.telegram.errors import api_error
from connectors.telegram.limits import GROUP_PER_MINUTE, PER_CHAT_INTERVAL
from connectors.telegram.transport import Transport, WireTransport
from core.settings import Settings

__all__ = ["ChatId", "TelegramClient", "open_client"]

log = logging.getLogger(__name__)
ChatId = int | str
Markup = TelegramObject | dict[str, Any] | None
SEND_METHODS = frozenset({"sendMessage"})


def chat_key(chat_id: ChatId) -> ChatId:
    """Numeric chat ids as int (``"-100123"`` → -100123), ``@channelusername`` as it is."""
    if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
        return int(chat_id)
    return chat_id


@dataclass
class _Chat:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class TelegramClient:
    def __init__(
        self,
        transport: Transport,
        budget: Slots,
        pacer: ChatPacer | None = None,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.transport = transport
        self.budget = budget
        self.pacer = pacer or ChatPacer(PER_CHAT_INTERVAL, GROUP_PER_MINUTE, clock=clock, sleep=sleep)
        self.attempts = attempts
        self.backoff = backoff
        self.stats: Counter[str] = Counter()
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[ChatId, _Chat] = {}
        self._turns = asyncio.Lock()  # the client's callers queue for the overall turn in order

    # -- calls ---------------------------------------------------------------------------------------

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """One Bot API call, unpaced (``getMe``, ``getUpdates``, ``setMyCommands``, ...): its ``result``,
        or the mapped ``PublishError``."""
        status, body = await self.transport.post(method, params or {}, timeout)
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        error = api_error(method, status, body)
        if error is None:
            return None
        raise error

    async def get_me(self) -> dict[str, Any]:
        me = await self.call("getMe")
        if not isinstance(me, dict) or "id" not in me:
            raise Transient("getMe: answer without the bot's id")
        return me

    async def send_message(
        self,
        chat_id: ChatId,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_markup: Markup = None,
        reply_to: int | None = None,
        turn_taken: bool = False,
        attempts: int | None = None,
    ) -> dict[str, Any]:
        """Send a message (paced for its chat and the token); return Telegram's Message as a dict."""
        chat = chat_key(chat_id)
        params: dict[str, Any] = {"chat_id": chat, "text": text}
        if parse_mode is not None:
            params["parse_mode"] = parse_mode
        if reply_markup is not None:
            params["reply_markup"] = _markup(reply_markup)
        if reply_to is not None:
            params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        result = await self._paced("sendMessage", params, chat, turn_taken, attempts)
        if not isinstance(result, dict) or "message_id" not in result:
            raise Transient("sendMessage: answer without message_id")
        return result

    async def edit_message_text(
        self,
        chat_id: ChatId,
        message_id: int,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_markup: Markup = None,
        turn_taken: bool = False,
        attempts: int | None = None,
    ) -> None:
        """Edit a message in place (``EditImpossible`` when it is gone or too old to edit)."""
        chat = chat_key(chat_id)
        params: dict[str, Any] = {"chat_id": chat, "message_id": message_id, "text": text}
        if parse_mode is not None:
            params["parse_mode"] = parse_mode
        if reply_markup is not None:
            params["reply_markup"] = _markup(reply_markup)
        await self._paced("editMessageText", params, chat, turn_taken, attempts)

    async def delete_message(
        self, chat_id: ChatId, message_id: int, *, turn_taken: bool = False, attempts: int | None = None
    ) -> None:
        chat = chat_key(chat_id)
        params = {"chat_id": chat, "message_id": message_id}
        await self._paced("deleteMessage", params, chat, turn_taken, attempts)

    async def answer_callback_query(
        self, query_id: str, text: str | None = None, show_alert: bool = False
    ) -> None:
        """Stop a button's spinner (not a message: no turn is taken)."""
        params: dict[str, Any] = {"callback_query_id": query_id}
        if text:
            params["text"] = text
        if show_alert:
            params["show_alert"] = True
        await self.call("answerCallbackQuery", params)

    async def close(self) -> None:
        """Close the connections (the client is not used afterwards)."""
        await self.transport.close()

    # -- pacing ---------------------------------------------------------------------------------------

    async def _paced(
        self, method: str, params: dict[str, Any], chat: ChatId, turn_taken: bool, attempts: int | None
    ) -> Any:
        counts_for_chat = method in SEND_METHODS  # Telegram's per-chat limits count messages, not edits
        slot = self._chats.get(chat)
        if slot is None:
            slot = self._chats[chat] = _Chat()
        slot.users += 1
        try:
            # a turn the caller took is good for a write right now only: not after waiting for the chat
            fresh = not turn_taken or slot.lock.locked() or (counts_for_chat and self.pacer.delay(chat) > 0)
            async with slot.lock:
                tries = attempts or self.attempts
                for attempt in range(1, tries + 1):
                    if counts_for_chat:
                        await self.pacer.wait_turn(chat)
                    if fresh:
                        async with self._turns:
                            await self.budget.wait_turn()
                    fresh = True  # a retry takes a new turn
                    try:
                        result = await self.call(method, params)
                    except RetryAfter as error:
                        self.stats["rate_limited"] += 1
                        log.warning("%s: Telegram asks to wait %.0f s (429)", method, error.seconds)
                        await self._pause(chat, error.seconds)
                        if attempt == tries:
                            raise
                    except Transient as error:
                        if attempt == tries:
                            raise
                        self.stats["retried"] += 1
                        log.warning("%s: %s, retrying", method, error)
                        await self._sleep(self.backoff * 2 ** (attempt - 1))
                    else:
                        self.stats[method] += 1
                        return result
                raise AssertionError("unreachable: the last attempt returns or raises")
        finally:
            slot.users -= 1
            if slot.users == 0 and self._chats.get(chat) is slot:
                del self._chats[chat]

    async def _pause(self, chat: ChatId, seconds: float) -> None:
        """Telegram said 429: nothing to this chat, and nothing with this token, before the time is up (we
        cannot tell which limit was hit); the budget tells every other sender of the token."""
        until = self._clock() + max(seconds, 0.0)
        self.pacer.pause(chat, until)
        try:
            await self.budget.pause(until)
        except Exception:
            log.exception("could not share Telegram's 429 pause")


def _markup(markup: TelegramObject | dict[str, Any]) -> dict[str, Any]:
    return markup.to_dict() if isinstance(markup, TelegramObject) else markup


@contextlib.asynccontextmanager
async def open_client(settings: Settings, budget: Slots | None = None) -> AsyncIterator[TelegramClient]:
    """The bot token's client over its own connections, for the composition root (open it once per token
    and hand it to everything that talks to Telegram). ``budget``: the token's send budget shared with the
    outbox worker; without it, one in memory at ``TELEGRAM_RATE``."""
    client = TelegramClient(
        WireTransport(
            settings.telegram_api_url,
            settings.telegram_token.get_secret_value(),
            settings.telegram_timeout,
            # the outbox's sends, 32 chat updates at once, the long poll
            connections=settings.delivery_concurrency + 40,
        ),
        budget or LocalSlots(settings.telegram_rate),
    )
    try:
        yield client
    finally:
        await client.close()
