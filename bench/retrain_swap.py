"""“Neu trainieren” under load: time until the new model answers, and chat requests that failed meanwhile.

`koblenz-bot serve` runs with two Rasa servers (bench/_stack.py); a steady 20 questions per second go to
its ``POST /api/chat``. After a warm-up an editor's change is made (a copy of the catalog gets another
Stadtteil spelling, so the retrained model differs) and ``koblenz-bot nlu retrain`` runs against the two
servers: generate, train, swap one at a time through ``PUT /model`` with the API token. The load goes on
until some seconds after the swap. Prints JSON:

- ``seconds_to_new_model``: from the start of the retrain until both servers report the new model;
- ``retrain``: the job's own figures (generating, training, swapping seconds);
- ``chat``: requests sent, ``failed`` (not HTTP 200 or no answer; the goal is 0), ``catalog_fallbacks``
  (answered from the catalog search because no Rasa server answered in time), latency percentiles, all
  for the whole run and for the swap window alone.

The retrain here runs in its own process, as ``koblenz-bot nlu retrain`` does: the serving bot's pool is
not told which server is loading, so a parse that reaches it waits up to RASA_TIMEOUT and the answer comes
from the catalog search (counted in ``catalog_fallbacks``, not a failure). Run from the console's button,
the job uses the bot's own pool, which sends the loading server nothing.

    .venv/bin/python bench/retrain_swap.py [--rate 20] [--after 8]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from _stack import ROOT, percentile, running_stack

QUESTIONS = (
    "Was kostet ein Reisepass?",
    "perso verloren was jetzt",
    "Wo kann ich mein Auto abmelden?",
    "sperrmüll anmelden",
    "Wann hat das Bürgeramt auf?",
    "Ich ziehe nach Koblenz, wie melde ich mich an?",
    "Welche Unterlagen brauche ich für die Eheschließung?",
    "Führungszeugnis beantragen",
)
FALLBACK = "Sprachverständnis ist gerade nicht erreichbar"


class Load:
    def __init__(self) -> None:
        self.rows: list[tuple[float, int, float, bool]] = []  # sent at, status (0: none), seconds, fallback

    async def one(self, session: aiohttp.ClientSession, url: str, number: int, question: str) -> None:
        sent = time.monotonic()
        status, fallback = 0, False
        try:
            async with session.post(
                f"{url}/api/chat",
                json={"message": question, "conversation_id": f"bench-conversation-{number}"},
                timeout=aiohttp.ClientTimeout(total=15),
            ) as response:
                status = response.status
                fallback = FALLBACK in await response.text()
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        self.rows.append((sent, status, time.monotonic() - sent, fallback))

    async def run(self, url: str, rate: float, stop: asyncio.Event) -> None:
        tasks: list[asyncio.Task[None]] = []
        async with aiohttp.ClientSession() as session:
            begun = time.monotonic()
            for number, question in zip(itertools.count(), itertools.cycle(QUESTIONS), strict=False):
                if stop.is_set():
                    break
                tasks.append(asyncio.create_task(self.one(session, url, number, question)))
                await asyncio.sleep(max(0.0, begun + (number + 1) / rate - time.monotonic()))
            await asyncio.gather(*tasks)

    def summary(self, start: float = 0.0, end: float = float("inf")) -> dict[str, Any]:
        rows = [row for row in self.rows if start <= row[0] <= end]
        latencies = [row[2] * 1000 for row in rows]
        return {
            "requests": len(rows),
            "failed": sum(1 for row in rows if row[1] != 200),
            "failed_by_status": dict(Counter(str(row[1] or "no answer") for row in rows if row[1] != 200)),
            "failed_at_seconds": [round(row[0] - self.rows[0][0], 1) for row in rows if row[1] != 200][:20],
            "catalog_fallbacks": sum(1 for row in rows if row[3]),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "max_ms": round(max(latencies, default=0.0), 1),
        }


async def model_files(session: aiohttp.ClientSession, urls: list[str], token: str) -> list[str | None]:
    files: list[str | None] = []
    for url in urls:
        try:
            async with session.get(
                f"{url}/status", params={"token": token}, timeout=aiohttp.ClientTimeout(total=2)
            ) as response:
                body = await response.json(content_type=None) if response.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError):
            body = {}
        files.append(body.get("model_file") if isinstance(body, dict) else None)
    return files


async def auth_required(url: str) -> bool:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/status") as response:
        return response.status == 401


def editors_copy(work: Path) -> tuple[Path, Path]:
    """A catalog with one more Stadtteil spelling and a copy of the Rasa project to regenerate."""
    catalog = work / "data"
    shutil.copytree(ROOT / "data", catalog)
    parts = yaml.safe_load((catalog / "stadtteile.yaml").read_text(encoding="utf-8"))
    parts[0].setdefault("synonyms", []).append(f"Benchviertel {int(time.time())}")
    (catalog / "stadtteile.yaml").write_text(yaml.safe_dump(parts, allow_unicode=True), encoding="utf-8")
    nlu = work / "nlu"
    for name in ("phrases", "data"):
        shutil.copytree(ROOT / "nlu" / name, nlu / name)
    shutil.copyfile(ROOT / "nlu" / "domain.yml", nlu / "domain.yml")
    return catalog, nlu


async def bench(rate: float, after: float, warmup: float) -> dict[str, Any]:
    from pydantic import SecretStr

    from nlu.auth import load_or_create_token

    work = Path(tempfile.mkdtemp(prefix="retrain-bench-"))
    try:
        async with running_stack(work, rasa_processes=2) as stack:
            token = load_or_create_token(SecretStr(""), work).get_secret_value()
            catalog, nlu = editors_copy(work)
            before = await _files(stack.rasa_urls, token)
            stop = asyncio.Event()
            load = Load()
            loader = asyncio.create_task(load.run(stack.bot_url, rate, stop))
            await asyncio.sleep(warmup)
            env = {
                **os.environ,
                "KOBLENZ_BOT_STATE_DIR": str(work),
                "KOBLENZ_BOT_CATALOG_DIR": str(catalog),
                "KOBLENZ_BOT_MODEL_DIR": str(work / "models"),
                "KOBLENZ_BOT_RASA_URL": stack.rasa_urls[0],
                "KOBLENZ_BOT_RASA_PROCESSES": str(len(stack.rasa_urls)),
                "KOBLENZ_BOT_LOG_LEVEL": "WARNING",
            }
            command = [sys.executable, "-m", "app.cli", "nlu", "retrain", "--nlu-dir", str(nlu), "--json"]
            for url in stack.rasa_urls:
                command += ["--url", url]
            triggered = time.monotonic()
            retrain = await asyncio.create_subprocess_exec(
                *command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=(work / "retrain.log").open("wb")
            )
            finished = asyncio.create_task(retrain.communicate())
            new_model_at: float | None = None
            first_swap_at: float | None = None
            async with aiohttp.ClientSession() as session:
                while new_model_at is None and not finished.done():
                    files = await model_files(session, stack.rasa_urls, token)
                    changed = [f is not None and f not in before for f in files]
                    now = time.monotonic()
                    if any(changed) and first_swap_at is None:
                        first_swap_at = now
                    if all(changed):
                        new_model_at = now
                    await asyncio.sleep(0.1)
            output = (await finished)[0].decode()
            await asyncio.sleep(after)
            stop.set()
            await loader
            job = json.loads(output.strip().splitlines()[-1]) if output.strip() else {}
            swap_start = triggered + sum(
                float(job.get("seconds", {}).get(k, 0)) for k in ("generating", "training")
            )
            swap_end = new_model_at or time.monotonic()
            return {
                "retrain_started_at_seconds": round(triggered - load.rows[0][0], 1) if load.rows else None,
                "rasa_servers": len(stack.rasa_urls),
                "rasa_requires_token": await auth_required(stack.rasa_urls[0]),
                "rate_per_second": rate,
                "seconds_to_new_model": round(new_model_at - triggered, 1) if new_model_at else None,
                "seconds_to_first_server_swapped": round(first_swap_at - triggered, 1)
                if first_swap_at
                else None,
                "retrain": job,
                "chat": load.summary(),
                "chat_during_swap": load.summary(swap_start, swap_end),
                "load_average": os.getloadavg(),
                "cpus": os.cpu_count(),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _files(urls: list[str], token: str) -> set[str]:
    async with aiohttp.ClientSession() as session:
        return {f for f in await model_files(session, urls, token) if f}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0, help="chat questions per second (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the retrain")
    parser.add_argument("--after", type=float, default=8.0, help="seconds of load after the swap")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.rate, args.after, args.warmup)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
