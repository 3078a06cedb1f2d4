"""Chat latency and throughput through POST /api/chat with the real Rasa servers; raw /model/parse alongside.

Runs `koblenz-bot serve` as in production (it starts its own pool of Rasa servers; SQLite in a temporary
directory) and measures, with the 353 held-out questions in turn:

- closed loop: 1/10/50 clients that each send the next question as soon as the answer arrives (saturation:
  the throughput ceiling; the latency then is clients ÷ throughput by Little's law),
- open loop: 50 conversations whose questions arrive at random (Poisson) times, at a total rate of
  ``--rate`` per second (what a busy evening looks like: many citizens, each waiting for the answer before
  typing the next question); latency is counted from the moment a question was due,
- raw Rasa ``/model/parse`` in the same run, spread over the same servers, for the overhead,
- answers that came from the catalog search because Rasa was too slow (they must stay 0),
- RSS of the bot and of each Rasa server; CPU milliseconds per request of the bot, the Rasa servers and
  this load generator (all on the same 2 cores).

Usage: .venv/bin/python bench/chat_latency.py [--requests 1200] [--rate 100] [--duration 30]
[--rasa-processes N (default: as the bot's, cores - 1)] [--plot docs/images/chat-latency.png]; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import ROOT, Stack, cpu_seconds, percentile, running_stack

from bot.dialogue import RASA_DOWN_NOTICE
from core.settings import default_rasa_processes
from nlu.evaluate import load_examples


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.catalog_fallbacks = 0

    async def post(
        self, session: aiohttp.ClientSession, url: str, body: dict[str, Any], since: float
    ) -> None:
        try:
            async with session.post(url, json=body) as response:
                payload = await response.read()
                if response.status != 200:
                    self.errors += 1
                elif RASA_DOWN_NOTICE.encode() in payload:
                    self.catalog_fallbacks += 1
        except aiohttp.ClientError:
            self.errors += 1
        self.latencies.append((time.perf_counter() - since) * 1000)

    def summary(self, elapsed: float) -> dict[str, Any]:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "catalog_fallbacks": self.catalog_fallbacks,
            "throughput_rps": round(len(self.latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(self.latencies), 1),
            "p95_ms": round(percentile(self.latencies, 95), 1),
            "p99_ms": round(percentile(self.latencies, 99), 1),
        }


async def closed_loop(
    url_for: Callable[[int], str], make_body: Callable[[int, int], dict[str, Any]], clients: int, total: int
) -> dict[str, Any]:
    tally = Tally()
    counter = iter(range(total))

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        for index in counter:
            await tally.post(session, url_for(index), make_body(number, index), time.perf_counter())

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(n, session) for n in range(clients)))
        return tally.summary(time.perf_counter() - started)


async def open_loop(
    url: str, questions: list[str], conversations: int, rate: float, duration: float, seed: int = 7
) -> dict[str, Any]:
    """Poisson arrivals at ``rate``/s over ``conversations``; a conversation waits for its previous answer."""
    tally = Tally()
    rng = random.Random(seed)
    numbers = itertools.count()

    async def conversation(number: int, session: aiohttp.ClientSession, start: float) -> None:
        due = start
        while True:
            due += rng.expovariate(rate / conversations)
            if due - start > duration:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {
                "message": questions[next(numbers) % len(questions)],
                "conversation_id": f"bench-open-{number:04d}",
            }
            await tally.post(session, url, body, due)  # from when it was due: waiting counts

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conversations)) as session:
        start = time.perf_counter() + 0.1
        await asyncio.gather(*(conversation(n, session, start) for n in range(conversations)))
        elapsed = time.perf_counter() - start
    result = tally.summary(elapsed)
    result.update(conversations=conversations, offered_rps=rate, duration_s=duration)
    return result


CpuReading = tuple[list[float], float]  # CPU seconds of bot and Rasa servers; of this load generator


def cpu_per_request(before: CpuReading, after: CpuReading, requests: int) -> dict[str, float]:
    (servers_before, client_before), (servers_after, client_after) = before, after
    return {
        "bot": round((servers_after[0] - servers_before[0]) / requests * 1000, 2),
        "rasa": round((sum(servers_after[1:]) - sum(servers_before[1:])) / requests * 1000, 2),
        "load_generator": round((client_after - client_before) / requests * 1000, 2),
    }


async def measure(stack: Stack, questions: list[str], args: argparse.Namespace) -> dict[str, Any]:
    chat_url = f"{stack.bot_url}/api/chat"
    parse_urls = [f"{url}/model/parse" for url in stack.rasa_urls]

    def chat_body(number: int, index: int) -> dict[str, Any]:
        return {"message": questions[index % len(questions)], "conversation_id": f"bench-client-{number:04d}"}

    def parse_body(_number: int, index: int) -> dict[str, Any]:
        return {"text": questions[index % len(questions)]}

    await closed_loop(lambda i: chat_url, chat_body, 10, 200)  # warm-up
    results: dict[str, Any] = {"closed_loop": {}}
    processes = [stack.bot.pid, *stack.rasa_pids]
    for clients in (1, 10, 50):
        total = args.requests if clients > 1 else args.requests // 3
        raw_cpu = [cpu_seconds(p) for p in processes], time.process_time()
        raw = await closed_loop(lambda i: parse_urls[i % len(parse_urls)], parse_body, clients, total)
        chat_cpu = [cpu_seconds(p) for p in processes], time.process_time()
        chat = await closed_loop(lambda i: chat_url, chat_body, clients, total)
        end_cpu = [cpu_seconds(p) for p in processes], time.process_time()

        results["closed_loop"][str(clients)] = {
            "chat": chat,
            "raw_rasa": raw,
            "throughput_overhead": round(raw["throughput_rps"] / chat["throughput_rps"] - 1, 3),
            "cpu_ms_per_request": {
                "chat": cpu_per_request(chat_cpu, end_cpu, total),
                "raw_rasa": cpu_per_request(raw_cpu, chat_cpu, total),
            },
        }
        print(f"[bench] closed {clients:2d}: chat {chat} | rasa {raw}", file=sys.stderr, flush=True)
    results["open_loop"] = []
    for rate in args.rate:
        one = await open_loop(chat_url, questions, 50, rate, args.duration)
        results["open_loop"].append(one)
        print(f"[bench] open 50 conversations @ {rate}/s: {one}", file=sys.stderr, flush=True)
    return results


def draw(report: dict[str, Any], path: Path) -> None:
    """Throughput and p95 per load, chat next to raw Rasa, with the issue's targets as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    closed = report["results"]["closed_loop"]
    opened = report["results"]["open_loop"]
    labels = [f"{c} client{'s' if c != '1' else ''}" for c in closed] + [
        f"50 conv.\n@{o['offered_rps']:.0f}/s" for o in opened
    ]
    chat = [closed[c]["chat"] for c in closed] + opened
    raw = [closed[c]["raw_rasa"] for c in closed]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.38
    panels = (
        ("throughput_rps", "Throughput", "answers (parses) per second", 100, "target ≥ 100 answers/s"),
        ("p95_ms", "95th percentile latency", "milliseconds", 150, "target p95 ≤ 150 ms"),
    )
    for axis, (key, title, unit, target, target_label) in zip(axes, panels, strict=True):
        axis.bar(
            [i - width / 2 for i in range(len(chat))], [c[key] for c in chat], width, label="chat (/api/chat)"
        )
        axis.bar([i + width / 2 for i in range(len(raw))], [r[key] for r in raw], width, label="raw Rasa")
        axis.axhline(target, color="black", linestyle="--", linewidth=1, label=target_label)
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.set_xticks(list(range(len(labels))), labels, fontsize=8)
        axis.legend(fontsize=8)
    processes = report["rasa_processes"]
    figure.suptitle(
        f"Chat with the real Rasa server ({processes} Rasa process{'es' if processes > 1 else ''}), "
        f"{report['machine']['cores']} cores: closed loop (no pause) and open loop (50 conversations)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    questions = [e.text for e in load_examples(ROOT / "tests" / "data" / "nlu_heldout.yml")]
    work = Path(tempfile.mkdtemp(prefix="koblenz-bench-"))
    async with running_stack(work, args.rasa_processes) as stack:
        results = await measure(stack, questions, args)
        rss = stack.rss()
    return {
        "benchmark": "chat_latency",
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "database": "sqlite",
        "rasa_processes": args.rasa_processes,
        "questions": len(questions),
        "results": results,
        "rss_mb": rss,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1200, help="closed loop: requests per client count")
    parser.add_argument("--rate", type=float, nargs="+", default=[100.0], help="open loop: questions/s")
    parser.add_argument("--duration", type=float, default=30.0, help="open loop: seconds per rate")
    parser.add_argument(
        "--rasa-processes",
        type=int,
        default=default_rasa_processes(),
        help="Rasa servers the bot starts",
    )
    parser.add_argument("--plot", type=Path, help="also draw the figures into this PNG")
    arguments = parser.parse_args()
    report = asyncio.run(main(arguments))
    if arguments.plot:
        draw(report, arguments.plot)
    print(json.dumps(report, indent=2))
