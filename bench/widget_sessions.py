"""200 concurrent web-widget sessions against one bot process with the real Rasa server.

Each session does what the widget does over HTTP: load /widget.js (gzip) and /api/alerts, send a few
questions from the held-out set (one of them a quick-reply payload when the bot offered one), rate the
last answer (POST /api/feedback), and one in ten clears its history (DELETE /api/chat/{id}). Two
scenarios: "reading_and_typing" (5–15 s between messages: reading the answer, typing the next question;
still brisker than people are) and "burst" (no pause at all, the worst case). Runs `koblenz-bot serve` as
in production with its own Rasa servers (bench/_stack.py; SQLite in a temp dir, default RASA_TIMEOUT so
slow parses fall back to the catalog search as in production) and prints one JSON object.

Usage: .venv/bin/python bench/widget_sessions.py [--sessions 200] [--messages 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import ROOT, percentile, running_stack

from bot.dialogue import RASA_DOWN_NOTICE
from nlu.evaluate import load_examples


class Tally:
    def __init__(self) -> None:
        self.chat_ms: list[float] = []
        self.later_ms: list[float] = []  # every message but the session's first
        self.other_ms: list[float] = []
        self.errors: dict[str, int] = {}
        self.nlu_fallbacks = 0
        self.feedback = 0
        self.cleared = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def session(
    number: int, base: str, questions: list[str], messages: int, think: tuple[float, float], tally: Tally
) -> None:
    rng = random.Random(number)
    await asyncio.sleep(rng.uniform(0, 1))  # the page loads: sessions start within one second
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, timeout=timeout) as http:
        for path in ("/widget.js", "/api/alerts"):
            started = time.perf_counter()
            try:
                async with http.get(path, headers={"Accept-Encoding": "gzip"}) as response:
                    await response.read()
                    if response.status != 200:
                        tally.error(f"GET {path} {response.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.error(f"GET {path} {type(exc).__name__}")
            tally.other_ms.append((time.perf_counter() - started) * 1000)
        token: str | None = None
        choices: list[dict[str, str]] = []
        answers = 0
        for index in range(messages):
            if index:
                await asyncio.sleep(rng.uniform(*think))
            body: dict[str, Any] = {"message": rng.choice(questions)}
            if choices and index == messages - 1:  # the citizen clicks an offered button
                choice = rng.choice(choices)
                body = {"message": choice["title"], "payload": choice["payload"]}
            if token:
                body["conversation_id"] = token
            started = time.perf_counter()
            try:
                async with http.post("/api/chat", json=body) as response:
                    reply = await response.json()
                    if response.status != 200:
                        tally.error(f"POST /api/chat {response.status}")
                        continue
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                tally.error(f"POST /api/chat {type(exc).__name__}")
                continue
            finally:
                tally.chat_ms.append((time.perf_counter() - started) * 1000)
                if index:
                    tally.later_ms.append(tally.chat_ms[-1])
            answers += 1
            token = reply["conversation_id"]
            choices = reply.get("quick_replies") or []
            if RASA_DOWN_NOTICE in reply.get("notices", []):
                tally.nlu_fallbacks += 1
        if token and answers:
            feedback = {"conversation_id": token, "turn": answers, "rating": rng.choice(["up", "down"])}
            started = time.perf_counter()
            async with http.post("/api/feedback", json=feedback) as response:
                await response.read()
                tally.feedback += response.status == 200
                if response.status != 200:
                    tally.error(f"POST /api/feedback {response.status}")
            tally.other_ms.append((time.perf_counter() - started) * 1000)
            if number % 10 == 0:
                async with http.delete(f"/api/chat/{token}") as response:
                    await response.read()
                    tally.cleared += response.status == 200


async def scenario(
    base: str, questions: list[str], sessions: int, messages: int, think: tuple[float, float]
) -> dict[str, Any]:
    tally = Tally()
    started = time.perf_counter()
    await asyncio.gather(*(session(n, base, questions, messages, think, tally) for n in range(sessions)))
    elapsed = time.perf_counter() - started
    chat = tally.chat_ms
    return {
        "sessions": sessions,
        "think_time_s": list(think),
        "chat_requests": len(chat),
        "errors": sum(tally.errors.values()),
        "error_kinds": tally.errors,
        "chat_p50_ms": round(statistics.median(chat), 1),
        "chat_p95_ms": round(percentile(chat, 95), 1),
        "chat_p99_ms": round(percentile(chat, 99), 1),
        "chat_max_ms": round(max(chat), 1),
        "chat_p95_ms_after_first_message": round(percentile(tally.later_ms, 95), 1),
        "other_p95_ms": round(percentile(tally.other_ms, 95), 1),
        "answers_from_search_because_rasa_was_slow": tally.nlu_fallbacks,
        "feedback_stored": tally.feedback,
        "histories_cleared": tally.cleared,
        "chat_throughput_rps": round(len(chat) / elapsed, 1),
        "duration_s": round(elapsed, 1),
    }


async def main(sessions: int, messages: int) -> dict[str, Any]:
    questions = [e.text for e in load_examples(ROOT / "tests" / "data" / "nlu_heldout.yml")]
    work = Path(tempfile.mkdtemp(prefix="koblenz-widget-bench-"))
    # every real visitor has their own address; here all of them share 127.0.0.1 (the stack lifts the
    # per-address chat limit); default RASA_TIMEOUT, so slow parses fall back to the catalog search
    async with running_stack(work) as stack:
        base = stack.bot_url
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/widget.js", headers={"Accept-Encoding": "gzip"}) as response:
                raw = await response.content.read()  # aiohttp decompresses; measure both sizes
            async with http.get(base + "/widget.js", auto_decompress=False) as response:
                gzipped = len(await response.read()) if response.headers.get("Content-Encoding") else None
        await scenario(base, questions, 10, 2, (0.0, 0.0))  # warm-up
        results = {}
        for name, think in (("reading_and_typing", (5.0, 15.0)), ("burst", (0.0, 0.0))):
            results[name] = await scenario(base, questions, sessions, messages, think)
            print(f"[bench] {name}: {results[name]}", file=sys.stderr, flush=True)
        return {
            "benchmark": "widget_sessions",
            "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
            "database": "sqlite",
            "rasa_processes": len(stack.rasa_urls),
            "messages_per_session": messages,
            "widget_js_bytes": {"raw": len(raw), "gzip": gzipped},
            "results": results,
            "rss_mb": stack.rss(),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--messages", type=int, default=4, help="messages per session")
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(main(arguments.sessions, arguments.messages)), indent=2))
