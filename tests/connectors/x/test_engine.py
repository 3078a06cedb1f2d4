"""The X channel in the broadcast engine, end to end against the X API double: an alert is posted (fitted
to 280 as X counts), its update replaces the post ("🔄 Aktualisiert"), its all-clear answers the live post;
the daily budget refuses press posts at scheduling time."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from twitter_text import parse_tweet

from broadcasts import InvalidRequest
from broadcasts.cap import reference_of, to_cap_xml
from broadcasts.engine import Scheduler
from broadcasts.publishers import Publisher
from broadcasts.ratelimit import LocalSlots
from broadcasts.service import Broadcasts
from broadcasts.worker import Worker, WorkerConfig
from connectors.x.channel_spec import CHANNEL
from core.db import sessionmaker
from tests import broadcasting as h
from tests.connectors.x.conftest import x_settings
from tests.fakes.x_api import FakeXAPI

pytestmark = pytest.mark.functional

DESCRIPTION = (
    "Am Abend ziehen von Westen schwere Gewitter mit Sturmböen bis 100 km/h, Starkregen und Hagel über "
    "das gesamte Stadtgebiet. Umstürzende Bäume und herabfallende Äste sind möglich; Keller können "
    "volllaufen. Die Feuerwehr ist mit allen Kräften im Einsatz und bittet um Rücksicht auf der Straße."
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


@contextlib.asynccontextmanager
async def sending(engine: AsyncEngine, x: Publisher) -> AsyncIterator[None]:
    scheduler = Scheduler(engine, dt.timedelta(days=30), channels=[x])
    worker = Worker(
        engine, {"x": x}, {"x": LocalSlots(1e6)}, WorkerConfig(poll=0.05, backoff=0.01, lease=30.0), name="x"
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(scheduler.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_alert_update_and_all_clear_on_x(
    engine: AsyncEngine, tmp_path: Path, fake: FakeXAPI, http: aiohttp.ClientSession
) -> None:
    x = await CHANNEL.open(x_settings(tmp_path, fake), http)
    svc = Broadcasts(sessionmaker(engine), channels=[x])
    first = h.cap_alert("koblenz-x-1", "Unwetterwarnung für Koblenz", description=DESCRIPTION)
    async with sending(engine, x):
        await svc.submit_alert(h.FIRE, first, to_cap_xml(first).decode())
        await h.wait_until(lambda: len(fake.posts) == 1, 20, "the alert on X")
        alert = fake.posts[0]
        assert parse_tweet(alert.text).weightedLength <= 280 and alert.text.endswith(
            "https://www.koblenz.de/"
        )
        assert "Unwetterwarnung für Koblenz" in alert.text

        update = dataclasses.replace(
            h.cap_alert("koblenz-x-2", "Unwetterwarnung: Hagel erwartet", msg_type="Update"),
            references=(reference_of(first),),
        )
        await svc.submit_alert(h.FIRE, update, to_cap_xml(update).decode())
        await h.wait_until(lambda: len(fake.posts) == 2, 20, "the update on X")
        assert fake.deleted == [alert.id]
        replaced = fake.posts[1]
        assert replaced.text.startswith("🔄 Aktualisiert") and "Hagel erwartet" in replaced.text

        cancel = dataclasses.replace(
            h.cap_alert("koblenz-x-3", "Unwetterwarnung für Koblenz", msg_type="Cancel"),
            references=(reference_of(first), reference_of(update)),
        )
        await svc.submit_alert(h.FIRE, cancel, to_cap_xml(cancel).decode())
        await h.wait_until(lambda: len(fake.posts) == 3, 20, "the all-clear on X")
    clear = fake.posts[2]
    assert clear.reply_to == replaced.id and "Entwarnung" in clear.text  # answers the live post
    assert [p.id for p in fake.live()] == [replaced.id, clear.id]


async def test_the_daily_budget_refuses_press_posts_when_they_are_scheduled(
    engine: AsyncEngine, tmp_path: Path, fake: FakeXAPI, http: aiohttp.ClientSession
) -> None:
    x = await CHANNEL.open(x_settings(tmp_path, fake, x_daily_posts=1), http)
    svc = Broadcasts(sessionmaker(engine), channels=[x])
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    await svc.schedule(h.PRESS, await svc.create(h.PRESS, "presse", "Erste Meldung"), when)
    second = await svc.create(h.PRESS, "presse", "Zweite Meldung")
    with pytest.raises(InvalidRequest, match="X erlaubt 1 Beiträge in 24 Stunden"):
        await svc.schedule(h.PRESS, second, when + dt.timedelta(hours=1))
