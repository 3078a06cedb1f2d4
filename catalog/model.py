"""The Koblenz service catalog: services, offices and Stadtteile loaded from reviewed YAML in ``data/``.

The schema is documented in docs/catalog.md. Loading validates every record and fails with the file and
field named, so a bad edit never reaches citizens.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from catalog import CatalogError

_T = TypeVar("_T", bound="BaseModel")
ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
LinkKind = Literal["info", "online", "appointment", "payment", "form"]
Day = Literal["mo", "di", "mi", "do", "fr", "sa", "so"]
DAY_NAMES: dict[str, str] = {
    "mo": "Mo",
    "di": "Di",
    "mi": "Mi",
    "do": "Do",
    "fr": "Fr",
    "sa": "Sa",
    "so": "So",
}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Link(_Record):
    kind: LinkKind
    title: str = Field(min_length=3)
    url: HttpUrl
    source: HttpUrl | None = None  # the public page that shows this exact URL
    checked: dt.date | None = None  # when that was last checked; default: the record's ``reviewed``


class Fee(_Record):
    item: str = Field(min_length=2)
    amount: str = Field(min_length=1)
    source: HttpUrl | None = None  # where this amount is published (law text, the city's page, ...)
    checked: dt.date | None = None  # when it was last compared with that source; default: ``reviewed``


class Unconfirmed(_Record):
    """A kind of link the service may well have (online, appointment, payment) that no public source
    confirmed when it was looked for: said so in the record instead of guessing a URL."""

    kind: LinkKind
    note: str = Field(min_length=10)
    checked: dt.date


class Service(_Record):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=3)
    synonyms: tuple[str, ...] = ()
    summary: str = Field(min_length=20)
    details: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    fees: tuple[Fee, ...] = ()
    fees_note: str | None = None
    processing_time: str | None = None
    online: str | None = None
    appointment_required: bool | None = None
    office: str | None = None
    links: tuple[Link, ...] = ()
    unconfirmed_links: tuple[Unconfirmed, ...] = ()
    leika: str | None = Field(default=None, pattern=r"^\d{14}$")
    sources: tuple[HttpUrl, ...] = Field(min_length=1)
    reviewed: dt.date

    @field_validator("leika", mode="before")
    @classmethod
    def _leika_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _unconfirmed_is_not_linked(self) -> Service:
        linked = {link.kind for link in self.links}
        both = sorted({u.kind for u in self.unconfirmed_links} & linked)
        if both:
            raise ValueError(f"unconfirmed_links: kind {both[0]!r} has a link and is marked unconfirmed")
        return self

    def links_of(self, *kinds: str) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.kind in kinds)


class Address(_Record):
    street: str
    postcode: str = Field(pattern=r"^\d{5}$")
    city: str = "Koblenz"

    def one_line(self) -> str:
        return f"{self.street}, {self.postcode} {self.city}"


class Hours(_Record):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    days: tuple[Day, ...] = Field(min_length=1)
    opens: str = Field(alias="from", pattern=r"^\d{2}:\d{2}$")
    closes: str = Field(alias="to", pattern=r"^\d{2}:\d{2}$")
    note: str | None = None


class Office(_Record):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    address: Address | None = None
    hours: tuple[Hours, ...] = ()
    hours_note: str | None = None
    phone: str | None = None
    email: str | None = None
    web: HttpUrl | None = None
    accessibility: str | None = None
    sources: tuple[HttpUrl, ...] = ()
    reviewed: dt.date

    def hours_lines(self) -> list[str]:
        """Opening hours as short German lines, e.g. "Mo, Di: 07:30–12:00 (nur mit Termin)"."""
        lines = []
        for block in self.hours:
            days = ", ".join(DAY_NAMES[d] for d in block.days)
            note = f" ({block.note})" if block.note else ""
            lines.append(f"{days}: {block.opens}–{block.closes} Uhr{note}")
        return lines


class Stadtteil(_Record):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    number: int | None = None
    synonyms: tuple[str, ...] = ()
    part_of: str | None = None


@dataclass(frozen=True)
class Catalog:
    services: dict[str, Service]
    offices: dict[str, Office]
    stadtteile: dict[str, Stadtteil]

    def service(self, service_id: str) -> Service:
        return self.services[service_id]

    def office_of(self, service: Service) -> Office | None:
        return self.offices.get(service.office) if service.office else None

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services.values())

    def stadtteil_names(self) -> dict[str, str]:
        """Every spelling (lower case) → canonical Stadtteil name (the resident's name for split parts)."""
        names: dict[str, str] = {}
        for part in self.stadtteile.values():
            canonical = self.resident_name(part)
            for spelling in (part.name, *part.synonyms):
                names[spelling.lower()] = canonical
        return names

    def resident_name(self, part: Stadtteil) -> str:
        """Karthause Nord → Karthause: statistical parts count as one Stadtteil to residents."""
        if part.part_of is None:
            return part.name
        parent = self.stadtteile.get(part.part_of)
        if parent is not None:
            return parent.name
        for name in part.synonyms:  # the group's own name is listed among the parts' synonyms
            if fold(name).replace(" ", "-") == part.part_of:
                return name
        return part.part_of.replace("-", " ").title()


# libyaml's loader when PyYAML has it (ten times faster than the pure-Python one on the catalog: 0.04 vs
# 0.44 s for data/), with the same safe subset of YAML.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> object:
    """Parse YAML text with the safe loader (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=SafeLoader)  # a safe loader (C or Python)


def _load_yaml(path: Path) -> object:
    try:
        return read_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None


def _validate(model: type[_T], raw: object, where: str) -> _T:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CatalogError(f"{where}: {problems}") from None


def load_catalog(data_dir: Path) -> Catalog:
    services: dict[str, Service] = {}
    for path in sorted((data_dir / "services").glob("*.yaml")):
        service = _validate(Service, _load_yaml(path), str(path))
        if service.id != path.stem:
            raise CatalogError(f"{path}: id {service.id!r} differs from the file name")
        services[service.id] = service
    offices: dict[str, Office] = {}
    for path in sorted((data_dir / "offices").glob("*.yaml")):
        office = _validate(Office, _load_yaml(path), str(path))
        if office.id != path.stem:
            raise CatalogError(f"{path}: id {office.id!r} differs from the file name")
        offices[office.id] = office
    stadtteile: dict[str, Stadtteil] = {}
    raw_parts = _load_yaml(data_dir / "stadtteile.yaml") if (data_dir / "stadtteile.yaml").exists() else []
    for index, raw in enumerate(raw_parts if isinstance(raw_parts, list) else []):
        part = _validate(Stadtteil, raw, f"{data_dir / 'stadtteile.yaml'}[{index}]")
        stadtteile[part.id] = part
    for service in services.values():
        if service.office and service.office not in offices:
            raise CatalogError(f"service {service.id}: unknown office {service.office!r}")
    if not services:
        raise CatalogError(f"{data_dir / 'services'}: no service records found")
    return Catalog(services=services, offices=offices, stadtteile=stadtteile)


_WORD = re.compile(r"[\wäöüß]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case with umlauts folded (Führerschein → fuehrerschein), for matching citizens' spellings."""
    text = text.lower()
    for src, dst in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(src, dst)
    return text


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))
