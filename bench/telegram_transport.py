"""Which transport under the one Telegram client (issue 9): the lean HTTP/1.1 pool, the thin aiohttp path or
python-telegram-bot's, for mass fan-out. Prints JSON.

The Bot API double (bench/telegram_double_server.py, its own process, ``--no-limits`` and a per-second
limit far above what is sent, so nothing is answered 429 and the limiter measures nothing) receives
``--messages`` sendMessage calls to as many different chats, ``--concurrency`` at a time (the outbox
worker's ``DELIVERY_CONCURRENCY``), through each path in turn, ``--rounds`` times, after a warm-up:

- ``client_wire``: what a broadcast does now: ``TelegramPublisher.send`` → ``TelegramClient`` (chat
  pacing, error mapping, the overall turn already taken by the worker) → ``WireTransport``
  (``connectors/telegram/wire.py``);
- ``client_aiohttp``: the same client over the previous transport, a JSON POST on an aiohttp session
  (kept here as ``AiohttpPost`` for the comparison);
- ``ptb_bot``: python-telegram-bot's own path, as the chat replies used it before: ``Bot.send_message``
  over ``HTTPXRequest`` with a pool of ``--concurrency`` connections (builds a ``Message`` per answer);
- ``raw_aiohttp``: a bare ``session.post`` of the JSON, the floor (the old hand-written publisher).

Reported per path: messages per second (wall clock of the round) and CPU milliseconds per message of this
process (user + system, getrusage); the median over the rounds, and every round.

Usage: .venv/bin/python bench/telegram_transport.py [--messages 2000] [--concurrency 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from telegram import Bot
from telegram.request import HTTPXRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broadcasts.ratelimit import LocalSlots
from connectors.telegram.client import TelegramClient
from connectors.telegram.publisher import TelegramPublisher
from connectors.telegram.transport import WireTransport

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH-token"  # the double's (bench/telegram_double_server.py)
TIMEOUT = 60.0  # seconds, every path: a loaded machine must not turn into errors
TEXT = "Hochwasser der Mosel: Der Pegel in Koblenz steigt bis Freitag auf 7,20 m. Ufer meiden."
Send = Callable[[int], Awaitable[Any]]


class AiohttpPost:
    """The transport before ``WireTransport`` (commit 69532e0), for the comparison."""

    def __init__(self, session: aiohttp.ClientSession, api_url: str, token: str, timeout: float) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(
        self, method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        async with self._session.post(
            self._base + method,
            data=json.dumps(params, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            timeout=self._timeout,
        ) as response:
            return response.status, await response.json(content_type=None)

    async def close(self) -> None:
        pass


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def round_of(send: Send, chats: range, concurrency: int) -> dict[str, float]:
    slots = asyncio.Semaphore(concurrency)

    async def one(chat: int) -> None:
        async with slots:
            await send(chat)

    cpu_before, started = cpu(), time.perf_counter()
    await asyncio.gather(*(one(chat) for chat in chats))
    seconds, cpu_used = time.perf_counter() - started, cpu() - cpu_before
    return {
        "messages_per_second": round(len(chats) / seconds, 1),
        "cpu_ms_per_message": round(cpu_used / len(chats) * 1000, 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    double = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "telegram_double_server.py"),
            "--per-second",
            "100000000",
            "--no-limits",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert double.stdout is not None
    api_url, stats_url = double.stdout.readline().split()
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session,
            Bot(
                TOKEN,
                base_url=f"{api_url}/bot",
                request=HTTPXRequest(
                    connection_pool_size=args.concurrency,
                    connect_timeout=TIMEOUT,
                    read_timeout=TIMEOUT,
                    write_timeout=TIMEOUT,
                    pool_timeout=TIMEOUT,
                ),
            ) as bot,
        ):
            client = TelegramClient(AiohttpPost(session, api_url, TOKEN, TIMEOUT), LocalSlots(1e9))
            publisher = TelegramPublisher.over(client, 1e9)
            wire_client = TelegramClient(
                WireTransport(api_url, TOKEN, TIMEOUT, connections=args.concurrency), LocalSlots(1e9)
            )
            wire = TelegramPublisher.over(wire_client, 1e9)
            base = f"{api_url}/bot{TOKEN}/sendMessage"

            async def raw(chat: int) -> None:
                async with session.post(
                    base,
                    data=json.dumps({"chat_id": chat, "text": TEXT}).encode(),
                    headers={"Content-Type": "application/json"},
                ) as response:
                    assert (await response.json())["ok"] is True

            paths: dict[str, Send] = {
                "client_wire": lambda chat: wire.send(str(chat), TEXT),
                "client_aiohttp": lambda chat: publisher.send(str(chat), TEXT),
                "ptb_bot": lambda chat: bot.send_message(chat, TEXT),
                "raw_aiohttp": raw,
            }
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
            for index, send in enumerate(paths.values()):  # warm-up: connections, imports, caches
                warm = 5 * 10**8 + index * 1000
                await round_of(send, range(warm, warm + min(300, args.messages)), args.concurrency)
            for number in range(args.rounds):
                for name, send in paths.items():
                    start = (10**9) + (number * len(paths) + list(paths).index(name)) * args.messages
                    rounds[name].append(
                        await round_of(send, range(start, start + args.messages), args.concurrency)
                    )
            async with session.get(stats_url + "/stats") as response:
                seen = await response.json()
            await wire_client.close()
    finally:
        double.terminate()
        double.wait(10)
    result = {
        "benchmark": "telegram_transport",
        "messages": args.messages,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "double_saw": {
            "sent": seen["sent"],
            "duplicates": seen["duplicates"],
            "rate_limited": seen["rate_limited"],
        },
        "paths": {
            name: {
                "messages_per_second": statistics.median(r["messages_per_second"] for r in runs),
                "cpu_ms_per_message": statistics.median(r["cpu_ms_per_message"] for r in runs),
                "rounds": runs,
            }
            for name, runs in rounds.items()
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
