"""The Rasa REST channel hands Rasa web-chat clients plain text: no "**" markup, lists as "• " lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.web import create_app
from bot.events import Bullets, Link, Paragraph, QuickReply, Reply, Title
from connectors.rasa_rest import WEBHOOK_PATH, messages
from tests.conftest import make_settings
from tests.fakes.rasa import FakeRasa


def test_blocks_become_plain_lines() -> None:
    reply = Reply.of(
        (
            Title("Reisepass beantragen"),
            Paragraph("Das kostet es:"),
            Bullets(("Reisepass: 70,00 €", "Express")),
        ),
        "service",
        links=(Link("Online-Termin", "https://www.koblenz.de/termin", "appointment"),),
        quick_replies=(QuickReply("Unterlagen", "svc:reisepass:documents"),),
        notices=("⚠ Aktuelle Warnung: Hochwasser",),
    )
    [message] = messages("u1", reply)
    assert message["text"] == (
        "⚠ Aktuelle Warnung: Hochwasser\n\nReisepass beantragen\n\nDas kostet es:\n• Reisepass: 70,00 €\n• Express"
    )
    assert message["buttons"] == [
        {"title": "Unterlagen", "payload": "svc:reisepass:documents"},
        {
            "title": "Online-Termin",
            "type": "web_url",
            "url": "https://www.koblenz.de/termin",
            "payload": "https://www.koblenz.de/termin",
        },
    ]


async def test_no_markup_reaches_the_rasa_client(
    aiohttp_client: Any, tmp_path: Path, fake_rasa: FakeRasa
) -> None:
    fake_rasa.teach("Was kostet ein Reisepass?", "service_reisepass", 0.93)
    client = await aiohttp_client(create_app(make_settings(tmp_path, rasa_url=fake_rasa.url)))
    asked = [
        "Was kostet ein Reisepass?",
        "svc:personalausweis:overview",
        "svc:sperrmuell:overview",
        "handoff",
    ]
    for text in asked:
        response = await client.post(WEBHOOK_PATH, json={"sender": "u1", "message": text})
        assert response.status == 200
        [message] = await response.json()
        assert "**" not in message["text"], message["text"]
        assert "<b>" not in message["text"] and "\n• " in message["text"]
    chat = await (await client.post("/api/chat", json={"message": "Was kostet ein Reisepass?"})).json()
    assert chat["text"].startswith("Reisepass") and chat["blocks"][0] == {
        "type": "title",
        "text": chat["text"].split("\n")[0],
    }
