"""CPU cost of polling the inbound feeds (issue 11: "50 feeds polled every minute"). Prints JSON.

50 RSS feeds of 20 entries (about 10 kB of HTML each) on the loopback feed double (tests/fakes), polled by
the real ``FeedPoller`` into SQLite, three rounds: the first (every entry new: parse, sanitise, store),
unchanged (the double answers 304 to the conditional request) and unchanged without conditional requests
(the whole body parsed, nothing new). Reported per round: wall time for all 50 and CPU per feed poll;
the double runs in this process, so its CPU is included (an upper bound). ``--load N``: N processes keep
a core busy each meanwhile.

    .venv/bin/python bench/feeds_bench.py
    .venv/bin/python bench/feeds_bench.py --load 2
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bench.broadcast_bench import Load
from connectors.ingest.config import IngestConfig
from connectors.ingest.poller import FeedPoller
from core.db import create_engine, migrate, sessionmaker
from core.news import FeedSpec
from tests.fakes.feed_server import FakeFeeds, FeedItem


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3")
        await migrate(engine)
        fake = FakeFeeds()
        await fake.start()
        now = dt.datetime.now(dt.UTC)
        html = "<p>Text mit <b>HTML</b> &amp; Entitäten, <a href='https://www.koblenz.de/'>Link</a>. </p>" * 10
        fake.set_items(
            "rss",
            [
                FeedItem(
                    f"id-{i}",
                    f"Meldung {i} zur Baustelle",
                    html,
                    f"https://example.invalid/{i}",
                    now - dt.timedelta(minutes=i),
                )
                for i in range(args.entries)
            ],
        )
        feeds = [
            FeedSpec(name=f"F{i}", url=f"{fake.url}/rss?f={i}", topic="verkehr", mode="draft", interval=60)
            for i in range(args.feeds)
        ]
        load = Load(args.load) if args.load else None
        try:
            async with aiohttp.ClientSession() as http:
                config = IngestConfig(tuple(feeds), dt.timedelta(hours=24), 20, 5_000_000)
                poller = FeedPoller(config, http, sessionmaker(engine), None)
                for label in ("first_all_new", "unchanged_304", "unchanged_no_conditional"):
                    if label == "unchanged_no_conditional":
                        fake.conditional = False
                    used, started = cpu(), time.perf_counter()
                    await asyncio.gather(*(poller.poll(feed) for feed in feeds))
                    wall, spent = time.perf_counter() - started, cpu() - used
                    rounds[label] = {
                        "wall_s": round(wall, 3),
                        "cpu_ms_per_feed_poll": round(spent / len(feeds) * 1000, 2),
                        "share_of_one_core_at_one_poll_per_minute": round(spent / 60, 4),
                    }
        finally:
            machine = load.stop() if load is not None else None
            await fake.stop()
            await engine.dispose()
    return {
        "benchmark": "feeds",
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "load_processes": args.load,
        "load_cpu_seconds": machine,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--load", type=int, default=0)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
