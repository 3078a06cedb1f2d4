"""``koblenz-bot catalog export`` / ``import``: the seed YAML out and back in, all or nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from app.cli import main
from catalog.model import load_catalog
from core.paths import PROJECT_ROOT


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of data/ that the commands treat as the catalog (KOBLENZ_BOT_CATALOG_DIR)."""
    path = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", path)
    monkeypatch.setenv("KOBLENZ_BOT_CATALOG_DIR", str(path))
    monkeypatch.setenv("KOBLENZ_BOT_STATE_DIR", str(tmp_path / "state"))
    return path


def test_export_writes_the_seed_layout_and_loads_as_the_same_catalog(
    live: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert main(["catalog", "export", str(out)]) == 0
    assert f"{len(load_catalog(live).services)} Dienste" in capsys.readouterr().out
    assert load_catalog(out) == load_catalog(live)
    assert {p.name for p in out.iterdir()} == {"services", "offices", "stadtteile.yaml"}
    assert (out / "services" / "reisepass.yaml").exists()
    assert (
        (out / "stadtteile.yaml").read_text(encoding="utf-8").startswith("# Die 30 statistischen Stadtteile")
    )
    assert main(["catalog", "export", str(out)]) == 1  # never over an existing export
    assert "nicht leer" in capsys.readouterr().out


def test_import_replaces_the_catalog(live: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    assert main(["catalog", "export", str(out)]) == 0
    path = out / "services" / "reisepass.yaml"
    record = yaml.safe_load(path.read_text(encoding="utf-8"))
    record["title"] = "Reisepass neu beantragen"
    path.write_text(yaml.safe_dump(record, allow_unicode=True), encoding="utf-8")
    (live / "README.md").write_text("bleibt")
    capsys.readouterr()
    assert main(["catalog", "import", str(out)]) == 0
    assert f"Katalog ersetzt: {len(load_catalog(live).services)} Dienste" in capsys.readouterr().out
    assert load_catalog(live).service("reisepass").title == "Reisepass neu beantragen"
    assert (live / "README.md").read_text() == "bleibt"
    assert not [p for p in live.parent.iterdir() if p.name.startswith(".data.import-")]


def test_a_bad_record_changes_nothing_and_every_problem_is_named(
    live: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(live)
    out = tmp_path / "export"
    assert main(["catalog", "export", str(out)]) == 0
    service = out / "services" / "reisepass.yaml"
    record = yaml.safe_load(service.read_text(encoding="utf-8"))
    record["links"][0]["url"] = "kein-link"
    record["office"] = "gibt-es-nicht"
    service.write_text(yaml.safe_dump(record, allow_unicode=True), encoding="utf-8")
    office = out / "offices" / "buergeramt.yaml"
    office.write_text(office.read_text(encoding="utf-8").replace("postcode: '56068'", "postcode: '5606'"))
    (out / "services" / "neu.yaml").write_text("id: neu\ntitle: [kaputt\n")
    (out / "services" / "notiz.txt").write_text("?")
    capsys.readouterr()
    assert main(["catalog", "import", str(out)]) == 1
    text = capsys.readouterr().out
    assert "am Katalog wurde nichts geändert" in text
    assert "services/reisepass.yaml, Eintrag „reisepass“, Feld „links.0.url“" in text
    assert "offices/buergeramt.yaml, Eintrag „buergeramt“, Feld „address.postcode“" in text
    assert "services/neu.yaml: kein gültiges YAML" in text
    assert "services/notiz.txt" in text
    assert tree(live) == before


def test_an_unknown_office_is_refused(live: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(live)
    out = tmp_path / "export"
    assert main(["catalog", "export", str(out)]) == 0
    (out / "offices" / "buergeramt.yaml").unlink()  # services still point to it
    capsys.readouterr()
    assert main(["catalog", "import", str(out)]) == 1
    assert "Feld „office“: unbekanntes Amt „buergeramt“" in capsys.readouterr().out
    assert tree(live) == before
