"""Which facts were last checked long ago, and the "Stand" line answers show."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from catalog import CatalogError
from catalog.model import Catalog, Hours, Office, load_catalog
from catalog.stale import fees_stand, hours_stand, month_year, parse_age, stale_facts
from tests.catalog.catalog_files import write_catalog

TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize(("text", "days"), [("180d", 180), ("26w", 182), (" 7D ", 7), ("0d", 0), ("1w", 7)])
def test_ages_in_days_or_weeks(text: str, days: int) -> None:
    assert parse_age(text) == dt.timedelta(days=days)


@pytest.mark.parametrize("text", ["", "180", "6m", "-5d", "zwei Wochen", "1.5w"])
def test_other_ages_are_refused_politely(text: str) -> None:
    with pytest.raises(CatalogError, match="Bitte Tage oder Wochen angeben"):
        parse_age(text)


def test_facts_older_than_the_limit_are_listed_oldest_first(tmp_path: Path) -> None:
    catalog = load_catalog(
        write_catalog(
            tmp_path,
            links=["https://www.koblenz.de/a"],
            reviewed=dt.date(2026, 3, 1),
            fees=[
                {"item": "Alte Gebühr", "amount": "10,00 €"},
                {
                    "item": "Neue Gebühr",
                    "amount": "46,00 €",
                    "checked": "2026-11-30",
                    "source": "https://www.gesetze-im-internet.de/",
                },
            ],
            office_reviewed=dt.date(2025, 12, 1),
            unconfirmed_links=[
                {"kind": "payment", "note": "Keine Quelle nennt die Bezahlseite.", "checked": "2026-11-30"}
            ],
        )
    )
    rows = stale_facts(catalog, dt.timedelta(days=180), TODAY)
    assert [(r.kind, r.record, r.field) for r in rows] == [
        ("amt", "testamt", "reviewed"),
        ("gebühr", "test-dienst", "fees[0]"),  # no own date: the record's review counts
        ("link", "test-dienst", "links[0]"),
        ("dienst", "test-dienst", "reviewed"),
    ]
    assert rows[0].age_days == 364 and rows[1].label == "Alte Gebühr: 10,00 €"
    assert rows[1].source == "https://www.koblenz.de/"
    assert stale_facts(catalog, dt.timedelta(days=400), TODAY) == []
    recent = stale_facts(catalog, dt.timedelta(days=0), TODAY)
    assert {r.field for r in recent} >= {"fees[0]", "links[0]"} and "fees[1]" not in {r.field for r in recent}


def test_the_real_catalog_has_no_fact_from_the_future(catalog: Catalog) -> None:
    future = [
        r for r in stale_facts(catalog, dt.timedelta(days=-3650), dt.date(2026, 12, 31)) if r.age_days < 0
    ]
    assert future == []


def test_fees_say_when_and_where_they_were_checked(tmp_path: Path) -> None:
    catalog = load_catalog(
        write_catalog(
            tmp_path,
            reviewed=dt.date(2026, 11, 23),
            fees=[
                {
                    "item": "Gebühr A",
                    "amount": "1,00 €",
                    "checked": "2026-02-10",
                    "source": "https://www.bund.de/gebuehr",
                },
                {"item": "Gebühr B", "amount": "2,00 €"},
            ],
        )
    )
    service = catalog.service("test-dienst")
    assert fees_stand(service) == "Stand: Februar 2026 · Quelle: https://www.bund.de/gebuehr"
    no_fees = service.model_copy(update={"fees": ()})
    assert fees_stand(no_fees) is None


def test_opening_hours_say_when_they_were_checked() -> None:
    office = Office(
        id="amt",
        name="Amt",
        hours=(Hours(days=("mo",), opens="08:00", closes="12:00"),),
        web="https://www.koblenz.de/amt",
        reviewed=dt.date(2026, 3, 5),
    )
    assert hours_stand(office) == "Stand: März 2026 · Quelle: https://www.koblenz.de/amt"
    assert hours_stand(office.model_copy(update={"hours": ()})) is None
    assert month_year(dt.date(2026, 12, 1)) == "Dezember 2026"
