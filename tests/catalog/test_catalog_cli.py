"""``koblenz-bot catalog check-links`` and ``catalog stale`` as staff run them: table or JSON, exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from app.cli import main
from catalog.links import RESULT_FILE
from tests.catalog.catalog_files import write_catalog
from tests.fakes.link_server import LinkServer


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KOBLENZ_BOT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("KOBLENZ_BOT_CATALOG_DIR", str(tmp_path / "data"))
    return tmp_path


def test_check_links_exits_1_and_reports_each_broken_link_as_json(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LinkServer(slow_seconds=5).in_thread() as server:
        write_catalog(
            env / "data",
            links=[server.link("ok"), server.link("chain/2"), server.link("gone"), server.link("slow")],
            office_web=server.link("head-refused"),
        )
        code = main(["catalog", "check-links", "--json", "--timeout", "0.3"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (out["total"], out["ok"], out["redirected"], out["broken"]) == (5, 3, 1, 2)
    by_url = {link["url"]: link for link in out["links"]}
    assert by_url[server.link("chain/2")]["ok"] and len(by_url[server.link("chain/2")]["redirects"]) == 2
    assert by_url[server.link("chain/2")]["final_url"] == server.link("chain/0")
    assert (
        by_url[server.link("gone")]["status"] == 410
        and by_url[server.link("gone")]["service_id"] == "test-dienst"
    )
    assert "Zeitüberschreitung" in by_url[server.link("slow")]["error"]
    assert by_url[server.link("head-refused")]["field"] == "web"
    kept = json.loads((env / "state" / RESULT_FILE).read_text())
    assert kept["broken"] == 2 and {b["url"] for b in kept["broken_links"]} == {
        server.link("gone"),
        server.link("slow"),
    }


def test_check_links_exits_0_with_a_german_table_when_all_links_work(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LinkServer().in_thread() as server:
        write_catalog(env / "data", links=[server.link("ok"), server.link("relative")])
        code = main(["catalog", "check-links", "--concurrency", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split() == ["Dienst", "Feld", "Status", "Ergebnis", "URL"]
    assert f"ok nach 1 Weiterleitung → {server.link('ok')}" in out
    assert "2 Links geprüft: 2 erreichbar (davon 1 mit Weiterleitung), 0 kaputt." in out


def test_check_links_shows_broken_links_first(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LinkServer().in_thread() as server:
        write_catalog(env / "data", links=[server.link("ok"), server.link("reset")])
        code = main(["catalog", "check-links"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert "KAPUTT: Verbindung vom Server abgebrochen" in lines[2] and server.link("reset") in lines[2]


def test_stale_lists_old_facts_as_table_and_json_and_exits_0(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = dt.date.today()
    write_catalog(
        env / "data",
        reviewed=today - dt.timedelta(days=200),
        fees=[
            {
                "item": "Gebühr",
                "amount": "5,00 €",
                "checked": today.isoformat(),
                "source": "https://www.koblenz.de/g",
            }
        ],
        office_reviewed=today - dt.timedelta(days=10),
    )
    assert main(["catalog", "stale", "--older-than", "180d", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["older_than_days"] == 180 and out["count"] == 1
    assert out["facts"][0]["record"] == "test-dienst" and out["facts"][0]["kind"] == "dienst"
    assert out["facts"][0]["age_days"] in (199, 200, 201)  # the bot counts days in Europe/Berlin
    assert main(["catalog", "stale", "--older-than", "1w"]) == 0
    table = capsys.readouterr().out
    assert (
        "Geprüft" in table
        and "testamt" in table
        and "2 Angaben wurden seit mehr als 7 Tagen nicht geprüft." in table
    )
    assert main(["catalog", "stale", "--older-than", "52w"]) == 0
    assert "Alle Angaben wurden in den letzten 364 Tagen geprüft." in capsys.readouterr().out


def test_stale_refuses_an_unknown_unit_politely(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_catalog(env / "data")
    assert main(["catalog", "stale", "--older-than", "6m"]) == 2
    assert "Bitte Tage oder Wochen angeben" in capsys.readouterr().out
