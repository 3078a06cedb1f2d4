"""Editors' revisions of offices: the office rules (each wrong field named in German), a saved office in
the running catalog at once (opening hours in the chat's answer), the seed winning once it changed, and
``catalog export`` writing the overlaid offices. A small catalog on disk, not the reviewed data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli import main
from bot.answers import aspect_blocks
from bot.events import Bullets
from catalog.model import Catalog, Office, load_catalog
from catalog.revisions import (
    OFFICE,
    EditConflict,
    EditRefused,
    LiveCatalog,
    check_office,
    newest_revisions,
    office_json,
    overlay,
)
from core.db import create_engine, migrate, sessionmaker
from core.paths import PROJECT_ROOT
from tests.catalog.catalog_files import write_catalog

HOURS = [{"days": ["mo", "di"], "from": "08:00", "to": "12:00"}]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = write_catalog(tmp_path / "data")
    office = yaml.safe_load((root / "offices" / "testamt.yaml").read_text(encoding="utf-8"))
    office |= {
        "hours": HOURS,
        "web": "http://www.example-amt.de/",  # an older http page the seed has
        "address": {"street": "Teststraße 1", "postcode": "56068"},
    }
    (root / "offices" / "testamt.yaml").write_text(yaml.safe_dump(office, allow_unicode=True))
    return root


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    await migrate(engine)
    yield sessionmaker(engine)
    await engine.dispose()


def live_of(data: Path) -> LiveCatalog:
    return LiveCatalog.from_directory(data, data.parent / "phrases.yml")


def with_hours(office: Office, hours: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return office_json(office) | {"hours": hours} | extra


def hours_answer(catalog: Catalog) -> str:
    service = catalog.services["test-dienst"]
    blocks = aspect_blocks("hours", service, catalog.office_of(service))
    return "\n".join(item for block in blocks if isinstance(block, Bullets) for item in block.items)


# -- the office rules ---------------------------------------------------------------------------------


def test_each_wrong_office_field_is_named_in_german(data: Path) -> None:
    live = live_of(data)
    office = live.catalog.offices["testamt"]
    raw = with_hours(
        office,
        [
            {"days": ["mo", "xy"], "from": "7.30", "to": "12:00"},
            {"days": ["di"], "from": "14:00", "to": "13:00"},
            {"days": [], "from": "25:00", "to": ""},
        ],
        name="  ",
        web="http://www.koblenz.de/neu",
        email="amt(at)koblenz",
        phone="ruf an",
        address={"street": "", "postcode": "5606", "city": "Koblenz"},
    )
    checked, problems = live.check_office("testamt", raw)
    assert checked is None
    assert problems == {
        ("name",): "Bitte geben Sie den Namen des Amts an.",
        (
            "hours",
            0,
            "days",
        ): "„xy“ ist kein Wochentag. Bitte wählen Sie Tage von Montag bis Sonntag aus der Liste.",
        (
            "hours",
            0,
            "opens",
        ): "„7.30“ ist keine gültige Uhrzeit. Bitte schreiben Sie Stunden und Minuten mit "
        "Doppelpunkt, zum Beispiel 08:30.",
        ("hours", 1, "closes"): "Die Schließzeit 13:00 Uhr liegt nicht nach der Öffnungszeit 14:00 Uhr.",
        ("hours", 2, "days"): "Bitte wählen Sie mindestens einen Wochentag.",
        (
            "hours",
            2,
            "opens",
        ): "„25:00“ ist keine gültige Uhrzeit. Bitte schreiben Sie Stunden und Minuten mit "
        "Doppelpunkt, zum Beispiel 08:30.",
        (
            "hours",
            2,
            "closes",
        ): "Bitte geben Sie die Schließzeit an, in Stunden und Minuten, zum Beispiel 08:30.",
        ("web",): "Bitte verwenden Sie eine sichere Adresse, die mit https:// beginnt.",
        ("email",): "„amt(at)koblenz“ ist keine gültige E-Mail-Adresse. Bitte schreiben Sie sie so: "
        "name@stadt.koblenz.de.",
        ("phone",): "Die Telefonnummer darf nur Ziffern, Leerzeichen und die Zeichen + / - ( ) enthalten, "
        "zum Beispiel „0261 129-0“.",
        ("address", "street"): "Bitte geben Sie Straße und Hausnummer an.",
        ("address", "postcode"): "Bitte geben Sie die Postleitzahl mit fünf Ziffern an.",
    }


def test_good_hours_pass_and_an_older_http_page_may_stay_unchanged(data: Path) -> None:
    live = live_of(data)
    office = live.catalog.offices["testamt"]
    hours = [
        {"days": ["mo", "di", "mi", "do", "fr"], "from": "07:30", "to": "12:00", "note": "ohne Termin"},
        {"days": ["do"], "from": "14:00", "to": "24:00"},
    ]
    checked, problems = live.check_office("testamt", with_hours(office, hours))
    assert problems == {} and checked is not None
    assert checked.hours_lines() == [
        "Mo, Di, Mi, Do, Fr: 07:30–12:00 Uhr (ohne Termin)",
        "Do: 14:00–24:00 Uhr",
    ]
    assert str(checked.web) == "http://www.example-amt.de/"  # kept as it was: not refused
    # a new address must be https; without the kept one, the same http page is refused too
    assert check_office(with_hours(office, hours))[1] == {
        ("web",): "Bitte verwenden Sie eine sichere Adresse, die mit https:// beginnt."
    }
    _, problems = live.check_office("testamt", with_hours(office, hours, id="anderes-amt"))
    assert problems == {("id",): "Die Kennung eines Amts kann hier nicht geändert werden."}


def test_every_reviewed_office_can_be_saved_as_it_is() -> None:
    """The rules never lock an editor out of a reviewed record (an http page it has may stay)."""
    live = LiveCatalog.from_directory(
        PROJECT_ROOT / "data", PROJECT_ROOT / "nlu" / "phrases" / "services.yml"
    )
    for office_id, office in live.catalog.offices.items():
        checked, problems = live.check_office(office_id, office_json(office))
        assert problems == {} and checked == office, office_id


# -- saving, the live catalog, the overlay --------------------------------------------------------------


async def test_a_saved_office_is_in_the_next_answer_and_survives_a_restart(
    data: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    live = live_of(data)
    held = live.catalog  # what the dialogue holds
    calls: list[int] = []
    live.on_change(lambda: calls.append(1))
    assert hours_answer(held) == "Mo, Di: 08:00–12:00 Uhr"
    raw = with_hours(held.offices["testamt"], [{"days": ["mi"], "from": "09:00", "to": "15:30"}])
    office, _ = live.check_office("testamt", raw)
    assert office is not None
    revision = await live.save_office(sessions, office, "anna", "redaktion", "neue Zeiten", None)
    assert (revision.kind, revision.record_id, revision.author, revision.comment) == (
        OFFICE,
        "testamt",
        "anna",
        "neue Zeiten",
    )
    assert hours_answer(held) == "Mi: 09:00–15:30 Uhr" and calls == [1]
    assert live.office_edited("testamt") == revision.id and live.edited("test-dienst") is None
    with pytest.raises(EditConflict):  # a form opened before that save
        await live.save_office(sessions, office, "bernd", "redaktion", "", None)
    bad = Office.model_validate(raw | {"name": ""})  # the model takes it; the editors' rules do not
    with pytest.raises(EditRefused):
        await live.save_office(sessions, bad, "anna", "redaktion", "", revision.id)
    assert [r.id for r in await live.history(sessions, "testamt", OFFICE)] == [revision.id]
    assert await live.history(sessions, "testamt") == []  # no service of that id
    restarted = live_of(data)
    assert await restarted.load(sessions) == 1
    assert hours_answer(restarted.catalog) == "Mi: 09:00–15:30 Uhr"


async def test_the_seed_wins_once_the_office_changed_in_the_seed(
    data: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    live = live_of(data)
    office, _ = live.check_office(
        "testamt",
        with_hours(live.catalog.offices["testamt"], [{"days": ["fr"], "from": "08:00", "to": "09:00"}]),
    )
    assert office is not None
    await live.save_office(sessions, office, "anna", "redaktion", "", None)
    newest = await newest_revisions(sessions)
    seed = load_catalog(data)
    assert overlay(seed, {}, newest).catalog.offices["testamt"].hours == office.hours
    reviewed = seed.offices["testamt"].model_copy(update={"phone": "0261 129-0"})
    newer = Catalog(seed.services, {"testamt": reviewed}, seed.stadtteile)
    after = overlay(newer, {}, newest)
    assert after.catalog.offices["testamt"] is reviewed and after.applied_offices == {}


async def test_export_writes_the_offices_with_the_revisions(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "bot.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(engine)
    live = live_of(data)
    hours = [{"days": ["sa"], "from": "10:00", "to": "13:00", "note": "nur im Sommer"}]
    office, _ = live.check_office("testamt", with_hours(live.catalog.offices["testamt"], hours))
    assert office is not None
    await live.save_office(sessionmaker(engine), office, "anna", "redaktion", "", None)
    await engine.dispose()
    monkeypatch.setenv("KOBLENZ_BOT_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("KOBLENZ_BOT_CATALOG_DIR", str(data))
    out = tmp_path / "export"
    assert await asyncio.to_thread(main, ["catalog", "export", str(out)]) == 0
    assert "mit den Änderungen aus der Konsole (0 Dienste, 1 Ämter)" in capsys.readouterr().out
    exported = yaml.safe_load((out / "offices" / "testamt.yaml").read_text(encoding="utf-8"))
    assert exported["hours"] == [{"days": ["sa"], "from": "10:00", "to": "13:00", "note": "nur im Sommer"}]
    assert load_catalog(out).offices["testamt"] == office
