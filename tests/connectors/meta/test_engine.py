"""Facebook and Instagram in the broadcast engine, end to end against the Graph API double: an alert goes
to the page (with its link) and to Instagram (with its card); its update edits the Facebook post and is a
new Instagram post; its all-clear is a new post on both (and a note under the Facebook warning)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.cap import reference_of, to_cap_xml
from broadcasts.engine import Scheduler
from broadcasts.publishers import Publisher
from broadcasts.ratelimit import LocalSlots
from broadcasts.service import Broadcasts
from broadcasts.worker import Worker, WorkerConfig
from connectors.meta.channel_spec import FACEBOOK, INSTAGRAM
from connectors.meta.instagram import InstagramPublisher
from core.db import sessionmaker
from tests import broadcasting as h
from tests.conftest import make_settings
from tests.connectors.meta.conftest import PUBLIC_URL
from tests.fakes.graph_api import FakeGraphAPI

pytestmark = pytest.mark.functional


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


@contextlib.asynccontextmanager
async def sending(engine: AsyncEngine, channels: Sequence[Publisher]) -> AsyncIterator[None]:
    scheduler = Scheduler(engine, dt.timedelta(days=30), channels=list(channels))
    worker = Worker(
        engine,
        {c.name: c for c in channels},
        {c.name: LocalSlots(1e6) for c in channels},
        WorkerConfig(poll=0.05, backoff=0.01, lease=30.0),
        name="meta",
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(scheduler.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_alert_update_and_all_clear_on_facebook_and_instagram(
    engine: AsyncEngine, tmp_path: Path, fake: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(
        tmp_path,
        facebook_page_id=fake.page_id,
        facebook_page_token=fake.token,
        instagram_user_id=fake.ig_user_id,
        public_url=PUBLIC_URL,
        facebook_graph_url=fake.url,
        facebook_api_version=fake.version,
    )
    facebook = await FACEBOOK.open(settings, http)
    instagram = await INSTAGRAM.open(settings, http)
    assert isinstance(instagram, InstagramPublisher)
    instagram.poll_interval = 0.01
    svc = Broadcasts(sessionmaker(engine), channels=[facebook, instagram])
    first = h.cap_alert("koblenz-meta-1", "Unwetterwarnung für Koblenz", areas=("Altstadt",))
    async with sending(engine, [facebook, instagram]):
        await svc.submit_alert(h.FIRE, first, to_cap_xml(first).decode())
        await h.wait_until(lambda: len(fake.feed) == 1 and len(fake.media) == 1, 20, "the alert on both")
        warning = fake.feed[0]
        assert "Unwetterwarnung für Koblenz" in warning.message and warning.link == "https://www.koblenz.de/"
        [alert_media] = fake.media.values()
        assert "Unwetterwarnung für Koblenz" in alert_media.caption
        assert alert_media.alt_text is not None and "Betroffen: Altstadt" in alert_media.alt_text
        assert (tmp_path / "state" / "cards" / alert_media.image_url.rsplit("/", 1)[1]).is_file()

        update = dataclasses.replace(
            h.cap_alert("koblenz-meta-2", "Unwetterwarnung: Hagel erwartet", msg_type="Update"),
            references=(reference_of(first),),
        )
        await svc.submit_alert(h.FIRE, update, to_cap_xml(update).decode())
        await h.wait_until(
            lambda: fake.posts[warning.id].edits and len(fake.media) == 2, 20, "the update on both"
        )
        assert len(fake.feed) == 1 and "Hagel erwartet" in fake.feed[0].message  # edited in place

        cancel = dataclasses.replace(
            h.cap_alert("koblenz-meta-3", "Unwetterwarnung für Koblenz", msg_type="Cancel"),
            references=(reference_of(first), reference_of(update)),
        )
        await svc.submit_alert(h.FIRE, cancel, to_cap_xml(cancel).decode())
        await h.wait_until(lambda: len(fake.feed) == 2 and len(fake.media) == 3, 20, "the all-clear on both")
    clear = fake.feed[1]
    assert "Entwarnung" in clear.message
    assert fake.comments == [(warning.id, clear.message)]
    assert len({m.image_url for m in fake.media.values()}) == 3  # three posts, three cards
    assert fake.quota_usage == 3
