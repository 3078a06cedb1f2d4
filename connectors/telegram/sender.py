"""Outbound: send and edit through python-telegram-bot's Bot, paced below Telegram's limits.

Telegram's FAQ: about 30 messages per second overall, one per second in a private chat, 20 per minute in a
group. The sender keeps below them (with a margin for network jitter), one chat at a time in order, waits
out 429 ``retry_after``, retries network errors and 5xx a few times, and maps the SDK's errors at this
boundary: 403 → :class:`RecipientBlocked` (after calling ``on_blocked``), anything else that cannot be
delivered → :class:`DeliveryFailed`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from connectors.telegram.errors import DeliveryFailed, RecipientBlocked
from connectors.telegram.render import Outgoing

log = logging.getLogger(__name__)
ChatId = int | str
T = TypeVar("T")


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after is an int in PTB 22 and a timedelta with PTB_TIMEDELTA=1 (and later)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class SharedRate(Protocol):
    """The bot token's overall send rate, shared with every other sender of the same bot (the broadcast
    engine's limiter, ``broadcasts.ratelimit``: in memory or in PostgreSQL). Epoch seconds."""

    async def wait_turn(self) -> None: ...

    async def pause(self, until: float) -> None: ...


class _ChatSlot:
    __slots__ = ("lock", "next_at", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.next_at = 0.0
        self.users = 0


class Pacer:
    """Keeps sends below ``per_second`` in any window of ``window`` seconds (a little more than Telegram's
    second, for network jitter), ``private_interval`` s apart per private chat and ``group_interval`` s per
    group (negative chat ids). Measured at the moment of sending, so late wake-ups never bunch up."""

    def __init__(
        self,
        per_second: float,
        private_interval: float,
        group_interval: float,
        window: float = 1.1,
        shared: SharedRate | None = None,
    ) -> None:
        self.shared = shared  # when set, the overall rate is the shared one, not our own window
        self.limit = max(1, int(per_second))
        self.window = window
        self.private_interval = private_interval
        self.group_interval = group_interval
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._paused_until = 0.0
        self._slots: dict[ChatId, _ChatSlot] = {}

    def interval(self, chat_id: ChatId) -> float:
        return self.private_interval if isinstance(chat_id, int) and chat_id > 0 else self.group_interval

    async def overall(self) -> None:
        async with self._lock:  # waiters queue up in order
            if self.shared is not None:
                # one budget for the bot token: replies and broadcasts take turns in the same schedule
                while (wait := self._paused_until - time.monotonic()) > 0:  # noqa: ASYNC110 (a 429 may extend it)
                    await asyncio.sleep(wait)
                await self.shared.wait_turn()
                return
            while True:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.limit:
                    wait = max(wait, self._sent[0] + self.window - now)
                if wait <= 0:
                    self._sent.append(now)
                    return
                await asyncio.sleep(wait)

    def pause(self, chat_id: ChatId, seconds: float) -> None:
        """Telegram said 429: nobody sends for ``seconds`` (we cannot tell which limit was hit)."""
        until = time.monotonic() + seconds
        self._paused_until = max(self._paused_until, until)
        slot = self._slots.get(chat_id)
        if slot is not None:
            slot.next_at = max(slot.next_at, until)

    def slot(self, chat_id: ChatId) -> _ChatSlot:
        slot = self._slots.get(chat_id)
        if slot is None:
            slot = self._slots[chat_id] = _ChatSlot()
        return slot

    def release(self, chat_id: ChatId, slot: _ChatSlot) -> None:
        slot.users -= 1
        if slot.users == 0 and slot.next_at <= time.monotonic() and self._slots.get(chat_id) is slot:
            del self._slots[chat_id]


class TelegramSender:
    def __init__(
        self,
        bot: Bot,
        on_blocked: Callable[[ChatId], Awaitable[None]] | None = None,
        *,
        per_second: float = 27.0,
        private_interval: float = 1.15,
        group_interval: float = 3.2,
        attempts: int = 4,
        shared: SharedRate | None = None,
    ) -> None:
        self.bot = bot
        self.on_blocked = on_blocked
        self.pacer = Pacer(per_second, private_interval, group_interval, shared=shared)
        self.attempts = attempts
        self.sent = 0
        self.failed = 0

    async def send(self, chat_id: ChatId, messages: list[Outgoing]) -> list[Message]:
        """Send messages to one chat in order; the chat's later messages wait for its earlier ones."""
        slot = self.pacer.slot(chat_id)
        slot.users += 1
        try:
            async with slot.lock:
                result = []
                for outgoing in messages:
                    wait = slot.next_at - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    result.append(await self._deliver(chat_id, outgoing, slot))
                return result
        finally:
            self.pacer.release(chat_id, slot)

    async def _deliver(self, chat_id: ChatId, outgoing: Outgoing, slot: _ChatSlot) -> Message:
        async def call() -> Message:
            await self.pacer.overall()
            slot.next_at = time.monotonic() + self.pacer.interval(chat_id)
            return await self.bot.send_message(
                chat_id,
                outgoing.html,
                parse_mode=ParseMode.HTML,
                reply_markup=outgoing.keyboard,
            )

        message = await self._with_retries(chat_id, call, "sendMessage")
        self.sent += 1
        return message

    async def edit(self, chat_id: ChatId, message_id: int, outgoing: Outgoing) -> bool:
        """Edit a message in place; False when it is gone (the caller sends a new one instead)."""

        async def call() -> Any:
            await self.pacer.overall()
            return await self.bot.edit_message_text(
                outgoing.html,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=outgoing.keyboard,
            )

        try:
            await self._with_retries(chat_id, call, "editMessageText")
        except DeliveryFailed as failure:
            text = str(failure).lower()
            if "not modified" in text:
                return True  # a double tap: the message already shows this
            if "not found" in text or "can't be edited" in text:
                return False
            raise
        return True

    async def answer_callback(self, query_id: str, text: str | None = None, alert: bool = False) -> None:
        try:
            await self.bot.answer_callback_query(query_id, text=text, show_alert=alert)
        except TelegramError as error:  # too old or already answered: nothing the citizen can be told
            log.info("answerCallbackQuery failed: %s", error)

    async def _with_retries(self, chat_id: ChatId, call: Callable[[], Awaitable[T]], method: str) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except RetryAfter as error:
                seconds = retry_seconds(error)
                log.warning("%s: Telegram asks to wait %.0f s (429)", method, seconds)
                self.pacer.pause(chat_id, seconds)
                if self.pacer.shared is not None:  # the broadcast workers hold back too
                    try:
                        await self.pacer.shared.pause(time.time() + seconds)
                    except Exception:
                        log.exception("could not share Telegram's 429 pause")
                await asyncio.sleep(seconds)
            except Forbidden as error:
                self.failed += 1
                log.info("%s: chat blocked the bot or removed it (403): %s", method, error.message)
                if self.on_blocked is not None:
                    try:
                        await self.on_blocked(chat_id)
                    except Exception:
                        log.exception("could not mark a blocked chat as deactivated")
                raise RecipientBlocked(chat_id, error.message) from None
            except BadRequest as error:
                if "not modified" not in error.message.lower():
                    self.failed += 1
                    log.warning("%s rejected by Telegram (400): %s", method, error.message)
                raise DeliveryFailed(error.message) from None
            except NetworkError as error:  # includes TimedOut and 5xx answers
                if attempt == self.attempts:
                    self.failed += 1
                    raise DeliveryFailed(f"{method}: {error.message}") from None
                log.warning("%s: %s, retrying", method, error.message)
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))
            except TelegramError as error:
                self.failed += 1
                raise DeliveryFailed(f"{method}: {error.message}") from None
        self.failed += 1
        raise DeliveryFailed(f"{method}: still rate limited after {self.attempts} attempts")
