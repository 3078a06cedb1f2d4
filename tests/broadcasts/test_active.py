"""One definition of a published and an active alert (``broadcasts.active``), the same for the push
channels, the banner and the chat, the feeds and the CAP files: exercises are published and marked;
tests, drafts and non-public messages never; expired and cancelled alerts are not active."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.active import active, is_published, published
from broadcasts.alert_source import StoreAlerts
from broadcasts.alertrows import to_cap
from broadcasts.cap import to_cap_xml
from broadcasts.feeds import active_alerts, alert_feed_item
from broadcasts.models import Alert
from broadcasts.published import cap_xml
from core.db import sessionmaker
from core.time import utcnow
from tests import broadcasting as h


async def test_every_reader_agrees_on_what_is_active(database_url: str) -> None:
    engine = await h.fresh_engine(database_url)
    try:
        await _agree(engine)
    finally:
        await engine.dispose()


async def _agree(engine: AsyncEngine) -> None:
    service = h.service(engine)
    alerts = {
        "actual": h.cap_alert("a-actual", "Unwetter"),
        "exercise": h.cap_alert("a-exercise", "Hochwasser", status="Exercise"),
        "test": h.cap_alert("a-test", "Test", status="Test"),
        "draft": h.cap_alert("a-draft", "Entwurf", status="Draft"),
        "private": replace(h.cap_alert("a-private", "Intern"), scope="Private", extra={"addresses": "lst"}),
        "expired": h.cap_alert(
            "a-expired", "Vorbei", sent=utcnow() - dt.timedelta(hours=3), expires_in=dt.timedelta(hours=1)
        ),
    }
    results = {
        name: await service.submit_alert(h.FIRE, alert, to_cap_xml(alert).decode())
        for name, alert in alerts.items()
    }
    assert {name for name, result in results.items() if result.published} == {"actual", "exercise", "expired"}

    banner = await StoreAlerts(sessionmaker(engine)).active()
    assert sorted(a.headline for a in banner) == ["Unwetter", "Übung: Hochwasser"]

    async with sessionmaker(engine)() as session:
        rows = (await session.scalars(select(Alert))).all()
        active_rows = (await session.scalars(select(Alert).where(active(utcnow())))).all()
        published_rows = (await session.scalars(select(Alert).where(published()))).all()
    assert {r.identifier for r in active_rows} == {"a-actual", "a-exercise"}
    assert {r.identifier for r in published_rows} == {r.identifier for r in rows if is_published(r)}
    assert {r.identifier for r in published_rows} == {"a-actual", "a-exercise", "a-expired"}
    in_feed = active_alerts([to_cap(r) for r in rows], now=utcnow())
    assert {a.identifier for a in in_feed} == {"a-actual", "a-exercise"}
    assert alert_feed_item(alerts["exercise"]).title == "Übung: Hochwasser"

    sessions = sessionmaker(engine)
    assert await cap_xml(sessions, "a-exercise") is not None  # the CAP file: published ones only
    assert await cap_xml(sessions, "a-test") is None and await cap_xml(sessions, "a-private") is None
