"""The Telegram Bot API double (tests/fakes/telegram_api.py) as its own process for the benchmarks, so the
measured worker does not share an event loop with it. Prints ``<api_url> <stats_url>`` on its first line.

``GET <stats_url>/count`` answers how many messages arrived (cheap: poll it during a run);
``GET <stats_url>/stats`` answers what the double saw: messages, unique chats, duplicates (same chat and
text more than once), limit violations, first/last send time (monotonic, seconds) and calls per method.
``POST <stats_url>/reset`` forgets it all. The garbage collector is off after start-up: with 100,000
stored messages a collection pauses the double for tens of milliseconds, and the requests queued meanwhile
then get arrival times bunched into the next second, i.e. the measuring instrument itself would create
"violations" (the real Telegram has no such pauses; that is not what is measured).

``GET <stats_url>/times`` (issue 9) answers the arrival time of every message sent (the moment its request
reached the handler, which is what the limits count; monotonic, comparable with other processes on this
machine) with its chat, and the double's own stalls: a watchdog task wakes every 10 ms and records every
time its event loop was more than 5 ms late. A stalled double stamps the requests queued meanwhile with
one late arrival time, so a violation that follows a stall of the double may be the instrument's, not the
sender's. ``--nice N`` runs the double at that scheduling priority (negative: before other processes, as the
real Telegram's servers do not share our CPU; needs the privilege to lower the nice value); ``--realtime``
runs it with the real-time policy SCHED_FIFO, so that it stamps a request as soon as it arrives however
busy the machine is (it never spins: it waits for the network, and uses about half a core at 1,000/s).

Usage: python bench/telegram_double_server.py --per-second 1000 [--delay 0.005] [--no-limits] [--nice -10]
       [--realtime]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.telegram_api import _ARRIVED, FakeTelegramAPI, SentMessage

TOKEN = "123456:BENCH-token"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-second", type=int, default=30)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--no-limits", action="store_true", help="count violations but never answer 429")
    parser.add_argument("--nice", type=int, default=0, help="scheduling priority of the double (-20..19)")
    parser.add_argument("--realtime", action="store_true", help="SCHED_FIFO: never wait for other processes")
    args = parser.parse_args()
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    arrivals: list[tuple[int | str, float]] = []
    stalls: list[tuple[float, float]] = []
    fake = FakeTelegramAPI(token=TOKEN, per_second=args.per_second, enforce_limits=not args.no_limits)
    fake.set_delay(args.delay)

    def arrived(message: SentMessage) -> None:
        arrivals.append((message.chat_id, _ARRIVED.get() or message.time))

    fake.on_sent = arrived
    await fake.start()

    async def stats(_request: web.Request) -> web.Response:
        pairs = Counter((m.chat_id, m.text) for m in fake.sent)
        times = [m.time for m in fake.sent]
        return web.json_response(
            {
                "sent": len(fake.sent),
                "unique_chats": len({m.chat_id for m in fake.sent}),
                "duplicates": sum(n - 1 for n in pairs.values()),
                "violations": len(fake.violations),
                "violation_kinds": dict(Counter(v.kind for v in fake.violations)),
                "rate_limited": fake.rate_limited,
                "first": min(times) if times else None,
                "last": max(times) if times else None,
                "calls": dict(fake.calls),
                "edits": len(fake.edits),
            }
        )

    async def reset(_request: web.Request) -> web.Response:
        fake.sent.clear()
        fake.edits.clear()
        fake.requests.clear()
        fake.violations.clear()
        fake.calls.clear()
        fake.rate_limited = 0
        fake._messages.clear()
        fake._chat_send_times.clear()
        arrivals.clear()
        stalls.clear()
        return web.json_response({"ok": True})

    async def first_with(request: web.Request) -> web.Response:
        """Monotonic time of the first message whose text contains ``q`` (and the double's clock now)."""
        needle = request.query.get("q", "")
        hit = next((m.time for m in fake.sent if needle in m.text), None)
        return web.json_response({"time": hit, "now": asyncio.get_running_loop().time()})

    async def times(_request: web.Request) -> web.Response:
        """Arrival times of the messages sent and the double's own stalls (see the module docstring)."""
        return web.json_response(
            {
                "arrivals": arrivals,
                "stalls": stalls,
                "nice": os.getpriority(os.PRIO_PROCESS, 0),
                "realtime": os.sched_getscheduler(0) == os.SCHED_FIFO,
            }
        )

    async def count(_request: web.Request) -> web.Response:
        """Cheap progress for polling during a run (/stats walks every message: only at the end)."""
        return web.json_response({"sent": len(fake.sent)})

    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_get("/first", first_with)
    app.router.add_get("/times", times)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.requests = _Discard()  # the bench does not need every request's parameters kept
    gc.collect()
    gc.freeze()
    gc.disable()  # a run is short; a collection of 100,000 stored messages would pause the instrument
    watchdog = asyncio.create_task(_watch(stalls))
    print(f"{fake.url} http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()
    watchdog.cancel()


async def _watch(stalls: list[tuple[float, float]], tick: float = 0.01, late: float = 0.005) -> None:
    """Record (start, seconds) of every stretch in which this event loop was more than ``late`` behind."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(tick)
        lag = loop.time() - before - tick
        if lag > late:
            stalls.append((before, lag))


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        return None


if __name__ == "__main__":
    asyncio.run(main())
