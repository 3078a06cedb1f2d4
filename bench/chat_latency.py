"""Chat latency and throughput through POST /api/chat with the real Rasa server; raw /model/parse alongside.

Starts its own Rasa server (production model) and bot server (SQLite in a temp dir) on free loopback
ports, runs 1/10/50 concurrent clients for a fixed number of requests each, and prints one JSON object:
per concurrency the throughput and p50/p95/p99 latency of the bot and of raw Rasa, the overhead, and the
RSS of both processes. Usage: .venv/bin/python bench/chat_latency.py [--requests 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu import rasa_env  # noqa: E402
from nlu.evaluate import load_examples  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


async def wait_for(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if (response.status == 200 and "model_file" in await response.text()) or url.endswith(
                        "/health"
                    ):
                        if response.status == 200:
                            return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def load(url: str, make_body: Any, concurrency: int, total: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for index in counter:
            body = make_body(number, index)
            start = time.perf_counter()
            try:
                async with session.post(url, json=body) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append((time.perf_counter() - start) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(n, session) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
    }


async def main(requests: int) -> dict[str, Any]:
    questions = [e.text for e in load_examples(ROOT / "tests" / "data" / "nlu_heldout.yml")]
    model = rasa_env.train(
        ROOT / "nlu" / "config.yml", ROOT / "nlu" / "models", progress=rasa_env.print_progress
    )
    rasa_port, bot_port = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="koblenz-bench-"))
    rasa = subprocess.Popen(
        rasa_env.server_command(model, "127.0.0.1", rasa_port),
        env=rasa_env.rasa_environ(),
        stdout=(work / "rasa.log").open("wb"),
        stderr=subprocess.STDOUT,
        cwd=work,
    )
    env = {
        **os.environ,
        "KOBLENZ_BOT_PORT": str(bot_port),
        "KOBLENZ_BOT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "KOBLENZ_BOT_RASA_MANAGE": "false",
        "KOBLENZ_BOT_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'bot.db'}",
        "KOBLENZ_BOT_STATE_DIR": str(work),
        "KOBLENZ_BOT_CHAT_RATE_PER_MINUTE": "1000000",
        "KOBLENZ_BOT_LOG_LEVEL": "WARNING",
    }
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=(work / "bot.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_for(f"http://127.0.0.1:{rasa_port}/status")
        await wait_for(f"http://127.0.0.1:{bot_port}/health")
        rasa_url = f"http://127.0.0.1:{rasa_port}/model/parse"
        bot_url = f"http://127.0.0.1:{bot_port}/api/chat"
        await load(bot_url, lambda n, i: {"message": questions[i % len(questions)]}, 10, 100)  # warm-up
        results: dict[str, Any] = {}
        for concurrency in (1, 10, 50):
            total = requests if concurrency > 1 else requests // 3
            raw = await load(
                rasa_url, lambda n, i: {"text": questions[i % len(questions)]}, concurrency, total
            )
            chat = await load(
                bot_url,
                lambda n, i: {
                    "message": questions[i % len(questions)],
                    "conversation_id": f"bench-client-{n:04d}",
                },
                concurrency,
                total,
            )
            overhead = round(raw["throughput_rps"] / chat["throughput_rps"] - 1, 3)
            results[str(concurrency)] = {"chat": chat, "raw_rasa": raw, "throughput_overhead": overhead}
            print(f"[bench] {concurrency:2d} clients: chat {chat} | rasa {raw}", file=sys.stderr, flush=True)
        return {
            "benchmark": "chat_latency",
            "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
            "database": "sqlite",
            "questions": len(questions),
            "results": results,
            "rss_mb": {"bot": rss_mb(bot.pid), "rasa": rss_mb(rasa.pid)},
        }
    finally:
        for process in (bot, rasa):
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=600, help="requests per concurrency level")
    print(json.dumps(asyncio.run(main(parser.parse_args().requests)), indent=2))
