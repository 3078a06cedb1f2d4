"""Editors' revisions over the YAML seed: the editors' rules, the overlay (the seed wins once it changed),
the live catalog changed in place, the retraining data and ``catalog export`` with the revisions."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli import main
from catalog.model import Catalog, Service, load_catalog
from catalog.revisions import (
    EditConflict,
    EditRefused,
    Entry,
    LiveCatalog,
    current,
    is_amount,
    newest_revisions,
    overlay,
    service_json,
)
from core.db import create_engine, migrate, sessionmaker
from core.paths import PROJECT_ROOT
from nlu import rasa_env
from nlu.retrain import RetrainJob, RetrainState

DATA = PROJECT_ROOT / "data"
PHRASES = PROJECT_ROOT / "nlu" / "phrases" / "services.yml"


@pytest.fixture(scope="module")
def seed() -> Catalog:
    return load_catalog(DATA)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    await migrate(engine)
    yield sessionmaker(engine)
    await engine.dispose()


def fresh(seed: Catalog) -> LiveCatalog:
    copy = Catalog(dict(seed.services), dict(seed.offices), dict(seed.stadtteile))
    return LiveCatalog.from_files(copy, PHRASES)


def with_fee(entry: Entry, amount: str) -> Entry:
    raw = service_json(entry.service)
    raw["fees"][0]["amount"] = amount
    return Entry(Service.model_validate(raw), entry.phrasings)  # the model takes any text; save checks


# -- the editors' rules -----------------------------------------------------------------------------


def test_every_reviewed_fee_counts_as_an_amount_and_words_do_not(seed: Catalog) -> None:
    for service in seed:
        for fee in service.fees:
            assert is_amount(fee.amount), (service.id, fee.amount)  # an editor can save every record
    for text in ("zwanzig Euro", "kostet etwas", "siehe Website"):
        assert not is_amount(text)
    for text in ("46,00 €", "ab 10 €", "59,00 € bis 118,00 €", "gebührenfrei", "20 Euro"):
        assert is_amount(text)


def test_each_wrong_field_is_named(seed: Catalog) -> None:
    live = fresh(seed)
    entry = live.entry("personalausweis")
    raw = service_json(entry.service)
    raw["office"] = "gibt-es-nicht"
    raw["fees"][0]["amount"] = "zwanzig Euro"
    raw["links"] = [{"kind": "online", "title": "Antrag", "url": "http://www.koblenz.de/antrag"}]
    raw["summary"] = "zu kurz"
    first = entry.phrasings[0]
    reisepass = live.phrasings("reisepass")[0]
    phrasings = [*entry.phrasings, f"  {first.upper()}!", "...", reisepass]
    checked, problems = live.check("personalausweis", raw, phrasings)
    assert checked is None
    count = len(entry.phrasings)
    assert set(problems) == {
        ("office",),
        ("fees", 0, "amount"),
        ("links", 0, "url"),
        ("summary",),
        ("phrasings", count),
        ("phrasings", count + 1),
        ("phrasings", count + 2),
    }
    assert "steht schon in Zeile 1" in problems[("phrasings", count)]
    assert "leer" in problems[("phrasings", count + 1)]
    assert "Reisepass" in problems[("phrasings", count + 2)]  # belongs to another service


# -- overlay and the live catalog ------------------------------------------------------------------


async def test_a_save_changes_the_one_catalog_object_in_place_and_survives_a_restart(
    seed: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    live = fresh(seed)
    held = live.catalog  # what the dialogue, Telegram and /health hold
    calls: list[int] = []
    live.on_change(lambda: calls.append(1))
    changed = with_fee(live.entry("personalausweis"), "49,00 €")
    revision = await live.save(sessions, changed, "anna", "redaktion", "neue Gebühr", None)
    assert held.services["personalausweis"].fees[0].amount == "49,00 €" and calls == [1]
    assert live.edited("personalausweis") == revision.id
    with pytest.raises(EditConflict):  # a form opened before that save
        await live.save(sessions, with_fee(changed, "50,00 €"), "bernd", "redaktion", "", None)
    with pytest.raises(EditRefused):
        await live.save(sessions, with_fee(changed, "viel Geld"), "anna", "redaktion", "", revision.id)
    restarted = fresh(seed)
    assert await restarted.load(sessions) == 1
    assert restarted.catalog.services["personalausweis"].fees[0].amount == "49,00 €"
    assert restarted.catalog.services["reisepass"] is seed.services["reisepass"]


async def test_the_seed_wins_once_it_changed_after_the_revision(
    seed: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    live = fresh(seed)
    edited = with_fee(live.entry("personalausweis"), "49,00 €")
    edited = Entry(edited.service, (*edited.phrasings, "brauche nen neuen ausweis fürs ausland"))
    await live.save(sessions, edited, "anna", "redaktion", "", None)
    newest = await newest_revisions(sessions)
    phrasings = {"personalausweis": live.seed_entry("personalausweis").phrasings}
    applied = overlay(seed, phrasings, newest)
    assert applied.catalog.services["personalausweis"].fees[0].amount == "49,00 €"
    assert applied.phrasings["personalausweis"][-1] == "brauche nen neuen ausweis fürs ausland"
    # a reviewed YAML change (or an import) of that record: the seed is newer than the revision
    raw = service_json(seed.services["personalausweis"])
    raw["summary"] = raw["summary"] + " Geändert in der YAML-Datei."
    reviewed = Service.model_validate(raw)
    newer = Catalog({**seed.services, "personalausweis": reviewed}, seed.offices, seed.stadtteile)
    after = overlay(newer, phrasings, newest)
    assert after.catalog.services["personalausweis"] is reviewed and not after.applied
    assert "personalausweis" in after.phrasings  # the phrasings' seed did not change: they still apply


# -- retraining and export use the overlay ------------------------------------------------------------


class Trainer:
    def __init__(self) -> None:
        self.nlu: list[str] = []

    def __call__(self, config: Path, model_dir: Path, nlu_dir: Path, progress: Callable[[str], None]) -> Path:
        self.nlu.append((nlu_dir / "data" / "nlu.yml").read_text(encoding="utf-8"))
        target = rasa_env.model_path(PROJECT_ROOT / "nlu" / "config.yml", model_dir, nlu_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"model")
        time.sleep(0.01)
        return target


async def test_retraining_learns_the_edited_phrasings_and_facts(
    seed: Catalog, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    nlu_dir = tmp_path / "nlu"
    for name in ("phrases", "data"):
        shutil.copytree(PROJECT_ROOT / "nlu" / name, nlu_dir / name)
    live = fresh(seed)
    entry = live.entry("hundesteuer")
    phrase = "Mein Dackel wohnt jetzt auch bei mir"
    await live.save(sessions, Entry(entry.service, (*entry.phrasings, phrase)), "anna", "redaktion", "", None)
    trainer = Trainer()
    job = RetrainJob(
        catalog_dir=DATA,
        config=PROJECT_ROOT / "nlu" / "config.yml",
        model_dir=tmp_path / "models",
        work_dir=tmp_path / "retrain",
        pool=None,
        nlu_dir=nlu_dir,
        trainer=trainer,
        source=lambda: current(DATA, nlu_dir / "phrases" / "services.yml", sessions),
    )
    status = await job.run()
    assert status.state is RetrainState.DONE, status.message
    (trained,) = trainer.nlu
    block = trained.split("- intent: service_hundesteuer", 1)[1].split("- intent:", 1)[0]
    assert phrase in block
    assert (nlu_dir / "phrases" / "services.yml").read_text(encoding="utf-8") == PHRASES.read_text(
        encoding="utf-8"
    )  # the seed phrasings stay as they are


async def test_export_writes_the_catalog_with_the_revisions(
    seed: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "bot.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(engine)
    live = fresh(seed)
    entry = live.entry("personalausweis")
    phrase = "perso weg was nun in koblenz"
    changed = with_fee(entry, "49,00 €")
    await live.save(
        sessionmaker(engine),
        Entry(changed.service, (*changed.phrasings, phrase)),
        "anna",
        "redaktion",
        "",
        None,
    )
    await engine.dispose()
    monkeypatch.setenv("KOBLENZ_BOT_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
    out, phrases = tmp_path / "export", tmp_path / "services.yml"
    assert await _run(["catalog", "export", str(out), "--phrases", str(phrases)]) == 0
    assert "mit den Änderungen aus der Konsole (1 Dienste, 0 Ämter)" in capsys.readouterr().out
    exported = load_catalog(out)
    assert exported.services["personalausweis"].fees[0].amount == "49,00 €"
    assert exported.services["reisepass"] == seed.services["reisepass"]
    assert yaml.safe_load(phrases.read_text(encoding="utf-8"))["personalausweis"][-1] == phrase


async def _run(argv: list[str]) -> int:
    """``main`` runs its own event loop: call it from a worker thread."""
    import asyncio

    return await asyncio.to_thread(main, argv)
