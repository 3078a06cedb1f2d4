"""Send-time slots for a channel's overall rate: a GCRA ("theoretical arrival time") limiter.

``wait_turn()`` returns when the next message may go. Messages are spaced ``interval`` apart, never
closer; a worker that falls behind (a busy event loop) does not catch up in a burst, it simply continues
at the rate. A 429 ``retry_after`` pushes the next turn past the pause. The rate used is the platform's
limit less a safety margin (1.5 %) that absorbs the jitter between our send and the platform's clock.

- ``LocalSlots``: in memory, for the single worker of the embedded SQLite set-up.
- ``SharedSlots``: one row in ``rate_buckets`` on PostgreSQL holds the theoretical arrival time of the
  channel, shared by every worker on every machine. A worker reserves a block of a few slots (about
  50 ms worth) with one UPDATE ... RETURNING, so the database sees some 20 statements per second per
  worker, not one per message; slots that have passed unused (a worker stalled) are thrown away rather
  than used late (more than 5 ms, a third of the margin's 15 ms per second), so workers never crowd a second. Why not Redis: the outbox already lives in PostgreSQL,
  the limiter needs no more than one small row there, and one service less to run, secure and watch.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol

from sqlalchemy import Float, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

MARGIN = 0.015
LATE = 0.005  # how late a turn may still be taken; later ones are dropped (shared) or re-timed (local)
# how early a turn may be taken: the event loop sleeps in whole milliseconds, so at 1,000 msg/s waiting
# for each turn exactly would lose a sixth of the rate; the schedule itself is kept, so no burst follows
EARLY = 0.002


class Slots(Protocol):
    async def wait_turn(self) -> None:
        """Return when the next message may be sent."""

    async def pause(self, until: float) -> None:
        """No message before ``until`` (epoch seconds), on every worker."""

    def paused_until(self) -> float: ...


class LocalSlots:
    def __init__(self, rate: float, margin: float = MARGIN) -> None:
        self.interval = 1.0 / (rate * (1.0 - margin))
        self._tat = 0.0
        self._paused = 0.0

    async def wait_turn(self) -> None:
        while (delay := self._tat - time.time()) > EARLY:  # noqa: ASYNC110 (a pause may move the turn)
            await asyncio.sleep(delay)
        now = time.time()
        # woken a little late (the event loop's timer resolution): keep the schedule; much later (a busy
        # loop): start a new schedule from now instead of catching up in a burst
        self._tat = (self._tat if now - self._tat <= LATE else now) + self.interval

    async def pause(self, until: float) -> None:
        self._paused = max(self._paused, until)
        self._tat = max(self._tat, until)

    def paused_until(self) -> float:
        return self._paused


class SharedSlots:
    def __init__(
        self, engine: AsyncEngine, name: str, rate: float, margin: float = MARGIN, block_seconds: float = 0.05
    ) -> None:
        self._engine = engine
        self.name = name
        self.interval = 1.0 / (rate * (1.0 - margin))
        self.block = max(1, round(block_seconds / self.interval))
        self._slots: deque[float] = deque()
        self._paused = 0.0
        self._lock = asyncio.Lock()

    async def _reserve(self) -> None:
        now = time.time()
        async with self._engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO rate_buckets (name, tokens, updated_at, paused_until) "
                    "VALUES (:name, 0, :now, 0) ON CONFLICT (name) DO NOTHING"
                ),
                {"name": self.name, "now": now},
            )
            # "tokens" holds the theoretical arrival time: the first free slot of the channel
            row = (
                await connection.execute(
                    text(
                        "UPDATE rate_buckets SET tokens = GREATEST(tokens, :now, paused_until) + :span, "
                        "updated_at = :now WHERE name = :name "
                        "RETURNING tokens - :span AS first, paused_until"
                    ).bindparams(bindparam("now", type_=Float()), bindparam("span", type_=Float())),
                    {"name": self.name, "now": now, "span": self.block * self.interval},
                )
            ).one()
        first, self._paused = float(row.first), float(row.paused_until)
        self._slots.extend(first + i * self.interval for i in range(self.block))

    async def wait_turn(self) -> None:
        async with self._lock:
            while True:
                now = time.time()
                while self._slots and self._slots[0] < now - LATE:
                    self._slots.popleft()  # passed unused: never send late into another worker's slots
                if not self._slots:
                    await self._reserve()
                    continue
                delay = self._slots[0] - now
                if delay > EARLY:
                    await asyncio.sleep(delay)
                    continue  # look again: it may have passed meanwhile
                self._slots.popleft()
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
