"""The running system for benchmarks: `koblenz-bot serve` as in production, with its own pool of Rasa servers.

The bot starts and supervises the Rasa servers itself (``RASA_MANAGE``), exactly as after ``make run``;
SQLite lives in a temporary directory. Shared by the benchmarks in this folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)  # run as a script: the project's packages

from core.net import free_port, free_ports  # noqa: E402
from core.paths import PROJECT_ROOT as ROOT  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stack:
    bot_url: str
    rasa_urls: list[str]
    bot: subprocess.Popen[bytes]
    work: Path
    rasa_pids: list[int] = field(default_factory=list)

    def rss(self) -> dict[str, Any]:
        return {"bot": rss_mb(self.bot.pid), "rasa_each": [rss_mb(p) for p in self.rasa_pids]}


async def _health(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=2)) as response:
            body = await response.json(content_type=None)
            return body if isinstance(body, dict) else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


@contextlib.asynccontextmanager
async def running_stack(
    work: Path, rasa_processes: int | None = None, env: dict[str, str] | None = None, timeout: float = 400
) -> AsyncIterator[Stack]:
    """`koblenz-bot serve` with ``rasa_processes`` Rasa servers (default: as the bot's own default);
    yields once every server answers."""
    from core.settings import default_rasa_processes
    from nlu import rasa_env

    rasa_processes = rasa_processes or default_rasa_processes()
    rasa_env.train(ROOT / "nlu" / "config.yml", ROOT / "nlu" / "models", progress=rasa_env.print_progress)
    bot_port, rasa_port = free_port(), free_ports(rasa_processes)
    bot_env = {
        **os.environ,
        "KOBLENZ_BOT_PORT": str(bot_port),
        "KOBLENZ_BOT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "KOBLENZ_BOT_RASA_MANAGE": "true",
        "KOBLENZ_BOT_RASA_PROCESSES": str(rasa_processes),
        "KOBLENZ_BOT_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'bot.db'}",
        "KOBLENZ_BOT_STATE_DIR": str(work),
        "KOBLENZ_BOT_CHAT_RATE_PER_MINUTE": "1000000",
        "KOBLENZ_BOT_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    bot = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=bot_env,
        cwd=ROOT,
        stdout=(work / "bot.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{bot_port}"
    stack = Stack(url, [f"http://127.0.0.1:{rasa_port + i}" for i in range(rasa_processes)], bot, work)
    try:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                health = await _health(session, url)
                servers = (health or {}).get("nlu_servers") or {}
                if servers.get("total") == rasa_processes and servers.get("answering") == rasa_processes:
                    break
                if bot.poll() is not None:
                    raise RuntimeError(f"the bot exited with {bot.returncode}; see {work / 'bot.log'}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout:.0f} s: {health}; see {work}")
                await asyncio.sleep(0.5)
        stack.rasa_pids = children(bot.pid)
        yield stack
    finally:
        bot.terminate()
        try:
            bot.wait(30)
        except subprocess.TimeoutExpired:
            bot.kill()
