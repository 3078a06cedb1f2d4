"""Alert API 202 → live on every channel, with the platforms answering in 100–300 ms. Prints JSON.

The bot runs as ``koblenz-bot serve`` (scheduler and worker in-process, SQLite), configured with every
channel: the Telegram channel post, X, Mastodon, Facebook, Instagram and a signed webhook. The doubles of
X, Mastodon, the Graph API and the webhook receiver (tests/fakes) run in this process, each behind a
latency proxy that answers every request after a uniform 100–300 ms and records when each post was
created; the Telegram double runs in its own process (bench/telegram_double_server.py), answering after
``--telegram-delay``. For each alert (one at a time) the time from the API's 202 to the post being live
on each channel is taken; the report gives p50/p99/max per channel and over all channels.

``--busy``: before the alerts, a press post to ``--subscribers`` Telegram subscribers (default 100,000) is
sent at ``--rate`` messages per second: the alerts' social posts must not wait behind that fan-out.

    .venv/bin/python bench/social_bench.py --alerts 30
    .venv/bin/python bench/social_bench.py --alerts 30 --busy --subscribers 100000 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from sqlalchemy import insert

from bench.broadcast_bench import BIN, Double, alert, wait_up, worker_env
from broadcasts.cap import to_cap_xml
from broadcasts.service import Actor, Broadcasts
from broadcasts.subscribers import Subscriber, Subscription
from core.db import create_engine, migrate, sessionmaker
from core.net import free_port
from tests.fakes.graph_api import FakeGraphAPI
from tests.fakes.mastodon_api import FakeMastodonAPI
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.fakes.x_api import FakeXAPI

CHANNEL = "@stadt_koblenz_bench"
HOOK_SECRET = "bench-webhook-secret-0123456789"
CREATES = {  # the request whose 2xx answer makes a post live, per channel (all are POSTs)
    "x": "/2/tweets",
    "mastodon": "/api/v1/statuses",
    "webhook": "/hooks/",
    "facebook": "/feed",
    "instagram": "/media_publish",
}


class LatencyProxy:
    """Forwards every request to ``target`` after a uniform ``low``–``high`` seconds; records the
    monotonic time at which a creating request (``CREATES``) got its 2xx answer, with its channel."""

    def __init__(self, target: str, low: float = 0.1, high: float = 0.3) -> None:
        self.target, self.low, self.high = target.rstrip("/"), low, high
        self.created: list[tuple[float, str]] = []
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        self.requests += 1
        body = await request.read()
        await asyncio.sleep(random.uniform(self.low, self.high))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length",)}
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,  # the Host header stays the proxy's: OAuth 1.0a signs that URL
            data=body,
            allow_redirects=False,
        ) as answer:
            payload = await answer.read()
            if request.method == "POST" and answer.status < 300:
                for channel, path in CREATES.items():
                    if path in request.path:
                        self.created.append((time.monotonic(), channel))
            skip = ("content-length", "transfer-encoding", "connection")
            out = {k: v for k, v in answer.headers.items() if k.lower() not in skip}
            return web.Response(status=answer.status, body=payload, headers=out)

    def first_after(self, channel: str, since: float) -> float | None:
        """Alerts go one at a time: the first post created on ``channel`` after ``since`` is this one's."""
        return next((at for at, name in self.created if name == channel and at > since), None)


