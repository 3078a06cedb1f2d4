"""Local time of the press office (Europe/Berlin) ↔ UTC, correct across the changes of daylight saving time.

Entered times without an offset are Berlin wall-clock times. The hour skipped in spring (e.g. 29 March 2026,
02:00–03:00) does not exist and is refused; the hour repeated in autumn (25 October 2026, 02:00–03:00) is
ambiguous and is refused unless the offset (+02:00 summer time, +01:00 winter time) or the abbreviation
(MESZ/CEST, MEZ/CET) says which one is meant. An explicit offset is always taken as given.
"""

from __future__ import annotations

import datetime as dt
import re

from broadcasts import InvalidRequest
from core.time import BERLIN

_ABBREVIATIONS = {"MESZ": 2, "CEST": 2, "MEZ": 1, "CET": 1}


class LocalTimeError(InvalidRequest, ValueError):
    """A time the press office entered cannot be used; the message is German and says why."""


def _fmt(value: dt.datetime) -> str:
    return value.strftime("%d.%m.%Y %H:%M")


def parse_local(text: str) -> dt.datetime:
    """Parse "2026-03-29 09:00", "2026-10-25T02:30 MEZ" or "2026-10-25T02:30+01:00" → aware UTC."""
    raw = text.strip()
    hours: int | None = None
    match = re.fullmatch(r"(.*?)\s*\b(MESZ|CEST|MEZ|CET)", raw, flags=re.IGNORECASE)
    if match:
        raw, hours = match.group(1), _ABBREVIATIONS[match.group(2).upper()]
    try:
        value = dt.datetime.fromisoformat(raw.replace(" ", "T", 1) if " " in raw else raw)
    except ValueError:
        raise LocalTimeError(
            f"„{text}“ ist keine gültige Zeitangabe. Bitte nutzen Sie die Form 2026-03-29 09:30."
        ) from None
    if value.tzinfo is not None:
        if hours is not None:
            raise LocalTimeError(f"„{text}“ enthält zwei Zeitzonenangaben. Bitte nur eine angeben.")
        return value.astimezone(dt.UTC)
    if hours is not None:
        return to_utc(value, offset_hours=hours)
    return to_utc(value)


def to_utc(local: dt.datetime, offset_hours: int | None = None) -> dt.datetime:
    """A naive Berlin wall-clock time → aware UTC; refuses nonexistent and (without offset) ambiguous times."""
    if local.tzinfo is not None:
        raise ValueError("expected a naive wall-clock time")
    candidates = []
    for fold in (0, 1):
        aware = local.replace(tzinfo=BERLIN, fold=fold)
        # a wall-clock time exists if it survives the round trip through UTC
        if aware.astimezone(dt.UTC).astimezone(BERLIN).replace(tzinfo=None) == local:
            candidates.append(aware)
    offsets = {round(c.utcoffset().total_seconds() / 3600): c for c in candidates}  # type: ignore[union-attr]
    if not offsets:
        raise LocalTimeError(
            f"Die Uhrzeit {_fmt(local)} gibt es in Koblenz nicht: In dieser Nacht wird die Uhr auf "
            "Sommerzeit vorgestellt (von 02:00 auf 03:00). Bitte wählen Sie eine andere Uhrzeit."
        )
    if offset_hours is not None:
        if offset_hours not in offsets:
            raise LocalTimeError(
                f"Am {local:%d.%m.%Y} um {local:%H:%M} gilt in Koblenz nicht UTC+{offset_hours}. "
                "Bitte prüfen Sie die Zeitzonenangabe."
            )
        return offsets[offset_hours].astimezone(dt.UTC)
    if len(offsets) > 1:
        raise LocalTimeError(
            f"Die Uhrzeit {_fmt(local)} gibt es in Koblenz zweimal, weil die Uhr auf Winterzeit "
            "zurückgestellt wird. Bitte geben Sie an, welche gemeint ist: "
            f"„{local:%Y-%m-%d %H:%M} MESZ“ (Sommerzeit, zuerst) oder „{local:%Y-%m-%d %H:%M} MEZ“ "
            "(Winterzeit, eine Stunde später)."
        )
    return next(iter(offsets.values())).astimezone(dt.UTC)


def show(value: dt.datetime | None) -> str:
    """UTC → "29.03.2026 09:00 MESZ" for people in Koblenz."""
    if value is None:
        return "–"
    local = value.astimezone(BERLIN)
    return f"{_fmt(local)} {'MESZ' if local.dst() else 'MEZ'}"
