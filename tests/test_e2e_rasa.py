"""End to end through the real Rasa server (trained once per input hash): what a citizen experiences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.web import create_app
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.rasa


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, rasa_url: str) -> TestClient:
    return await aiohttp_client(create_app(make_settings(tmp_path, rasa_url=rasa_url, rasa_timeout=5)))


async def say(client: TestClient, message: str, conversation_id: str = "e2e-conversation") -> dict[str, Any]:
    response = await client.post("/api/chat", json={"message": message, "conversation_id": conversation_id})
    assert response.status == 200
    return dict(await response.json())


@pytest.mark.parametrize(
    ("question", "service_id", "aspect"),
    [
        ("Was kostet ein Reisepass?", "reisepass", "fees"),
        ("perso verloren was jetzt", "ausweis-verlust", None),
        ("Ich ziehe nach Koblenz, wie melde ich mich an?", "wohnsitz-anmelden", None),
        ("wo kann ich mein auto abmelden", "kfz-abmeldung", "location"),
        ("Welche Unterlagen brauche ich für die Eheschließung?", "eheschliessung", "documents"),
        ("sperrmüll anmelden", "sperrmuell", None),
        ("Die Straßenlaterne vor meinem Haus ist kaputt", "maengelmelder", None),
        ("Wann hat das Bürgeramt auf?", "buergeramt", "hours"),
        ("brauche ein führungszeugnis für den neuen job, geht das online?", "fuehrungszeugnis", "online"),
    ],
)
async def test_citizen_questions_get_the_right_service_and_aspect(
    client: TestClient, question: str, service_id: str, aspect: str | None
) -> None:
    body = await say(client, question, conversation_id=f"conversation-q-{abs(hash(question))}")
    assert body["kind"] == "service", body
    assert body["service_id"] == service_id
    if aspect:
        assert body["aspect"] == aspect
    assert body["links"], "every service answer carries its deep links"


async def test_follow_up_and_stadtteil_memory_through_rasa(client: TestClient) -> None:
    first = await say(client, "Ich brauche einen neuen Personalausweis", "conversation-ctx-1")
    assert first["service_id"] == "personalausweis"
    second = await say(client, "und was kostet das?", "conversation-ctx-1")
    assert second["service_id"] == "personalausweis" and second["aspect"] == "fees"
    assert "37,00 €" in second["text"]


@pytest.mark.parametrize(
    "question",
    [
        "Wie wird das Wetter am Wochenende?",
        "Erzähl mir bitte einen Witz",
        "Wer hat die Fußball-WM 2014 gewonnen?",
    ],
)
async def test_out_of_scope_is_recognised(client: TestClient, question: str) -> None:
    body = await say(client, question, f"conversation-oos-{abs(hash(question))}")
    assert body["kind"] == "fallback" and body["service_id"] is None


async def test_human_contact_on_request(client: TestClient) -> None:
    body = await say(client, "Ich will mit einem Menschen sprechen", "conversation-human-1")
    assert body["kind"] == "handoff" and "115" in body["text"]


async def test_greeting_and_warnings_intents(client: TestClient) -> None:
    assert (await say(client, "Guten Abend!", "conversation-greet-1"))["kind"] == "smalltalk"
    body = await say(client, "Gibt es gerade eine Warnung für Lützel?", "conversation-alerts-1")
    assert body["kind"] == "alerts" and "Lützel" in body["text"]


def test_ask_jsonl_uses_the_running_rasa_server(rasa_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KOBLENZ_BOT_RASA_URL": rasa_url,
        "KOBLENZ_BOT_STATE_DIR": str(tmp_path),
        "KOBLENZ_BOT_RASA_TIMEOUT": "5",
    }
    questions = (
        "Was kostet ein Reisepass?\nWie wird das Wetter morgen?\nIch möchte mit einem Mitarbeiter sprechen\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--jsonl"],
        input=questions,
        text=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["service", "fallback", "handoff"]
    assert rows[0]["service_id"] == "reisepass" and rows[0]["aspect"] == "fees"
    assert set(rows[0]) == {"text", "kind", "service_id", "aspect", "answer", "links", "confidence"}
    assert rows[1]["service_id"] is None
