"""Telegram polling under load: simulated citizens write to the bot through the Bot API double.

Starts the Bot API double (tests/fakes/telegram_api.py, Telegram's limits enforced: 30 messages/s per bot,
1/s per chat) in this process and ``koblenz-bot serve`` as its own process, with its own Rasa servers (or
the one at ``--rasa-url``), in polling mode against the double (bench/_stack.py; SQLite in a temp dir). Each of ``--users`` private chats sends ``--messages`` questions from the held-out NLU set, waiting for
each answer plus ``--think`` seconds. Two scenarios: ``burst`` (everyone starts at once) and ``steady``
(starts spread over ``--ramp`` seconds, an offered load below Telegram's limit). Prints one JSON object:
per scenario the p50/p95/p99 time from update to reply, errors (no reply within ``--timeout`` or an error
text), NLU fallbacks, 429s and limit violations seen by the double, and the bot's RSS.

Usage: .venv/bin/python bench/telegram_polling.py [--users 500] [--messages 5] [--scenario both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import ROOT, percentile, running_stack

from bot.dialogue import RASA_DOWN_NOTICE
from connectors.telegram.texts import ERROR
from nlu.evaluate import load_examples
from tests.fakes.telegram_api import FakeTelegramAPI, SentMessage


class Citizens:
    """Simulated citizens; replies are matched to chats through the double's ``on_sent`` hook."""

    def __init__(self, fake: FakeTelegramAPI, questions: list[str]) -> None:
        self.fake = fake
        self.questions = questions
        self.waiting: dict[int, asyncio.Future[SentMessage]] = {}
        fake.on_sent = self._sent

    def _sent(self, message: SentMessage) -> None:
        future = self.waiting.pop(int(message.chat_id), None) if isinstance(message.chat_id, int) else None
        if future is not None and not future.done():
            future.set_result(message)

    async def citizen(
        self,
        chat_id: int,
        messages: int,
        think: float,
        timeout: float,
        start_after: float,
        out: dict[str, Any],
    ) -> None:
        await asyncio.sleep(start_after)
        rng = random.Random(chat_id)
        for _ in range(messages):
            future: asyncio.Future[SentMessage] = asyncio.get_running_loop().create_future()
            self.waiting[chat_id] = future
            sent_at = time.monotonic()
            self.fake.enqueue_message(chat_id, rng.choice(self.questions))
            try:
                reply = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                self.waiting.pop(chat_id, None)
                out["errors"] += 1
                out["timeouts"] += 1
                continue
            out["latencies"].append(reply.time - sent_at)
            if ERROR in reply.plain:
                out["errors"] += 1
            if RASA_DOWN_NOTICE in reply.plain:
                out["nlu_fallbacks"] += 1
            await asyncio.sleep(think * (0.5 + rng.random()))


async def scenario(
    citizens: Citizens,
    name: str,
    users: int,
    messages: int,
    think: float,
    ramp: float,
    timeout: float,
    base: int,
) -> dict[str, Any]:
    fake = citizens.fake
    before = (len(fake.sent), fake.rate_limited, len(fake.violations))
    out: dict[str, Any] = {"latencies": [], "errors": 0, "timeouts": 0, "nlu_fallbacks": 0}
    started = time.monotonic()
    await asyncio.gather(
        *(
            citizens.citizen(base + n, messages, think, timeout, ramp * n / users if ramp else 0.0, out)
            for n in range(users)
        )
    )
    elapsed = time.monotonic() - started
    latencies = out.pop("latencies")
    result = {
        "scenario": name,
        "users": users,
        "messages_per_user": messages,
        "updates": users * messages,
        "replies": len(latencies),
        "elapsed_s": round(elapsed, 1),
        "replies_per_s": round(len(latencies) / elapsed, 1),
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "p99_s": round(percentile(latencies, 99), 3),
        "max_s": round(max(latencies, default=0.0), 3),
        **out,
        "telegram_messages_sent": len(fake.sent) - before[0],
        "telegram_429": fake.rate_limited - before[1],
        "telegram_limit_violations": len(fake.violations) - before[2],
    }
    print(f"[bench] {name}: {result}", file=sys.stderr, flush=True)
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    questions = [e.text for e in load_examples(ROOT / "tests" / "data" / "nlu_heldout.yml")]
    work = Path(tempfile.mkdtemp(prefix="koblenz-telegram-bench-"))
    fake = FakeTelegramAPI()
    await fake.start()
    env = {
        "KOBLENZ_BOT_TELEGRAM_TOKEN": fake.token,
        "KOBLENZ_BOT_TELEGRAM_API_URL": fake.url,
        "KOBLENZ_BOT_CHAT_RATE_PER_MINUTE": "30",  # the production limit per chat (5 questions stay below)
        **({"KOBLENZ_BOT_RASA_URL": args.rasa_url} if args.rasa_url else {}),
    }
    processes = 1 if args.rasa_url else None  # the running server at --rasa-url, else the bot's default
    try:
        async with running_stack(work, processes, env) as stack:
            await fake.wait_for(lambda: fake.calls["getUpdates"] > 0, timeout=60)
            citizens = Citizens(fake, questions)
            await scenario(citizens, "warm-up", 10, 2, 0.2, 0.0, args.timeout, 900_000)
            results = []
            wanted = ["burst", "steady"] if args.scenario == "both" else [args.scenario]
            for number, name in enumerate(wanted):
                ramp = args.ramp if name == "steady" else 0.0
                results.append(
                    await scenario(
                        citizens,
                        name,
                        args.users,
                        args.messages,
                        args.think,
                        ramp,
                        args.timeout,
                        1_000_000 * (number + 1),
                    )
                )
            return {
                "benchmark": "telegram_polling",
                "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
                "database": "sqlite",
                "telegram_limits": {
                    "per_second": fake.per_second,
                    "per_private_chat_s": fake.private_interval,
                },
                "results": results,
                "rss_mb": stack.rss(),
                "bot_log_errors": sum(
                    1
                    for line in (work / "bot.log").read_text(errors="replace").splitlines()
                    if " ERROR " in line
                ),
            }
    finally:
        await fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--messages", type=int, default=5, help="messages per user")
    parser.add_argument(
        "--think", type=float, default=5.0, help="mean seconds between answer and next message"
    )
    parser.add_argument(
        "--ramp", type=float, default=240.0, help="steady: users start over this many seconds"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds until a missing reply is an error"
    )
    parser.add_argument("--scenario", choices=["burst", "steady", "both"], default="both")
    parser.add_argument("--rasa-url", default="", help="use this running Rasa server instead of starting one")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
