"""The widget's server side on SQLite and PostgreSQL: assets, CORS, feedback, the editors' report, alerts.

The browser itself is in test_widget_browser.py; here the HTTP contract and the storage are checked with
a loopback Rasa double.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from app.web import create_app
from bot.chat import ChatService
from bot.conversations import ConversationStore
from bot.dialogue import Dialogue, State
from bot.events import IncomingMessage
from bot.models import Conversation, Turn, purge_conversations
from bot.search import CatalogSearch
from catalog.model import Catalog
from connectors.web.feedback import unanswered_questions
from connectors.web.models import Feedback
from core.alerts import ActiveAlert, StaticAlerts
from core.db import create_engine, migrate, sessionmaker
from tests.bot.test_dialogue import ScriptedParser
from tests.conftest import make_settings
from tests.fakes.rasa import FakeRasa

FLOOD = ActiveAlert(
    "koblenz-2026-hw-1",
    "Hochwasser an Rhein und Mosel",
    "Severe",
    "Der Pegel Koblenz steigt bis Freitag auf über 7 Meter. Die Uferstraßen am Peter-Altmeier-Ufer werden "
    "gesperrt.",
    "Parken Sie Fahrzeuge nicht am Ufer. Meiden Sie überflutete Wege.",
    ("Altstadt", "Lützel"),
    "https://www.koblenz.de/warnung/hochwasser",
    None,
)
WATER = ActiveAlert(
    "koblenz-2026-tw-1",
    "Abkochgebot für Trinkwasser in Metternich",
    "Moderate",
    "Im Leitungswasser in Metternich wurden Keime gefunden.",
    "Kochen Sie Leitungswasser vor dem Trinken drei Minuten lang ab.",
    ("Metternich",),
    None,
    None,
)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, database_url: str, fake_rasa: FakeRasa) -> TestClient:
    fake_rasa.teach("Was kostet ein Reisepass?", "service_reisepass", 0.93)
    fake_rasa.teach("Wie melde ich meinen Hund an?", "service_hundesteuer", 0.9)
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        rasa_url=fake_rasa.url,
        widget_origins="https://www.koblenz.de, https://service.koblenz.de",
    )
    return await aiohttp_client(create_app(settings))


async def _chat(client: TestClient, message: str, token: str) -> dict[str, Any]:
    response = await client.post("/api/chat", json={"message": message, "conversation_id": token})
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def _count(url: str, model: Any) -> int:
    engine = create_engine(url)
    async with engine.connect() as connection:
        value = (await connection.execute(select(func.count()).select_from(model))).scalar_one()
    await engine.dispose()
    return int(value)


# -- assets ----------------------------------------------------------------------------------------------


async def test_widget_bundle_is_one_gzipped_file_within_budget(client: TestClient) -> None:
    response = await client.get("/widget.js", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert response.headers["Content-Encoding"] == "gzip"
    compressed = await response.read()
    assert len(compressed) <= 30 * 1024, f"widget is {len(compressed)} bytes gzipped, budget 30 kB"
    source = gzip.decompress(compressed).decode()
    assert '/*CSS*/""' not in source and "/*CONFIG*/{}" not in source  # stylesheet and config filled in
    assert '"retentionDays": 30' in source and ":host" in source
    cached = await client.get("/widget.js", headers={"If-None-Match": response.headers["ETag"]})
    assert cached.status == 304


async def test_demo_and_privacy_pages_embed_the_widget_with_one_tag(client: TestClient) -> None:
    demo = await client.get("/")
    html = await demo.text()
    assert demo.status == 200 and html.count("<script") == 1
    assert '<script src="/widget.js" data-lang="de"' in html
    assert "script-src 'self'" in demo.headers["Content-Security-Policy"]
    privacy = await (await client.get("/datenschutz")).text()
    assert "30 Tage nach der letzten Nachricht" in privacy and "keine Cookies" in privacy
    assert "set-cookie" not in {k.lower() for k in demo.headers}


async def test_cors_lets_only_the_configured_origins_call_the_api(client: TestClient) -> None:
    allowed = await client.post(
        "/api/chat", json={"message": "Hallo"}, headers={"Origin": "https://www.koblenz.de"}
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.koblenz.de"
    other = await client.post(
        "/api/chat", json={"message": "Hallo"}, headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = await client.options(
        "/api/chat/abc",
        headers={"Origin": "https://service.koblenz.de", "Access-Control-Request-Method": "DELETE"},
    )
    assert preflight.status == 204 and "DELETE" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://service.koblenz.de"
    assert "Access-Control-Allow-Credentials" not in preflight.headers  # no cookies cross origins


# -- feedback ----------------------------------------------------------------------------------------------


async def test_feedback_is_stored_with_the_question_and_can_be_changed(
    client: TestClient, database_url: str
) -> None:
    token = "widget-session-0001"
    await _chat(client, "Was kostet ein Reisepass?", token)
    await _chat(client, "Wie melde ich meinen Hund an?", token)
    response = await client.post(
        "/api/feedback",
        json={
            "conversation_id": token,
            "turn": 2,
            "rating": "down",
            "comment": "Mir fehlt die Frist. Schreiben Sie mir: max@example.org",
        },
    )
    assert response.status == 200 and (await response.json()) == {"stored": True}
    again = await client.post("/api/feedback", json={"conversation_id": token, "turn": 2, "rating": "up"})
    assert again.status == 200
    engine = create_engine(database_url)
    async with sessionmaker(engine)() as session:
        row = (await session.scalars(select(Feedback))).one()
    await engine.dispose()
    assert row.question == "Wie melde ich meinen Hund an?" and row.service_id == "hundesteuer"
    assert row.rating == "up" and row.comment is not None
    assert "max@example.org" not in row.comment and "[E-Mail entfernt]" in row.comment
    assert token not in row.conversation_id  # pseudonymous like the conversation


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"conversation_id": "widget-session-0002", "turn": 1, "rating": "meh"}, 400, "invalid_rating"),
        ({"conversation_id": "widget-session-0002", "turn": 0, "rating": "up"}, 400, "invalid_turn"),
        ({"conversation_id": "widget-session-0002", "turn": True, "rating": "up"}, 400, "invalid_turn"),
        ({"conversation_id": "short", "turn": 1, "rating": "up"}, 400, "invalid_conversation_id"),
        (
            {"conversation_id": "widget-session-0002", "turn": 1, "rating": "up", "comment": "x" * 501},
            400,
            "invalid_comment",
        ),
        ({"conversation_id": "widget-session-0002", "turn": 9, "rating": "up"}, 404, "not_found"),
        ({"conversation_id": "never-talked-to-the-bot", "turn": 1, "rating": "up"}, 404, "not_found"),
    ],
)
async def test_bad_feedback_gets_a_polite_4xx(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    await _chat(client, "Was kostet ein Reisepass?", "widget-session-0002")
    response = await client.post("/api/feedback", json=body)
    assert response.status == status
    payload = await response.json()
    assert payload["error"] == code and payload["message"]


async def test_malformed_feedback_bodies_never_cause_a_5xx(client: TestClient) -> None:
    for raw in (b"", b"[]", b"{", b"null", json.dumps({"turn": "1"}).encode(), b"\xff\xfe"):
        response = await client.post("/api/feedback", data=raw, headers={"Content-Type": "application/json"})
        assert 400 <= response.status < 500 and (await response.json())["message"]
    huge = await client.post("/api/feedback", data=b"{" + b" " * (70 * 1024) + b"}")
    assert huge.status == 413


async def test_feedback_is_deleted_with_the_conversation(client: TestClient, database_url: str) -> None:
    token = "widget-session-0003"
    await _chat(client, "Was kostet ein Reisepass?", token)
    await client.post("/api/feedback", json={"conversation_id": token, "turn": 1, "rating": "down"})
    assert await _count(database_url, Feedback) == 1
    assert (await client.delete(f"/api/chat/{token}")).status == 200
    assert await _count(database_url, Feedback) == 0 and await _count(database_url, Turn) == 0


async def test_feedback_follows_the_retention_purge(client: TestClient, database_url: str) -> None:
    await _chat(client, "Was kostet ein Reisepass?", "widget-session-0004")
    await client.post(
        "/api/feedback", json={"conversation_id": "widget-session-0004", "turn": 1, "rating": "up"}
    )
    engine = create_engine(database_url)
    removed = await purge_conversations(
        sessionmaker(engine), dt.timedelta(days=30), now=dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    )
    await engine.dispose()
    assert removed == 1
    assert await _count(database_url, Feedback) == 0 and await _count(database_url, Conversation) == 0


async def test_report_lists_fallbacks_and_thumbs_down_most_frequent_first(
    client: TestClient, database_url: str
) -> None:
    for number in range(3):
        await _chat(client, "Wo kann ich ein Boot anmelden?", f"widget-boat-{number:04d}")
    await _chat(client, "wo kann ich ein BOOT anmelden", "widget-boat-9999")  # same question, other spelling
    await _chat(client, "Gibt es Zuschüsse für Lastenräder?", "widget-bike-0001")
    await _chat(client, "Was kostet ein Reisepass?", "widget-pass-0001")
    await _chat(client, "Was kostet ein Reisepass?", "widget-pass-0002")
    for token in ("widget-pass-0001", "widget-pass-0002"):
        await client.post(
            "/api/feedback",
            json={"conversation_id": token, "turn": 1, "rating": "down", "comment": "Express fehlt"},
        )
    engine = create_engine(database_url)
    rows = await unanswered_questions(sessionmaker(engine), days=30, limit=10)
    await engine.dispose()
    assert [(r.question, r.fallbacks, r.thumbs_down) for r in rows] == [
        ("Wo kann ich ein Boot anmelden?", 4, 0),
        ("Was kostet ein Reisepass?", 0, 2),
        ("Gibt es Zuschüsse für Lastenräder?", 1, 0),
    ]
    assert rows[1].as_dict()["answered_with"] == ["reisepass"] and rows[1].comments == ["Express fehlt"] * 2


def test_report_command_prints_the_list_for_the_editors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], catalog: Catalog
) -> None:
    from app.cli import main

    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"

    async def seed() -> None:
        engine = create_engine(url)
        await migrate(engine)
        dialogue = Dialogue(catalog, CatalogSearch(catalog), ScriptedParser(), StaticAlerts())
        chat = ChatService(dialogue, ConversationStore(sessionmaker(engine)), "test-key")
        await chat.chat("web", "cli-report-0001", "Wo kann ich ein Boot anmelden?")
        await chat.chat("web", "cli-report-0002", "Wo kann ich ein Boot anmelden?")
        await engine.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("KOBLENZ_BOT_DATABASE_URL", url)
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path))
    assert main(["report", "unanswered", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["question"] == "Wo kann ich ein Boot anmelden?" and rows[0]["fallbacks"] == 2
    assert main(["report", "unanswered"]) == 0
    table = capsys.readouterr().out
    assert "Wo kann ich ein Boot anmelden?" in table and "Daumen runter" in table


# -- questions about an active alert --------------------------------------------------------------------


async def _ask(dialogue: Dialogue, text: str) -> Any:
    turn = await dialogue.handle(IncomingMessage("c1", "web", text), State())
    return turn.reply


@pytest.mark.parametrize(
    ("question", "intent", "confidence", "expected"),
    [
        ("Was ist mit dem Hochwasser?", "alerts", 0.91, FLOOD),
        ("Was ist mit dem Hochwasser?", "out_of_scope", 0.3, FLOOD),
        ("Ist das Leitungswasser trinkbar?", "alerts", 0.96, WATER),
        ("Ist das Leitungswasser trinkbar?", "out_of_scope", 0.2, WATER),
    ],
)
async def test_questions_about_an_active_alert_are_answered_from_it(
    catalog: Catalog, question: str, intent: str, confidence: float, expected: ActiveAlert
) -> None:
    parser = ScriptedParser({question: (intent, confidence, [])})
    dialogue = Dialogue(catalog, CatalogSearch(catalog), parser, StaticAlerts([FLOOD, WATER]))
    reply = await _ask(dialogue, question)
    other = WATER if expected is FLOOD else FLOOD
    assert reply.kind == "alerts"
    assert expected.headline in reply.text and expected.instruction in reply.text
    assert expected.description in reply.text and other.headline not in reply.text
    if expected.web:
        assert reply.links[0].url == expected.web


async def test_service_questions_still_get_the_service_while_an_alert_is_active(catalog: Catalog) -> None:
    parser = ScriptedParser({"Was kostet ein Reisepass?": ("service_reisepass", 0.93, [])})
    dialogue = Dialogue(catalog, CatalogSearch(catalog), parser, StaticAlerts([FLOOD, WATER]))
    reply = await _ask(dialogue, "Was kostet ein Reisepass?")
    assert reply.kind == "service" and reply.service_id == "reisepass"
    assert reply.notices == (f"⚠ Aktuelle Warnung: {FLOOD.headline}",)


async def test_without_a_matching_alert_the_question_is_not_hijacked(catalog: Catalog) -> None:
    parser = ScriptedParser({"Wo kann ich ein Boot anmelden?": ("out_of_scope", 0.3, [])})
    dialogue = Dialogue(catalog, CatalogSearch(catalog), parser, StaticAlerts([FLOOD, WATER]))
    reply = await _ask(dialogue, "Wo kann ich ein Boot anmelden?")
    assert reply.kind == "fallback"
