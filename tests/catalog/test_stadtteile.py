"""The one Stadtteil detector, shared by the dialogue, the Telegram subscriptions and the broadcast CLI."""

from __future__ import annotations

import pytest

from catalog.model import Catalog
from catalog.stadtteile import Stadtteile


@pytest.fixture(scope="module")
def stadtteile(catalog: Catalog) -> Stadtteile:
    return Stadtteile(catalog)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sperrmüll in Güls", "Güls"),
        ("sperrmuell in guels", "Güls"),
        ("Hochwasser in Bisholder?", "Güls"),
        ("Warnung für Karthause Nord", "Karthause"),  # statistical parts are one Stadtteil to residents
        ("Wohnung auf der Horchheimer Höhe", "Horchheimer Höhe"),  # longest spelling first
        ("Straßensperrung in Horchheim", "Horchheim"),
        ("Koblenz-Süd", "Südliche Vorstadt"),
        ("Warnung für Mitte", "Südliche Vorstadt"),
        ("Termin mitte nächster Woche", None),  # an everyday word, not a name
        ("wer lay das Ei", None),
        ("Fähre nach Lay", "Lay"),
        ("Pfaffendorfer Brücke", None),  # a word that only starts like a Stadtteil
        ("Was kostet ein Reisepass?", None),
    ],
)
def test_find_names_the_stadtteil_of_a_sentence(
    stadtteile: Stadtteile, text: str, expected: str | None
) -> None:
    assert stadtteile.find(text) == expected


def test_find_all_lists_every_stadtteil_once_in_name_order(stadtteile: Stadtteile) -> None:
    assert stadtteile.find_all("Hochwasserwarnungen für Lützel, Güls und Koblenz-Güls") == ["Güls", "Lützel"]
    assert stadtteile.find_all("Verkehr in Koblenz-Süd und Süd") == ["Südliche Vorstadt"]
    assert stadtteile.find_all("Warnungen mitte der Woche") == []
    assert stadtteile.names == sorted(stadtteile.names, key=lambda n: n.lower().replace("ü", "ue"))
    assert len(stadtteile.names) == len(set(stadtteile.names))


def test_canonical_resolves_exact_spellings_only(stadtteile: Stadtteile) -> None:
    assert stadtteile.canonical("lützel") == "Lützel"
    assert stadtteile.canonical(" EHRENBREITSTEIN ") == "Ehrenbreitstein"
    assert stadtteile.canonical("Karthäuserhof") == "Karthause"
    assert stadtteile.canonical("mitte") == "Südliche Vorstadt"  # a list entry is a name, whatever the case
    assert stadtteile.canonical("Atlantis") is None
    assert stadtteile.canonical("Güls und Lay") is None


def test_telegram_and_the_cli_use_this_detector(catalog: Catalog) -> None:
    from broadcasts import cli
    from connectors.telegram.subscriptions import Areas

    areas = Areas(Stadtteile(catalog))
    assert areas.find("Warnungen für Güls und Lay") == ["Güls", "Lay"]
    assert areas.unmask(areas.mask(["Güls", "Lay"])) == ["Güls", "Lay"]
    rows, errors = cli.validate_rows(
        "channel,chat_id,topics,stadtteile\ntelegram,1,warnungen,lützel;Koblenz-Güls\ntelegram,2,warnungen,Atlantis\n",
        Stadtteile(catalog),
    )
    assert rows == [("telegram", "1", ["warnungen"], ["Güls", "Lützel"])]
    assert errors == ["Zeile 3: unbekannter Stadtteil „Atlantis“"]
