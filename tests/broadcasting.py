"""Helpers shared by the broadcast engine tests (tests/broadcasts/): a migrated, empty database,
subscribers, settings pointing at the Telegram double, and small waits."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.capmodel import CapAlert, CapArea, CapInfo
from broadcasts.engine import Running
from broadcasts.engine import running as engine_running
from broadcasts.models import Delivery
from broadcasts.publishers import Channel
from broadcasts.service import Actor, Broadcasts
from broadcasts.subscribers import Subscriber, Subscription
from connectors import registry
from connectors.banner.publisher import BannerPublisher
from connectors.feeds.publisher import CapFeedPublisher, FeedPublisher
from connectors.telegram.publisher import TelegramPublisher
from core.db import create_engine, migrate, sessionmaker
from core.settings import Settings
from tests.conftest import make_settings
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "123456:TEST-token"
PRESS = Actor("pressestelle", "presse", "test")
FIRE = Actor("feuerwehr", "feuerwehr", "test")
TABLES = (
    "deliveries",
    "outbound_messages",
    "alerts",
    "broadcasts",
    "audit_log",
    "rate_buckets",
    "subscriptions",
    "subscribers",
)


async def fresh_engine(url: str) -> AsyncEngine:
    """The database at the newest revision with the broadcast tables empty (PostgreSQL is shared)."""
    engine = create_engine(url)
    await migrate(engine)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return engine


def settings_for(tmp_path: Path, url: str, fake: FakeTelegramAPI | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "telegram_token": TOKEN,
        "telegram_api_url": fake.url if fake is not None else "http://127.0.0.1:9",
        "telegram_rate": 150,  # below the doubles' 200/s: these tests are about behaviour, not the margin
        "telegram_timeout": 2.0,
        "delivery_backoff_seconds": 0.05,
        "delivery_lease_seconds": 5.0,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


async def add_subscribers(
    engine: AsyncEngine,
    chats: Sequence[int | str],
    topic: str = "warnungen",
    stadtteile: Sequence[str] = (),
    chat_type: str = "private",
) -> None:
    async with sessionmaker(engine).begin() as session:
        existing = {
            s.chat_id: s
            for s in await session.scalars(
                select(Subscriber).where(Subscriber.chat_id.in_([str(c) for c in chats]))
            )
        }
        for chat in chats:
            subscriber = existing.get(str(chat))
            if subscriber is None:
                subscriber = Subscriber(
                    channel="telegram", chat_id=str(chat), chat_type=chat_type, active=True
                )
                session.add(subscriber)
            subscriber.subscriptions.append(Subscription(topic=topic, stadtteile=list(stadtteile)))


async def states(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
        return {str(state): int(count) for state, count in rows.all()}


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition", interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(interval)


async def settled(engine: AsyncEngine, expected: int, timeout: float = 30.0) -> dict[str, int]:
    """Wait until ``expected`` deliveries exist and none is pending or in flight; return the counts."""

    async def done() -> bool:
        counts = await states(engine)
        return sum(counts.values()) >= expected and not counts.get("pending") and not counts.get("in_flight")

    await wait_until(done, timeout, f"{expected} settled deliveries")
    return await states(engine)


def cap_alert(
    identifier: str = "koblenz-test-1",
    headline: str = "Unwetterwarnung für Koblenz",
    areas: Sequence[str] = (),
    msg_type: str = "Alert",
    references: Sequence[str] = (),
    expires_in: dt.timedelta | None = dt.timedelta(hours=6),
    status: str = "Actual",
    sent: dt.datetime | None = None,
    description: str = "Am Abend ziehen schwere Gewitter mit Sturmböen über das Stadtgebiet.",
) -> CapAlert:
    sent = sent or dt.datetime.now(dt.UTC).replace(microsecond=0)
    info = CapInfo(
        language="de-DE",
        category=("Met",),
        event="Unwetter",
        urgency="Immediate",
        severity="Severe",
        certainty="Likely",
        headline=headline,
        description=description,
        instruction="Bleiben Sie in Gebäuden und meiden Sie Bäume.",
        expires=sent + expires_in if expires_in is not None else None,
        web="https://www.koblenz.de/",
        areas=tuple(CapArea(a) for a in areas) or (CapArea("Stadtgebiet Koblenz"),),
    )
    return CapAlert(
        identifier=identifier,
        sender="feuerwehr@koblenz.de",
        sent=sent,
        status=status,  # type: ignore[arg-type]
        msg_type=msg_type,  # type: ignore[arg-type]
        scope="Public",
        infos=(info,),
        references=tuple(references),
    )


# What ``registry.publishers`` opens with a Telegram token set, for the service's checks: nothing is sent
# through these (the Telegram publisher has no HTTP session; the engine tests send via ``running``).
CHANNELS: tuple[Channel, ...] = (
    TelegramPublisher("http://127.0.0.1:9", TOKEN),
    FeedPublisher(),
    CapFeedPublisher(),
    BannerPublisher(),
)


def service(
    engine: AsyncEngine, wake: Callable[[], None] | None = None, channels: Iterable[Channel] = CHANNELS
) -> Broadcasts:
    return Broadcasts(sessionmaker(engine), wake, channels)


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, settings: Settings, **options: Any) -> AsyncIterator[Running]:
    """The scheduler and a worker sending through the channels the settings switch on (as in production)."""
    async with (
        registry.publishers(settings) as channels,
        engine_running(engine, settings, channels, **options) as run,
    ):
        yield run
