"""Editors' changes to the catalog (staff console): revisions over the YAML seed, and the live catalog.

The YAML under ``data/`` (and the phrasings in ``nlu/phrases/services.yml``) stay the reviewed seed and the
export format. Each save in the console stores a ``CatalogRevision``: the service's full record and its
citizen phrasings as JSON, who (name, role), when, and a comment. History is never rewritten: going back
to an old revision stores it again as a new one (``restored_from``).

The catalog the bot answers from is the seed overlaid with the newest revision per service (``overlay``).
A revision remembers a fingerprint of the seed it was made on (record and phrasings separately). When the
seed of that service has changed since (a ``catalog import``, a reviewed YAML change), the seed is newer
and wins; the revision stays in the history and can be restored. So ``export`` (the overlaid catalog) →
edit → ``import`` gives exactly the imported records.

``LiveCatalog`` holds the ``Catalog`` object every part of the running bot reads (dialogue, answers,
Telegram, ``/health``) and updates its ``services`` dict in place after a save: the next answer uses the
new facts and links, with no restart. Callbacks registered with ``on_change`` (the root's catalog search
rebuilding its index) run after every change. ``current`` gives the same overlay from the disk and the
database for the retraining job and ``koblenz-bot catalog export``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import ValidationError
from sqlalchemy import Index, Integer, String, Text, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from catalog import CatalogError
from catalog.model import Catalog, Office, Service, fold, load_catalog
from core.db import Base, create_engine, sessionmaker
from core.settings import Settings
from core.time import utcnow

log = logging.getLogger(__name__)

TABLE = "catalog_revisions"
MAX_PHRASING_CHARS = 300
MAX_COMMENT_CHARS = 500
Loc = tuple[str | int, ...]  # where a problem is: ("fees", 0, "amount"), ("office",), ("phrasings", 3)


class CatalogRevision(Base):
    """One saved state of one service: ``record`` = {"service": {...}, "phrasings": [...], "base": {...}}."""

    __tablename__ = TABLE
    __table_args__ = (Index("ix_catalog_revisions_service", "service_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    record: Mapped[dict[str, Any]] = mapped_column()
    restored_from: Mapped[int | None] = mapped_column(Integer, default=None)


class EditConflict(CatalogError):
    """Someone else saved the same service since the editor opened it."""

    status: ClassVar[int] = 409
    code: ClassVar[str] = "catalog_edit_conflict"


class EditRefused(CatalogError):
    """The proposed record does not validate; ``problems`` names each field (German messages)."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "catalog_edit_invalid"

    def __init__(self, problems: dict[Loc, str]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {text}" for loc, text in problems.items()))
        self.problems = problems


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
    message = "Bitte verwenden Sie eine sichere Adresse, die mit https:// beginnt."
    for index, link in enumerate(raw.get("links") or []):
        url = str(link.get("url") or "").strip() if isinstance(link, Mapping) else ""
        if url and not url.lower().startswith("https://"):
            problems[("links", index, "url")] = message
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
        for item in error.errors():
            loc: Loc = tuple(item["loc"])
            if loc not in problems:
                problems[loc] = _GERMAN.get(item["type"], item["msg"])
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


# -- the overlay --------------------------------------------------------------------------------------


def load_phrasings(phrases_file: Path) -> dict[str, tuple[str, ...]]:
    """The seed phrasings per service (``nlu/phrases/services.yml``); empty when the file is missing."""
    if not phrases_file.exists():
        return {}
    try:
        raw = yaml.safe_load(phrases_file.read_text(encoding="utf-8")) or {}
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


@dataclass(frozen=True)
class Overlaid:
    """The current state: the catalog and, per service, the phrasings that revisions changed."""

    catalog: Catalog
    phrasings: dict[str, tuple[str, ...]]  # only services whose phrasings come from a revision
    applied: dict[str, int]  # service id → revision id whose record is in effect


def overlay(
    seed: Catalog, seed_phrasings: Mapping[str, Sequence[str]], newest: Mapping[str, CatalogRevision]
) -> Overlaid:
    """The seed with the newest revision per service laid over it (where the seed has not changed since
    the revision was made); a revision that no longer fits the seed (unknown service or office) is
    skipped with a warning, so a bad row never stops the bot."""
    services = dict(seed.services)
    phrasings: dict[str, tuple[str, ...]] = {}
    applied: dict[str, int] = {}
    for service_id, revision in newest.items():
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
    return Overlaid(Catalog(services, dict(seed.offices), dict(seed.stadtteile)), phrasings, applied)


async def has_table(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with sessions() as session:
        connection = await session.connection()
        return bool(await connection.run_sync(lambda sync: inspect(sync).has_table(TABLE)))


async def newest_revisions(sessions: async_sessionmaker[AsyncSession]) -> dict[str, CatalogRevision]:
    newest = select(func.max(CatalogRevision.id)).group_by(CatalogRevision.service_id)
    async with sessions() as session:
        rows = (await session.scalars(select(CatalogRevision).where(CatalogRevision.id.in_(newest)))).all()
    return {row.service_id: row for row in rows}


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


# -- the catalog the running bot answers from ---------------------------------------------------------


class LiveCatalog:
    """The running bot's catalog: ``catalog`` is the one object the dialogue, the answers, Telegram and
    ``/health`` hold; ``load`` and ``save`` change its ``services`` in place (one dict item per service,
    so a reader never sees a half-changed catalog) and then tell the ``on_change`` callbacks."""

    def __init__(self, catalog: Catalog, seed_phrasings: Mapping[str, Sequence[str]]) -> None:
        self.catalog = catalog
        self._seed = Catalog(dict(catalog.services), dict(catalog.offices), dict(catalog.stadtteile))
        self._seed_phrasings = {key: tuple(value) for key, value in seed_phrasings.items()}
        self._phrasings: dict[str, tuple[str, ...]] = {}
        self._applied: dict[str, int] = {}
        self._listeners: list[Callable[[], None]] = []

    @classmethod
    def from_files(cls, catalog: Catalog, phrases_file: Path) -> LiveCatalog:
        try:
            phrasings = load_phrasings(phrases_file)
        except CatalogError as error:  # the bot still answers; the editor sees no seed phrasings
            log.error("seed phrasings unreadable: %s", error.message)
            phrasings = {}
        return cls(catalog, phrasings)

    def on_change(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

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

    def _apply(self, overlaid: Overlaid) -> None:
        for service_id, service in overlaid.catalog.services.items():
            if self.catalog.services.get(service_id) is not service:
                self.catalog.services[service_id] = service
        self._phrasings = dict(overlaid.phrasings)
        self._applied = dict(overlaid.applied)
        for callback in self._listeners:
            callback()

    async def load(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Lay the stored revisions over the seed (at start); return how many services they changed."""
        newest = await newest_revisions(sessions) if await has_table(sessions) else {}
        overlaid = overlay(self._seed, self._seed_phrasings, newest)
        self._apply(overlaid)
        return len(overlaid.applied)

    def check(
        self, service_id: str, raw: Mapping[str, Any], phrasings: Sequence[str]
    ) -> tuple[Entry | None, dict[Loc, str]]:
        entry, problems = check_entry(raw, phrasings, self.catalog.offices, self.taken(service_id))
        if entry is not None and entry.service.id != service_id:
            return None, {("id",): "Die Kennung eines Dienstes kann hier nicht geändert werden."}
        return entry, problems

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
        async with sessions.begin() as session:
            newest = await session.scalar(
                select(func.max(CatalogRevision.id)).where(CatalogRevision.service_id == service_id)
            )
            if newest != expected:
                raise EditConflict(
                    "Dieser Dienst wurde inzwischen von jemand anderem geändert. Bitte öffnen Sie ihn neu "
                    "und übernehmen Sie Ihre Änderung noch einmal."
                )
            revision = CatalogRevision(
                service_id=service_id,
                author=author[:64],
                role=role[:32],
                comment=comment.strip()[:MAX_COMMENT_CHARS],
                record=record,
                restored_from=restored_from,
            )
            session.add(revision)
        self.catalog.services[service_id] = entry.service
        self._phrasings[service_id] = entry.phrasings
        self._applied[service_id] = revision.id
        for callback in self._listeners:
            callback()
        return revision

    async def newest_id(self, sessions: async_sessionmaker[AsyncSession], service_id: str) -> int | None:
        async with sessions() as session:
            value = await session.scalar(
                select(func.max(CatalogRevision.id)).where(CatalogRevision.service_id == service_id)
            )
        return int(value) if value is not None else None

    async def history(
        self, sessions: async_sessionmaker[AsyncSession], service_id: str
    ) -> list[CatalogRevision]:
        async with sessions() as session:
            rows = await session.scalars(
                select(CatalogRevision)
                .where(CatalogRevision.service_id == service_id)
                .order_by(CatalogRevision.id.desc())
            )
            return list(rows.all())

    async def revision(
        self, sessions: async_sessionmaker[AsyncSession], service_id: str, revision_id: int
    ) -> CatalogRevision | None:
        async with sessions() as session:
            row = await session.get(CatalogRevision, revision_id)
        return row if row is not None and row.service_id == service_id else None

    def seed_entry(self, service_id: str) -> Entry:
        return Entry(self._seed.services[service_id], self._seed_phrasings.get(service_id, ()))


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
