"""CAP 1.2 alert as a typed, frozen value: the contract between the CAP parser/writer (broadcasts/cap.py),
the templates, the feeds and the broadcast engine (models, API, fan-out).

Only the parts of OASIS CAP 1.2 the city uses are modelled; names follow the standard.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["Actual", "Exercise", "System", "Test", "Draft"]
MsgType = Literal["Alert", "Update", "Cancel", "Ack", "Error"]
Scope = Literal["Public", "Restricted", "Private"]
Category = Literal[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
]
Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
ResponseType = Literal[
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"
]


@dataclass(frozen=True)
class CapArea:
    area_desc: str  # e.g. "Lützel" or "Koblenz"
    polygons: tuple[str, ...] = ()  # CAP polygon strings "lat,lon lat,lon ..." (first == last point)
    geocodes: tuple[tuple[str, str], ...] = ()  # (valueName, value), e.g. ("ARS", "071110000000")
    # optional, at the end: CAP circles "lat,lon radius_km"
    circles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CapInfo:
    language: str  # "de-DE" required; "en-US" optional
    category: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    headline: str
    description: str
    instruction: str = ""
    effective: dt.datetime | None = None
    onset: dt.datetime | None = None
    expires: dt.datetime | None = None
    sender_name: str = "Stadt Koblenz"
    web: str | None = None
    contact: str | None = None
    areas: tuple[CapArea, ...] = ()
    # optional, at the end: further CAP info elements the city uses
    response_types: tuple[ResponseType, ...] = ()  # e.g. ("Evacuate",) for a bomb defusal
    audience: str | None = None
    event_codes: tuple[tuple[str, str], ...] = ()  # (valueName, value)
    parameters: tuple[tuple[str, str], ...] = ()  # (valueName, value)


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: dt.datetime  # timezone-aware
    status: Status
    msg_type: MsgType
    scope: Scope
    infos: tuple[CapInfo, ...]
    references: tuple[str, ...] = ()  # "sender,identifier,sent" triples of earlier messages
    note: str | None = None
    source: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def info(self, language: str = "de") -> CapInfo:
        """The info block for a language prefix ("de" matches "de-DE"); falls back to the first block."""
        for info in self.infos:
            if info.language.lower().startswith(language.lower()):
                return info
        return self.infos[0]

    def stadtteile(self) -> tuple[str, ...]:
        """Area descriptions of the German info block; empty or "Koblenz" means the whole city."""
        areas = tuple(a.area_desc for a in self.info("de").areas)
        return (
            ()
            if not areas
            or any(a.strip().lower() in {"koblenz", "stadt koblenz", "stadtgebiet koblenz"} for a in areas)
            else areas
        )
