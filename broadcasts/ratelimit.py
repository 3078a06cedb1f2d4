"""Send-time limits for Telegram: the bot token's overall rate (``LocalSlots``, ``SharedSlots``) and the
per-chat limits (``ChatPacer``).

What Telegram counts, and what these classes promise
----------------------------------------------------
Telegram counts the messages of one bot token in a strict one-second window (``TELEGRAM_RATE``, 30/s, or
up to 1,000/s with paid broadcasts), one message per second per private chat and 20 per minute per group.
A send over a limit is answered 429 with ``retry_after`` and costs at least a second of silence.

The overall limiters hand out *turns* (``wait_turn()`` returns when the next message may go) and promise,
at the moment the turns are given, for any stall, pause or number of workers:

    no window of one second holds more than ``limit = floor(rate × (1 − MARGIN))`` turns.

``LocalSlots`` even keeps ``limit`` per window of ``1 s + GUARD``. That is two reserves against the jitter
between our turn and Telegram's clock: the ``GUARD`` (10 ms: the turn ``limit`` places back must be at
least 1.01 s earlier) and the ``MARGIN`` (1.5 %: 15 messages per second at 1,000/s). Jitter comes from
the event loop (a turn is taken, the HTTP request is written one or two loop iterations later, and an
iteration of a busy worker can take milliseconds), from the operating system (a process that competes
for the CPU holds the worker for a time slice) and from the network. The sustained rate is
``limit / (1 s + GUARD)``: 975/s at 1,000/s (0.975), 28.7/s at 30/s.

How
---
Two rules, both checked at the moment a turn is taken:

1. GCRA ("theoretical arrival time", ``interval = (1 s + GUARD) / limit``) keeps the turns evenly spaced.
   A turn may be taken up to ``EARLY`` (2 ms) before its time: the event loop sleeps in whole
   milliseconds, so waiting for each turn exactly would lose a sixth of the rate at 1,000/s. A worker
   that was held up (a busy loop, a stall) continues its schedule from at most ``LATE`` (5 ms) in the
   past: it never catches up the time it lost in a burst; at most ``(LATE + EARLY) / interval + 1``
   turns (7 at 1,000/s) come at once after a stall.
   ``LocalSlots`` makes up lost time *gradually* instead: the time a stall cost beyond ``LATE`` (at most
   ``MAKE_UP``, 50 ms, in all; a gap of a second or more is idleness, not a stall) is paid back with turns
   at most ``CATCH_UP`` (10 %) closer together than the schedule, until it is repaid. On a busy machine
   the worker is held up for a few milliseconds many times a second; without this the rate fell to
   0.966 of the limit with one competing process (the receiver at real-time priority), with it
   0.969-0.973, the busiest second of turns still within the window below (``docs/benchmarks.md``,
   issue 9, session 6); a receiver that itself stalls then counts more 429s. After a 429 nothing is
   made up for ``COOL_DOWN`` (60 s): Telegram's count then disagrees with ours by more than the reserves
   (a congested network, a receiver that stalls), and the windows keep their slack. ``SharedSlots`` does not
   make up time: its slots are spaced globally, and a late slot would fall into another worker's time.
2. A sliding window (``LocalSlots``): the turn ``limit`` places back must lie at least ``1 s + GUARD``
   in the past. This is the hard guarantee; rule 1 alone allows the few turns of the tolerances above.

Why both: the previous limiter was rule 1 alone at ``rate × (1 − MARGIN)`` per second, and its
tolerances let up to 992 turns into one second at 1,000/s (measured; its own budget was 985) and 30,
the whole limit, at 30/s, where any jitter then meant a 429. With both rules the busiest second held
982 turns and 985 writes to the socket, quiet and with competing processes (``docs/benchmarks.md``).

``SharedSlots`` (PostgreSQL, any number of workers on any machines): one row in ``rate_buckets`` holds
the channel's theoretical arrival time. A worker reserves a block of slots (about 50 ms worth) with one
``UPDATE … RETURNING``, so the database sees some 20 statements per second per worker, not one per
message, and it reserves the next block while half of the current one is left, so no turn waits for
the database. Slots are globally distinct and ``interval`` apart; a worker uses a slot only between
``EARLY`` before and ``LATE`` after its time and throws away slots that passed unused (it was stalled),
never using them late into other workers' seconds. Because ``GUARD > LATE + EARLY``, a second then holds
at most ``limit`` turns of all workers together; each worker also keeps the sliding window over its own
turns. Why not Redis: the outbox already lives in PostgreSQL, the limiter needs no more than one small
row there, and one service less to run, secure and watch.

A 429 ``retry_after`` calls ``pause(until)``: no turn before ``until``, on every worker (shared: through
the row), and the schedule continues from there without a burst.

What no limiter can do: a turn is only as good as the time between it and the request reaching
Telegram. Callers should take the overall turn as the last step before the write (after the per-chat
turn, after waiting for a free connection). A worker that is starved of CPU for longer than the reserves
(GUARD + MARGIN, about 25 ms at 1,000/s) between taking a turn and writing can still bunch requests;
measured in ``bench/broadcast_bench.py fanout --trace`` (turns, writes, arrivals) and in
``docs/benchmarks.md``.

Per chat: ``ChatPacer``
-----------------------
Telegram also limits each chat: a private chat (positive id) one message per second, a group,
supergroup or channel (negative id or ``@username``) one per second and 20 per minute. ``ChatPacer``
keeps them, with ``guard`` on top of each window, in memory (one process sends to a given chat; the
per-chat limits are not shared between workers)::

    pacer = ChatPacer()
    await pacer.wait_turn(chat_id)   # may wait about a second (a busy group: up to a minute)
    await slots.wait_turn()          # the bot token's overall turn: last, right before the write
    ...send...
    # on 429 for that chat: pacer.pause(chat_id, time.time() + retry_after) (and slots.pause(...))

``pacer.delay(chat_id)`` tells, without waiting or recording, how long a message to the chat would
wait (to pick another chat meanwhile). Waiters for the same chat are served as they wake, not in order:
keep one sender per chat (or a lock per chat) when the order of a chat's messages matters. Chats idle
for longer than their window are forgotten, so memory stays bounded by the chats of the last minute.

All classes take ``clock`` (epoch seconds) and ``sleep`` for tests.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import Float, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

MARGIN = 0.015  # the rate used is the platform's limit less this
GUARD = 0.010  # seconds added to each window: the ``limit``-th previous turn must be 1 s + GUARD earlier
EARLY = 0.002  # how early a turn may be taken (the event loop's timers have millisecond resolution)
LATE = 0.005  # how far a schedule may lie in the past and still be kept; later: no catch-up
CATCH_UP = 0.10  # LocalSlots: turns at most this much closer than the schedule while making up lost time
MAKE_UP = 0.050  # LocalSlots: at most this much lost time (seconds) is owed at once
IDLE = 1.0  # a gap this long between turns is idleness, not a stall: nothing to make up
COOL_DOWN = 60.0  # LocalSlots: after a 429, this long without making up lost time
assert GUARD > LATE + EARLY  # SharedSlots' guarantee across workers needs it (see the docstring)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Slots(Protocol):
    async def wait_turn(self) -> None:
        """Return when the next message may be sent."""

    async def pause(self, until: float) -> None:
        """No message before ``until`` (epoch seconds), on every worker."""

    def paused_until(self) -> float: ...


def budget(rate: float, margin: float = MARGIN) -> int:
    """Turns allowed in one second (and in 1 s + GUARD): the platform's rate less the margin."""
    return max(1, math.floor(rate * (1.0 - margin) + 1e-9))


