"""``koblenz-bot catalog import`` reaches a running bot: ``LiveCatalog.refresh`` notices the swapped
directory, reads the new seed, lays the console's revisions over it again and changes the one catalog
object in place; a directory that does not load, or changes while it is read, is not taken (the old
catalog stays). A real temporary directory and a real import (``catalog.transfer.import_catalog``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import catalog.revisions as revisions
from catalog.model import Catalog, load_catalog
from catalog.revisions import LiveCatalog, SeedChanging, office_json, read_seed, seed_signature, service_json
from catalog.transfer import export_catalog, import_catalog
from core.db import create_engine, migrate, sessionmaker
from tests.catalog.catalog_files import write_catalog


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "data", fees=[{"item": "Antrag", "amount": "10,00 €"}])


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    await migrate(engine)
    yield sessionmaker(engine)
    await engine.dispose()


def live_of(data: Path) -> LiveCatalog:
    return LiveCatalog.from_directory(data, data.parent / "phrases.yml")


def exported(catalog: Catalog, target: Path) -> Path:
    export_catalog(catalog, target)
    return target


def edit(path: Path, **changes: object) -> None:
    record = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(record | changes, allow_unicode=True), encoding="utf-8")


async def test_an_import_reaches_the_running_catalog_in_place(
    data: Path, tmp_path: Path, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    live = live_of(data)
    held = live.catalog  # the dialogue's, Telegram's and /health's object
    calls: list[int] = []
    live.on_change(lambda: calls.append(1))
    assert await live.refresh(sessions) is False and calls == []  # nothing changed: no reload
    new = exported(load_catalog(data), tmp_path / "new")
    edit(new / "services" / "test-dienst.yaml", title="Testdienst neu beantragen")
    edit(new / "offices" / "testamt.yaml", hours=[{"days": ["mo"], "from": "08:00", "to": "12:00"}])
    service = yaml.safe_load((new / "services" / "test-dienst.yaml").read_text(encoding="utf-8"))
    (new / "services" / "zweiter-dienst.yaml").write_text(
        yaml.safe_dump(service | {"id": "zweiter-dienst", "title": "Zweiter Testdienst"}, allow_unicode=True),
        encoding="utf-8",
    )
    import_catalog(new, data)
    with caplog.at_level(logging.INFO, logger="catalog.revisions"):
        assert await live.refresh(sessions) is True
    assert held.services["test-dienst"].title == "Testdienst neu beantragen"
    assert held.offices["testamt"].hours_lines() == ["Mo: 08:00–12:00 Uhr"]
    assert set(held.services) == {"test-dienst", "zweiter-dienst"} and calls == [1]
    assert live.seed_service("zweiter-dienst").title == "Zweiter Testdienst"  # the editors' seed too
    (line,) = [r.getMessage() for r in caplog.records if "reloaded" in r.getMessage()]
    assert "2 services, 1 offices" in line
    assert await live.refresh(sessions) is False  # read once
    # an import that drops a service: it is gone from the running catalog as well
    smaller = exported(load_catalog(data), tmp_path / "smaller")
    (smaller / "services" / "zweiter-dienst.yaml").unlink()
    import_catalog(smaller, data)
    assert await live.refresh(sessions) is True
    assert set(held.services) == {"test-dienst"}


async def test_revisions_still_apply_after_a_reload_unless_the_import_changed_that_record(
    data: Path, tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    live = live_of(data)
    entry = live.entry("test-dienst")
    raw = service_json(entry.service)
    raw["fees"][0]["amount"] = "12,00 €"
    checked, _ = live.check("test-dienst", raw, ())
    assert checked is not None
    await live.save(sessions, checked, "anna", "redaktion", "", None)
    office, _ = live.check_office(
        "testamt", office_json(live.catalog.offices["testamt"]) | {"phone": "0261 1"}
    )
    assert office is not None
    await live.save_office(sessions, office, "anna", "redaktion", "", None)
    # an import that changes only the office: the service's revision stays in effect, the office's not
    new = exported(load_catalog(data), tmp_path / "new")
    edit(new / "offices" / "testamt.yaml", name="Testamt (umgezogen)")
    import_catalog(new, data)
    assert await live.refresh(sessions) is True
    assert live.catalog.services["test-dienst"].fees[0].amount == "12,00 €" and live.edited("test-dienst")
    assert live.catalog.offices["testamt"].name == "Testamt (umgezogen)"
    assert live.catalog.offices["testamt"].phone is None and live.office_edited("testamt") is None


async def test_a_broken_directory_keeps_the_old_catalog_with_one_warning(
    data: Path, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    live = live_of(data)
    before = dict(live.catalog.services)
    path = data / "services" / "test-dienst.yaml"
    good = path.read_text(encoding="utf-8")
    path.write_text("id: test-dienst\ntitle: [halb geschrieben\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="catalog.revisions"):
        assert await live.refresh(sessions) is False
        assert await live.refresh(sessions) is False  # the same broken state: no second warning
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keeps the previous catalog" in warnings[0].getMessage()
    assert live.catalog.services == before
    # a service pointing to an office that is not (yet) there: refused as well
    path.write_text(good.replace("office: testamt", "office: noch-nicht-da"), encoding="utf-8")
    assert await live.refresh(sessions) is False
    assert live.catalog.services == before
    path.write_text(good.replace("Testdienst beantragen", "Testdienst korrigiert"), encoding="utf-8")
    assert await live.refresh(sessions) is True
    assert live.catalog.services["test-dienst"].title == "Testdienst korrigiert"


async def test_a_directory_that_changes_while_it_is_read_is_read_again_later(
    data: Path, monkeypatch: pytest.MonkeyPatch, sessions: async_sessionmaker[AsyncSession]
) -> None:
    live = live_of(data)
    real = revisions.load_catalog
    path = data / "services" / "test-dienst.yaml"

    def load_while_writing(directory: Path) -> Catalog:
        catalog = real(directory)
        edit(path, title="Testdienst während des Lesens")  # a second writer, after our read
        return catalog

    edit(path, title="Testdienst erster Stand")
    monkeypatch.setattr(revisions, "load_catalog", load_while_writing)
    with pytest.raises(SeedChanging):
        read_seed(data, None)
    assert await live.refresh(sessions) is False  # not taken: it might be a mix of two states
    assert live.catalog.services["test-dienst"].title == "Testdienst beantragen"
    monkeypatch.setattr(revisions, "load_catalog", real)
    assert await live.refresh(sessions) is True
    assert live.catalog.services["test-dienst"].title == "Testdienst während des Lesens"


def test_the_signature_sees_a_swap_an_edit_and_a_new_file(data: Path, tmp_path: Path) -> None:
    first = seed_signature(data)
    assert seed_signature(data) == first
    import_catalog(exported(load_catalog(data), tmp_path / "same"), data)  # same content, new directory
    second = seed_signature(data)
    assert second != first
    (data / "offices" / "zweites-amt.yaml").write_text(
        "id: zweites-amt\nname: Zweites Amt\nreviewed: 2026-11-30\n"
    )
    assert seed_signature(data) != second
