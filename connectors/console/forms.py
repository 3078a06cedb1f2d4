"""What the console's forms offer and how their input is read: the alert templates as the fire service
names them, the Stadtteile grouped for the area list, the fields of each template, and Berlin times.

The templates themselves (texts, CAP defaults) are the reviewed ones of ``broadcasts.templates``; this
module only names the choices ("Hochwasser Rhein" is the flood template with ``gewaesser=rhein``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from broadcasts.berlin import LocalTimeError, to_utc
from broadcasts.templates import TEMPLATES, AlertTemplate


@dataclass(frozen=True)
class Choice:
    key: str  # in the URL
    label: str  # the name the fire service clicks
    template: str  # broadcasts.templates.TEMPLATES key
    fixed: dict[str, str] = field(default_factory=dict)  # placeholders the choice fills itself
    hint: str = ""

    @property
    def spec(self) -> AlertTemplate:
        return TEMPLATES[self.template]


CHOICES: tuple[Choice, ...] = (
    Choice("unwetter", "Unwetter (Sturm)", "unwetter", hint="Schwere Sturmböen erwartet"),
    Choice("hochwasser-rhein", "Hochwasser Rhein", "hochwasser", {"gewaesser": "rhein"}),
    Choice("hochwasser-mosel", "Hochwasser Mosel", "hochwasser", {"gewaesser": "mosel"}),
    Choice(
        "hochwasser-rhein-mosel",
        "Hochwasser an Rhein und Mosel",
        "hochwasser",
        {"gewaesser": "rhein und mosel"},
    ),
    Choice("bombenentschaerfung", "Bombenentschärfung mit Evakuierung", "bombenentschaerfung"),
    Choice("grossbrand", "Großbrand mit Rauchentwicklung", "grossbrand"),
    Choice("trinkwasser", "Trinkwasser: Abkochgebot", "trinkwasser"),
    Choice("stromausfall", "Stromausfall", "stromausfall"),
    Choice("gefahrstoff", "Gefahrstoffaustritt", "gefahrstoff"),
)
BY_KEY = {c.key: c for c in CHOICES}

# placeholder → (label, input type, hint); per-template labels where the meaning differs
FIELDS: dict[str, tuple[str, str, str]] = {
    "uhrzeit": ("Uhrzeit", "time", "Ab wann (Uhrzeit in Koblenz)"),
    "bis": ("Voraussichtlich bis (Uhrzeit)", "time", ""),
    "ort": ("Ort", "text", "Zum Beispiel Straße oder Gebäude"),
    "pegel": ("Erwarteter Wasserstand", "text", "Zum Beispiel 7,50 m am Pegel Koblenz"),
    "radius": ("Sperrbereich", "text", "Zum Beispiel 500 Meter"),
    "sammelstelle": ("Anlaufstelle für Betroffene", "text", ""),
    "ursache": ("Festgestellte Verunreinigung", "text", ""),
    "stoff": ("Stoff (soweit bekannt)", "text", ""),
    "hinweis": ("Zusätzlicher Hinweis", "text", "Wird an die Beschreibung angehängt"),
}
OVERRIDES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("bombenentschaerfung", "uhrzeit"): ("Sperrbereich verlassen bis (Uhrzeit)", "time", ""),
    ("bombenentschaerfung", "ort"): ("Fundort", "text", "Zum Beispiel Straße oder Gelände"),
    ("grossbrand", "ort"): ("Brandort", "text", "Zum Beispiel Straße oder Gebäude"),
    ("hochwasser", "uhrzeit"): ("Überflutungen ab (Uhrzeit)", "time", ""),
    ("unwetter", "uhrzeit"): ("Sturmböen ab (Uhrzeit)", "time", ""),
    ("stromausfall", "uhrzeit"): ("Ausfall seit (Uhrzeit)", "time", ""),
}


@dataclass(frozen=True)
class Blank:
    name: str
    label: str
    kind: str
    hint: str
    required: bool


def blanks(choice: Choice) -> list[Blank]:
    spec = choice.spec
    required = sorted(spec.required() - set(choice.fixed), key=lambda n: (n != "uhrzeit", n))
    optional = [n for n, _ in spec.de.optional if n not in choice.fixed]
    result = []
    for name, needed in [(n, True) for n in required] + [(n, False) for n in optional]:
        label, kind, hint = OVERRIDES.get(
            (spec.name, name), FIELDS.get(name, (name.capitalize(), "text", ""))
        )
        result.append(Blank(name, label, kind, hint, needed))
    return result


SEVERITIES = {
    "Extreme": "Extreme Gefahr (Extreme)",
    "Severe": "Gefahr (Severe)",
    "Moderate": "Gefahreninformation (Moderate)",
    "Minor": "Gefahreninformation, gering (Minor)",
}
URGENCIES = {
    "Immediate": "Sofort handeln (Immediate)",
    "Expected": "Bald handeln (Expected)",
    "Future": "Später (Future)",
}
CERTAINTIES = {
    "Observed": "Eingetreten (Observed)",
    "Likely": "Wahrscheinlich (Likely)",
    "Possible": "Möglich (Possible)",
}

# The 27 Stadtteile as residents name them (catalog.stadtteile.Stadtteile.names), grouped by the side of
# Rhine and Moselle they lie on; a test checks that the groups hold exactly the catalog's names.
AREA_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Links des Rheins, südlich der Mosel",
        (
            "Altstadt",
            "Goldgrube",
            "Karthause",
            "Lay",
            "Moselweiß",
            "Oberwerth",
            "Rauental",
            "Stolzenfels",
            "Südliche Vorstadt",
        ),
    ),
    (
        "Links des Rheins, nördlich der Mosel",
        ("Bubenheim", "Güls", "Kesselheim", "Lützel", "Metternich", "Neuendorf", "Rübenach", "Wallersheim"),
    ),
    (
        "Rechts des Rheins",
        (
            "Arenberg",
            "Arzheim",
            "Asterstein",
            "Ehrenbreitstein",
            "Horchheim",
            "Horchheimer Höhe",
            "Immendorf",
            "Niederberg",
            "Pfaffendorf",
            "Pfaffendorfer Höhe",
        ),
    ),
)


def area_groups(known: list[str]) -> list[tuple[str, list[str]]]:
    """The groups limited to the names the catalog knows; names in no group come last."""
    grouped = [(title, [n for n in names if n in known]) for title, names in AREA_GROUPS]
    rest = [n for n in known if not any(n in names for _, names in AREA_GROUPS)]
    if rest:
        grouped.append(("Weitere Stadtteile", rest))
    return [(title, names) for title, names in grouped if names]


# -- times --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    at: dt.datetime | None  # UTC; None = now
    ambiguous: bool = False  # the time exists twice: ask which one


def parse_when(mode: str, date: str, time: str, offset: str) -> When:
    """ "now" or a Berlin date and time from the form: refused when it does not exist (spring), asked
    when it exists twice (autumn) unless ``offset`` ("2" summer time, "1" winter time) says which."""
    if mode != "at":
        return When(None)
    if not date or not time:
        raise LocalTimeError("Bitte geben Sie Datum und Uhrzeit an, oder wählen Sie „Jetzt senden“.")
    try:
        local = dt.datetime.fromisoformat(f"{date}T{time}")
    except ValueError:
        raise LocalTimeError("Bitte geben Sie ein gültiges Datum und eine gültige Uhrzeit an.") from None
    if local.tzinfo is not None:
        raise LocalTimeError("Bitte geben Sie die Uhrzeit ohne Zeitzone an.")
    hours = int(offset) if offset in ("1", "2") else None
    try:
        return When(to_utc(local.replace(second=0, microsecond=0), offset_hours=hours))
    except LocalTimeError as exc:
        if "zweimal" in exc.message:
            return When(None, ambiguous=True)
        raise
