"""A NINA warning for Koblenz → on the website banner (``GET /api/alerts``): the time it takes, against the
goal of ``NINA_INTERVAL`` + 2 s. Prints JSON.

``koblenz-bot serve`` runs as its own process with ``NINA_URL`` at the NINA double (tests/fakes, in this
process) and ``NINA_INTERVAL`` seconds between polls. Warnings are added to the double's Koblenz
dashboard at random moments of the poll cycle, one at a time; the banner is read every 20 ms until it
shows the warning. ``--load N``: N processes keep a core busy each meanwhile.

    .venv/bin/python bench/nina_bench.py --interval 5 --warnings 12
    .venv/bin/python bench/nina_bench.py --interval 5 --warnings 12 --load 2
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bench.broadcast_bench import BIN, Load, wait_up
from core.net import free_port
from tests.fakes.nina_api import FakeNinaAPI


async def run(args: argparse.Namespace) -> dict[str, Any]:
    nina = FakeNinaAPI()
    await nina.start()
    port = free_port()
    seconds: list[float] = []
    load = Load(args.load) if args.load else None
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        env = {
            "PATH": "/usr/bin:/bin",
            "KOBLENZ_BOT_DATABASE_URL": f"sqlite+aiosqlite:///{state / 'bench.sqlite3'}",
            "KOBLENZ_BOT_STATE_DIR": str(state),
            "KOBLENZ_BOT_CONFIG": str(state / "none.toml"),
            "KOBLENZ_BOT_PORT": str(port),
            "KOBLENZ_BOT_RASA_MANAGE": "false",
            "KOBLENZ_BOT_RASA_URL": "http://127.0.0.1:9",
            "KOBLENZ_BOT_NINA_URL": nina.url,
            "KOBLENZ_BOT_NINA_INTERVAL": str(args.interval),
            "KOBLENZ_BOT_LOG_LEVEL": "WARNING",
        }
        env.update({key: os.environ[key] for key in ("PYTHONPATH", "HOME") if key in os.environ})
        server = subprocess.Popen(
            [str(BIN / "koblenz-bot"), "serve"], env=env, stderr=open(state / "serve.log", "wb")
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                await wait_up(session, base)
                await asyncio.sleep(args.interval + 1)  # the poller is in its rhythm
                for number in range(args.warnings):
                    await asyncio.sleep(random.uniform(0, args.interval))  # any moment of the cycle
                    identifier = f"mow.DE-RP-KO-BENCH-{number}-{random.randrange(10**6):06d}"
                    sent = dt.datetime.now(dt.UTC).replace(microsecond=0)
                    nina.add_warning(
                        FakeNinaAPI.mowas(
                            identifier,
                            headline=f"Gefahreninformation: Messung {number}",
                            sent=sent,
                            expires=sent + dt.timedelta(hours=2),
                        )
                    )
                    added = time.monotonic()
                    shown = None
                    while time.monotonic() - added < args.interval * 3 + 10:
                        async with session.get(base + "/api/alerts") as response:
                            if f"Messung {number}" in await response.text():
                                shown = time.monotonic()
                                break
                        await asyncio.sleep(0.02)
                    seconds.append((shown or added + args.interval * 3 + 10) - added)
                    nina.remove(identifier)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            machine = load.stop() if load is not None else None
            await nina.stop()
    ordered = sorted(seconds)
    goal = args.interval + 2
    return {
        "benchmark": "nina_to_banner",
        "nina_interval_s": args.interval,
        "goal_s": goal,
        "warnings": len(ordered),
        "load_processes": args.load,
        "load_cpu_seconds": machine,
        "seconds": {
            "p50": round(statistics.median(ordered), 2),
            "max": round(ordered[-1], 2),
            "mean": round(statistics.fmean(ordered), 2),
        },
        "within_goal": sum(1 for s in ordered if s <= goal),
        "dashboard_polls": nina.calls["dashboard"],
        "not_modified": nina.not_modified,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--warnings", type=int, default=12)
    parser.add_argument("--load", type=int, default=0)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
