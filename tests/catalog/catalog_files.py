"""A small catalog on disk for the link check and staleness tests: one service, one office, and the links
and check dates a test asks for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml


def write_catalog(
    root: Path,
    links: list[str] = (),  # type: ignore[assignment]
    reviewed: dt.date = dt.date(2026, 11, 30),
    fees: list[dict[str, Any]] | None = None,
    office_web: str | None = None,
    office_reviewed: dt.date = dt.date(2026, 11, 30),
    **extra: Any,
) -> Path:
    (root / "services").mkdir(parents=True)
    (root / "offices").mkdir()
    service: dict[str, Any] = {
        "id": "test-dienst",
        "title": "Testdienst beantragen",
        "synonyms": ["Test", "Testantrag", "Prüfdienst"],
        "summary": "Ein Dienst, den es nur in den Tests gibt.",
        "fees": fees or [],
        "office": "testamt",
        "links": [{"kind": "info", "title": f"Seite {n}", "url": url} for n, url in enumerate(links)],
        "sources": ["https://www.koblenz.de/"],
        "reviewed": reviewed.isoformat(),
        **extra,
    }
    office: dict[str, Any] = {"id": "testamt", "name": "Testamt", "reviewed": office_reviewed.isoformat()}
    if office_web:
        office["web"] = office_web
    (root / "services" / "test-dienst.yaml").write_text(yaml.safe_dump(service, allow_unicode=True))
    (root / "offices" / "testamt.yaml").write_text(yaml.safe_dump(office, allow_unicode=True))
    return root
