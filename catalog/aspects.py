"""What a question is about: fees, documents, hours, location, online, appointment, duration or overview.

One lexicon serves two purposes: the NLU generator annotates the aspect entity in training data with it,
and the dialogue uses it when Rasa found no aspect (or is unreachable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Aspect = Literal["fees", "documents", "hours", "location", "online", "appointment", "duration", "overview"]
ASPECTS: tuple[Aspect, ...] = (
    "fees",
    "documents",
    "hours",
    "location",
    "online",
    "appointment",
    "duration",
    "overview",
)

# Patterns run on the original text, case-insensitively; umlauts may be written as ae/oe/ue.
_U = {"ä": "(?:ä|ae|a)", "ö": "(?:ö|oe|o)", "ü": "(?:ü|ue|u)", "ß": "(?:ß|ss)"}


def _p(pattern: str) -> str:
    for char, alt in _U.items():
        pattern = pattern.replace(char, alt)
    return pattern


_LEXICON: tuple[tuple[Aspect, str], ...] = (
    (
        "hours",
        r"\b(?:öffnungszeit\w*|ge?öffnet|sprechzeit\w*|offen hat|auf hat|aufhat|hat\s+\w+\s+(?:offen|auf)|"
        r"bis wann (?:offen|auf)|wann (?:hat|ist) (?:\w+ )*(?:offen|auf)|samstags? offen)\b",
    ),
    (
        "fees",
        r"\b(?:koste[nt]?|kostn|gebühr\w*|preis\w*|teuer\w*|bezahl\w*|zahlen|euro|wie ?viel geld|"
        r"was muss ich zahlen|kostenlos|gratis|umsonst)\b|€",
    ),
    (
        "documents",
        r"\b(?:mitbring\w*|mitnehm\w*|unterlagen|dokumente?n?|nachweis\w*|vorleg\w*|"
        r"was brauch(?:e|t)? (?:ich|man)|welche papiere|papiere|voraussetzung\w*)\b",
    ),
    ("appointment", r"\b(?:termin\w*|terminvereinbarung|vorsprache|ohne anmeldung)\b"),
    ("online", r"\b(?:online|internet|digital\w*|von zu ?hause|per (?:e-?)?mail|website|webseite|app)\b"),
    (
        "duration",
        r"\b(?:wie lange dauert|dauert|dauer|bearbeitungszeit|bearbeitungsdauer|wann (?:ist|wird) "
        r"(?:\w+ )*fertig|wie schnell|wartezeit|lieferzeit)\b",
    ),
    (
        "location",
        r"\b(?:wo(?:hin)?|adresse|anschrift|standort|anfahrt|hinkommen|welches amt|"
        r"welche(?:s|r)? (?:stelle|behörde|büro)|zuständig\w*)\b",
    ),
)
_COMPILED = tuple((aspect, re.compile(_p(pattern), re.IGNORECASE)) for aspect, pattern in _LEXICON)


@dataclass(frozen=True)
class AspectMatch:
    aspect: Aspect
    start: int
    end: int


def find_aspects(text: str) -> list[AspectMatch]:
    """Every aspect mention in the text, in reading order, without overlaps."""
    found: list[AspectMatch] = []
    for aspect, pattern in _COMPILED:
        for match in pattern.finditer(text):
            if not any(match.start() < m.end and m.start < match.end() for m in found):
                found.append(AspectMatch(aspect, match.start(), match.end()))
    return sorted(found, key=lambda m: m.start)
