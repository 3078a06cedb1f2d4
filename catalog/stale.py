"""How fresh the catalog's facts are: which were last checked long ago (``koblenz-bot catalog stale``), and
the "Stand: …" line an answer shows under fees and opening hours.

Every fact has a check date: a fee or a link its own ``checked`` date where the record gives one, else the
record's ``reviewed`` date; an office (address, hours, phone) its ``reviewed`` date; a link marked
unconfirmed the date it was looked for.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from catalog import CatalogError
from catalog.model import Catalog, Office, Service

MONTHS = ("Januar Februar März April Mai Juni Juli August September Oktober November Dezember").split()
FactKind = Literal["dienst", "gebühr", "link", "unbestätigt", "amt"]
_AGE = re.compile(r"^\s*(\d{1,5})\s*([dw])\s*$", re.IGNORECASE)


def parse_age(text: str) -> dt.timedelta:
    """``180d`` → 180 days, ``26w`` → 26 weeks; anything else raises CatalogError (German message)."""
    match = _AGE.match(text)
    if match is None:
        raise CatalogError(
            f"„{text}“ ist keine gültige Dauer. Bitte Tage oder Wochen angeben, z. B. 180d oder 26w."
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    return dt.timedelta(days=number if unit == "d" else 7 * number)


def month_year(day: dt.date) -> str:
    """2026-11-30 → "November 2026"."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def stand_line(checked: dt.date, source: str | None) -> str:
    """The German freshness note under an answer: "Stand: November 2026 · Quelle: https://…"."""
    return f"Stand: {month_year(checked)}" + (f" · Quelle: {source}" if source else "")


def fees_stand(service: Service) -> str | None:
    """Freshness of the service's fees: the oldest check date among them and the source of the first fee
    that names one (else the record's first source). None when the record has no fees."""
    if not service.fees:
        return None
    checked = min(fee.checked or service.reviewed for fee in service.fees)
    source = next((str(fee.source) for fee in service.fees if fee.source), str(service.sources[0]))
    return stand_line(checked, source)


def hours_stand(office: Office) -> str | None:
    """Freshness of the office's opening hours (its review date and its page or first source), or None
    when the record lists no hours."""
    if not office.hours:
        return None
    source = office.web or (office.sources[0] if office.sources else None)
    return stand_line(office.reviewed, str(source) if source else None)


@dataclass(frozen=True)
class StaleFact:
    kind: FactKind
    record: str  # service or office id
    field: str  # where in the record: fees[0], links[2], reviewed, ...
    label: str  # what it is, for people
    checked: dt.date
    age_days: int
    source: str | None

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["checked"] = self.checked.isoformat()
        return row


def _service_facts(service: Service) -> list[tuple[FactKind, str, str, dt.date, str | None]]:
    first_source = str(service.sources[0])
    facts: list[tuple[FactKind, str, str, dt.date, str | None]] = [
        ("dienst", "reviewed", service.title, service.reviewed, first_source)
    ]
    for index, fee in enumerate(service.fees):
        source = str(fee.source) if fee.source else first_source
        facts.append(
            ("gebühr", f"fees[{index}]", f"{fee.item}: {fee.amount}", fee.checked or service.reviewed, source)
        )
    for index, link in enumerate(service.links):
        link_source = str(link.source) if link.source else None
        facts.append(
            (
                "link",
                f"links[{index}]",
                f"{link.kind}: {link.url}",
                link.checked or service.reviewed,
                link_source,
            )
        )
    for index, missing in enumerate(service.unconfirmed_links):
        facts.append(
            (
                "unbestätigt",
                f"unconfirmed_links[{index}]",
                f"{missing.kind}: {missing.note}",
                missing.checked,
                None,
            )
        )
    return facts


def stale_facts(catalog: Catalog, older_than: dt.timedelta, today: dt.date) -> list[StaleFact]:
    """Every fact whose last check lies more than ``older_than`` before ``today``, oldest first."""
    limit = today - older_than
    rows: list[StaleFact] = []
    for service in catalog:
        for kind, field, label, checked, source in _service_facts(service):
            if checked < limit:
                rows.append(
                    StaleFact(kind, service.id, field, label, checked, (today - checked).days, source)
                )
    for office in catalog.offices.values():
        if office.reviewed < limit:
            page = office.web or (office.sources[0] if office.sources else None)
            rows.append(
                StaleFact(
                    "amt",
                    office.id,
                    "reviewed",
                    f"{office.name} (Adresse, Öffnungszeiten, Kontakt)",
                    office.reviewed,
                    (today - office.reviewed).days,
                    str(page) if page else None,
                )
            )
    return sorted(rows, key=lambda row: (row.checked, row.record, row.field))
