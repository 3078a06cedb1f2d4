"""A NINA warning (the CAP-JSON of ``/warnings/{id}.json``) as our CAP model.

Two steps:

``published(detail)`` reads it as published: every info block (several languages), its areas with
geocodes, polygons and circles, times, the issuing authority. The German texts (headline, description,
instruction) are taken exactly as published: the terms of use of the warnings allow reuse only
unchanged (docs/nina.md). Only machine fields are made to fit CAP 1.2 where NINA is looser (a missing
category becomes "Other", an unknown urgency/severity/certainty "Unknown"; a ``web`` without
http(s):// is left out rather than guessed).

``for_koblenz(alert, ...)`` is what we store and show: the same texts, the areas replaced by Koblenz as
a whole, or by the Stadtteile the warning names; the areas as published are kept in ``note`` for staff.

The area check (does it touch Koblenz at all, has it expired) runs on the published form
(``broadcasts.cap.check_receivable``), before ``for_koblenz``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast, get_args

from broadcasts.capmodel import (
    CapAlert,
    CapArea,
    CapInfo,
    Category,
    Certainty,
    ResponseType,
    Severity,
    Urgency,
)
from broadcasts.geo import KOBLENZ_ARS, KOBLENZ_WARNCELL, Verdict, admin_key_verdict

PROVIDERS = {  # NINA id prefix → source name of NINA_REPUBLISH
    "mow": "mowas",
    "kat": "katwarn",
    "biw": "biwapp",
    "dwd": "dwd",
    "lhp": "lhp",
    "pol": "police",
}
_WHOLE_CITY = {"koblenz", "stadt koblenz", "stadtgebiet koblenz", "kreisfreie stadt koblenz"}


class UnreadableWarning(ValueError):
    """The warning lacks what a CAP alert needs (identifier, sender, sent, a German info block)."""


def provider_of(nina_id: str, dashboard_provider: str | None = None) -> str:
    """mowas, katwarn, biwapp, dwd, lhp, police (or the lower-cased provider NINA names)."""
    if dashboard_provider:
        name = dashboard_provider.strip().lower()
        return {"mowas": "mowas", "katwarn": "katwarn", "biwapp": "biwapp", "dwd": "dwd"}.get(name, name)[:16]
    return PROVIDERS.get(nina_id.split(".", 1)[0].lower(), "nina")


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in _list(value):
        if isinstance(item, Mapping):
            name, text = item.get("valueName"), item.get("value")
            if isinstance(name, str) and isinstance(text, str | int | float):
                pairs.append((name, str(text)))
    return tuple(pairs)


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _choice(value: object, allowed: Sequence[str], default: str) -> str:
    return value if isinstance(value, str) and value in allowed else default


def _area(raw: Mapping[str, Any]) -> CapArea:
    return CapArea(
        area_desc=_text(raw.get("areaDesc")).strip() or "Gebiet ohne Namen",
        polygons=tuple(p for p in _list(raw.get("polygon")) if isinstance(p, str) and p.strip()),
        geocodes=_pairs(raw.get("geocode")),
        circles=tuple(c for c in _list(raw.get("circle")) if isinstance(c, str) and c.strip()),
    )


def _parameter(parameters: Iterable[tuple[str, str]], name: str) -> str:
    return next((value for key, value in parameters if key == name and value.strip()), "")


def _info(raw: Mapping[str, Any], sender: str) -> CapInfo:
    parameters = _pairs(raw.get("parameter"))
    web = _text(raw.get("web")).strip()
    categories = tuple(c for c in _list(raw.get("category")) if c in get_args(Category))
    return CapInfo(
        language=_text(raw.get("language")).strip() or "de-DE",
        category=cast(tuple[Category, ...], categories or ("Other",)),
        event=_text(raw.get("event")).strip() or "Warnung",
        urgency=cast(Urgency, _choice(raw.get("urgency"), get_args(Urgency), "Unknown")),
        severity=cast(Severity, _choice(raw.get("severity"), get_args(Severity), "Unknown")),
        certainty=cast(Certainty, _choice(raw.get("certainty"), get_args(Certainty), "Unknown")),
        headline=_text(raw.get("headline")),
        description=_text(raw.get("description")),
        instruction=_text(raw.get("instruction")) or _parameter(parameters, "instructionText"),
        effective=_time(raw.get("effective")),
        onset=_time(raw.get("onset")),
        expires=_time(raw.get("expires")),
        sender_name=(
            _text(raw.get("senderName")).strip() or _parameter(parameters, "sender_langname") or sender
        ),
        web=web if web.startswith(("https://", "http://")) else None,
        contact=_text(raw.get("contact")) or None,
        areas=tuple(_area(a) for a in _list(raw.get("area")) if isinstance(a, Mapping)),
        response_types=cast(
            tuple[ResponseType, ...],
            tuple(r for r in _list(raw.get("responseType")) if r in get_args(ResponseType)),
        ),
        audience=_text(raw.get("audience")) or None,
        event_codes=_pairs(raw.get("eventCode")),
        parameters=parameters,
    )


def references_of(detail: Mapping[str, Any]) -> tuple[str, ...]:
    """CAP ``references``: a space-separated string of "sender,identifier,sent" (NINA), or a list."""
    raw = detail.get("references")
    items = raw.split() if isinstance(raw, str) else [r for r in _list(raw) if isinstance(r, str)]
    return tuple(item.strip() for item in items if item.strip())


def referenced_identifiers(detail: Mapping[str, Any]) -> list[str]:
    return [ref.split(",")[1] if ref.count(",") >= 2 else ref for ref in references_of(detail)]


def published(detail: Mapping[str, Any]) -> CapAlert:
    """The warning as published (see the module docstring); raises ``UnreadableWarning``."""
    identifier = _text(detail.get("identifier")).strip()
    sender = _text(detail.get("sender")).strip()
    sent = _time(detail.get("sent"))
    if not identifier or not sender or sent is None:
        raise UnreadableWarning("identifier, sender or sent (with time zone) missing")
    infos = tuple(_info(i, sender) for i in _list(detail.get("info")) if isinstance(i, Mapping))
    if not any(i.language.lower().startswith("de") for i in infos):
        raise UnreadableWarning("no German info block")
    return CapAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=cast(
            Any, _choice(detail.get("status"), ("Actual", "Exercise", "System", "Test", "Draft"), "Actual")
        ),
        msg_type=cast(
            Any, _choice(detail.get("msgType"), ("Alert", "Update", "Cancel", "Ack", "Error"), "Alert")
        ),
        scope=cast(Any, _choice(detail.get("scope"), ("Public", "Restricted", "Private"), "Public")),
        infos=infos,
        references=references_of(detail),
        note=None,
    )


def _whole_city(area: CapArea) -> bool:
    if area.area_desc.strip().lower() in _WHOLE_CITY:
        return True
    for name, value in area.geocodes:
        key = name.strip().lower()
        if key in ("ars", "ags", "rs", "shn") and admin_key_verdict(value) is Verdict.TOUCHES:
            return True
        if key in ("warncellid", "warncell") and value.strip() == KOBLENZ_WARNCELL:
            return True
    return bool(area.polygons or area.circles)  # a shape: we do not cut it to Stadtteile


def koblenz_areas(alert: CapAlert, find_stadtteile: Any) -> tuple[CapArea, ...]:
    """Koblenz as a whole, unless the German areas name Stadtteile (and nothing bigger)."""
    german = alert.info("de").areas
    named: list[str] = []
    if german and not any(_whole_city(a) for a in german):
        named = find_stadtteile(" ; ".join(a.area_desc for a in german)) if find_stadtteile else []
    if named:
        return tuple(CapArea(area_desc=name) for name in named)
    return (CapArea(area_desc="Koblenz", geocodes=(("ARS", KOBLENZ_ARS),)),)


def for_koblenz(
    alert: CapAlert,
    *,
    identifier: str,
    msg_type: str,
    references: tuple[str, ...],
    nina_id: str,
    version: int,
    find_stadtteile: Any = None,
) -> CapAlert:
    """What we store: our identifier (unique per message), msgType and references in our chain, the
    texts unchanged, the areas for Koblenz; where it came from in ``note``."""
    areas = koblenz_areas(alert, find_stadtteile)
    published_areas = ", ".join(dict.fromkeys(a.area_desc for a in alert.info("de").areas)) or "ohne Angabe"
    note = (
        f"Übernommen aus NINA: {nina_id}, Version {version}, CAP-Kennung {alert.identifier}. "
        f"Gebiet laut Warnung: {published_areas}"
    )
    return dataclasses.replace(
        alert,
        identifier=identifier,
        msg_type=cast(Any, msg_type),
        references=references,
        infos=tuple(dataclasses.replace(info, areas=areas) for info in alert.infos),
        note=note[:1000],
    )
