"""The catalog commands of ``koblenz-bot``:

    koblenz-bot catalog check-links [--json] [--timeout S] [--concurrency N] [--include-sources]
    koblenz-bot catalog stale [--older-than 180d] [--json]
    koblenz-bot catalog export DIR [--phrases FILE]
    koblenz-bot catalog import DIR

``check-links`` exits 1 when a link is broken (and keeps the result for ``/health``); ``stale`` lists the
facts whose last check is older than the given age and always exits 0. ``export`` writes the current
catalog (the seed with the editors' revisions of services and offices from the console,
``catalog.revisions``) as the seed YAML
into a new directory, and with ``--phrases`` the citizens' phrasings in the ``nlu/phrases/services.yml``
format; ``import`` checks every record first and exits 1 without changing
anything when one is bad (``catalog.transfer``); a running ``serve`` takes the new catalog within
``CATALOG_RELOAD_INTERVAL`` seconds (``catalog.revisions.LiveCatalog.refresh``). Output for people is German."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from catalog import CatalogError
from catalog.links import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    LinkResult,
    catalog_targets,
    check_links,
    user_agent,
    write_result,
)
from catalog.model import load_catalog
from catalog.stale import StaleFact, parse_age, stale_facts
from core.paths import PROJECT_ROOT
from core.settings import Settings
from core.time import BERLIN, utcnow

PHRASES_FILE = PROJECT_ROOT / "nlu" / "phrases" / "services.yml"  # the seed phrasings (nlu/ is above us)


def _table(heads: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(head), *(len(row[i]) for row in rows)) if rows else len(head) for i, head in enumerate(heads)
    ]
    lines = ["  ".join(head.ljust(width) for head, width in zip(heads, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _verdict(result: LinkResult) -> str:
    if not result.ok:
        return f"KAPUTT: {result.error}"
    if result.redirects:
        count = len(result.redirects)
        return f"ok nach {count} Weiterleitung{'en' if count > 1 else ''} → {result.final_url}"
    return "ok"


def format_links(results: Sequence[LinkResult]) -> str:
    ordered = sorted(results, key=lambda r: (r.ok, not r.redirects))  # broken first, then redirected
    rows = [[r.service_id or "-", r.field, str(r.status or "-"), _verdict(r), r.url] for r in ordered]
    broken = sum(1 for r in results if not r.ok)
    redirected = sum(1 for r in results if r.ok and r.redirects)
    total = (
        f"\n{len(results)} Links geprüft: {len(results) - broken} erreichbar "
        f"(davon {redirected} mit Weiterleitung), {broken} kaputt."
    )
    return _table(["Dienst", "Feld", "Status", "Ergebnis", "URL"], rows) + total


def cmd_check_links(settings: Settings, args: argparse.Namespace) -> int:
    if args.timeout <= 0 or args.concurrency < 1:
        print("Bitte eine positive Zeitgrenze und mindestens 1 gleichzeitige Prüfung angeben.")
        return 2
    catalog = load_catalog(settings.catalog_dir)
    targets = catalog_targets(catalog, include_sources=args.include_sources)
    results = asyncio.run(
        check_links(
            targets,
            timeout=args.timeout,
            concurrency=args.concurrency,
            agent=user_agent(settings.linkcheck_contact_url),
        )
    )
    data = write_result(settings.state_dir, results, utcnow())
    if args.json:
        print(json.dumps({**data, "links": [r.as_dict() for r in results]}, ensure_ascii=False, indent=2))
    else:
        print(format_links(results))
    return 1 if data["broken"] else 0


def format_stale(rows: Sequence[StaleFact], older_than: dt.timedelta) -> str:
    if not rows:
        return f"Alle Angaben wurden in den letzten {older_than.days} Tagen geprüft."
    table = _table(
        ["Geprüft", "Alter (Tage)", "Art", "Eintrag", "Feld", "Angabe", "Quelle"],
        [
            [r.checked.isoformat(), str(r.age_days), r.kind, r.record, r.field, r.label, r.source or "-"]
            for r in rows
        ],
    )
    return f"{table}\n\n{len(rows)} Angaben wurden seit mehr als {older_than.days} Tagen nicht geprüft."


def cmd_stale(settings: Settings, args: argparse.Namespace) -> int:
    try:
        older_than = parse_age(args.older_than)
    except CatalogError as error:
        print(error.message)
        return 2
    catalog = load_catalog(settings.catalog_dir)
    today = utcnow().astimezone(BERLIN).date()
    rows = stale_facts(catalog, older_than, today)
    if args.json:
        payload: dict[str, Any] = {
            "today": today.isoformat(),
            "older_than_days": older_than.days,
            "count": len(rows),
            "facts": [row.as_dict() for row in rows],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(format_stale(rows, older_than))
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    import yaml

    from catalog.revisions import current_from_settings, load_phrasings, merged_phrasings
    from catalog.transfer import export_catalog

    try:
        overlaid, read = asyncio.run(current_from_settings(settings, PHRASES_FILE))
        catalog = overlaid.catalog
        written = export_catalog(catalog, Path(args.dir), source_dir=settings.catalog_dir)
        if args.phrases:
            merged = merged_phrasings(load_phrasings(PHRASES_FILE), overlaid.phrasings)
            Path(args.phrases).write_text(
                yaml.safe_dump(merged, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8"
            )
    except CatalogError as error:
        print(error.message)
        return 1
    edited = (
        f"mit den Änderungen aus der Konsole ({len(overlaid.applied)} Dienste, "
        f"{len(overlaid.applied_offices)} Ämter)"
        if read
        else "ohne Änderungen aus der Konsole (die Datenbank ist nicht eingerichtet)"
    )
    print(
        f"{len(catalog.services)} Dienste, {len(catalog.offices)} Ämter und {len(catalog.stadtteile)} "
        f"Stadtteile exportiert nach {args.dir} ({len(written)} Dateien), {edited}."
        + (f" Formulierungen: {args.phrases}." if args.phrases else "")
    )
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from catalog.transfer import import_catalog

    try:
        catalog = import_catalog(Path(args.dir), settings.catalog_dir)
    except CatalogError as error:
        print(error.message)
        return 1
    reload = settings.catalog_reload_interval
    after = (
        f"Ein laufender Bot übernimmt ihn innerhalb von etwa {reload:g} Sekunden, ohne Neustart. Neue Dienste "
        "erkennt der Chat erst nach `koblenz-bot nlu retrain` (oder „Neu trainieren“ in der Konsole)."
        if reload > 0
        else "Ein laufender Bot prüft den Katalog nicht (KOBLENZ_BOT_CATALOG_RELOAD_INTERVAL=0): Damit er die "
        "neuen Inhalte verwendet, `koblenz-bot nlu retrain` (oder „Neu trainieren“ in der Konsole) und den "
        "Bot neu starten."
    )
    print(
        f"Katalog ersetzt: {len(catalog.services)} Dienste, {len(catalog.offices)} Ämter, "
        f"{len(catalog.stadtteile)} Stadtteile in {settings.catalog_dir}.\n{after}"
    )
    return 0


def register(sub: Any) -> None:
    """Add ``koblenz-bot catalog …`` to the parser (``sub`` is the top level's subparsers)."""
    group = sub.add_parser(
        "catalog", help="the service catalog: link check, stale facts, export, import"
    ).add_subparsers(dest="catalog", required=True)
    links = group.add_parser(
        "check-links", help="check every link of the catalog (HEAD, then GET); exit 1 when one is broken"
    )
    links.add_argument("--json", action="store_true", help="print JSON instead of a table")
    links.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per request (default {DEFAULT_TIMEOUT:g})",
    )
    links.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"links checked at once (default {DEFAULT_CONCURRENCY}; at most 2 per host)",
    )
    links.add_argument(
        "--include-sources", action="store_true", help="also check the sources the facts come from"
    )
    links.set_defaults(func=cmd_check_links)
    stale = group.add_parser("stale", help="facts whose last check is older than --older-than")
    stale.add_argument(
        "--older-than", default="180d", help="age in days or weeks, e.g. 180d or 26w (default 180d)"
    )
    stale.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stale.set_defaults(func=cmd_stale)
    export = group.add_parser("export", help="write the catalog as the seed YAML (the layout of data/)")
    export.add_argument("dir", help="a new or empty directory")
    export.add_argument(
        "--phrases", help="also write the citizens' phrasings (with the console's changes) to this file"
    )
    export.set_defaults(func=cmd_export)
    import_ = group.add_parser(
        "import",
        help="replace the catalog by DIR's YAML; validates every record first, changes nothing if one is bad",
    )
    import_.add_argument("dir", help="a directory in the layout of data/ (e.g. from `catalog export`)")
    import_.set_defaults(func=cmd_import)
