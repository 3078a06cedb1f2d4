"""Editors' changes to the catalog (staff console): revisions over the YAML seed, and the live catalog.

The YAML under ``data/`` (and the phrasings in ``nlu/phrases/services.yml``) stay the reviewed seed and the
export format. Each save in the console stores a ``CatalogRevision`` of one record, of one ``kind``:

- ``service``: the service's full record and its citizen phrasings as JSON;
- ``office``: the office's full record (name, address, structured opening hours, contact facts).

Each revision says who (name, role), when, and carries a comment. History is never rewritten: going back
to an old revision stores it again as a new one (``restored_from``). Migration 0011 added ``kind`` (the
rows of 0010 are services) and renamed ``service_id`` to ``record_id``.

The catalog the bot answers from is the seed overlaid with the newest revision per record (``overlay``).
A revision remembers a fingerprint of the seed it was made on (for services the record and the phrasings
separately). When the seed of that record has changed since (a ``catalog import``, a reviewed YAML
change), the seed is newer and wins; the revision stays in the history and can be restored. So ``export``
(the overlaid catalog) → edit → ``import`` gives exactly the imported records.

``LiveCatalog`` holds the ``Catalog`` object every part of the running bot reads (dialogue, answers,
Telegram, ``/health``) and updates its dicts in place after a save: the next answer uses the new facts,
links and opening hours, with no restart. ``refresh`` (a cheap periodic check in ``serve``) notices when
the seed on disk changed (``catalog import`` swaps the directory; a hand edit) by the inode, size and
times of the directory, its record files and the phrasings file, reads the new seed, lays the revisions
over it again and swaps it in; a seed that does not load, or changes while it is read, is not taken (the
old catalog stays, with one warning). Callbacks registered with ``on_change`` (the root's catalog search
rebuilding its index) run after every change. ``current`` gives the same overlay from the disk and the
database for the retraining job and ``koblenz-bot catalog export``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import ValidationError
from sqlalchemy import Index, Integer, String, Text, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from catalog import CatalogError
from catalog.model import DAY_NAMES, Catalog, Office, Service, fold, load_catalog, read_yaml
from core.db import Base, create_engine, sessionmaker
from core.settings import Settings
from core.time import utcnow

log = logging.getLogger(__name__)

TABLE = "catalog_revisions"
Kind = Literal["service", "office"]
SERVICE: Kind = "service"
OFFICE: Kind = "office"
MAX_PHRASING_CHARS = 300
MAX_COMMENT_CHARS = 500
Loc = tuple[str | int, ...]  # where a problem is: ("fees", 0, "amount"), ("office",), ("hours", 1, "closes")
Key = tuple[str, str]  # (kind, record id) of a revision
_V = TypeVar("_V")


class CatalogRevision(Base):
    """One saved state of one record. ``kind`` "service": ``record`` = {"service": {...}, "phrasings":
    [...], "base": {"service": fp, "phrasings": fp}}; ``kind`` "office": {"office": {...}, "base":
    {"office": fp}} (``fp``: the fingerprint of the seed the revision was made on)."""

    __tablename__ = TABLE
    __table_args__ = (Index("ix_catalog_revisions_record", "kind", "record_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default=SERVICE)
    record_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    record: Mapped[dict[str, Any]] = mapped_column()
    restored_from: Mapped[int | None] = mapped_column(Integer, default=None)


class EditConflict(CatalogError):
    """Someone else saved the same record since the editor opened it."""

    status: ClassVar[int] = 409
    code: ClassVar[str] = "catalog_edit_conflict"


class EditRefused(CatalogError):
    """The proposed record does not validate; ``problems`` names each field (German messages)."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "catalog_edit_invalid"

    def __init__(self, problems: dict[Loc, str]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {text}" for loc, text in problems.items()))
        self.problems = problems


class SeedChanging(CatalogError):
    """The seed on disk changed while it was being read (an import or an edit in progress): try later."""


@dataclass(frozen=True)
class Entry:
    """A service as an editor sees it: the record and the citizens' phrasings for its intent."""

    service: Service
    phrasings: tuple[str, ...]


# -- JSON form and fingerprints -----------------------------------------------------------------------


def service_json(service: Service) -> dict[str, Any]:
    data = service.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert isinstance(data, dict)
    return data


def office_json(office: Office) -> dict[str, Any]:
    """The office as JSON in the seed's layout (opening hours with ``from``/``to``)."""
    data = office.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert isinstance(data, dict)
    return data


def fingerprint(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_of(record: Mapping[str, Any]) -> Entry:
    """The entry stored in a revision (validated again: the database is not trusted blindly)."""
    try:
        service = Service.model_validate(record.get("service"))
    except ValidationError as error:
        raise CatalogError(f"revision record does not validate: {error.errors()[:3]}") from None
    phrasings = record.get("phrasings") or []
    return Entry(service, tuple(str(p) for p in phrasings if isinstance(p, str)))


def office_of(record: Mapping[str, Any]) -> Office:
    """The office stored in a revision (validated again)."""
    try:
        return Office.model_validate(record.get("office"))
    except ValidationError as error:
        raise CatalogError(f"revision record does not validate: {error.errors()[:3]}") from None


# -- the editors' rules (the model's validation plus what an editor must get right) -------------------------

_AMOUNT = re.compile(r"\d[\d.]*(?:,\d{1,2})?\s*(?:€|eur\b|euro\b|%|prozent\b)", re.IGNORECASE)
_FREE = re.compile(r"\b(gebührenfrei|kostenlos|kostenfrei|keine gebühr|keine kosten)\b", re.IGNORECASE)
_SHARE = re.compile(r"\b(hälfte|drittel|viertel|fünftel|sechstel|zehntel)\b", re.IGNORECASE)
_GERMAN = {
    "missing": "Bitte füllen Sie dieses Feld aus.",
    "string_too_short": "Der Text ist zu kurz.",
    "too_short": "Bitte geben Sie mindestens einen Eintrag an.",
    "url_parsing": "Bitte geben Sie eine vollständige Adresse an, die mit https:// beginnt.",
    "url_scheme": "Bitte geben Sie eine vollständige Adresse an, die mit https:// beginnt.",
    "url_type": "Bitte geben Sie eine vollständige Adresse an, die mit https:// beginnt.",
    "url_too_long": "Die Adresse ist zu lang.",
    "date_from_datetime_parsing": "Bitte geben Sie ein gültiges Datum an.",
    "date_parsing": "Bitte geben Sie ein gültiges Datum an.",
    "date_type": "Bitte geben Sie ein gültiges Datum an.",
    "literal_error": "Bitte wählen Sie einen der angebotenen Werte.",
    "string_pattern_mismatch": "Das Format stimmt nicht.",
    "bool_parsing": "Bitte wählen Sie einen der angebotenen Werte.",
    "string_type": "Bitte geben Sie einen Text an.",
}
HTTPS_ONLY = "Bitte verwenden Sie eine sichere Adresse, die mit https:// beginnt."


def is_amount(text: str) -> bool:
    """A fee a citizen can read as money: "46,00 €", "ab 10 €", "59,00 € bis 118,00 €", "gebührenfrei",
    "ein Drittel des Ladenpreises"; not "zwanzig Euro" (the amount in figures, please)."""
    return bool(_AMOUNT.search(text) or _FREE.search(text) or _SHARE.search(text))


def phrasing_key(text: str) -> str:
    """Phrasings that differ only in case, umlaut spelling or punctuation count as the same."""
    return re.sub(r"[^\w]+", " ", fold(text)).strip()


def _https_problems(raw: Mapping[str, Any]) -> dict[Loc, str]:
    """Links are what citizens are sent to: https only (sources may be older pages)."""
    problems: dict[Loc, str] = {}
    for index, link in enumerate(raw.get("links") or []):
        url = str(link.get("url") or "").strip() if isinstance(link, Mapping) else ""
        if url and not url.lower().startswith("https://"):
            problems[("links", index, "url")] = HTTPS_ONLY
    return problems


def _model_problems(error: ValidationError, rename: Mapping[str, str] | None = None) -> dict[Loc, str]:
    problems: dict[Loc, str] = {}
    for item in error.errors():
        loc: Loc = tuple((rename or {}).get(str(part), part) for part in item["loc"])
        if loc not in problems:
            problems[loc] = _GERMAN.get(item["type"], item["msg"])
    return problems


def check_entry(
    raw: Mapping[str, Any],
    phrasings: Sequence[str],
    offices: Mapping[str, Office],
    taken: Mapping[str, str] | None = None,
) -> tuple[Entry | None, dict[Loc, str]]:
    """Validate an editor's proposal: the catalog model's rules (named per field, in German), a known
    office, https links, fees as amounts, phrasings neither empty nor repeated (``taken``: phrasing key →
    title of the other service that already has it). Returns the entry or the problems by location."""
    problems: dict[Loc, str] = {}
    service: Service | None = None
    try:
        service = Service.model_validate(raw)
    except ValidationError as error:
        problems.update(_model_problems(error))
    office = raw.get("office")
    if office and office not in offices:
        problems[("office",)] = (
            f"Das Amt „{office}“ gibt es im Katalog nicht. Bitte wählen Sie eines aus der Liste."
        )
    for index, fee in enumerate(raw.get("fees") or []):
        amount = str(fee.get("amount") or "") if isinstance(fee, Mapping) else ""
        if amount.strip() and not is_amount(amount):
            problems[("fees", index, "amount")] = (
                f"„{amount}“ ist kein Betrag. Bitte schreiben Sie den Betrag in Ziffern mit Euro-Zeichen, "
                "zum Beispiel „46,00 €“, oder „gebührenfrei“."
            )
    for loc, text in _https_problems(raw).items():
        problems.setdefault(loc, text)
    seen: dict[str, int] = {}
    for index, text in enumerate(phrasings):
        key = phrasing_key(text)
        if not key:
            problems[("phrasings", index)] = "Die Formulierung ist leer. Bitte schreiben Sie eine Frage."
        elif len(text) > MAX_PHRASING_CHARS:
            problems[("phrasings", index)] = f"Die Formulierung ist länger als {MAX_PHRASING_CHARS} Zeichen."
        elif key in seen:
            problems[("phrasings", index)] = f"„{text}“ steht schon in Zeile {seen[key] + 1}."
        elif taken and key in taken:
            problems[("phrasings", index)] = f"„{text}“ gehört schon zum Dienst „{taken[key]}“."
        else:
            seen[key] = index
    if problems or service is None:
        return None, problems
    return Entry(service, tuple(p.strip() for p in phrasings)), {}


_OPENS = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_CLOSES = re.compile(r"^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[\d ()/\-]+$")
WEEKDAYS = {
    "mo": "Montag",
    "di": "Dienstag",
    "mi": "Mittwoch",
    "do": "Donnerstag",
    "fr": "Freitag",
    "sa": "Samstag",
    "so": "Sonntag",
}
assert set(WEEKDAYS) == set(DAY_NAMES)


def _hours_problems(index: int, block: object) -> dict[Loc, str]:
    if not isinstance(block, Mapping):
        return {("hours", index): "Dieser Zeitraum ist unvollständig."}
    problems: dict[Loc, str] = {}
    days = block.get("days")
    days = list(days) if isinstance(days, list | tuple) else []
    unknown = [str(day) for day in days if day not in WEEKDAYS]
    if unknown:
        problems[("hours", index, "days")] = (
            f"„{unknown[0]}“ ist kein Wochentag. Bitte wählen Sie Tage von Montag bis Sonntag aus der Liste."
        )
    elif not days:
        problems[("hours", index, "days")] = "Bitte wählen Sie mindestens einen Wochentag."
    elif len(set(days)) != len(days):
        problems[("hours", index, "days")] = "Ein Wochentag ist doppelt angegeben."
    times: dict[str, str] = {}
    for key, part, label, pattern in (
        ("from", "opens", "Öffnungszeit", _OPENS),
        ("to", "closes", "Schließzeit", _CLOSES),
    ):
        value = str(block.get(key) or "").strip()
        if not value:
            problems[("hours", index, part)] = (
                f"Bitte geben Sie die {label} an, in Stunden und Minuten, zum Beispiel 08:30."
            )
        elif not pattern.match(value):
            problems[("hours", index, part)] = (
                f"„{value}“ ist keine gültige Uhrzeit. Bitte schreiben Sie Stunden und Minuten mit "
                "Doppelpunkt, zum Beispiel 08:30."
            )
        else:
            times[part] = value
    if len(times) == 2 and times["closes"] <= times["opens"]:
        problems[("hours", index, "closes")] = (
            f"Die Schließzeit {times['closes']} Uhr liegt nicht nach der Öffnungszeit {times['opens']} Uhr."
        )
    return problems


def check_office(
    raw: Mapping[str, Any], kept_web: Sequence[str] = ()
) -> tuple[Office | None, dict[Loc, str]]:
    """Validate an editor's proposal for an office (``raw`` in the seed's layout): the catalog model's
    rules plus a name, opening hours as known weekdays and HH:MM times with the closing after the opening,
    an https web page (``kept_web``: an older http address that is kept unchanged is accepted), a plausible
    e-mail address and phone number. Returns the office or the problems by location, in German."""
    problems: dict[Loc, str] = {}
    if not str(raw.get("name") or "").strip():
        problems[("name",)] = "Bitte geben Sie den Namen des Amts an."
    hours = raw.get("hours")
    for index, block in enumerate(hours if isinstance(hours, list | tuple) else []):
        problems.update(_hours_problems(index, block))
    web = str(raw.get("web") or "").strip()
    if web and not web.lower().startswith("https://") and web not in kept_web:
        problems[("web",)] = HTTPS_ONLY
    email = str(raw.get("email") or "").strip()
    if email and not _EMAIL.match(email):
        problems[("email",)] = (
            f"„{email}“ ist keine gültige E-Mail-Adresse. Bitte schreiben Sie sie so: name@stadt.koblenz.de."
        )
    phone = str(raw.get("phone") or "").strip()
    if phone and (not _PHONE.match(phone) or sum(c.isdigit() for c in phone) < 3):
        problems[("phone",)] = (
            "Die Telefonnummer darf nur Ziffern, Leerzeichen und die Zeichen + / - ( ) enthalten, "
            "zum Beispiel „0261 129-0“."
        )
    address = raw.get("address")
    if isinstance(address, Mapping):
        if not str(address.get("street") or "").strip():
            problems[("address", "street")] = "Bitte geben Sie Straße und Hausnummer an."
        if not re.fullmatch(r"\d{5}", str(address.get("postcode") or "").strip()):
            problems[("address", "postcode")] = "Bitte geben Sie die Postleitzahl mit fünf Ziffern an."
    office: Office | None = None
    try:
        office = Office.model_validate(raw)
    except ValidationError as error:
        for loc, text in _model_problems(error, {"from": "opens", "to": "closes"}).items():
            if not any(loc[: len(known)] == known for known in problems):
                problems[loc] = text
    if problems or office is None:
        return None, problems
    return office, {}


# -- the overlay --------------------------------------------------------------------------------------


def load_phrasings(phrases_file: Path) -> dict[str, tuple[str, ...]]:
    """The seed phrasings per service (``nlu/phrases/services.yml``); empty when the file is missing."""
    if not phrases_file.exists():
        return {}
    try:
        raw = read_yaml(phrases_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise CatalogError(f"{phrases_file}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{phrases_file}: expected a mapping of service id to phrasings")
    return {str(k): tuple(str(t) for t in (v or [])) for k, v in raw.items()}


def base_of(seed: Service | None, seed_phrasings: Sequence[str]) -> dict[str, str]:
    return {
        "service": fingerprint(service_json(seed)) if seed is not None else "",
        "phrasings": fingerprint(list(seed_phrasings)),
    }


def office_base_of(seed: Office) -> dict[str, str]:
    return {"office": fingerprint(office_json(seed))}


@dataclass(frozen=True)
class Overlaid:
    """The current state: the catalog and, per service, the phrasings that revisions changed."""

    catalog: Catalog
    phrasings: dict[str, tuple[str, ...]]  # only services whose phrasings come from a revision
    applied: dict[str, int]  # service id → revision id whose record is in effect
    applied_offices: dict[str, int] = field(default_factory=dict)  # office id → revision id in effect


def _overlay_office(seed: Catalog, office_id: str, revision: CatalogRevision) -> Office | None:
    original = seed.offices.get(office_id)
    if original is None:
        log.warning("catalog revision %d: office %r is not in the seed; skipped", revision.id, office_id)
        return None
    try:
        office = office_of(revision.record)
    except CatalogError as error:
        log.warning("catalog revision %d skipped: %s", revision.id, error.message)
        return None
    base = revision.record.get("base") or {}
    if base.get("office") != office_base_of(original)["office"] or office.id != office_id:
        return None  # the seed changed since: it is newer and wins
    return office


def overlay(
    seed: Catalog, seed_phrasings: Mapping[str, Sequence[str]], newest: Mapping[Key, CatalogRevision]
) -> Overlaid:
    """The seed with the newest revision per record laid over it (where the seed has not changed since
    the revision was made); a revision that no longer fits the seed (unknown service, office) is skipped
    with a warning, so a bad row never stops the bot."""
    services = dict(seed.services)
    offices = dict(seed.offices)
    phrasings: dict[str, tuple[str, ...]] = {}
    applied: dict[str, int] = {}
    applied_offices: dict[str, int] = {}
    for (kind, office_id), revision in newest.items():
        if kind == OFFICE and (office := _overlay_office(seed, office_id, revision)) is not None:
            offices[office_id] = office
            applied_offices[office_id] = revision.id
    for (kind, service_id), revision in newest.items():
        if kind != SERVICE:
            continue
        original = seed.services.get(service_id)
        if original is None:
            log.warning(
                "catalog revision %d: service %r is not in the seed; skipped", revision.id, service_id
            )
            continue
        try:
            entry = entry_of(revision.record)
        except CatalogError as error:
            log.warning("catalog revision %d skipped: %s", revision.id, error.message)
            continue
        base = revision.record.get("base") or {}
        now = base_of(original, seed_phrasings.get(service_id, ()))
        if base.get("service") == now["service"] and entry.service.id == service_id:
            if entry.service.office and entry.service.office not in seed.offices:
                log.warning("catalog revision %d: unknown office; the seed is used", revision.id)
            else:
                services[service_id] = entry.service
                applied[service_id] = revision.id
        if base.get("phrasings") == now["phrasings"]:
            phrasings[service_id] = entry.phrasings
    catalog = Catalog(services, offices, dict(seed.stadtteile))
    return Overlaid(catalog, phrasings, applied, applied_offices)


async def has_table(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with sessions() as session:
        connection = await session.connection()
        return bool(await connection.run_sync(lambda sync: inspect(sync).has_table(TABLE)))


async def newest_revisions(sessions: async_sessionmaker[AsyncSession]) -> dict[Key, CatalogRevision]:
    """The newest revision of every record that has one, by (kind, record id)."""
    newest = select(func.max(CatalogRevision.id)).group_by(CatalogRevision.kind, CatalogRevision.record_id)
    async with sessions() as session:
        rows = (await session.scalars(select(CatalogRevision).where(CatalogRevision.id.in_(newest)))).all()
    return {(row.kind, row.record_id): row for row in rows}


async def current(
    catalog_dir: Path, phrases_file: Path, sessions: async_sessionmaker[AsyncSession] | None
) -> Overlaid:
    """The seed from disk with the database's revisions over it (no database, or not migrated: the seed)."""
    seed = load_catalog(catalog_dir)
    seed_phrasings = load_phrasings(phrases_file)
    newest = await newest_revisions(sessions) if sessions is not None and await has_table(sessions) else {}
    return overlay(seed, seed_phrasings, newest)


def merged_phrasings(
    seed_phrasings: Mapping[str, Sequence[str]], changed: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """The phrasings file's content with the revisions' phrasings in place of the seed's."""
    merged = {key: list(value) for key, value in seed_phrasings.items()}
    for service_id, texts in changed.items():
        merged[service_id] = list(texts)
    return merged


# -- the seed on disk: has it changed? ----------------------------------------------------------------

Signature = tuple[tuple[str, int, int, int, int], ...]


def seed_signature(catalog_dir: Path, phrases_file: Path | None = None) -> Signature:
    """What identifies the seed's state on disk without reading it: inode, size, modification and change
    time of the catalog directory, its record directories and files, and the phrasings file. An import
    (a new directory swapped in), a changed, added or removed file all change it. A few hundred ``stat``
    calls: cheap enough to run every few seconds."""
    entries: list[tuple[str, int, int, int, int]] = []

    def add(name: str, stat: os.stat_result | None) -> None:
        if stat is None:
            entries.append((name, 0, -1, 0, 0))
        else:
            entries.append((name, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))

    def stat_of(path: Path) -> os.stat_result | None:
        try:
            return os.stat(path)
        except OSError:
            return None

    add(".", stat_of(catalog_dir))
    for sub in ("services", "offices"):
        folder = catalog_dir / sub
        add(sub, stat_of(folder))
        try:
            with os.scandir(folder) as listing:
                files = sorted((e for e in listing if e.name.endswith(".yaml")), key=lambda e: e.name)
                for item in files:
                    try:
                        add(f"{sub}/{item.name}", item.stat())
                    except OSError:
                        add(f"{sub}/{item.name}", None)
        except OSError:
            pass
    add("stadtteile.yaml", stat_of(catalog_dir / "stadtteile.yaml"))
    if phrases_file is not None:
        add("phrases", stat_of(phrases_file))
    return tuple(entries)


@dataclass(frozen=True)
class Seed:
    """The seed as read from disk, with the state it was read in."""

    catalog: Catalog
    phrasings: dict[str, tuple[str, ...]] | None  # None: the phrasings file did not load
    signature: Signature
    phrasings_error: str = ""


_SEEDS: dict[tuple[Path, Path | None], Seed] = {}  # the last seed read per directory, by its signature


def _fresh(seed: Seed) -> Seed:
    """The seed with dicts of its own (the records are frozen and shared): a ``LiveCatalog`` changes its
    catalog's dicts in place."""
    catalog = seed.catalog
    copy = Catalog(dict(catalog.services), dict(catalog.offices), dict(catalog.stadtteile))
    phrasings = dict(seed.phrasings) if seed.phrasings is not None else None
    return Seed(copy, phrasings, seed.signature, seed.phrasings_error)


def read_seed(catalog_dir: Path, phrases_file: Path | None) -> Seed:
    """Read the seed (blocking; run it in a thread). ``CatalogError`` when a record does not load;
    ``SeedChanging`` when the files changed while they were read (never a mix of two states).

    A seed whose signature (every file's inode, size, modification and change time) is the same as at
    the last read in this process is not parsed again: the app, the retraining job and every test app
    start on the same files."""
    before = seed_signature(catalog_dir, phrases_file)
    key = (catalog_dir, phrases_file)
    cached = _SEEDS.get(key)
    if cached is not None and cached.signature == before:
        return _fresh(cached)
    catalog = load_catalog(catalog_dir)
    phrasings: dict[str, tuple[str, ...]] | None = {}
    error = ""
    if phrases_file is not None:
        try:
            phrasings = load_phrasings(phrases_file)
        except CatalogError as problem:
            phrasings, error = None, problem.message
    if seed_signature(catalog_dir, phrases_file) != before:
        raise SeedChanging(f"{catalog_dir} changed while it was read")
    seed = Seed(catalog, phrasings, before, error)
    _SEEDS[key] = _fresh(seed)
    return seed


def _sync(target: MutableMapping[str, _V], source: Mapping[str, _V]) -> None:
    """Make ``target`` equal to ``source`` in place, touching only the items that differ."""
    for key in [key for key in target if key not in source]:
        del target[key]
    for key, value in source.items():
        if target.get(key) is not value:
            target[key] = value


# -- the catalog the running bot answers from ---------------------------------------------------------


class LiveCatalog:
    """The running bot's catalog: ``catalog`` is the one object the dialogue, the answers, Telegram and
    ``/health`` hold; ``load``, ``save``, ``save_office`` and ``refresh`` change its dicts in place (one
    dict item per record, in one step of the event loop, so a reader never sees a half-changed catalog)
    and then tell the ``on_change`` callbacks."""

    def __init__(
        self,
        catalog: Catalog,
        seed_phrasings: Mapping[str, Sequence[str]],
        catalog_dir: Path | None = None,
        phrases_file: Path | None = None,
        signature: Signature | None = None,
    ) -> None:
        self.catalog = catalog
        self._seed = Catalog(dict(catalog.services), dict(catalog.offices), dict(catalog.stadtteile))
        self._seed_phrasings = {key: tuple(value) for key, value in seed_phrasings.items()}
        self._phrasings: dict[str, tuple[str, ...]] = {}
        self._applied: dict[str, int] = {}
        self._applied_offices: dict[str, int] = {}
        self._listeners: list[Callable[[], None]] = []
        self._catalog_dir = catalog_dir
        self._phrases_file = phrases_file
        self._signature = signature  # the seed's state on disk that ``_seed`` was read in
        self._refused: Signature | None = None  # a state that did not load (warned about once)
        self._lock = asyncio.Lock()  # a save and a reload never interleave

    @classmethod
    def from_files(cls, catalog: Catalog, phrases_file: Path) -> LiveCatalog:
        try:
            phrasings = load_phrasings(phrases_file)
        except CatalogError as error:  # the bot still answers; the editor sees no seed phrasings
            log.error("seed phrasings unreadable: %s", error.message)
            phrasings = {}
        return cls(catalog, phrasings)

    @classmethod
    def from_directory(cls, catalog_dir: Path, phrases_file: Path) -> LiveCatalog:
        """Read the seed (``CatalogError`` when it does not load) and watch it: ``refresh`` takes a new
        one (``catalog import``) into the running bot."""
        for attempt in range(5):
            try:
                seed = read_seed(catalog_dir, phrases_file)
                break
            except SeedChanging:
                if attempt == 4:
                    raise
        if seed.phrasings is None:
            log.error("seed phrasings unreadable: %s", seed.phrasings_error)
        return cls(seed.catalog, seed.phrasings or {}, catalog_dir, phrases_file, seed.signature)

    def on_change(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in self._listeners:
            callback()

    # -- services --

    def seed_service(self, service_id: str) -> Service:
        return self._seed.services[service_id]

    def phrasings(self, service_id: str) -> tuple[str, ...]:
        if service_id in self._phrasings:
            return self._phrasings[service_id]
        return self._seed_phrasings.get(service_id, ())

    def entry(self, service_id: str) -> Entry:
        return Entry(self.catalog.services[service_id], self.phrasings(service_id))

    def taken(self, except_service: str) -> dict[str, str]:
        """Every phrasing's key of the other services → that service's title (a phrasing belongs to one)."""
        result: dict[str, str] = {}
        for service_id, service in self.catalog.services.items():
            if service_id != except_service:
                for text in self.phrasings(service_id):
                    result.setdefault(phrasing_key(text), service.title)
        return result

    def edited(self, service_id: str) -> int | None:
        """The revision in effect for this service (None: the seed)."""
        return self._applied.get(service_id)

    def seed_entry(self, service_id: str) -> Entry:
        return Entry(self._seed.services[service_id], self._seed_phrasings.get(service_id, ()))

    # -- offices --

    def seed_office(self, office_id: str) -> Office:
        return self._seed.offices[office_id]

    def office_edited(self, office_id: str) -> int | None:
        """The revision in effect for this office (None: the seed)."""
        return self._applied_offices.get(office_id)

    def services_of(self, office_id: str) -> list[Service]:
        return [s for s in self.catalog.services.values() if s.office == office_id]

    def check_office(self, office_id: str, raw: Mapping[str, Any]) -> tuple[Office | None, dict[Loc, str]]:
        """``check_office`` for this office: an http web address it already has (now or in the seed) may
        stay; the id cannot change."""
        kept = [
            str(office.web)
            for office in (self.catalog.offices.get(office_id), self._seed.offices.get(office_id))
            if office is not None and office.web is not None
        ]
        office, problems = check_office(raw, kept)
        if office is not None and office.id != office_id:
            return None, {("id",): "Die Kennung eines Amts kann hier nicht geändert werden."}
        return office, problems

    # -- loading, saving, reloading --

    def _apply(self, overlaid: Overlaid) -> None:
        _sync(self.catalog.services, overlaid.catalog.services)
        _sync(self.catalog.offices, overlaid.catalog.offices)
        _sync(self.catalog.stadtteile, overlaid.catalog.stadtteile)
        self._phrasings = dict(overlaid.phrasings)
        self._applied = dict(overlaid.applied)
        self._applied_offices = dict(overlaid.applied_offices)
        self._changed()

    async def load(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Lay the stored revisions over the seed (at start); return how many records they changed."""
        async with self._lock:
            newest = await newest_revisions(sessions) if await has_table(sessions) else {}
            overlaid = overlay(self._seed, self._seed_phrasings, newest)
            self._apply(overlaid)
        return len(overlaid.applied) + len(overlaid.applied_offices)

    async def refresh(self, sessions: async_sessionmaker[AsyncSession]) -> bool:
        """Take a changed seed on disk into the running bot (``catalog import``, a reviewed YAML change):
        the new seed with the stored revisions laid over it again, swapped in at once. A seed that does
        not load keeps the previous catalog (one warning per state); one that is still being written is
        tried again at the next call. True when the catalog was replaced."""
        if self._catalog_dir is None:
            return False
        now = await asyncio.to_thread(seed_signature, self._catalog_dir, self._phrases_file)
        if now == self._signature or now == self._refused:
            return False
        try:
            seed = await asyncio.to_thread(read_seed, self._catalog_dir, self._phrases_file)
        except SeedChanging:
            log.debug("catalog in %s is changing; read again at the next check", self._catalog_dir)
            return False
        except (CatalogError, OSError) as error:
            self._refused = now
            text = error.message if isinstance(error, CatalogError) else str(error)
            log.warning(
                "catalog in %s changed but does not load; the bot keeps the previous catalog: %s",
                self._catalog_dir,
                text,
            )
            return False
        if seed.phrasings is None:
            log.warning("seed phrasings unreadable, the previous ones are kept: %s", seed.phrasings_error)
        async with self._lock:
            newest = await newest_revisions(sessions) if await has_table(sessions) else {}
            phrasings = seed.phrasings if seed.phrasings is not None else self._seed_phrasings
            overlaid = overlay(seed.catalog, phrasings, newest)
            self._seed = seed.catalog
            self._seed_phrasings = dict(phrasings)
            self._signature, self._refused = seed.signature, None
            self._apply(overlaid)
        log.info(
            "catalog reloaded from %s: %d services, %d offices, %d Stadtteile (console revisions in effect: "
            "%d services, %d offices)",
            self._catalog_dir,
            len(seed.catalog.services),
            len(seed.catalog.offices),
            len(seed.catalog.stadtteile),
            len(overlaid.applied),
            len(overlaid.applied_offices),
        )
        return True

    def check(
        self, service_id: str, raw: Mapping[str, Any], phrasings: Sequence[str]
    ) -> tuple[Entry | None, dict[Loc, str]]:
        entry, problems = check_entry(raw, phrasings, self.catalog.offices, self.taken(service_id))
        if entry is not None and entry.service.id != service_id:
            return None, {("id",): "Die Kennung eines Dienstes kann hier nicht geändert werden."}
        return entry, problems

    async def _store(
        self,
        sessions: async_sessionmaker[AsyncSession],
        kind: Kind,
        record_id: str,
        record: dict[str, Any],
        who: tuple[str, str, str],
        expected: int | None,
        restored_from: int | None,
    ) -> CatalogRevision:
        author, role, comment = who
        async with sessions.begin() as session:
            newest = await session.scalar(
                select(func.max(CatalogRevision.id)).where(
                    CatalogRevision.kind == kind, CatalogRevision.record_id == record_id
                )
            )
            if newest != expected:
                what = "Dieser Dienst" if kind == SERVICE else "Dieses Amt"
                raise EditConflict(
                    f"{what} wurde inzwischen von jemand anderem geändert. Bitte öffnen Sie die Seite neu "
                    "und übernehmen Sie Ihre Änderung noch einmal."
                )
            revision = CatalogRevision(
                kind=kind,
                record_id=record_id,
                author=author[:64],
                role=role[:32],
                comment=comment.strip()[:MAX_COMMENT_CHARS],
                record=record,
                restored_from=restored_from,
            )
            session.add(revision)
        return revision

    async def save(
        self,
        sessions: async_sessionmaker[AsyncSession],
        entry: Entry,
        author: str,
        role: str,
        comment: str,
        expected: int | None,
        restored_from: int | None = None,
    ) -> CatalogRevision:
        """Store ``entry`` as the service's newest revision and answer with it at once. ``expected`` is the
        newest revision id the editor saw (None: none); another save in between is an ``EditConflict``."""
        service_id = entry.service.id
        async with self._lock:
            if service_id not in self._seed.services:
                raise CatalogError(f"Den Dienst „{service_id}“ gibt es nicht.")
            checked, problems = self.check(service_id, service_json(entry.service), entry.phrasings)
            if checked is None:
                raise EditRefused(problems)
            entry = checked
            record = {
                "service": service_json(entry.service),
                "phrasings": list(entry.phrasings),
                "base": base_of(self._seed.services[service_id], self._seed_phrasings.get(service_id, ())),
            }
            revision = await self._store(
                sessions, SERVICE, service_id, record, (author, role, comment), expected, restored_from
            )
            self.catalog.services[service_id] = entry.service
            self._phrasings[service_id] = entry.phrasings
            self._applied[service_id] = revision.id
            self._changed()
        return revision

    async def save_office(
        self,
        sessions: async_sessionmaker[AsyncSession],
        office: Office,
        author: str,
        role: str,
        comment: str,
        expected: int | None,
        restored_from: int | None = None,
    ) -> CatalogRevision:
        """Store ``office`` as the office's newest revision; the next answer (opening hours, address,
        phone) uses it. ``expected`` as in ``save``."""
        office_id = office.id
        async with self._lock:
            if office_id not in self._seed.offices:
                raise CatalogError(f"Das Amt „{office_id}“ gibt es nicht.")
            checked, problems = self.check_office(office_id, office_json(office))
            if checked is None:
                raise EditRefused(problems)
            record = {"office": office_json(checked), "base": office_base_of(self._seed.offices[office_id])}
            revision = await self._store(
                sessions, OFFICE, office_id, record, (author, role, comment), expected, restored_from
            )
            self.catalog.offices[office_id] = checked
            self._applied_offices[office_id] = revision.id
            self._changed()
        return revision

    async def newest_id(
        self, sessions: async_sessionmaker[AsyncSession], record_id: str, kind: Kind = SERVICE
    ) -> int | None:
        async with sessions() as session:
            value = await session.scalar(
                select(func.max(CatalogRevision.id)).where(
                    CatalogRevision.kind == kind, CatalogRevision.record_id == record_id
                )
            )
        return int(value) if value is not None else None

    async def history(
        self, sessions: async_sessionmaker[AsyncSession], record_id: str, kind: Kind = SERVICE
    ) -> list[CatalogRevision]:
        async with sessions() as session:
            rows = await session.scalars(
                select(CatalogRevision)
                .where(CatalogRevision.kind == kind, CatalogRevision.record_id == record_id)
                .order_by(CatalogRevision.id.desc())
            )
            return list(rows.all())

    async def revision(
        self,
        sessions: async_sessionmaker[AsyncSession],
        record_id: str,
        revision_id: int,
        kind: Kind = SERVICE,
    ) -> CatalogRevision | None:
        async with sessions() as session:
            row = await session.get(CatalogRevision, revision_id)
        return row if row is not None and row.kind == kind and row.record_id == record_id else None


def _missing_sqlite_file(url: str) -> bool:
    path = url.split(":///", 1)[-1] if url.startswith("sqlite") else ""
    return bool(path) and path != ":memory:" and not Path(path).exists()


async def current_from_settings(settings: Settings, phrases_file: Path) -> tuple[Overlaid, bool]:
    """``current`` for a command-line tool: the configured database's revisions over the seed on disk.
    The flag says whether revisions could be read (False: no database yet or not migrated)."""
    url = settings.database_url
    if _missing_sqlite_file(url):  # do not create an empty database just to find no revisions
        return await current(settings.catalog_dir, phrases_file, None), False
    engine = create_engine(url)
    try:
        sessions = sessionmaker(engine)
        readable = await has_table(sessions)
        return await current(settings.catalog_dir, phrases_file, sessions if readable else None), readable
    finally:
        await engine.dispose()
