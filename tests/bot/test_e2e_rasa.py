"""End to end through the real Rasa server (trained once per input hash): what a citizen experiences."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.web import SUPERVISOR, create_app
from core.net import free_ports
from core.paths import PROJECT_ROOT
from tests.conftest import make_settings

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
    assert "46,00 €" in second["text"]  # the federal fee since 7 February 2026


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
        [sys.executable, "-m", "app.cli", "ask", "--jsonl"],
        input=questions,
        text=True,
        capture_output=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["service", "fallback", "handoff"]
    assert rows[0]["service_id"] == "reisepass" and rows[0]["aspect"] == "fees"
    assert set(rows[0]) == {"text", "kind", "service_id", "aspect", "answer", "blocks", "links", "confidence"}
    assert rows[1]["service_id"] is None


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.5)


async def test_two_rasa_processes_share_the_work_and_survive_a_crash(
    aiohttp_client: Any, tmp_path: Path, rasa_url: str
) -> None:
    """The bot's own pool: both servers answer, a killed one is bypassed at once and restarted."""
    port = free_ports(2)
    settings = make_settings(
        tmp_path,
        rasa_manage=True,
        rasa_processes=2,
        rasa_url=f"http://127.0.0.1:{port}",
        rasa_timeout=5,
        rasa_startup_timeout=240,
    )
    app = create_app(settings)
    client = await aiohttp_client(app)
    supervisor = app[SUPERVISOR]
    await _until(lambda: supervisor.servers() == (2, 2), 300, "both Rasa servers answer")
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok" and health["nlu_servers"] == {"answering": 2, "total": 2}

    answers = await asyncio.gather(
        *(say(client, "Was kostet ein Reisepass?", f"pool-test-{i:03d}") for i in range(20))
    )
    assert all(a["service_id"] == "reisepass" and a["aspect"] == "fees" and not a["notices"] for a in answers)
    assert all(member.parsed > 0 for member in supervisor.pool.members)  # both did real work

    killed = supervisor.pids[0]
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    for i in range(10):  # no gap: the other server answers, no catalog-search notice
        body = await say(client, "perso verloren was jetzt", f"after-kill-{i}")
        assert body["service_id"] == "ausweis-verlust" and not body["notices"]
    await _until(lambda: supervisor.servers()[0] == 1, 15, "the supervisor notices the crash")
    health = await (await client.get("/health")).json()
    assert health["status"] == "degraded" and health["nlu_servers"] == {"answering": 1, "total": 2}
    await _until(lambda: supervisor.servers() == (2, 2), 300, "the killed server is restarted")
    assert supervisor.pids[0] not in (None, killed)
