"""The Telegram Bot API double (tests/fakes/telegram_api.py) as its own process for the benchmarks, so the
measured worker does not share an event loop with it. Prints ``<api_url> <stats_url>`` on its first line.

``GET <stats_url>/stats`` answers what the double saw: messages, unique chats, duplicates (same chat and
text more than once), limit violations, first/last send time (monotonic, seconds) and calls per method.
``POST <stats_url>/reset`` forgets it all. The garbage collector is frozen after start-up and runs rarely:
a long collection pause would bunch the arrival times of the measuring instrument itself (the real
Telegram has no such pauses), which is not what is measured.

Usage: python bench/telegram_double_server.py --per-second 1000 [--delay 0.005] [--no-limits]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "123456:BENCH-token"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-second", type=int, default=30)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--no-limits", action="store_true", help="count violations but never answer 429")
    args = parser.parse_args()
    fake = FakeTelegramAPI(token=TOKEN, per_second=args.per_second, enforce_limits=not args.no_limits)
    fake.set_delay(args.delay)
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
        return web.json_response({"ok": True})

    async def first_with(request: web.Request) -> web.Response:
        """Monotonic time of the first message whose text contains ``q`` (and the double's clock now)."""
        needle = request.query.get("q", "")
        hit = next((m.time for m in fake.sent if needle in m.text), None)
        return web.json_response({"time": hit, "now": asyncio.get_running_loop().time()})

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_get("/first", first_with)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.requests = _Discard()  # the bench does not need every request's parameters kept
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)
    print(f"{fake.url} http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        return None


if __name__ == "__main__":
    asyncio.run(main())