class SlidingWindow:
    """At most ``limit`` events in any window of ``span`` seconds: the event ``limit`` places back must be at
    least ``span`` earlier than a new one."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self._times: deque[float] = deque(maxlen=limit)

    def earliest(self) -> float:
        """The first moment the next event may happen."""
        return self._times[0] + self.span if len(self._times) == self.limit else -math.inf

    def record(self, at: float) -> None:
        self._times.append(at)


class LocalSlots:
    """The overall rate in memory, for one process (the single worker of the embedded SQLite set-up)."""

    def __init__(
        self,
        rate: float,
        margin: float = MARGIN,
        guard: float = GUARD,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limit = budget(rate, margin)
        self.interval = (1.0 + guard) / self.limit
        self.window = SlidingWindow(self.limit, 1.0 + guard)
        self._clock = clock
        self._sleep = sleep
        self._tat = -math.inf  # theoretical arrival time of the next turn
        self._paused = 0.0
        self._owed = 0.0  # time lost to stalls, still to be made up (at most MAKE_UP)
        self._careful_until = 0.0  # after a 429: no making up before this

    def _earliest(self) -> float:
        return max(self._tat - EARLY, self.window.earliest(), self._paused)

    async def wait_turn(self) -> None:
        while (delay := self._earliest() - self._clock()) > 0:
            await self._sleep(delay)  # look again afterwards: a pause may have moved the turn
        now = self._clock()
        self.window.record(now)
        # a schedule that lies in the past (the loop was busy) is kept for at most LATE; the time lost
        # beyond that is owed and made up over the next turns, each at most CATCH_UP sooner: no burst
        lost = now - LATE - self._tat
        if 0.0 < lost < IDLE and now >= self._careful_until:
            self._owed = min(MAKE_UP, self._owed + lost)
        step = self.interval
        if self._owed > 0.0 and self._tat >= now:  # on schedule again (no turns due at once): make up
            sooner = min(self._owed, self.interval * CATCH_UP)
            step -= sooner
            self._owed -= sooner
        self._tat = max(self._tat, now - LATE) + step

    async def pause(self, until: float) -> None:
        self._paused = max(self._paused, until)
        self._tat = max(self._tat, until)
        # Telegram counted more than its limit in one of its seconds, so its clock and ours disagree by
        # more than the reserves (a congested network, or a receiver that stalls): nothing of before the
        # pause is made up after it, and for COOL_DOWN nothing at all, so every window keeps its slack
        self._owed = 0.0
        self._careful_until = max(self._careful_until, until + COOL_DOWN)

    def paused_until(self) -> float:
        return self._paused


class SharedSlots:
    """The overall rate shared by every worker through one ``rate_buckets`` row in PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        rate: float,
        margin: float = MARGIN,
        block_seconds: float = 0.05,
        guard: float = GUARD,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._engine = engine
        self.name = name
        self.limit = budget(rate, margin)
        self.interval = (1.0 + guard) / self.limit
        self.block = max(1, round(block_seconds / self.interval))
        self.window = SlidingWindow(self.limit, 1.0 + guard)  # this worker's own turns
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque()
        self._paused = 0.0
        self._lock = asyncio.Lock()
        self._refill: asyncio.Task[None] | None = None

    async def _reserve(self) -> None:
        now = self._clock()
        async with self._engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO rate_buckets (name, tokens, updated_at, paused_until) "
                    "VALUES (:name, 0, :now, 0) ON CONFLICT (name) DO NOTHING"
                ),
                {"name": self.name, "now": now},
            )
            # "tokens" holds the theoretical arrival time: the first free slot of the channel. An idle
            # channel starts LATE from now, so that the slots are not already late when they arrive here.
            row = (
                await connection.execute(
                    text(
                        "UPDATE rate_buckets SET tokens = GREATEST(tokens, :start, paused_until) + :span, "
                        "updated_at = :now WHERE name = :name "
                        "RETURNING tokens - :span AS first, paused_until"
                    ).bindparams(
                        bindparam("now", type_=Float()),
                        bindparam("start", type_=Float()),
                        bindparam("span", type_=Float()),
                    ),
                    {"name": self.name, "now": now, "start": now + LATE, "span": self.block * self.interval},
                )
            ).one()
        first, paused = float(row.first), float(row.paused_until)
        self._paused = max(self._paused, paused)
        self._slots.extend(first + i * self.interval for i in range(self.block))

    def _refilling(self) -> asyncio.Task[None]:
        if self._refill is None or self._refill.done():
            self._refill = asyncio.create_task(self._reserve(), name=f"rate-slots-{self.name}")
        return self._refill

    async def wait_turn(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._slots and self._slots[0] < now - LATE:
                    self._slots.popleft()  # passed unused: never send late into another worker's slots
                if self._refill is not None and self._refill.done():
                    refill, self._refill = self._refill, None
                    refill.result()  # a failed reservation surfaces here
                if len(self._slots) <= self.block // 2:
                    refill = self._refilling()  # the next block, before this one runs out
                    if not self._slots:
                        await refill
                        continue
                at = max(self._slots[0] - EARLY, self.window.earliest(), self._paused)
                if at > now:
                    await self._sleep(at - now)
                    continue  # look again: it may have passed meanwhile
                self._slots.popleft()
                self.window.record(now)
                return

    async def pause(self, until: float) -> None:
        self._paused = max(self._paused, until)
        self._slots = deque(s for s in self._slots if s >= until)
        async with self._engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE rate_buckets SET paused_until = GREATEST(paused_until, :until), "
                    "tokens = GREATEST(tokens, :until) WHERE name = :name"
                ).bindparams(bindparam("until", type_=Float())),
                {"name": self.name, "until": until},
            )

    def paused_until(self) -> float:
        return self._paused

    async def close(self) -> None:
        """Wait for a reservation in flight (slots it reserved are simply not used)."""
        if self._refill is not None:
            refill, self._refill = self._refill, None
            await asyncio.gather(refill, return_exceptions=True)


