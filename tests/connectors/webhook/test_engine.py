"""The webhook channel in the assembled engine (registry, scheduler, outbox worker) against the receiver
double: an alert, its update and its all-clear reach exactly the receivers that subscribed to each event,
signed, with one delivery id each that stays the same across the worker's retries."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.cap import reference_of, to_cap_xml
from broadcasts.engine import running
from broadcasts.service import Broadcasts
from connectors import registry
from core.db import sessionmaker
from tests import broadcasting as h
from tests.connectors.webhook.conftest import EVENTS, SECRETS
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.functional


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


async def test_an_alert_its_update_and_its_all_clear_reach_the_subscribed_receivers(
    engine: AsyncEngine, database_url: str, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    hooks = [
        {"name": name, "url": receiver.url_for(name), "secret": secret, "events": list(EVENTS[name])}
        for name, secret in SECRETS.items()
    ]
    settings = h.settings_for(tmp_path, database_url, webhooks=hooks, telegram_token="")
    receiver.fail_next(2, 503, webhook="leitstelle")  # down for a moment: the worker retries
    async with registry.publishers(settings) as channels, running(engine, settings, channels):
        assert "webhook" in channels
        svc = Broadcasts(sessionmaker(engine), None, channels.values())
        first = h.cap_alert("koblenz-wh-1", "Bombenentschärfung in Lützel")
        await svc.submit_alert(h.FIRE, first, to_cap_xml(first).decode())
        await h.settled(engine, 2)
        update = dataclasses.replace(
            h.cap_alert("koblenz-wh-2", "Bombenentschärfung: Sperrkreis erweitert", msg_type="Update"),
            references=(reference_of(first),),
        )
        await svc.submit_alert(h.FIRE, update, to_cap_xml(update).decode())
        await h.settled(engine, 4)
        cancel = dataclasses.replace(
            h.cap_alert("koblenz-wh-3", "Bombenentschärfung in Lützel", msg_type="Cancel"),
            references=(reference_of(first), reference_of(update)),
        )
        await svc.submit_alert(h.FIRE, cancel, to_cap_xml(cancel).decode())
        counts = await h.settled(engine, 6)

    assert counts == {"sent": 5, "cancelled": 1}  # leitstelle did not subscribe to alert.updated
    assert receiver.refused == [] and receiver.duplicates == []
    app = receiver.events_for("app")
    assert [e["event"] for e in app] == ["alert.issued", "alert.updated", "alert.cancelled"]
    assert app[0]["data"]["headline"] == "Bombenentschärfung in Lützel"
    assert app[1]["data"]["previous_delivery"] == app[0]["delivery"]
    assert app[2]["data"]["previous_delivery"] == app[0]["delivery"]
    assert app[0]["data"]["text"].startswith("⚠️ Gefahr – Stadt Koblenz")
    leitstelle = receiver.events_for("leitstelle")
    assert [e["event"] for e in leitstelle] == ["alert.issued", "alert.cancelled"]
    assert leitstelle[1]["data"]["previous_delivery"] == leitstelle[0]["delivery"]
    assert receiver.events_for("presse") == []
    # the two 503s and the accepted retry are one delivery: the same X-Koblenz-Delivery each time
    tries = [r for r in receiver.requests if r.webhook == "leitstelle" and r.event == "alert.issued"]
    assert [r.outcome for r in tries] == ["injected", "injected", "accepted"]
    assert {r.delivery for r in tries} == {leitstelle[0]["delivery"]}
    assert len({e["delivery"] for e in app + leitstelle}) == 5
