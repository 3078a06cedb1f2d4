"""Test doubles for the Telegram client's unit tests: a clock that moves only when the code sleeps, and a
transport that records every call (with the fake time) and answers from a script."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from broadcasts.ratelimit import LocalSlots
from connectors.telegram.client import TelegramClient

START = 1_800_000_000.0
T = TypeVar("T")


class FakeClock:
    """Epoch seconds that move only when every task of the test waits: ``run(work)`` lets the event loop
    settle, then wakes the earliest sleeper and sets the time to its wake-up (a discrete-event run)."""

    def __init__(self) -> None:
        self.now = START
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), woken))
        await woken

    async def run(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        while not task.done():
            for _ in range(50):  # let every task reach its next sleep (the fake transport never waits)
                await asyncio.sleep(0)
                if task.done():
                    break
            if task.done():
                break
            if not self._sleepers:
                await asyncio.sleep(0.001)  # waiting for something real (a lock handed over, ...)
                continue
            wake, _order, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            woken.set_result(None)
        return task.result()


@dataclass(frozen=True)
class Call:
    at: float
    method: str
    params: dict[str, Any]


class FakeTransport:
    """Answers ``{"ok": true}`` with a Message for sends, or the next scripted answer (status, body)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[Call] = []
        self.script: list[tuple[int, Any]] = []
        self._ids = itertools.count(1)

    def answer(self, status: int, body: Any, times: int = 1) -> None:
        self.script += [(status, body)] * times

    async def post(
        self, method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        self.calls.append(Call(self.clock(), method, params))
        if self.script:
            return self.script.pop(0)
        result: Any = True
        if method == "sendMessage":
            result = {
                "message_id": next(self._ids),
                "chat": {"id": params["chat_id"]},
                "text": params["text"],
            }
        return 200, {"ok": True, "result": result}

    async def close(self) -> None:
        pass

    def sends(self, chat_id: int | str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == "sendMessage" and (chat_id is None or c.params["chat_id"] == chat_id)
        ]


def client_on(clock: FakeClock, rate: float = 30.0, **options: Any) -> tuple[TelegramClient, FakeTransport]:
    transport = FakeTransport(clock)
    budget = LocalSlots(rate, clock=clock, sleep=clock.sleep)
    return TelegramClient(transport, budget, clock=clock, sleep=clock.sleep, **options), transport


def busiest(times: list[float], window: float) -> int:
    """The most events in any window of ``window`` seconds."""
    ordered = sorted(times)
    return max((sum(1 for t in ordered if s <= t < s + window) for s in ordered), default=0)