class ChatPacer:
    """Telegram's per-chat limits, in memory: one message per ``chat_interval`` seconds to any chat and at
    most ``group_per_minute`` per 60 s to a group, supergroup or channel, each window ``guard`` longer.
    See the module docstring for the order of the turns."""

    def __init__(
        self,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        guard: float = 0.05,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.chat_interval = chat_interval + guard
        self.group_window = 60.0 + guard
        self.group_per_minute = group_per_minute
        self._clock = clock
        self._sleep = sleep
        self._last: dict[int | str, float] = {}  # last send per chat
        self._groups: dict[int | str, SlidingWindow] = {}
        self._paused: dict[int | str, float] = {}
        self._sweep_at = 0.0

    @staticmethod
    def is_group(chat_id: int | str) -> bool:
        """Groups, supergroups and channels: negative ids or ``@username``; private chats: positive ids."""
        return not isinstance(chat_id, int) or chat_id < 0

    def delay(self, chat_id: int | str) -> float:
        """Seconds until a message to ``chat_id`` may go (0: now); waits for nothing, records nothing."""
        at = max(self._last.get(chat_id, -math.inf) + self.chat_interval, self._paused.get(chat_id, 0.0))
        group = self._groups.get(chat_id)
        if group is not None:
            at = max(at, group.earliest())
        return max(0.0, at - self._clock())

    async def wait_turn(self, chat_id: int | str) -> None:
        """Return when a message to ``chat_id`` may go, and count it as sent."""
        while (delay := self.delay(chat_id)) > 0:
            await self._sleep(delay)  # look again: another waiter for this chat may have gone first
        now = self._clock()
        self._last[chat_id] = now
        if self.is_group(chat_id):
            group = self._groups.get(chat_id)
            if group is None:
                group = self._groups[chat_id] = SlidingWindow(self.group_per_minute, self.group_window)
            group.record(now)
        if now >= self._sweep_at:
            self._sweep(now)

    def pause(self, chat_id: int | str, until: float) -> None:
        """A 429 for this chat: nothing to it before ``until`` (epoch seconds)."""
        self._paused[chat_id] = max(self._paused.get(chat_id, 0.0), until)

    def __len__(self) -> int:
        """Chats currently remembered."""
        return len(self._last)

    def _sweep(self, now: float) -> None:
        """Forget chats whose windows have passed (at most once per group window, so amortised O(1))."""
        self._sweep_at = now + self.group_window
        self._last = {c: t for c, t in self._last.items() if now - t < self.group_window}
        self._groups = {c: w for c, w in self._groups.items() if c in self._last}
        self._paused = {c: t for c, t in self._paused.items() if t > now}
