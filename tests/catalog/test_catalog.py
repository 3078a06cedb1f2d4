"""The catalog is a public contract: required ids, valid records, no dangling references."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog import CatalogError
from catalog.model import Catalog, load_catalog

REQUIRED_IDS = """personalausweis ausweis-verlust vorlaeufiger-ausweis reisepass kinderreisepass wohnsitz-anmelden
wohnsitz-ummelden wohnsitz-abmelden meldebescheinigung fuehrungszeugnis beglaubigung bewohnerparkausweis
fundbuero briefwahl geburtsurkunde geburt-anzeigen eheschliessung sterbefall kirchenaustritt kfz-zulassung
kfz-abmeldung wunschkennzeichen fuehrerschein halteverbot bussgeld schwerbehinderten-parkausweis aufenthaltstitel
einbuergerung verpflichtungserklaerung gewerbe gaststaettenerlaubnis hundesteuer laermbeschwerde sondernutzung
wohngeld kita-platz elterngeld unterhaltsvorschuss bildung-teilhabe grundsicherung baugenehmigung bebauungsplan
baumfaellung sperrmuell abfallkalender muelltonne maengelmelder schwimmbad stadtbibliothek grundsteuer buergeramt
termin nutzerkonto""".split()


def test_every_contracted_service_id_is_in_the_catalog(catalog: Catalog) -> None:
    missing = sorted(set(REQUIRED_IDS) - set(catalog.services))
    assert not missing, f"missing service ids: {missing}"
    assert len(REQUIRED_IDS) == 53


def test_catalog_covers_at_least_100_services(catalog: Catalog) -> None:
    # issue 12, item 2: the catalog grows beyond the 53 contracted ids, each record sourced and reviewed
    assert len(catalog.services) >= 100
    assert all(service.reviewed.year >= 2026 and service.sources for service in catalog)


def test_every_service_names_a_source_a_review_date_and_an_existing_office(catalog: Catalog) -> None:
    for service in catalog:
        assert service.sources, service.id
        assert service.reviewed.year >= 2026, service.id
        if service.office:
            assert service.office in catalog.offices, service.id
        assert len(service.synonyms) >= 3, f"{service.id}: synonyms drive search and NLU"


def test_links_are_https_and_typed(catalog: Catalog) -> None:
    for service in catalog:
        for link in service.links:
            assert link.url.scheme == "https", f"{service.id}: {link.url}"


def test_kinderreisepass_tells_that_it_is_no_longer_issued(catalog: Catalog) -> None:
    record = catalog.service("kinderreisepass")
    text = " ".join([record.title, record.summary, *record.details]).lower()
    assert "2024" in text and ("nicht mehr" in text or "abgeschafft" in text)


def test_thirty_statistical_stadtteile_and_split_parts_count_as_one(catalog: Catalog) -> None:
    assert len(catalog.stadtteile) == 30
    residents = {catalog.resident_name(part) for part in catalog.stadtteile.values()}
    assert {"Karthause", "Südliche Vorstadt", "Güls", "Lützel"} <= residents
    names = catalog.stadtteil_names()
    assert names["guels"] == "Güls"
    assert names["karthause nord"] == "Karthause"


def test_buergeramt_is_in_the_gymnasialstrasse(catalog: Catalog) -> None:
    office = catalog.offices["buergeramt"]
    assert office.address is not None and office.address.street == "Gymnasialstraße 6"


def test_an_invalid_record_is_rejected_with_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "services").mkdir()
    (tmp_path / "offices").mkdir()
    record = {
        "id": "test-dienst",
        "title": "Test",
        "summary": "Eine ausreichend lange Beschreibung.",
        "sources": ["https://www.koblenz.de/"],
        "reviewed": "2026-11-23",
        "fees": [{"item": "Gebühr"}],
    }
    (tmp_path / "services" / "test-dienst.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(CatalogError, match=r"test-dienst.yaml.*fees\.0\.amount"):
        load_catalog(tmp_path)


def test_a_service_pointing_to_an_unknown_office_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "services").mkdir()
    (tmp_path / "offices").mkdir()
    record = {
        "id": "x-dienst",
        "title": "Testdienst",
        "summary": "Eine ausreichend lange Beschreibung.",
        "sources": ["https://www.koblenz.de/"],
        "reviewed": "2026-11-23",
        "office": "nirgendwo",
    }
    (tmp_path / "services" / "x-dienst.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(CatalogError, match="unknown office 'nirgendwo'"):
        load_catalog(tmp_path)


def test_a_link_kind_cannot_be_linked_and_unconfirmed_at_once(tmp_path: Path) -> None:
    (tmp_path / "services").mkdir()
    (tmp_path / "offices").mkdir()
    record = {
        "id": "y-dienst",
        "title": "Testdienst",
        "summary": "Eine ausreichend lange Beschreibung.",
        "sources": ["https://www.koblenz.de/"],
        "reviewed": "2026-11-30",
        "links": [{"kind": "appointment", "title": "Termin buchen", "url": "https://www.koblenz.de/termin"}],
        "unconfirmed_links": [
            {"kind": "appointment", "note": "Keine Quelle nennt die Seite.", "checked": "2026-11-30"}
        ],
    }
    (tmp_path / "services" / "y-dienst.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(
        CatalogError, match=r"y-dienst\.yaml.*'appointment' has a link and is marked unconfirmed"
    ):
        load_catalog(tmp_path)
    record["unconfirmed_links"] = [{"kind": "online", "note": "kurz", "checked": "2026-11-30"}]
    (tmp_path / "services" / "y-dienst.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(CatalogError, match=r"unconfirmed_links\.0\.note"):
        load_catalog(tmp_path)


def test_the_personalausweis_costs_the_fee_in_force_since_february_2026(catalog: Catalog) -> None:
    for service_id, item, amount in (
        ("personalausweis", "Personalausweis ab 24 Jahren", "46,00 €"),
        ("personalausweis", "Personalausweis unter 24 Jahren (auch der erste Ausweis für Kinder)", "27,60 €"),
        ("kinderreisepass", "Personalausweis für Personen unter 24 Jahren", "27,60 €"),
    ):
        fee = next(f for f in catalog.service(service_id).fees if f.item == item)
        assert fee.amount == amount and fee.source is not None
        assert fee.checked is not None and fee.checked.isoformat() == "2026-11-30"
    amounts = {fee.amount for service in catalog for fee in service.fees}
    assert not {"37,00 €", "22,80 €"} & amounts, "the fees before 7 February 2026"
