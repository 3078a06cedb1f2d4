"""The NINA poller against the loopback double: warnings for Koblenz appear on the banner, in the chat and
in /api/alerts' source, new versions update them, a Cancel or removal ends them, neighbours' and the
city's own warnings never show, errors keep it alive, and a restart repeats nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialogue import Dialogue, State
from bot.events import IncomingMessage
from bot.search import CatalogSearch
from broadcasts import published
from broadcasts.alert_source import StoreAlerts
from broadcasts.cap import to_cap_xml
from broadcasts.models import Alert, OutboundMessage
from broadcasts.service import Actor
from catalog.model import Catalog
from catalog.stadtteile import Stadtteile
from connectors.nina.client import NinaClient
from connectors.nina.models import NinaSeen
from connectors.nina.poller import NinaPoller, republish_allowed
from core.alerts import ActiveAlert
from core.db import sessionmaker
from tests import broadcasting as h
from tests.fakes.nina_api import KOBLENZ, MAYEN_KOBLENZ, FakeNinaAPI


@pytest.fixture
async def nina() -> AsyncIterator[FakeNinaAPI]:
    api = FakeNinaAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def stadtteile(catalog: Catalog) -> Stadtteile:
    return Stadtteile(catalog)


def poller(
    engine: AsyncEngine,
    nina: FakeNinaAPI,
    http: aiohttp.ClientSession,
    stadtteile: Stadtteile,
    republish: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> NinaPoller:
    return NinaPoller(
        NinaClient(http, nina.url, timeout=timeout),
        h.service(engine),
        KOBLENZ,
        republish or {},
        interval=0.05,
        find_stadtteile=stadtteile.find_all,
    )


async def shown(engine: AsyncEngine) -> list[ActiveAlert]:
    return await StoreAlerts(sessionmaker(engine), cache_seconds=0).active()


async def count(engine: AsyncEngine, model: type) -> int:
    async with sessionmaker(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_new_warning_is_shown_with_its_authority_and_unchanged_text(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    detail = FakeNinaAPI.mowas()
    nina.add_warning(detail)
    p = poller(engine, nina, http, stadtteile)
    await p.poll_once()
    [alert] = await shown(engine)
    info = detail["info"][0]
    assert (alert.headline, alert.description, alert.instruction) == (
        info["headline"],
        info["description"],  # exactly as published, <br/> included
        info["instruction"],
    )
    assert alert.authority == "Integrierte Leitstelle Koblenz"
    assert alert.areas == ()  # Koblenz as a whole
    assert alert.severity == "Severe"
    assert p.health()["state"] == "ok" and p.health()["issued"] == 1
    # nothing changed: the dashboard answers 304 and no detail is fetched again
    fetched = nina.calls["warning"]
    await p.poll_once()
    await p.poll_once()
    assert nina.not_modified == 2 and nina.calls["warning"] == fetched
    assert len(await shown(engine)) == 1 and await count(engine, Alert) == 1
    # not re-broadcast by default: no message to subscribers, and not on our feeds
    assert await count(engine, OutboundMessage) == 0
    assert await published.active_cap_alerts(sessionmaker(engine)) == []


async def test_the_chat_names_the_authority(
    engine: AsyncEngine,
    nina: FakeNinaAPI,
    http: aiohttp.ClientSession,
    stadtteile: Stadtteile,
    catalog: Catalog,
) -> None:
    nina.add_warning(FakeNinaAPI.dwd())
    await poller(engine, nina, http, stadtteile).poll_once()
    dialogue = Dialogue(catalog, CatalogSearch(catalog), None, StoreAlerts(sessionmaker(engine), 0))
    turn = await dialogue.handle(IncomingMessage("c1", "test", "Reisepass", None), State())
    assert turn.reply.notices[0] == (
        "⚠ Aktuelle Warnung: Amtliche WARNUNG vor STURMBÖEN (Quelle: Deutscher Wetterdienst)"
    )
    [alert] = await shown(engine)
    from bot.dialogue import _alert_answer

    assert "Quelle: Deutscher Wetterdienst" in _alert_answer([alert], None).text


async def test_new_version_updates_and_cancel_ends(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    wid = nina.add_warning(FakeNinaAPI.mowas())
    p = poller(engine, nina, http, stadtteile)
    await p.poll_once()
    nina.new_version(wid, headline="Entwarnung folgt: Rauch zieht ab", severity="Minor")
    await p.poll_once()
    [alert] = await shown(engine)
    assert alert.headline == "Entwarnung folgt: Rauch zieht ab" and alert.severity == "Minor"
    async with sessionmaker(engine)() as session:
        rows = (await session.scalars(select(Alert).order_by(Alert.id))).all()
    assert [(r.msg_type, r.state) for r in rows] == [("Alert", "updated"), ("Update", "active")]
    assert rows[1].root_id == rows[0].id
    nina.cancel(wid)
    await p.poll_once()
    assert await shown(engine) == []
    assert p.health()["ended"] == 1


async def test_removal_from_the_dashboard_ends_it_but_an_error_does_not(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    wid = nina.add_warning(FakeNinaAPI.mowas())
    p = poller(engine, nina, http, stadtteile)
    await p.poll_once()
    nina.fail_next(1, status=500, kind="dashboard")
    await p.poll_once()
    health = p.health()
    assert health["state"] == "error" and "HTTP 500" in health["last_error"]
    assert len(await shown(engine)) == 1  # an error is not "gone"
    nina.garbage_next(1)
    await p.poll_once()
    assert "not JSON" in p.health()["last_error"] and len(await shown(engine)) == 1
    nina.remove(wid)
    await p.poll_once()
    assert await shown(engine) == []
    assert p.health()["state"] == "ok" and p.health()["errors"] == 2
    async with sessionmaker(engine)() as session:
        seen = await session.get(NinaSeen, wid)
    assert seen is not None and seen.state == "ended" and "nicht mehr" in seen.reason


async def test_neighbouring_district_is_ignored_with_a_logged_reason(
    engine: AsyncEngine,
    nina: FakeNinaAPI,
    http: aiohttp.ClientSession,
    stadtteile: Stadtteile,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # NINA lists a warning on Koblenz's dashboard whose area is Mayen-Koblenz only
    neighbour = FakeNinaAPI.mowas(
        "mow.DE-RP-MYK-W002-20261130-000",
        headline="Gefahreninformation: Brand in Mülheim-Kärlich",
        ars=MAYEN_KOBLENZ,
        area_desc="Landkreis Mayen-Koblenz",
    )
    nina.add_warning(neighbour, ars=(KOBLENZ, MAYEN_KOBLENZ))
    # and a DWD warning for the neighbouring district Neuwied (warn cell and polygon east of the Rhine)
    nina.add_warning(
        FakeNinaAPI.dwd(
            "dwd.2.49.0.0.276.0.DWD.PVW.1764500000000.nnnn.DEU",
            warncell="107138000",
            area_desc="Kreis Neuwied",
            polygon="50.45,7.45 50.62,7.45 50.62,7.75 50.45,7.75 50.45,7.45",
        )
    )
    p = poller(engine, nina, http, stadtteile)
    with caplog.at_level(logging.INFO, logger="connectors.nina.poller"):
        await p.poll_once()
    assert await shown(engine) == [] and await count(engine, Alert) == 0
    assert "071370000000" in caplog.text and "does not touch Koblenz" in caplog.text
    assert p.health()["ignored"] == 2
    async with sessionmaker(engine)() as session:
        states = {r.nina_id: (r.state, r.reason) for r in (await session.scalars(select(NinaSeen))).all()}
    assert all(state == "ignored" and "nicht Koblenz" in reason for state, reason in states.values())
    # ignored once: not fetched again while unchanged
    fetched = nina.calls["warning"]
    nina.add_warning(FakeNinaAPI.mowas("mow.other"))  # the dashboard changes
    await p.poll_once()
    assert nina.calls["warning"] == fetched + 1


@pytest.mark.parametrize("by", ["identifier", "references"])
async def test_own_alert_coming_back_is_not_shown_twice(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile, by: str
) -> None:
    ours = h.cap_alert("koblenz-eigene-1", headline="Bombenentschärfung in Lützel", areas=["Lützel"])
    await h.service(engine).submit_alert(_actor(), ours, to_cap_xml(ours).decode())
    reference = f"{ours.sender},{ours.identifier},{ours.sent.isoformat()}"
    if by == "identifier":
        detail = FakeNinaAPI.mowas("koblenz-eigene-1", headline="Bombenentschärfung in Lützel")
    else:
        detail = FakeNinaAPI.mowas("mow.DE-RP-KO-W009", msg_type="Update", references=reference)
    nina.add_warning(detail)
    p = poller(engine, nina, http, stadtteile)
    await p.poll_once()
    assert [a.identifier for a in await shown(engine)] == ["koblenz-eigene-1"]
    assert p.health()["own"] == 1


def _actor() -> Actor:
    return Actor("leitstelle", "feuerwehr", "test")


async def test_timeouts_keep_the_loop_alive_and_show_in_health(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    nina.add_warning(FakeNinaAPI.mowas())
    nina.set_delay(1.0, "dashboard")
    p = poller(engine, nina, http, stadtteile, timeout=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(p.run(stop))
    for _ in range(100):
        if p.errors >= 2:
            break
        await asyncio.sleep(0.05)
    assert p.health()["state"] == "error" and "timeout" in p.health()["last_error"]
    nina.set_delay(0.0, "dashboard")
    for _ in range(100):
        if await shown(engine):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(await shown(engine)) == 1 and p.health()["state"] == "ok"


async def test_restart_repeats_nothing(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    wid = nina.add_warning(FakeNinaAPI.mowas())
    nina.add_warning(FakeNinaAPI.mowas("mow.MYK", ars=MAYEN_KOBLENZ, area_desc="Landkreis Mayen-Koblenz"))
    await poller(engine, nina, http, stadtteile).poll_once()
    fetched = nina.calls["warning"]
    async with aiohttp.ClientSession() as fresh:  # a new process: no HTTP cache, a new poller
        again = poller(engine, nina, http=fresh, stadtteile=stadtteile)
        await again.poll_once()
        assert nina.calls["warning"] == fetched  # versions known from nina_seen: no detail fetched
        assert await count(engine, Alert) == 1 and len(await shown(engine)) == 1
        nina.new_version(wid, headline="Neue Lage")
        await again.poll_once()
    assert [a.headline for a in await shown(engine)] == ["Neue Lage"]


async def test_stadtteile_named_by_the_warning_are_its_areas(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    nina.add_warning(FakeNinaAPI.mowas(area_desc="Koblenz-Lützel, Neuendorf"))
    await poller(engine, nina, http, stadtteile).poll_once()
    [alert] = await shown(engine)
    assert alert.areas == ("Lützel", "Neuendorf")


async def test_expired_warning_is_ignored(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    nina.add_warning(FakeNinaAPI.mowas(sent=past - dt.timedelta(hours=2), expires=past))
    p = poller(engine, nina, http, stadtteile)
    await p.poll_once()
    assert await shown(engine) == [] and p.health()["ignored"] == 1


async def test_republish_policy_sends_only_what_it_allows(
    engine: AsyncEngine, nina: FakeNinaAPI, http: aiohttp.ClientSession, stadtteile: Stadtteile
) -> None:
    nina.add_warning(FakeNinaAPI.mowas(severity="Severe"))  # mowas:Severe → sent
    nina.add_warning(FakeNinaAPI.dwd(severity="Severe"))  # dwd only from Extreme → shown, not sent
    p = poller(engine, nina, http, stadtteile, republish={"mowas": "Severe", "dwd": "Extreme"})
    await p.poll_once()
    assert len(await shown(engine)) == 2
    async with sessionmaker(engine)() as session:
        messages = (await session.scalars(select(OutboundMessage))).all()
    assert len(messages) == 1 and "Großbrand" in str(messages[0].texts)
    feed = await published.active_cap_alerts(sessionmaker(engine))
    assert [a.info("de").sender_name for a in feed] == ["Integrierte Leitstelle Koblenz"]


def test_republish_policy_rules() -> None:
    policy = {"mowas": "Severe", "*": "Extreme"}
    assert republish_allowed(policy, "mowas", "Extreme") and republish_allowed(policy, "mowas", "Severe")
    assert not republish_allowed(policy, "mowas", "Moderate")
    assert republish_allowed(policy, "police", "Extreme") and not republish_allowed(policy, "dwd", "Severe")
    assert not republish_allowed({}, "mowas", "Extreme")
    assert not republish_allowed({"*": "Minor"}, "lhp", "Unknown")
