"""The HTTP API on SQLite and PostgreSQL, with a loopback Rasa double (the real Rasa is in test_e2e_rasa)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from app.web import create_app
from bot.models import Conversation, Turn, purge_conversations
from core.db import create_engine, sessionmaker
from tests.conftest import make_settings
from tests.fakes.rasa import FakeRasa


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, database_url: str, fake_rasa: FakeRasa) -> TestClient:
    fake_rasa.teach("Was kostet ein Reisepass?", "service_reisepass", 0.93)
    fake_rasa.teach("Ich brauche einen Reisepass", "service_reisepass", 0.9)
    fake_rasa.teach("Meine E-Mail ist max@example.org, Reisepass bitte", "service_reisepass", 0.9)
    settings = make_settings(tmp_path, database_url=database_url, rasa_url=fake_rasa.url)
    return await aiohttp_client(create_app(settings))


async def _count(url: str, model: Any) -> int:
    engine = create_engine(url)
    async with engine.connect() as connection:
        value = (await connection.execute(select(func.count()).select_from(model))).scalar_one()
    await engine.dispose()
    return int(value)


async def test_chat_answers_with_the_documented_shape(client: TestClient) -> None:
    response = await client.post("/api/chat", json={"message": "Was kostet ein Reisepass?"})
    assert response.status == 200
    body = await response.json()
    assert body["kind"] == "service" and body["service_id"] == "reisepass" and body["aspect"] == "fees"
    assert set(body) >= {"conversation_id", "text", "kind", "service_id", "aspect", "links", "confidence"}
    assert all(set(link) == {"title", "url", "kind"} for link in body["links"])


async def test_conversation_id_continues_the_conversation(client: TestClient) -> None:
    first = await (await client.post("/api/chat", json={"message": "Ich brauche einen Reisepass"})).json()
    follow = await client.post(
        "/api/chat",
        json={"message": "und was muss ich mitbringen?", "conversation_id": first["conversation_id"]},
    )
    body = await follow.json()
    assert body["service_id"] == "reisepass" and body["aspect"] == "documents"


async def test_conversations_are_stored_pseudonymously_and_redacted(
    client: TestClient, database_url: str
) -> None:
    token = "my-browser-session-123"
    await client.post(
        "/api/chat",
        json={"message": "Meine E-Mail ist max@example.org, Reisepass bitte", "conversation_id": token},
    )
    engine = create_engine(database_url)
    async with sessionmaker(engine)() as session:
        conversation = (await session.scalars(select(Conversation))).one()
        texts = (await session.scalars(select(Turn.text))).all()
    await engine.dispose()
    assert token not in conversation.id and len(conversation.id) == 32
    assert not any("max@example.org" in t for t in texts)
    assert any("[E-Mail entfernt]" in t for t in texts)


async def test_delete_removes_the_conversation(client: TestClient, database_url: str) -> None:
    token = "delete-me-please-42"
    await client.post("/api/chat", json={"message": "Ich brauche einen Reisepass", "conversation_id": token})
    assert await _count(database_url, Turn) == 2
    response = await client.delete(f"/api/chat/{token}")
    assert response.status == 200
    assert await _count(database_url, Turn) == 0 and await _count(database_url, Conversation) == 0


async def test_retention_purges_old_conversations_only(client: TestClient, database_url: str) -> None:
    await client.post(
        "/api/chat", json={"message": "Ich brauche einen Reisepass", "conversation_id": "old-one-1"}
    )
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert await purge_conversations(sessions, dt.timedelta(days=30)) == 0
    assert await purge_conversations(sessions, dt.timedelta(days=30), now=future) == 1
    await engine.dispose()
    assert await _count(database_url, Turn) == 0


async def test_rest_webhook_speaks_the_rasa_rest_channel(client: TestClient) -> None:
    response = await client.post(
        "/webhooks/rest/webhook", json={"sender": "u1", "message": "Was kostet ein Reisepass?"}
    )
    assert response.status == 200
    messages = await response.json()
    assert messages[0]["recipient_id"] == "u1" and "70,00 €" in messages[0]["text"]
    assert any(b.get("type") == "web_url" and b["url"].startswith("https://") for b in messages[0]["buttons"])


async def test_health_reports_database_and_nlu(client: TestClient) -> None:
    body = await (await client.get("/health")).json()
    assert body["database"] == "ok" and body["nlu"] == "ready" and body["services"] >= 53


async def test_openapi_describes_the_chat_endpoint(client: TestClient) -> None:
    spec = await (await client.get("/openapi.json")).json()
    assert "/api/chat" in spec["paths"] and "/webhooks/rest/webhook" in spec["paths"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"message": 42}', 400, "invalid_message"),
        (b'{"message": "hi", "conversation_id": "x"}', 400, "invalid_conversation_id"),
        (b'{"message": "' + b"a" * 70_000 + b'"}', 413, "too_large"),
    ],
)
async def test_malformed_requests_get_a_clear_4xx(
    client: TestClient, body: bytes, status: int, code: str
) -> None:
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    payload = await response.json()
    assert payload["error"] == code and payload["message"]


async def test_ten_thousand_characters_get_a_friendly_answer(client: TestClient) -> None:
    response = await client.post("/api/chat", json={"message": "x" * 10_000})
    assert response.status == 200
    body = await response.json()
    assert "zu lang" in body["text"]


async def test_rate_limit_per_conversation_is_polite(
    aiohttp_client: Any, tmp_path: Path, fake_rasa: FakeRasa
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(tmp_path, rasa_url=fake_rasa.url, chat_rate_per_minute=3))
    )
    statuses = [
        (await client.post("/api/chat", json={"message": "Hallo", "conversation_id": "same-conv-1"})).status
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    body = await (
        await client.post("/api/chat", json={"message": "Hallo", "conversation_id": "same-conv-1"})
    ).json()
    assert body["error"] == "rate_limited" and "Moment" in body["message"]


async def test_slow_rasa_is_answered_from_the_catalog_within_the_timeout(
    aiohttp_client: Any, tmp_path: Path, fake_rasa: FakeRasa
) -> None:
    fake_rasa.delay = 3.0
    client = await aiohttp_client(
        create_app(make_settings(tmp_path, rasa_url=fake_rasa.url, rasa_timeout=0.5))
    )
    response = await client.post("/api/chat", json={"message": "Sperrmüll abholen lassen"})
    body = await response.json()
    assert response.status == 200 and body["service_id"] == "sperrmuell"
    assert any("nicht erreichbar" in n for n in body["notices"])


async def test_rasa_errors_are_answered_from_the_catalog(
    aiohttp_client: Any, tmp_path: Path, fake_rasa: FakeRasa
) -> None:
    fake_rasa.fail_with = 500
    client = await aiohttp_client(create_app(make_settings(tmp_path, rasa_url=fake_rasa.url)))
    response = await client.post("/api/chat", json={"message": "Hund anmelden Hundesteuer"})
    body = await response.json()
    assert response.status == 200 and body["service_id"] == "hundesteuer"


async def test_deleted_conversation_is_forgotten_in_memory_too(client: TestClient) -> None:
    token = "forget-me-please-7"
    await client.post("/api/chat", json={"message": "Ich brauche einen Reisepass", "conversation_id": token})
    await client.delete(f"/api/chat/{token}")
    body = await (
        await client.post(
            "/api/chat", json={"message": "und was muss ich mitbringen?", "conversation_id": token}
        )
    ).json()
    assert body["service_id"] != "reisepass"


@pytest.mark.parametrize("parallel", [2, 6])
async def test_parses_sent_at_once_to_rasa_follow_the_setting(
    aiohttp_client: Any, tmp_path: Path, fake_rasa: FakeRasa, parallel: int
) -> None:
    """An operator's load balancer in front of several Rasa processes gets RASA_PARALLEL parses at once."""
    fake_rasa.teach("Was kostet ein Reisepass?", "service_reisepass", 0.93)
    fake_rasa.delay = 0.1
    settings = make_settings(
        tmp_path, rasa_url=fake_rasa.url, rasa_parallel=parallel, chat_rate_per_minute=1000
    )
    client = await aiohttp_client(create_app(settings))
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/chat",
                json={"message": "Was kostet ein Reisepass?", "conversation_id": f"parallel-{n:03d}"},
            )
            for n in range(12)
        )
    )
    assert all(a.status == 200 for a in answers)
    assert fake_rasa.max_in_flight == parallel
