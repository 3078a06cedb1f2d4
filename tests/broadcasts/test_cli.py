"""``koblenz-bot`` broadcast commands on SQLite and PostgreSQL: subscriber import/export (all or nothing,
bad rows named by line), posts, alerts from templates and delivery progress."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import main
from broadcasts.models import Alert, Broadcast
from broadcasts.subscribers import Subscriber
from core.db import create_engine
from tests import broadcasting as h

pytestmark = pytest.mark.functional


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    async def prepare() -> None:
        engine = await h.fresh_engine(database_url)
        await engine.dispose()

    asyncio.run(prepare())
    monkeypatch.setenv("KOBLENZ_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("KOBLENZ_BOT_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("KOBLENZ_BOT_CONFIG", str(tmp_path / "none.toml"))
    return database_url


def _count(url: str, model: object) -> int:
    async def count() -> int:
        engine = create_engine(url)
        async with engine.connect() as connection:
            value = (await connection.execute(select(func.count()).select_from(model))).scalar_one()  # type: ignore[arg-type]
        await engine.dispose()
        return int(value)

    return asyncio.run(count())


GOOD = """channel,chat_id,topics,stadtteile
telegram,1001,warnungen;presse,Lützel;Güls
telegram,1002,presse,
telegram,@koblenz_nachbarn,warnungen,
"""
BAD = """channel,chat_id,topics,stadtteile
telegram,2001,warnungen,
telegram,abc,warnungen,
telegram,2003,warnungen,Atlantis
fax,2004,presse,
telegram,2001,presse,
telegram,2006,presse,Lützel
"""


def test_import_is_all_or_nothing_and_names_bad_rows(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["subscribers", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "Nichts importiert: 5 fehlerhafte Zeile(n)" in err
    assert "Zeile 3: ungültige chat_id „abc“" in err
    assert "Zeile 4: unbekannter Stadtteil „Atlantis“" in err
    assert "Zeile 5: unbekannter Kanal „fax“" in err
    assert "Zeile 6: doppelt (schon in Zeile 2)" in err
    assert "Zeile 7: Stadtteile gelten nur für" in err
    assert _count(cli_env, Subscriber) == 0


def test_import_then_export_round_trips(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert main(["subscribers", "import", str(good)]) == 0
    assert "3 Abonnent(en) importiert (3 neu, 0 aktualisiert)" in capsys.readouterr().out
    assert main(["subscribers", "import", str(good)]) == 0  # again: updates, no duplicates
    assert "(0 neu, 3 aktualisiert)" in capsys.readouterr().out
    out = tmp_path / "out.csv"
    assert main(["subscribers", "export", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "channel,chat_id,topics,stadtteile"
    assert sorted(lines[1:]) == [
        "telegram,1001,presse;warnungen,Güls;Lützel",
        "telegram,1002,presse,",
        "telegram,@koblenz_nachbarn,warnungen,",
    ]
    assert main(["subscribers", "export", "--chat-id", "1002"]) == 0  # one person's data (GDPR)
    assert capsys.readouterr().out.splitlines()[1:] == ["telegram,1002,presse,"]


def test_posts_from_the_command_line(
    cli_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOBLENZ_BOT_TELEGRAM_TOKEN", h.TOKEN)  # Telegram on: its limit applies
    assert (
        main(["broadcast", "create", "--text", "Sperrung der Balduinbrücke", "--at", "2030-07-01 09:30"]) == 0
    )
    assert "eingeplant für 01.07.2030 09:30 MESZ" in capsys.readouterr().out
    assert main(["broadcast", "create", "--text", "Entwurf für später"]) == 0
    assert main(["broadcast", "schedule", "2", "--at", "2030-10-27 02:30"]) == 1  # ambiguous hour
    assert "zweimal" in capsys.readouterr().err
    assert main(["broadcast", "schedule", "2", "--at", "2030-10-27 02:30 MEZ"]) == 0
    assert main(["broadcast", "list"]) == 0
    listing = capsys.readouterr().out
    assert "27.10.2030 02:30 MEZ" in listing and "01.07.2030 09:30 MESZ" in listing
    assert main(["broadcast", "cancel", "1"]) == 0
    assert main(["broadcast", "show", "1"]) == 0
    shown = capsys.readouterr().out
    assert "Status cancelled" in shown
    assert "--- Vorschau Telegram (26 Zeichen, höchstens 4.096) ---\nSperrung der Balduinbrücke" in shown
    assert "--- Vorschau RSS/Atom-Feed (26 Zeichen) ---\nTitel: Sperrung der Balduinbrücke\n" in shown
    assert "Vorschau CAP-Feed" not in shown and "Vorschau Website-Banner" not in shown  # alerts only
    assert main(["broadcast", "create", "--text", "x" * 5000, "--now"]) == 1
    assert "4.096" in capsys.readouterr().err
    assert _count(cli_env, Broadcast) == 3
    monkeypatch.delenv("KOBLENZ_BOT_TELEGRAM_TOKEN")  # Telegram off: the feeds take any length
    assert main(["broadcast", "create", "--text", "x" * 5000, "--now"]) == 0
    assert _count(cli_env, Broadcast) == 4


def test_alerts_from_a_template_update_and_cancel(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    issue = ["alert", "issue", "--template", "grossbrand", "--value", "ort=Industriegebiet Wallersheim"]
    assert main([*issue, "--stadtteile", "Wallersheim;Neuendorf"]) == 0
    out = capsys.readouterr().out
    assert "Warnung angenommen:" in out
    identifier = out.split("Warnung angenommen: ", 1)[1].split(" ", 1)[0]
    assert main(["alert", "update", identifier, "--instruction", "Halten Sie Fenster geschlossen."]) == 0
    assert main(["alert", "cancel", identifier]) == 0
    assert "Entwarnung angenommen" in capsys.readouterr().out
    assert main(["alert", "issue", "--template", "grossbrand"]) == 1  # a placeholder is missing
    assert "fehlen" in capsys.readouterr().err
    assert _count(cli_env, Alert) == 3
    assert main(["deliveries", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {}  # no subscribers: nothing to deliver
