"""The send-rate limiters (broadcasts/ratelimit.py) on a fake clock: no test here waits for real time.

Speed is measured by ``bench/broadcast_bench.py fanout``; these tests check the promises: at most
``floor(rate × (1 − MARGIN))`` turns in any second (and in any 1 s + GUARD), across stalls, no burst after a
stall, pauses honoured, the margin applied, and the budget shared between workers through PostgreSQL.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.ratelimit import (
    CATCH_UP,
    COOL_DOWN,
    EARLY,
    GUARD,
    IDLE,
    LATE,
    MAKE_UP,
    MARGIN,
    ChatPacer,
    LocalSlots,
    SharedSlots,
    SlidingWindow,
    budget,
)

START = 1_800_000_000.0


class FakeClock:
    """Epoch seconds that move only when the code under test sleeps or the test says so. ``late()`` is how
    much later than asked each sleep ends (an event loop wakes late, never early).

    With several workers (``run``), time moves only when every one of them sleeps on this clock, to the
    earliest wake-up: a discrete-event simulation. Real I/O (PostgreSQL) takes no simulated time."""

    def __init__(self, late: Callable[[], float] = lambda: 0.0) -> None:
        self.now = START
        self.late = late
        self.active = 1
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        wake = self.now + max(seconds, 0.0) + self.late()
        heapq.heappush(self._sleepers, (wake, next(self._order), woken))
        self._advance()
        await woken

    def _advance(self) -> None:
        if self._sleepers and len(self._sleepers) >= self.active:
            wake, _order, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            woken.set_result(None)

    def stall(self, seconds: float) -> None:
        """The (only) caller was held up: a busy event loop, a descheduled process."""
        self.now += seconds

    async def run(self, *workers: Awaitable[list[float]]) -> list[list[float]]:
        """Run workers concurrently on this clock."""
        self.active = len(workers)

        async def one(worker: Awaitable[list[float]]) -> list[float]:
            try:
                return await worker
            finally:
                self.active -= 1
                self._advance()

        return list(await asyncio.gather(*(one(w) for w in workers)))


def busiest(times: list[float], span: float = 1.0) -> int:
    """The most turns in any half-open window [t, t + span), to a microsecond (epoch seconds near 1.8e9
    are floats with a resolution of 0.24 µs: 1.01 s after a turn may come out as 1.00999999 s)."""
    ordered = sorted(times)
    start = best = 0
    for i, at in enumerate(ordered):
        while at - ordered[start] >= span - 1e-6:
            start += 1
        best = max(best, i - start + 1)
    return best


async def take(
    slots: LocalSlots | SharedSlots, clock: FakeClock, turns: int, stall: Callable[[int], float]
) -> list[float]:
    times = []
    for i in range(turns):
        clock.stall(stall(i))
        await slots.wait_turn()
        times.append(clock())
    return times


def rough_loop(seed: int) -> tuple[Callable[[], float], Callable[[int], float]]:
    """Wake-ups up to 3 ms late; now and then the caller is held for up to 40 ms, rarely for 300 ms."""
    rng = random.Random(seed)

    def late() -> float:
        return rng.uniform(0.0, 0.003)

    def stall(_i: int) -> float:
        roll = rng.random()
        if roll < 0.002:
            return 0.3
        if roll < 0.05:
            return rng.uniform(0.0, 0.04)
        if roll < 0.2:
            return rng.uniform(0.0, LATE)  # just within the tolerance: the schedule is kept
        return 0.0

    return late, stall


# -- the margin -------------------------------------------------------------------------------------------


def test_budget_and_interval_apply_the_margin_and_the_guard() -> None:
    assert MARGIN == 0.015
    assert budget(1000) == 985
    assert budget(30) == 29  # 29.55 rounded down: never over
    assert budget(0.5) == 1
    assert GUARD == 0.010
    slots = LocalSlots(1000)
    assert slots.limit == 985
    assert slots.interval == pytest.approx((1 + GUARD) / 985)  # 975.2 turns per second
    assert 1 / slots.interval < 1000 * (1 - MARGIN)
    low = LocalSlots(30)
    assert (low.limit, low.interval) == (29, pytest.approx(1.01 / 29))
    assert GUARD > LATE + EARLY  # what SharedSlots' guarantee across workers rests on


@pytest.mark.parametrize("rate", [1000, 30])
async def test_a_punctual_loop_gets_the_effective_rate(rate: int) -> None:
    clock = FakeClock()
    slots = LocalSlots(rate, clock=clock, sleep=clock.sleep)
    times = await take(slots, clock, rate * 5, lambda _i: 0.0)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved == pytest.approx(budget(rate) / (1 + GUARD), rel=0.002)
    assert achieved <= rate * (1 - MARGIN)
    assert busiest(times) <= budget(rate)


# -- any one-second window, across stalls -----------------------------------------------------------------


@pytest.mark.parametrize(("rate", "seed"), [(1000, 1), (1000, 2), (1000, 3), (30, 4), (200, 5)])
async def test_no_second_holds_more_than_the_budget_across_stalls(rate: int, seed: int) -> None:
    late, stall = rough_loop(seed)
    clock = FakeClock(late)
    slots = LocalSlots(rate, clock=clock, sleep=clock.sleep)
    times = await take(slots, clock, max(rate * 8, 300), stall)
    assert busiest(times, 1.0) <= budget(rate)
    assert busiest(times, 1.0 + GUARD) <= budget(rate)  # nor any window of 1 s + GUARD


async def test_the_window_holds_where_the_schedule_alone_would_not() -> None:
    """After a stall the schedule restarts LATE in the past (8 turns at once); a punctual loop then takes
    every turn EARLY: by the schedule alone 1 s + GUARD would hold (1 s + GUARD + LATE + EARLY) / interval
    + 1 = 992 turns. The sliding window keeps it at 985."""
    clock = FakeClock()
    slots = LocalSlots(1000, clock=clock, sleep=clock.sleep)
    times = await take(slots, clock, 3000, lambda i: 0.3 if i == 500 else 0.0)
    assert busiest(times, 1.0 + GUARD) <= 985
    assert busiest(times, 1.0) <= 985


# -- no burst after a stall; lost time made up gradually ---------------------------------------------------


async def test_no_burst_after_a_stall() -> None:
    clock = FakeClock()
    slots = LocalSlots(1000, clock=clock, sleep=clock.sleep)
    await take(slots, clock, 2000, lambda _i: 0.0)
    clock.stall(0.3)  # 300 ms in which ~290 turns were due
    resumed = clock()
    after = await take(slots, clock, 800, lambda _i: 0.0)
    # the schedule restarts LATE in the past; the turns within EARLY of now may already be 10 % closer
    at_once = (LATE + EARLY) / slots.interval + 2
    assert sum(1 for t in after if t == resumed) <= at_once  # 8, not the 290 a catch-up would send
    closest = slots.interval * (1 - CATCH_UP)  # what is made up comes at most 10 % sooner per turn
    for k, at in enumerate(after):
        assert at >= resumed + (k + 1 - at_once) * closest - 1e-5  # float epoch seconds
    assert busiest(after, 0.1) <= 0.1 / closest + at_once
    # at most MAKE_UP of the 300 ms is made up: then the plain schedule again
    owed_turns = MAKE_UP / (slots.interval * CATCH_UP)
    tail = after[int(owed_turns) + 20 :]
    gaps = [b - a for a, b in itertools.pairwise(tail)]
    assert len(gaps) > 200
    assert min(gaps) >= slots.interval - 1e-6


async def test_stalls_do_not_add_up_to_a_burst() -> None:
    """Many stalls just under LATE: each keeps the schedule, none may be made up twice."""
    clock = FakeClock()
    slots = LocalSlots(1000, clock=clock, sleep=clock.sleep)
    times = await take(slots, clock, 5000, lambda i: 0.0049 if i % 3 == 0 else 0.0)
    closest = slots.interval * (1 - CATCH_UP)
    assert busiest(times, 0.05) <= 0.05 / closest + (LATE + EARLY) / slots.interval + 1
    assert busiest(times, 1.0) <= 985


async def test_time_lost_to_short_stalls_is_made_up_within_the_window() -> None:
    """A busy machine holds the worker up for ~10 ms every 200 turns. Without making up, a twentieth of
    the rate would be lost (0.928 of the effective rate); made up gradually, the rate is kept and no
    window holds more than the budget."""
    clock = FakeClock()
    slots = LocalSlots(1000, clock=clock, sleep=clock.sleep)
    times = await take(slots, clock, 10_000, lambda i: 0.010 if i % 200 == 199 else 0.0)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved >= 0.995 * budget(1000) / (1 + GUARD)
    assert busiest(times, 1.0) <= 985
    assert busiest(times, 1.0 + GUARD) <= 985


async def test_after_a_429_lost_time_is_not_made_up_for_a_while() -> None:
    """Telegram counted too many in one of its seconds: the windows keep their slack for COOL_DOWN."""
    clock = FakeClock()
    slots = LocalSlots(1000, clock=clock, sleep=clock.sleep)
    await take(slots, clock, 100, lambda _i: 0.0)
    until = clock() + 1.0
    await slots.pause(until)

    def stalls(i: int) -> float:  # 10 ms beyond LATE lost every 200 turns: about 5 % of the time
        return 0.015 if i % 200 == 199 else 0.0

    careful = await take(slots, clock, 4000, stalls)  # about 4 s, within COOL_DOWN
    assert careful[-1] < until + COOL_DOWN
    rate = (len(careful) - 1) / (careful[-1] - careful[0])
    assert rate < 0.97 * budget(1000) / (1 + GUARD)  # the time lost to the stalls stays lost
    clock.stall(COOL_DOWN)  # the cool-down is over
    later = await take(slots, clock, 4000, stalls)
    rate = (len(later) - 1) / (later[-1] - later[0])
    assert rate >= 0.99 * budget(1000) / (1 + GUARD)  # made up again


async def test_idleness_is_not_made_up() -> None:
    clock = FakeClock()
    slots = LocalSlots(1000, clock=clock, sleep=clock.sleep)
    await take(slots, clock, 500, lambda _i: 0.0)
    clock.stall(IDLE + 5.0)  # nothing to send for a while: no time was lost
    after = await take(slots, clock, 300, lambda _i: 0.0)
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert min(gaps[1:]) >= slots.interval - EARLY  # the plain schedule from the first turn on


# -- pause ------------------------------------------------------------------------------------------------


async def test_pause_is_honoured_and_followed_by_no_burst() -> None:
    clock = FakeClock()
    slots = LocalSlots(1000, clock=clock, sleep=clock.sleep)
    await take(slots, clock, 100, lambda _i: 0.0)
    until = clock() + 3.0
    await slots.pause(until)
    assert slots.paused_until() == until
    after = await take(slots, clock, 200, lambda _i: 0.0)
    assert min(after) >= until
    assert busiest(after, 0.01) <= 0.01 / slots.interval + (LATE + EARLY) / slots.interval + 1
    await slots.pause(until - 10)  # an older pause does not shorten it
    assert slots.paused_until() == until


async def test_a_pause_during_a_wait_moves_the_turn() -> None:
    clock = FakeClock()
    slots = LocalSlots(1, clock=clock, sleep=clock.sleep)  # one per 1.01 s: the second turn waits
    await slots.wait_turn()
    paused = False
    sleep = clock.sleep

    async def sleep_then_pause(seconds: float) -> None:
        nonlocal paused
        await sleep(seconds)
        if not paused:
            paused = True
            await slots.pause(clock() + 5.0)  # the 429 arrives while the turn is waited for

    slots._sleep = sleep_then_pause
    await slots.wait_turn()
    assert clock() >= START + 1.01 + 5.0 - 1e-6


# -- the sliding window -----------------------------------------------------------------------------------


def test_sliding_window() -> None:
    window = SlidingWindow(3, 1.0)
    assert window.earliest() == -math.inf
    for at in (0.0, 0.1, 0.2):
        window.record(at)
    assert window.earliest() == 1.0  # the third turn back was at 0.0
    window.record(1.0)
    assert window.earliest() == 1.1


# -- shared through PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
async def pg_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    from core.db import create_engine, migrate

    engine = create_engine(postgres_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


def bucket() -> str:
    return f"telegram:test-{uuid.uuid4().hex[:8]}"


async def worker(slots: SharedSlots, clock: FakeClock, turns: int, seed: int, stalls: bool) -> list[float]:
    """A worker that, with ``stalls``, is now and then held up for up to 30 ms (simulated: the others go on
    meanwhile, the slots it reserved pass unused)."""
    rng = random.Random(seed)
    times = []
    for _ in range(turns):
        if stalls and rng.random() < 0.01:
            await clock.sleep(rng.uniform(0.0, 0.03))
        await slots.wait_turn()
        times.append(clock())
    await slots.close()
    return times


@pytest.mark.postgres
@pytest.mark.parametrize("stalls", [False, True])
async def test_two_workers_share_one_budget(pg_engine: AsyncEngine, stalls: bool) -> None:
    rng = random.Random(7)
    clock = FakeClock(lambda: rng.uniform(0.0, 0.002))
    name = bucket()
    a = SharedSlots(pg_engine, name, 1000, clock=clock, sleep=clock.sleep)
    b = SharedSlots(pg_engine, name, 1000, clock=clock, sleep=clock.sleep)
    times_a, times_b = await clock.run(worker(a, clock, 3000, 1, stalls), worker(b, clock, 3000, 2, stalls))
    both = times_a + times_b
    assert busiest(both, 1.0) <= 985  # one budget for both, not 985 each
    rate = (len(both) - 1) / (max(both) - min(both))
    assert rate < 1000 * (1 - MARGIN)
    if not stalls:  # and hardly less: the two do not waste each other's slots
        assert rate > 0.98 * 985 / (1 + GUARD)
    else:  # a stalled worker's reserved slots pass unused (never used late): ~30 stalls of 15 ms each
        assert rate > 0.85 * 985 / (1 + GUARD)


@pytest.mark.postgres
async def test_shared_slots_are_not_used_late_after_a_stall(pg_engine: AsyncEngine) -> None:
    clock = FakeClock()
    slots = SharedSlots(pg_engine, bucket(), 1000, clock=clock, sleep=clock.sleep)
    await take(slots, clock, 500, lambda _i: 0.0)
    clock.stall(0.2)
    resumed = clock()
    after = await take(slots, clock, 300, lambda _i: 0.0)
    await slots.close()
    assert sum(1 for t in after if t <= resumed + 0.001) <= (LATE + EARLY) / slots.interval + 2
    assert busiest(after, 0.1) <= 0.1 / slots.interval + (LATE + EARLY) / slots.interval + 2


@pytest.mark.postgres
async def test_a_pause_reaches_the_other_worker(pg_engine: AsyncEngine) -> None:
    clock = FakeClock()
    name = bucket()
    a = SharedSlots(pg_engine, name, 1000, clock=clock, sleep=clock.sleep)
    b = SharedSlots(pg_engine, name, 1000, clock=clock, sleep=clock.sleep)
    await take(a, clock, 50, lambda _i: 0.0)
    await take(b, clock, 50, lambda _i: 0.0)
    until = clock() + 2.0
    await a.pause(until)
    after_a = await take(a, clock, 20, lambda _i: 0.0)
    after_b = await take(b, clock, 200, lambda _i: 0.0)
    await a.close()
    await b.close()
    assert min(after_a) >= until
    # b learns of the pause with its next reservation: at most the slots it already holds go before it
    early = [t for t in after_b if t < until]
    assert len(early) <= b.block + b.block // 2
    assert b.paused_until() == until


# -- per chat ---------------------------------------------------------------------------------------------


async def test_private_chat_one_message_per_second() -> None:
    clock = FakeClock()
    pacer = ChatPacer(clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(5):
        await pacer.wait_turn(4711)
        times.append(clock())
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    assert pacer.delay(4712) == 0.0  # another chat is not held up
    assert pacer.delay(4711) > 1.0 - 1e-9


async def test_group_twenty_per_minute() -> None:
    clock = FakeClock()
    pacer = ChatPacer(clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(45):
        await pacer.wait_turn(-100123)
        times.append(clock())
    assert busiest(times, 60.0) <= 20
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    channel = []
    for _ in range(25):
        await pacer.wait_turn("@koblenz_warnungen")
        channel.append(clock())
    assert busiest(channel, 60.0) <= 20


async def test_chat_pause_and_memory() -> None:
    clock = FakeClock()
    pacer = ChatPacer(clock=clock, sleep=clock.sleep)
    pacer.pause(42, clock() + 30.0)
    assert pacer.delay(42) == pytest.approx(30.0)
    await pacer.wait_turn(42)
    assert clock() >= START + 30.0
    for chat in range(1, 1001):
        await pacer.wait_turn(chat)
    assert len(pacer) >= 1000
    clock.stall(120.0)
    await pacer.wait_turn(5)
    assert len(pacer) == 1  # chats idle for longer than their windows are forgotten
