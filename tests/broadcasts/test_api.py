"""The alert API for the fire service, the banner, the feeds and the CAP files, through the real web app
(scheduler and worker in-process) against the Telegram double, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.web import create_app
from broadcasts.cap import alert_to_json, reference_of, to_cap_xml
from broadcasts.models import Alert, AuditLog
from core.db import sessionmaker
from tests import broadcasting as h
from tests.fakes.rasa import FakeRasa
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.functional

TOKEN = "feuerwehr-token-1234567890"
SECRET = "hmac-geheimnis-0987654321"
XML = {"Content-Type": "application/cap+xml"}


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **XML}


def _signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Koblenz-Sender": "leitstelle",
        "X-Koblenz-Timestamp": stamp,
        "X-Koblenz-Signature": f"sha256={digest}",
        **XML,
    }


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI(token=h.TOKEN, per_second=200)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    await h.add_subscribers(db, [101, 102])
    await h.add_subscribers(db, [201], stadtteile=["Lützel"])
    yield db
    await db.dispose()


@pytest.fixture
async def client(
    aiohttp_client: Any,
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
    fake: FakeTelegramAPI,
    fake_rasa: FakeRasa,
) -> TestClient:
    fake_rasa.teach("Gibt es Warnungen?", "alerts", 0.95)
    settings = h.settings_for(
        tmp_path,
        database_url,
        fake,
        rasa_url=fake_rasa.url,
        alert_senders={
            "leitstelle": {
                "token": TOKEN,
                "hmac_secret": SECRET,
                "cap_senders": ["feuerwehr@koblenz.de"],
            },
            "nachbarstadt": {"token": "andere-stadt-token-000", "cap_senders": ["lahnstein@example.org"]},
        },
    )
    return await aiohttp_client(create_app(settings))


async def _count(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
        )


def _xml(alert: Any) -> bytes:
    return to_cap_xml(alert)


async def test_an_alert_is_accepted_sent_and_shown_on_banner_feed_and_in_the_chat(
    client: TestClient, fake: FakeTelegramAPI, engine: AsyncEngine
) -> None:
    alert = h.cap_alert("koblenz-api-1", "Großbrand in Lützel: Fenster schließen", areas=["Lützel"])
    response = await client.post("/api/alerts", data=_xml(alert), headers=_auth())
    assert response.status == 202
    accepted = await response.json()
    assert accepted["identifier"] == "koblenz-api-1" and accepted["published"] and not accepted["duplicate"]
    banner = await (await client.get("/api/alerts")).json()
    assert [a["headline"] for a in banner["alerts"]] == ["Großbrand in Lützel: Fenster schließen"]
    assert banner["alerts"][0]["areas"] == ["Lützel"]
    feed = await (await client.get("/feeds/cap.atom")).text()
    assert "koblenz-api-1" in feed and "application/cap+xml" in feed
    cap = await client.get("/alerts/koblenz-api-1.cap.xml")
    assert cap.status == 200 and cap.content_type == "application/cap+xml"
    assert await cap.read() == _xml(alert)
    await fake.wait_for(lambda: len(fake.sent) >= 3, timeout=15)
    assert sorted(m.chat_id for m in fake.sent) == [101, 102, 201]
    chat = await (await client.post("/api/chat", json={"message": "Gibt es Warnungen?"})).json()
    assert chat["kind"] == "alerts" and "Großbrand in Lützel" in chat["text"]
    rss = await (await client.get("/feeds/rss.xml")).text()
    assert "Großbrand in Lützel" in rss


async def test_hmac_signed_alerts_are_accepted_and_bad_signatures_refused(
    client: TestClient, engine: AsyncEngine
) -> None:
    alert = h.cap_alert("koblenz-signed")
    body = _xml(alert)
    refused = [
        await client.post("/api/alerts", data=body, headers=_signed(body, secret="falsch")),
        await client.post("/api/alerts", data=body, headers=_signed(body, at=int(time.time()) - 3600)),
        await client.post("/api/alerts", data=body, headers=_signed(body + b" ")),
    ]
    assert [r.status for r in refused] == [401, 401, 401]
    assert await _count(engine, Alert) == 0
    accepted = await client.post("/api/alerts", data=body, headers=_signed(body))
    assert accepted.status == 202
    assert await _count(engine, Alert) == 1


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer falsch"}, 401, "unauthorized"),
        ({"Authorization": "Bearer andere-stadt-token-000"}, 403, "forbidden_sender"),
    ],
)
async def test_bad_authentication_is_refused_stores_nothing_and_is_audited(
    client: TestClient, engine: AsyncEngine, headers: dict[str, str], status: int, code: str
) -> None:
    response = await client.post("/api/alerts", data=_xml(h.cap_alert()), headers={**headers, **XML})
    assert response.status == status
    body = await response.json()
    assert body["error"] == code and body["message"]
    assert await _count(engine, Alert) == 0
    assert await _count(engine, AuditLog, AuditLog.outcome == "rejected") == 1


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&lol3;</alert>'
)
SCHEMA_FAIL = b"""<?xml version="1.0"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x1</identifier><sender>a@b</sender>
<sent>morgen</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope></alert>"""


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"<alert><unclosed>", "application/cap+xml", 400, "cap_not_well_formed"),
        (XXE, "application/cap+xml", 400, "cap_unsafe"),
        (LAUGHS, "application/xml", 400, "cap_unsafe"),
        (SCHEMA_FAIL, "application/cap+xml", 422, "cap_schema"),
        (b"<alert>" + b" " * 300_000 + b"</alert>", "application/cap+xml", 413, "cap_too_large"),
        (b"{nicht json", "application/json", 400, "cap_not_well_formed"),
        (b"hallo", "text/plain", 415, "unsupported_media_type"),
    ],
    ids=["not-well-formed", "xxe", "entity-expansion", "schema", "too-large", "bad-json", "media-type"],
)
async def test_bad_input_gets_a_clear_4xx_stores_nothing_and_is_audited(
    client: TestClient, engine: AsyncEngine, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = await client.post(
        "/api/alerts", data=body, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
    )
    assert response.status == status
    payload = await response.json()
    assert payload["error"] == code and payload["message"]
    assert await _count(engine, Alert) == 0
    async with sessionmaker(engine)() as session:
        audit = (await session.scalars(select(AuditLog))).all()
    assert [(a.outcome, a.actor, a.details["status"]) for a in audit] == [("rejected", "leitstelle", status)]


async def test_an_update_of_an_unknown_alert_is_refused(client: TestClient, engine: AsyncEngine) -> None:
    ghost = h.cap_alert("koblenz-never-issued")
    update = h.cap_alert("koblenz-ghost-update", msg_type="Update", references=[reference_of(ghost)])
    response = await client.post("/api/alerts", data=_xml(update), headers=_auth())
    assert response.status == 422
    assert (await response.json())["error"] == "cap_unknown_reference"
    assert await _count(engine, Alert) == 0


async def test_the_json_form_is_accepted(client: TestClient) -> None:
    alert = h.cap_alert("koblenz-json-1", "Trinkwasser abkochen")
    response = await client.post(
        "/api/alerts",
        data=json.dumps(alert_to_json(alert)),
        headers=_auth() | {"Content-Type": "application/json"},
    )
    assert response.status == 202
    cap = await (await client.get("/alerts/koblenz-json-1.cap.xml")).text()
    assert "Trinkwasser abkochen" in cap


async def test_the_same_message_twice_is_one_alert_and_a_clash_is_refused(
    client: TestClient, engine: AsyncEngine, fake: FakeTelegramAPI
) -> None:
    alert = h.cap_alert("koblenz-twice")
    first = await client.post("/api/alerts", data=_xml(alert), headers=_auth())
    again = await client.post("/api/alerts", data=_xml(alert), headers=_auth())
    assert (first.status, again.status) == (202, 202)
    assert (await first.json())["id"] == (await again.json())["id"] and (await again.json())["duplicate"]
    clash = h.cap_alert("koblenz-twice", headline="Ganz andere Warnung")
    conflict = await client.post("/api/alerts", data=_xml(clash), headers=_auth())
    assert conflict.status == 409
    await fake.wait_for(lambda: len(fake.sent) >= 3, timeout=15)
    assert await _count(engine, Alert) == 1


async def test_update_and_cancel_endpoints_edit_messages_and_clear_the_banner(
    client: TestClient, fake: FakeTelegramAPI
) -> None:
    alert = h.cap_alert("koblenz-flow", "Stromausfall in Lützel", areas=["Lützel"])
    accepted = await (await client.post("/api/alerts", data=_xml(alert), headers=_auth())).json()
    await fake.wait_for(lambda: len(fake.sent) >= 3, timeout=15)
    update = await client.post(
        f"/api/alerts/{accepted['id']}/update",
        json={"headline": "Stromausfall in Lützel: Strom ab 18 Uhr wieder da"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert update.status == 202
    await fake.wait_for(lambda: len(fake.edits) >= 3, timeout=15)
    assert all("18 Uhr" in (fake.current_text(c, 1) or "") for c in (101, 102, 201))
    banner = await (await client.get("/api/alerts")).json()
    assert [a["headline"] for a in banner["alerts"]] == ["Stromausfall in Lützel: Strom ab 18 Uhr wieder da"]
    cancel = await client.post(
        "/api/alerts/koblenz-flow/cancel",
        json={"hinweis": "Danke für Ihre Geduld."},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert cancel.status == 202
    assert (await (await client.get("/api/alerts")).json())["alerts"] == []
    assert "<entry>" not in await (await client.get("/feeds/cap.atom")).text()
    await fake.wait_for(lambda: len(fake.sent) >= 6, timeout=15)
    for chat in (101, 102, 201):
        assert "Entwarnung" in fake.messages_to(chat)[-1].text
    assert fake.violations == []


async def test_the_openapi_description_has_the_alert_api(client: TestClient) -> None:
    spec = await (await client.get("/openapi.json")).json()
    for path in (
        "/api/alerts",
        "/api/alerts/{alert}/update",
        "/api/alerts/{alert}/cancel",
        "/feeds/cap.atom",
    ):
        assert path in spec["paths"]
    assert {"202", "401", "413", "422"} <= set(spec["paths"]["/api/alerts"]["post"]["responses"])