async def prepare(url: str, subscribers: int) -> None:
    """``subscribers`` Telegram subscribers of the press topic (the busy fan-out's audience)."""
    engine = create_engine(url)
    await migrate(engine)
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as connection:
        for start in range(1, subscribers + 1, 20_000):
            ids = range(start, min(subscribers, start + 19_999) + 1)
            await connection.execute(
                insert(Subscriber.__table__),
                [
                    {
                        "id": i,
                        "channel": "telegram",
                        "chat_id": str(100_000 + i),
                        "chat_type": "private",
                        "active": True,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            await connection.execute(
                insert(Subscription.__table__),
                [{"subscriber_id": i, "topic": "presse", "stadtteile": [], "created_at": now} for i in ids],
            )
    await engine.dispose()


async def press_post(url: str) -> None:
    engine = create_engine(url)
    service = Broadcasts(sessionmaker(engine))
    actor = Actor("bench", "presse", "bench")
    post = await service.create(actor, "presse", "Messung: eine Pressemitteilung an alle.", channels=None)
    await service.schedule(actor, post)
    await engine.dispose()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    x = FakeXAPI(window_limit=10_000)
    mastodon = FakeMastodonAPI(posts_limit=10_000)
    graph = FakeGraphAPI(in_progress_polls=args.ig_polls)
    hooks = WebhookReceiver({"app": HOOK_SECRET})
    for double in (x, mastodon, graph, hooks):
        await double.start()
    proxies = {
        "x": LatencyProxy(x.url),
        "mastodon": LatencyProxy(mastodon.url),
        "facebook": LatencyProxy(graph.url),
        "webhook": LatencyProxy(hooks.url),
    }
    for proxy in proxies.values():
        await proxy.start()
    # Facebook and Instagram share the Graph API; Instagram's posts are told apart by their path
    proxies["instagram"] = proxies["facebook"]
    telegram = Double(args.rate, delay=args.telegram_delay)
    results: dict[str, list[float]] = {name: [] for name in ("telegram_channel", *CREATES)}
    missing: dict[str, int] = dict.fromkeys(results, 0)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        url = f"sqlite+aiosqlite:///{state / 'bench.sqlite3'}"
        await prepare(url, args.subscribers if args.busy else 0)
        port = free_port()
        token = "bench-alert-token-123456"
        env = worker_env(
            url,
            telegram,
            args.rate,
            state,
            KOBLENZ_BOT_PORT=str(port),
            KOBLENZ_BOT_RASA_MANAGE="false",
            KOBLENZ_BOT_RASA_URL="http://127.0.0.1:9",
            KOBLENZ_BOT_NINA_URL="",
            KOBLENZ_BOT_ALERT_SENDERS=json.dumps({"bench": {"token": token}}),
            KOBLENZ_BOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
            KOBLENZ_BOT_TELEGRAM_CHANNEL=CHANNEL,
            KOBLENZ_BOT_X_API_URL=proxies["x"].url,
            KOBLENZ_BOT_X_CONSUMER_KEY=x.consumer_key,
            KOBLENZ_BOT_X_CONSUMER_SECRET=x.consumer_secret,
            KOBLENZ_BOT_X_ACCESS_TOKEN=x.access_token,
            KOBLENZ_BOT_X_ACCESS_TOKEN_SECRET=x.access_token_secret,
            KOBLENZ_BOT_X_DAILY_POSTS="10000",
            KOBLENZ_BOT_MASTODON_URL=proxies["mastodon"].url,
            KOBLENZ_BOT_MASTODON_TOKEN=mastodon.token,
            KOBLENZ_BOT_FACEBOOK_GRAPH_URL=proxies["facebook"].url,
            KOBLENZ_BOT_FACEBOOK_API_VERSION=graph.version,
            KOBLENZ_BOT_FACEBOOK_PAGE_ID=graph.page_id,
            KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN=graph.token,
            KOBLENZ_BOT_INSTAGRAM_USER_ID=graph.ig_user_id,
            KOBLENZ_BOT_WEBHOOKS=json.dumps(
                [{"name": "app", "url": proxies["webhook"].url + "/hooks/app", "secret": HOOK_SECRET}]
            ),
        )
        server = subprocess.Popen(
            [str(BIN / "koblenz-bot"), "serve"], env=env, stderr=open(state / "serve.log", "wb")
        )
        base = f"http://127.0.0.1:{port}"
        fanout_sent_before = fanout_sent_after = 0
        try:
            async with aiohttp.ClientSession() as session:
                await wait_up(session, base)
                await asyncio.sleep(2.0)  # the in-process engine starts a second after the app
                if args.busy:
                    await press_post(url)
                    for _ in range(600):  # until the fan-out is under way
                        if await telegram.count() >= min(args.subscribers, args.rate * 3):
                            break
                        await asyncio.sleep(0.2)
                    fanout_sent_before = await telegram.count()
                for number in range(args.alerts):
                    tag = f"Messwarnung-{number}-{uuid.uuid4().hex[:6]}"
                    body = to_cap_xml(alert(f"bench-social-{tag}", f"{tag} am Deutschen Eck"))
                    async with session.post(
                        base + "/api/alerts",
                        data=body,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
                    ) as response:
                        assert response.status == 202, await response.text()
                        accepted = time.monotonic()
                    pending = set(results)
                    while pending and time.monotonic() - accepted < args.timeout:
                        for name in list(pending):
                            if name == "telegram_channel":
                                at = await telegram.first_with(tag)
                            else:
                                at = proxies[name].first_after(name, accepted)
                            if at is not None:
                                results[name].append(at - accepted)
                                pending.discard(name)
                        await asyncio.sleep(0.01)
                    for name in pending:
                        missing[name] += 1
                        results[name].append(args.timeout)
                    await asyncio.sleep(args.gap)
                if args.busy:
                    fanout_sent_after = await telegram.count()
            stats = await telegram.stats()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            telegram.stop()
            for proxy in {id(p): p for p in proxies.values()}.values():
                await proxy.stop()
            for double in (x, mastodon, graph, hooks):
                await double.stop()
    everything = [v for values in results.values() for v in values]
    return {
        "benchmark": "social",
        "busy": bool(args.busy),
        "subscribers_in_fanout": args.subscribers if args.busy else 0,
        "telegram_rate": args.rate,
        "platform_latency_ms": [100, 300],
        "instagram_container_in_progress_polls": args.ig_polls,
        "alerts": args.alerts,
        "accepted_to_live": {name: summary(values) for name, values in results.items() if values},
        "accepted_to_live_all_channels": summary(everything),
        "not_live_within_timeout": {k: v for k, v in missing.items() if v},
        "fanout_messages_during_alerts": fanout_sent_after - fanout_sent_before if args.busy else None,
        "telegram_violations": stats["violations"],
        "telegram_duplicates": stats["duplicates"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--busy", action="store_true", help="a 100,000-subscriber fan-out runs meanwhile")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--rate", type=int, default=1000, help="Telegram messages per second (double's limit)"
    )
    parser.add_argument("--telegram-delay", type=float, default=0.1, help="seconds the Telegram double waits")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between alerts")
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument(
        "--ig-polls", type=int, default=2, help="status polls an Instagram container stays IN_PROGRESS"
    )
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
