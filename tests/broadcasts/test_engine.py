"""The broadcast engine end to end against the Telegram Bot API double, on SQLite and PostgreSQL: fan-out
with area targeting, faults (5xx, timeouts, 429 bursts, 403, a poison message), alerts overtaking posts,
updates editing sent messages, all-clears, expiry, the scheduler and the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts import InvalidRequest, TextTooLong
from broadcasts.alert_source import StoreAlerts
from broadcasts.berlin import parse_local, show
from broadcasts.cap import reference_of, to_cap_xml
from broadcasts.capmodel import CapAlert
from broadcasts.models import Alert, AuditLog, Broadcast, Delivery
from broadcasts.service import start_due_broadcasts
from broadcasts.subscribers import Subscriber
from core.db import sessionmaker
from tests import broadcasting as h
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.functional


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(token=h.TOKEN, per_second=200)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


def _xml(alert: CapAlert) -> str:
    return to_cap_xml(alert).decode()


def _no_duplicates(fake: FakeTelegramAPI) -> None:
    counts = Counter((m.chat_id, m.text) for m in fake.sent)
    assert [k for k, n in counts.items() if n > 1] == []


async def test_alert_reaches_city_wide_and_matching_area_subscribers_only(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    await h.add_subscribers(engine, [1, 2, 3])  # whole city
    await h.add_subscribers(engine, [11, 12], stadtteile=["Lützel"])
    await h.add_subscribers(engine, [21, 22], stadtteile=["Metternich", "Güls"])
    await h.add_subscribers(engine, [31], topic="presse")
    await h.add_subscribers(engine, [-100123], chat_type="group")  # a group subscribed city-wide
    settings = h.settings_for(tmp_path, database_url, fake)
    async with h.running(engine, settings) as run:
        service = h.service(engine, run.wake)
        lützel = h.cap_alert("koblenz-a1", "Bombenentschärfung in Lützel", areas=["Lützel"])
        await service.submit_alert(h.FIRE, lützel, _xml(lützel))
        await h.settled(engine, 6)
        city = h.cap_alert("koblenz-a2", "Sturm über ganz Koblenz")
        await service.submit_alert(h.FIRE, city, _xml(city))
        await h.settled(engine, 6 + 8)
    got = {chat: [m.text for m in fake.messages_to(chat)] for chat in (1, 2, 3, 11, 12, 21, 22, 31, -100123)}
    assert all(any("Lützel" in t for t in got[c]) for c in (1, 2, 3, 11, 12, -100123))
    assert not any("Lützel" in t for c in (21, 22, 31) for t in got[c])
    assert all(
        any("Sturm über ganz Koblenz" in t for t in got[c]) for c in (1, 2, 3, 11, 12, 21, 22, -100123)
    )
    assert got[31] == []  # subscribed to press releases only
    assert fake.violations == []
    _no_duplicates(fake)


async def test_faults_every_delivery_ends_sent_or_deactivated_without_duplicates(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    chats = list(range(1000, 1060))
    await h.add_subscribers(engine, chats)
    fake.block(1007)
    fake.block(1033)
    fake.fail_next(6, status=500)  # server errors
    fake.inject_error(502, "Bad Gateway", count=3)
    fake.throttle_next(4, retry_after=1)  # a 429 burst
    fake.discard_abandoned = True
    fake.set_delay(1.5, "sendMessage")  # slower than the client's timeout (1 s): timeouts at first
    settings = h.settings_for(tmp_path, database_url, fake, telegram_timeout=1.0)
    async with h.running(engine, settings) as run:
        service = h.service(engine, run.wake)
        alert = h.cap_alert("koblenz-faults")
        await service.submit_alert(h.FIRE, alert, _xml(alert))
        await h.wait_until(lambda: fake.abandoned >= 3, 20, "timeouts")
        fake.set_delay(0.0, "sendMessage")
        counts = await h.settled(engine, len(chats), timeout=60)
    assert counts == {"sent": 58, "deactivated": 2}
    assert {m.chat_id for m in fake.sent} == set(chats) - {1007, 1033}
    assert fake.server_errors >= 9 and fake.rate_limited >= 4 and fake.forbidden == 2
    assert fake.violations == []
    _no_duplicates(fake)
    async with sessionmaker(engine)() as session:
        blocked = (await session.scalars(select(Subscriber).where(Subscriber.chat_id == "1007"))).one()
    assert not blocked.active and blocked.deactivated_at is not None


async def test_a_poison_message_fails_alone_and_the_rest_is_delivered(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    await h.add_subscribers(engine, range(1, 21), topic="presse")
    fake.inject_error(400, "Bad Request: message is malformed", count=1)  # rejected: never retried
    settings = h.settings_for(tmp_path, database_url, fake, delivery_max_attempts=3)
    async with h.running(engine, settings) as run:
        service = h.service(engine, run.wake)
        post = await service.create(h.PRESS, "presse", "Neue Öffnungszeiten im Bürgeramt ab Montag.")
        await service.schedule(h.PRESS, post)
        counts = await h.settled(engine, 20)
        await h.wait_until(
            lambda: _broadcast_state(engine, post, "partly_failed"), 10, "post marked partly failed"
        )
    assert counts == {"sent": 19, "failed": 1}
    assert len(fake.sent) == 19


async def _broadcast_state(engine: AsyncEngine, broadcast_id: int, state: str) -> bool:
    async with sessionmaker(engine)() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        return broadcast is not None and broadcast.state == state


async def test_persistent_server_errors_end_failed_after_max_attempts(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    await h.add_subscribers(engine, [5])
    fake.fail_next(100, status=503)
    settings = h.settings_for(tmp_path, database_url, fake, delivery_max_attempts=3)
    async with h.running(engine, settings) as run:
        service = h.service(engine, run.wake)
        alert = h.cap_alert("koblenz-poison")
        await service.submit_alert(h.FIRE, alert, _xml(alert))
        counts = await h.settled(engine, 1)
    assert counts == {"failed": 1} and fake.calls["sendMessage"] == 3
    async with sessionmaker(engine)() as session:
        delivery = (await session.scalars(select(Delivery))).one()
    assert delivery.attempts == 3 and "503" in (delivery.last_error or "")


async def test_a_new_alert_overtakes_queued_press_posts(
    engine: AsyncEngine, tmp_path: Path, database_url: str
) -> None:
    fake = FakeTelegramAPI(token=h.TOKEN, per_second=30)
    await fake.start()
    chats = list(range(1, 61))
    await h.add_subscribers(engine, chats, topic="presse")
    await h.add_subscribers(engine, chats[:30], topic="warnungen")  # half of them also want warnings
    settings = h.settings_for(tmp_path, database_url, fake, telegram_rate=20)
    try:
        async with h.running(engine, settings) as run:
            service = h.service(engine, run.wake)
            post = await service.create(h.PRESS, "presse", "Pressemitteilung: Stadtfest am Deutschen Eck")
            await service.schedule(h.PRESS, post)
            await h.wait_until(lambda: len(fake.sent) >= 5, 20, "first posts out")
            alert = h.cap_alert("koblenz-urgent", "Großbrand in Wallersheim")
            await service.submit_alert(h.FIRE, alert, _xml(alert))
            await h.settled(engine, 90, timeout=60)
    finally:
        await fake.stop()
    order = [m.text for m in fake.sent]
    last_alert = max(i for i, t in enumerate(order) if "Großbrand" in t)
    posts_after = sum(1 for t in order[last_alert + 1 :] if "Stadtfest" in t)
    assert posts_after >= 20, f"the alert waited behind the posts (only {posts_after} posts after it)"
    assert fake.violations == []
    _no_duplicates(fake)


async def test_update_edits_sent_messages_and_cancel_sends_an_all_clear(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    chats = [1, 2, 3, 4]
    await h.add_subscribers(engine, chats)
    await h.add_subscribers(engine, [9], stadtteile=["Horchheim"])  # not affected
    settings = h.settings_for(tmp_path, database_url, fake)
    banner = StoreAlerts(sessionmaker(engine), cache_seconds=0)
    async with h.running(engine, settings) as run:
        service = h.service(engine, run.wake)
        first = h.cap_alert("koblenz-flood-1", "Hochwasser der Mosel", areas=["Güls", "Moselweiß"])
        await h.add_subscribers(engine, [5], stadtteile=["Güls"])
        await service.submit_alert(h.FIRE, first, _xml(first))
        await h.settled(engine, 5)
        assert [a.headline for a in await banner.active()] == ["Hochwasser der Mosel"]
        await asyncio.sleep(1.1)  # Telegram's 1 s per chat, counted from the real send below
        # one first message is older than Telegram's 48 h edit window: it gets a correction instead
        async with engine.begin() as connection:
            await connection.execute(
                update(Delivery).where(Delivery.chat_id == "4").values(sent_at=time.time() - 49 * 3600)
            )
        second = h.cap_alert(
            "koblenz-flood-2",
            "Hochwasser der Mosel: Pegel steigt weiter",
            areas=["Güls", "Moselweiß"],
            msg_type="Update",
            references=[reference_of(first)],
        )
        result = await service.submit_alert(h.FIRE, second, _xml(second))
        assert result.state == "active"
        await h.settled(engine, 10)
        assert [a.headline for a in await banner.active()] == ["Hochwasser der Mosel: Pegel steigt weiter"]
        cancel = h.cap_alert(
            "koblenz-flood-3",
            "Entwarnung Hochwasser",
            areas=["Güls", "Moselweiß"],
            msg_type="Cancel",
            references=[reference_of(second)],
        )
        await service.submit_alert(h.FIRE, cancel, _xml(cancel))
        await h.settled(engine, 15)
        assert await banner.active() == []
    assert fake.violations == []
    edited = {(e.chat_id, e.message_id) for e in fake.edits}
    assert edited == {(c, 1) for c in (1, 2, 3, 5)}
    for chat in (1, 2, 3, 5):
        assert "Pegel steigt weiter" in (fake.current_text(chat, 1) or "")
    correction = fake.messages_to(4)[1]
    assert "Aktualisierung zur Warnung" in correction.text and "Pegel steigt weiter" in correction.text
    replies = [
        params for method, params in fake.requests if method == "sendMessage" and "reply_parameters" in params
    ]
    assert any(p["chat_id"] == 4 and p["reply_parameters"]["message_id"] == 1 for p in replies)
    for chat in (1, 2, 3, 4, 5):
        assert "Entwarnung" in fake.messages_to(chat)[-1].text
    assert fake.messages_to(9) == []
    _no_duplicates(fake)


async def test_cancel_before_delivery_drops_the_queued_alert_and_sends_no_all_clear(
    engine: AsyncEngine, tmp_path: Path, database_url: str
) -> None:
    await h.add_subscribers(engine, range(1, 31))
    settings = h.settings_for(tmp_path, database_url)
    service = h.service(engine)
    alert = h.cap_alert("koblenz-mistake")
    await service.submit_alert(h.FIRE, alert, _xml(alert))
    async with h.running(engine, settings, with_worker=False) as run:  # fan-out only, nothing sent
        run.wake()
        await h.wait_until(lambda: _count_deliveries(engine, 30), 10, "fan-out")
    cancel = h.cap_alert("koblenz-mistake-cancel", msg_type="Cancel", references=[reference_of(alert)])
    await service.submit_alert(h.FIRE, cancel, _xml(cancel))
    async with h.running(engine, settings, with_worker=False):
        await asyncio.sleep(0.5)
    assert await h.states(engine) == {"cancelled": 30}


async def _count_deliveries(engine: AsyncEngine, expected: int) -> bool:
    return sum((await h.states(engine)).values()) >= expected


async def test_expired_alerts_end_by_themselves(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    settings = h.settings_for(tmp_path, database_url, fake)
    banner = StoreAlerts(sessionmaker(engine), cache_seconds=0)
    async with h.running(engine, settings) as run:
        service = h.service(engine, run.wake)
        alert = h.cap_alert("koblenz-short", expires_in=dt.timedelta(seconds=2))
        await service.submit_alert(h.FIRE, alert, _xml(alert))
        assert len(await banner.active()) == 1
        await h.wait_until(lambda: _alert_state(engine, "koblenz-short", "expired"), 10, "expiry")
    assert await banner.active() == []


async def _alert_state(engine: AsyncEngine, identifier: str, state: str) -> bool:
    async with sessionmaker(engine)() as session:
        alert = await session.scalar(select(Alert).where(Alert.identifier == identifier))
        return alert is not None and alert.state == state


async def test_scheduled_post_goes_out_on_time_and_a_cancelled_one_never(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    await h.add_subscribers(engine, [1, 2], topic="presse")
    settings = h.settings_for(tmp_path, database_url, fake)
    service = h.service(engine)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    on_time = await service.create(h.PRESS, "presse", "Pünktlich: Sperrung der Pfaffendorfer Brücke")
    await service.schedule(h.PRESS, on_time, due)
    never = await service.create(h.PRESS, "presse", "Abgesagt: diese Meldung darf nie ankommen")
    await service.schedule(h.PRESS, never, due)
    await service.cancel(h.PRESS, never)
    async with h.running(engine, settings):
        await h.wait_until(lambda: len(fake.sent) >= 2, 15, "the scheduled post")
        await asyncio.sleep(0.5)
    first = min(m.time for m in fake.sent)
    sent_wall = time.time() - (time.monotonic() - first)
    assert abs(sent_wall - due.timestamp()) <= 1.0
    assert all("Pünktlich" in m.text for m in fake.sent) and len(fake.sent) == 2


async def test_a_schedule_survives_a_restart_and_is_sent_once(
    engine: AsyncEngine, fake: FakeTelegramAPI, tmp_path: Path, database_url: str
) -> None:
    await h.add_subscribers(engine, [1, 2, 3], topic="presse")
    settings = h.settings_for(tmp_path, database_url, fake)
    service = h.service(engine)
    post = await service.create(h.PRESS, "presse", "Nach dem Neustart")
    await service.schedule(h.PRESS, post, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5))
    async with h.running(engine, settings):
        await asyncio.sleep(0.3)  # stopped before it is due
    assert fake.sent == []
    async with h.running(engine, settings):
        await h.settled(engine, 3)
        await h.wait_until(lambda: _broadcast_state(engine, post, "sent"), 10, "post sent")
    async with h.running(engine, settings):
        await asyncio.sleep(0.5)
    assert sorted(m.chat_id for m in fake.sent) == [1, 2, 3]


async def test_scheduling_across_daylight_saving_changes(engine: AsyncEngine) -> None:
    service = h.service(engine)
    spring = await service.create(h.PRESS, "presse", "Frühling")
    autumn_first = await service.create(h.PRESS, "presse", "Herbst, Sommerzeit")
    autumn_second = await service.create(h.PRESS, "presse", "Herbst, Winterzeit")
    # 28 March 2027: 02:00 → 03:00; 03:30 local is 01:30 UTC
    await service.schedule(h.PRESS, spring, parse_local("2027-03-28 03:30"))
    # 31 October 2027: 02:30 happens twice, 00:30 UTC (summer time) and 01:30 UTC (winter time)
    await service.schedule(h.PRESS, autumn_first, parse_local("2027-10-31 02:30 MESZ"))
    await service.schedule(h.PRESS, autumn_second, parse_local("2027-10-31 02:30 MEZ"))
    for year, spring_day, autumn_day in (("2026", "03-29", "10-25"), ("2027", "03-28", "10-31")):
        with pytest.raises(InvalidRequest, match="gibt es in Koblenz nicht"):
            parse_local(f"{year}-{spring_day} 02:30")
        with pytest.raises(InvalidRequest, match="zweimal"):
            parse_local(f"{year}-{autumn_day} 02:30")
        assert parse_local(f"{year}-{autumn_day} 02:30 MEZ") - parse_local(
            f"{year}-{autumn_day} 02:30 MESZ"
        ) == dt.timedelta(hours=1)
    assert show(parse_local("2026-10-25 02:30 MEZ")) == "25.10.2026 02:30 MEZ"

    def utc(text_: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text_)

    sessions = sessionmaker(engine)
    assert await start_due_broadcasts(sessions, utc("2027-03-28T01:29:59+00:00")) == []
    assert await start_due_broadcasts(sessions, utc("2027-03-28T01:30:00+00:00")) == [spring]
    assert await start_due_broadcasts(sessions, utc("2027-10-31T00:30:00+00:00")) == [autumn_first]
    assert await start_due_broadcasts(sessions, utc("2027-10-31T01:29:59+00:00")) == []
    assert await start_due_broadcasts(sessions, utc("2027-10-31T01:30:00+00:00")) == [autumn_second]


async def test_texts_over_the_telegram_limit_are_refused_when_scheduling(engine: AsyncEngine) -> None:
    service = h.service(engine)
    long_post = await service.create(h.PRESS, "presse", "Sehr lang. " * 400)
    with pytest.raises(TextTooLong, match=r"4\.096") as refused:
        await service.schedule(h.PRESS, long_post)
    assert "Telegram" in refused.value.message
    assert await _broadcast_state(engine, long_post, "draft")
    short = await service.create(
        h.PRESS, "presse", "Sehr lang. " * 400, variants={"telegram": "Kurzfassung für Telegram"}
    )
    await service.schedule(h.PRESS, short)  # the channel's own shorter text is accepted


async def test_the_audit_log_is_append_only(engine: AsyncEngine) -> None:
    service = h.service(engine)
    post = await service.create(h.PRESS, "presse", "Prüfung")
    await service.cancel(h.PRESS, post)
    async with sessionmaker(engine)() as session:
        actions = [(a.action, a.actor) for a in await session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == [("broadcast.create", "pressestelle"), ("broadcast.cancel", "pressestelle")]
    for statement in ("UPDATE audit_log SET actor = 'jemand'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
