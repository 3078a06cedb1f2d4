"""Active warnings as the conversation sees them: the read interface between ``bot`` (which answers
about warnings) and ``broadcasts`` (which stores them and implements ``AlertSource``).

``StaticAlerts`` holds what it is given (nothing by default): for the CLI's ``ask`` and for tests.

``SEVERITY_LABELS`` / ``severity_label`` are the one German vocabulary for CAP severities shown to
citizens (chat, widget, Telegram, feeds). They follow the warning levels of the federal warning app NINA
(MoWaS): "Extreme Gefahr", "Gefahr", "Gefahreninformation" (BBK, "Bedeutung der einzelnen Warnstufen").
CAP's two lowest levels are both a "Gefahreninformation" there; "Unknown" is a plain "Warnung".
``SEVERITY_RANK`` orders alerts, most severe first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

SEVERITY_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Extreme": "Extreme Gefahr",
        "Severe": "Gefahr",
        "Moderate": "Gefahreninformation",
        "Minor": "Gefahreninformation",
        "Unknown": "Warnung",
    }
)
SEVERITY_RANK: Final[Mapping[str, int]] = MappingProxyType(
    {"Extreme": 0, "Severe": 1, "Moderate": 2, "Minor": 3, "Unknown": 4}
)


def severity_label(severity: str) -> str:
    """German label of a CAP severity code; "Warnung" for anything unknown (never the English code)."""
    return SEVERITY_LABELS.get(severity, "Warnung")


@dataclass(frozen=True)
class ActiveAlert:
    identifier: str
    headline: str
    severity: str
    description: str
    instruction: str
    areas: tuple[str, ...]
    web: str | None
    expires: dt.datetime | None
    # optional, at the end: the issuing authority when it is not the city (NINA: DWD, a Leitstelle, ...)
    authority: str = ""


class AlertSource(Protocol):
    async def active(self) -> list[ActiveAlert]: ...


class StaticAlerts:
    def __init__(self, alerts: list[ActiveAlert] | None = None) -> None:
        self.alerts = list(alerts or [])

    async def active(self) -> list[ActiveAlert]:
        now = dt.datetime.now(dt.UTC)
        return [a for a in self.alerts if a.expires is None or a.expires > now]
