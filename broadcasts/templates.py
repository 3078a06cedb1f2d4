"""Alert templates for the fire service: German default texts (and English where it helps), CAP defaults,
and the texts for follow-ups (update, correction, all-clear).

Public API::

    TEMPLATES: dict[str, AlertTemplate]      # unwetter, hochwasser, bombenentschaerfung, grossbrand,
                                             # trinkwasser, stromausfall, gefahrstoff
    render_template(name, *, stadtteile=(), status="Actual", sent=None, expires=None, ...,
                    **values) -> CapAlert    # fills {ort}, {uhrzeit}, ... ; raises CapTemplateError
    render_update(original, *, headline=None, description=None, instruction=None, stadtteile=None,
                  expires=None, correction=False, ...) -> CapAlert      # msgType Update
    render_all_clear(original, ...) -> CapAlert                          # msgType Cancel ("Entwarnung")
    alert_text(alert) -> str                 # the full German message text of an alert
    update_text(original, update, *, correction=False) -> str  # "Aktualisierung/Korrektur zur Warnung vom …"
    all_clear_text(alert) -> str             # "Entwarnung: …" for the alert being lifted

The texts say only what the caller passes (places, times, substances) plus general, always-true advice;
they never state facts about real places of their own. Times are Europe/Berlin.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from broadcasts.cap import CapTemplateError, check_alert, reference_of
from broadcasts.capmodel import (
    CapAlert,
    CapArea,
    CapInfo,
    Category,
    Certainty,
    MsgType,
    ResponseType,
    Severity,
    Status,
    Urgency,
)
from core.time import BERLIN

DEFAULT_SENDER = "stadt-koblenz"
CITY_AREA_DESC = "Stadtgebiet Koblenz"
CITY_GEOCODE = ("ARS", "071110000000")  # Amtlicher Regionalschlüssel of the city of Koblenz
MAX_VALUE_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class TemplateTexts:
    """Texts of one language; ``optional`` sentences are appended to the description when given."""

    language: str
    event: str
    headline: str
    description: str
    instruction: str
    sender_name: str
    optional: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AlertTemplate:
    name: str
    title: str  # German name for menus and help texts
    category: tuple[Category, ...]
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    response_types: tuple[ResponseType, ...]
    valid_hours: int  # default lifetime; the engine ends expired alerts by themselves
    de: TemplateTexts
    en: TemplateTexts | None = None
    # placeholder -> accepted value (lower case) -> (German phrase, English phrase)
    choices: Mapping[str, Mapping[str, tuple[str, str]]] = field(default_factory=dict)

    def required(self) -> frozenset[str]:
        """Placeholders the caller must fill ({stadtteile} is filled from the areas)."""
        names: set[str] = set()
        for text in (self.de.headline, self.de.description, self.de.instruction):
            names |= _fields(text)
        return frozenset(names - {"stadtteile"})

    def optional(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.de.optional)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


_HINWEIS = ("hinweis", "{hinweis}")
_DE = "de-DE"
_EN = "en-US"
_CITY_DE = "Stadt Koblenz"
_CITY_EN = "City of Koblenz"

TEMPLATES: dict[str, AlertTemplate] = {
    t.name: t
    for t in (
        AlertTemplate(
            name="unwetter",
            title="Unwetter / Sturm",
            category=("Met",),
            urgency="Expected",
            severity="Severe",
            certainty="Likely",
            response_types=("Prepare",),
            valid_hours=12,
            de=TemplateTexts(
                language=_DE,
                event="Sturm",
                headline="Sturmwarnung für {stadtteile}",
                description=(
                    "Für {stadtteile} werden ab {uhrzeit} Uhr schwere Sturmböen erwartet. Bäume und Äste "
                    "können umstürzen, Dachziegel und lose Gegenstände können herabfallen oder "
                    "umherfliegen."
                ),
                instruction=(
                    "Bleiben Sie nach Möglichkeit in Gebäuden und halten Sie Abstand zu Fenstern. Sichern "
                    "Sie lose Gegenstände auf Balkon, Terrasse und im Garten. Meiden Sie Parks, Wälder, "
                    "Alleen und Friedhöfe. Parken Sie nicht unter Bäumen, Gerüsten oder Baukränen."
                ),
                sender_name=_CITY_DE,
                optional=(("bis", "Die Warnung gilt voraussichtlich bis {bis} Uhr."), _HINWEIS),
            ),
        ),
        AlertTemplate(
            name="hochwasser",
            title="Hochwasser (Rhein/Mosel)",
            category=("Met",),
            urgency="Expected",
            severity="Severe",
            certainty="Likely",
            response_types=("Prepare",),
            valid_hours=48,
            choices={
                "gewaesser": {
                    "rhein": ("am Rhein", "on the Rhine"),
                    "mosel": ("an der Mosel", "on the Moselle"),
                    "rhein und mosel": ("an Rhein und Mosel", "on the Rhine and the Moselle"),
                }
            },
            de=TemplateTexts(
                language=_DE,
                event="Hochwasser",
                headline="Hochwasserwarnung {gewaesser}: {stadtteile}",
                description=(
                    "Der Wasserstand {gewaesser} steigt. Ab etwa {uhrzeit} Uhr ist in ufernahen Bereichen "
                    "mit überfluteten Straßen, Wegen und Kellern zu rechnen. Betroffenes Gebiet: "
                    "{stadtteile}."
                ),
                instruction=(
                    "Bringen Sie Fahrzeuge aus ufernahen Straßen, Parkplätzen und Tiefgaragen in "
                    "Sicherheit. Räumen Sie gefährdete Keller und schalten Sie dort elektrische Geräte ab, "
                    "wenn das gefahrlos möglich ist. Betreten Sie keine überfluteten Keller, Straßen oder "
                    "Unterführungen: Es besteht Lebensgefahr durch Strömung und Strom. Folgen Sie den "
                    "Anweisungen von Feuerwehr und Polizei."
                ),
                sender_name=_CITY_DE,
                optional=(("pegel", "Erwarteter Wasserstand: {pegel}."), _HINWEIS),
            ),
        ),
        AlertTemplate(
            name="bombenentschaerfung",
            title="Bombenentschärfung mit Evakuierung",
            category=("Safety",),
            urgency="Expected",
            severity="Severe",
            certainty="Observed",
            response_types=("Evacuate",),
            valid_hours=12,
            de=TemplateTexts(
                language=_DE,
                event="Bombenentschärfung mit Evakuierung",
                headline="Bombenentschärfung in {stadtteile}: Sperrbereich bis {uhrzeit} Uhr verlassen",
                description=(
                    "Eine Fliegerbombe aus dem Zweiten Weltkrieg wurde gefunden (Fundort: {ort}). Sie muss "
                    "entschärft werden. Dafür wird das Gebiet um den Fundort geräumt und gesperrt. "
                    "Betroffenes Gebiet: {stadtteile}."
                ),
                instruction=(
                    "Verlassen Sie den Sperrbereich bis spätestens {uhrzeit} Uhr. Nehmen Sie wichtige "
                    "Medikamente, Ausweise und für einige Stunden Essen und Trinken mit. Schalten Sie Herd "
                    "und Elektrogeräte aus und schließen Sie Fenster und Türen. Achten Sie auf Nachbarn, "
                    "die Hilfe brauchen, und sagen Sie den Einsatzkräften Bescheid. Kehren Sie erst nach "
                    "der Entwarnung zurück."
                ),
                sender_name=_CITY_DE,
                optional=(
                    ("radius", "Sperrbereich: {radius} rund um den Fundort."),
                    ("sammelstelle", "Anlaufstelle für Betroffene: {sammelstelle}."),
                    _HINWEIS,
                ),
            ),
            en=TemplateTexts(
                language=_EN,
                event="WWII bomb disposal with evacuation",
                headline="Bomb disposal in {stadtteile}: leave the exclusion zone by {uhrzeit}",
                description=(
                    "An unexploded World War II bomb has been found (location: {ort}). It must be "
                    "defused, so the area around it is being evacuated and closed. Affected area: "
                    "{stadtteile}."
                ),
                instruction=(
                    "Leave the exclusion zone by {uhrzeit} at the latest. Take important medicines, ID "
                    "documents, and food and drink for a few hours. Switch off the stove and electrical "
                    "appliances, and close windows and doors. Look out for neighbours who need help and "
                    "tell the emergency services. Return only after the all-clear."
                ),
                sender_name=_CITY_EN,
                optional=(
                    ("radius", "Exclusion zone: {radius} around the site."),
                    ("sammelstelle", "Help point for residents: {sammelstelle}."),
                ),
            ),
        ),
        AlertTemplate(
            name="grossbrand",
            title="Großbrand mit Rauchentwicklung",
            category=("Fire",),
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            response_types=("Shelter",),
            valid_hours=6,
            de=TemplateTexts(
                language=_DE,
                event="Großbrand mit Rauchentwicklung",
                headline="Großbrand mit starkem Rauch: Fenster und Türen schließen – {stadtteile}",
                description=(
                    "Bei einem Großbrand entsteht starker Rauch (Brandort: {ort}). Betroffenes Gebiet: "
                    "{stadtteile}. Der Rauch kann Augen und Atemwege reizen."
                ),
                instruction=(
                    "Schließen Sie Fenster und Türen und schalten Sie Lüftungs- und Klimaanlagen aus. "
                    "Halten Sie sich im betroffenen Gebiet möglichst nicht im Freien auf. Meiden Sie die "
                    "Umgebung des Brandortes und halten Sie Zufahrten für die Einsatzkräfte frei. Wenn Sie "
                    "Atembeschwerden haben, rufen Sie den Notruf 112."
                ),
                sender_name=_CITY_DE,
                optional=(_HINWEIS,),
            ),
            en=TemplateTexts(
                language=_EN,
                event="Major fire with heavy smoke",
                headline="Major fire with heavy smoke: close windows and doors – {stadtteile}",
                description=(
                    "A major fire is producing heavy smoke (location: {ort}). Affected area: "
                    "{stadtteile}. The smoke can irritate the eyes and airways."
                ),
                instruction=(
                    "Close windows and doors and switch off ventilation and air conditioning. Stay "
                    "indoors in the affected area as far as possible. Keep away from the fire and keep "
                    "access roads free for the emergency services. If you have trouble breathing, call "
                    "the emergency number 112."
                ),
                sender_name=_CITY_EN,
            ),
        ),
        AlertTemplate(
            name="trinkwasser",
            title="Trinkwasserverunreinigung (Abkochgebot)",
            category=("Health",),
            urgency="Immediate",
            severity="Moderate",
            certainty="Observed",
            response_types=("Avoid",),
            valid_hours=72,
            de=TemplateTexts(
                language=_DE,
                event="Trinkwasserverunreinigung",
                headline="Trinkwasser: Leitungswasser vor dem Trinken abkochen – {stadtteile}",
                description=(
                    "Im Trinkwasser wurde eine Verunreinigung festgestellt. Betroffenes Gebiet: "
                    "{stadtteile}. Bis auf Weiteres gilt: Leitungswasser nur abgekocht trinken."
                ),
                instruction=(
                    "Kochen Sie Leitungswasser vor dem Trinken ab: einmal sprudelnd aufkochen und "
                    "mindestens 10 Minuten abkühlen lassen. Nehmen Sie abgekochtes Wasser oder "
                    "Flaschenwasser auch zum Zähneputzen, für Speisen und Babynahrung, zum Waschen von "
                    "rohem Obst und Gemüse und für Eiswürfel. Zum Duschen, Wäschewaschen und für die "
                    "Toilettenspülung können Sie das Leitungswasser weiter nutzen. Wir informieren Sie, "
                    "sobald das Wasser wieder ohne Abkochen getrunken werden kann."
                ),
                sender_name=_CITY_DE,
                optional=(("ursache", "Festgestellt wurde: {ursache}."), _HINWEIS),
            ),
            en=TemplateTexts(
                language=_EN,
                event="Drinking water contamination",
                headline="Boil tap water before drinking – {stadtteile}",
                description=(
                    "Contamination has been found in the drinking water. Affected area: {stadtteile}. "
                    "Until further notice, drink tap water only after boiling it."
                ),
                instruction=(
                    "Boil tap water before drinking: bring it to a rolling boil once and let it cool for "
                    "at least 10 minutes. Also use boiled or bottled water for brushing teeth, for food "
                    "and baby food, for washing raw fruit and vegetables, and for ice cubes. You can "
                    "still use tap water for showering, laundry and flushing the toilet. We will let you "
                    "know as soon as the water is safe to drink without boiling."
                ),
                sender_name=_CITY_EN,
                optional=(("ursache", "Found: {ursache}."),),
            ),
        ),
        AlertTemplate(
            name="stromausfall",
            title="Stromausfall",
            category=("Infra",),
            urgency="Immediate",
            severity="Moderate",
            certainty="Observed",
            response_types=("Monitor",),
            valid_hours=12,
            de=TemplateTexts(
                language=_DE,
                event="Stromausfall",
                headline="Stromausfall in {stadtteile}",
                description="In {stadtteile} ist der Strom ausgefallen.",
                instruction=(
                    "Schalten Sie Herd, Bügeleisen und andere Geräte aus, die sich sonst unbeaufsichtigt "
                    "wieder einschalten, wenn der Strom zurückkommt. Öffnen Sie Kühl- und Gefrierschränke "
                    "möglichst selten. Nehmen Sie Taschenlampen statt Kerzen. Achten Sie auf Nachbarn, die "
                    "auf Strom angewiesen sind, zum Beispiel für medizinische Geräte. Rufen Sie den Notruf "
                    "112 nur in echten Notfällen an."
                ),
                sender_name=_CITY_DE,
                optional=(
                    ("uhrzeit", "Der Ausfall begann gegen {uhrzeit} Uhr."),
                    ("bis", "Nach derzeitigem Stand ist der Strom voraussichtlich bis {bis} Uhr wieder da."),
                    _HINWEIS,
                ),
            ),
        ),
        AlertTemplate(
            name="gefahrstoff",
            title="Gefahrstoffaustritt",
            category=("CBRNE",),
            urgency="Immediate",
            severity="Severe",
            certainty="Observed",
            response_types=("Shelter",),
            valid_hours=6,
            de=TemplateTexts(
                language=_DE,
                event="Gefahrstoffaustritt",
                headline="Gefahrstoffaustritt: Fenster und Türen schließen – {stadtteile}",
                description=(
                    "Bei einem Zwischenfall sind gefährliche Stoffe ausgetreten (Ort: {ort}). Betroffenes "
                    "Gebiet: {stadtteile}."
                ),
                instruction=(
                    "Gehen Sie in geschlossene Räume und bleiben Sie dort. Schließen Sie Fenster und Türen "
                    "und schalten Sie Lüftungs- und Klimaanlagen aus. Nehmen Sie Menschen, die draußen "
                    "unterwegs sind, vorübergehend bei sich auf. Meiden Sie das betroffene Gebiet und "
                    "folgen Sie den Anweisungen der Einsatzkräfte. Wenn Sie Beschwerden wie "
                    "Augenreizungen, Husten oder Atemnot haben, rufen Sie den Notruf 112."
                ),
                sender_name=_CITY_DE,
                optional=(
                    ("stoff", "Nach bisherigen Erkenntnissen handelt es sich um: {stoff}."),
                    _HINWEIS,
                ),
            ),
            en=TemplateTexts(
                language=_EN,
                event="Hazardous substance release",
                headline="Hazardous substances released: close windows and doors – {stadtteile}",
                description=(
                    "Hazardous substances have been released in an incident (location: {ort}). Affected "
                    "area: {stadtteile}."
                ),
                instruction=(
                    "Go indoors and stay there. Close windows and doors and switch off ventilation and "
                    "air conditioning. Let people who are outside shelter with you for a while. Avoid "
                    "the affected area and follow the instructions of the emergency services. If you "
                    "have symptoms such as sore eyes, coughing or shortness of breath, call the "
                    "emergency number 112."
                ),
                sender_name=_CITY_EN,
                optional=(("stoff", "Substance, as far as known: {stoff}."),),
            ),
        ),
    )
}


# -- helpers --------------------------------------------------------------------------------------


def _template_error(de: str, en: str) -> CapTemplateError:
    return CapTemplateError(de, en)


def german_datetime(value: dt.datetime) -> str:
    """``12.03.2026, 08:15 Uhr`` in Europe/Berlin."""
    return value.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M Uhr")


def _join(names: Sequence[str], conjunction: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def _area_phrase(stadtteile: Sequence[str], language: str) -> str:
    if not stadtteile:
        return "ganz Koblenz" if language.startswith("de") else "all of Koblenz"
    return _join(stadtteile, "und" if language.startswith("de") else "and")


def _canonical_stadtteile(
    stadtteile: Sequence[str] | str, known: Mapping[str, str] | None
) -> tuple[str, ...]:
    raw = re.split(r"[;,]", stadtteile) if isinstance(stadtteile, str) else list(stadtteile)
    names: list[str] = []
    unknown: list[str] = []
    for item in raw:
        name = item.strip()
        if not name:
            continue
        if known is not None:
            canonical = known.get(name.lower())
            if canonical is None:
                unknown.append(name)
                continue
            name = canonical
        if name not in names:
            names.append(name)
    if unknown:
        raise _template_error(
            f"Unbekannte Stadtteile: {', '.join(unknown)}. Bitte die Namen der Koblenzer Stadtteile "
            "verwenden, z. B. Altstadt, Lützel, Ehrenbreitstein.",
            f"unknown Stadtteile: {', '.join(unknown)}",
        )
    if any(name.lower() in {"koblenz", "stadt koblenz", "stadtgebiet koblenz"} for name in names):
        return ()
    return tuple(names)


def _areas(stadtteile: Sequence[str]) -> tuple[CapArea, ...]:
    if not stadtteile:
        return (CapArea(area_desc=CITY_AREA_DESC, geocodes=(CITY_GEOCODE,)),)
    return tuple(CapArea(area_desc=name) for name in stadtteile)


def _value_text(name: str, value: object) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise _template_error(
                f"Die Zeitangabe für „{name}“ braucht eine Zeitzone.",
                f"value {name!r} is a datetime without time zone",
            )
        return value.astimezone(BERLIN).strftime("%H:%M")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _template_error(f"„{name}“ muss Text sein.", f"value {name!r} must be a string")
    text = " ".join(value.split())
    if not text or len(text) > MAX_VALUE_CHARS or _CONTROL.search(text):
        raise _template_error(
            f"„{name}“ muss ein kurzer Text sein (1 bis {MAX_VALUE_CHARS} Zeichen).",
            f"value {name!r} must be 1 to {MAX_VALUE_CHARS} printable characters",
        )
    return text


def _utc_plus(value: dt.datetime, hours: float) -> dt.datetime:
    """Absolute time arithmetic (DST-safe), shown in Europe/Berlin."""
    return (value.astimezone(dt.UTC) + dt.timedelta(hours=hours)).astimezone(BERLIN)


def _now() -> dt.datetime:
    return dt.datetime.now(BERLIN).replace(microsecond=0)


def _new_identifier(sender: str, sent: dt.datetime) -> str:
    return f"{sender}.{sent.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.{uuid.uuid4().hex[:8]}"


def _render_texts(
    texts: TemplateTexts, values: Mapping[str, str], choices: Mapping[str, Mapping[str, tuple[str, str]]]
) -> tuple[str, str, str]:
    index = 0 if texts.language.startswith("de") else 1
    filled = dict(values)
    for name, options in choices.items():
        if name in filled:
            filled[name] = options[filled[name].lower()][index]
    filled["stadtteile"] = values[f"stadtteile_{texts.language[:2]}"]
    description = texts.description.format_map(filled)
    extra = [sentence.format_map(filled) for name, sentence in texts.optional if name in values]
    if extra:
        description = " ".join([description, *extra])
    return (
        texts.headline.format_map(filled),
        description,
        texts.instruction.format_map(filled),
    )


# -- render ---------------------------------------------------------------------------------------


def render_template(
    name: str,
    *,
    stadtteile: Sequence[str] | str = (),
    status: Status = "Actual",
    sent: dt.datetime | None = None,
    effective: dt.datetime | None = None,
    onset: dt.datetime | None = None,
    expires: dt.datetime | None = None,
    identifier: str | None = None,
    sender: str = DEFAULT_SENDER,
    web: str | None = None,
    contact: str | None = None,
    english: bool = True,
    known_stadtteile: Mapping[str, str] | None = None,
    **values: object,
) -> CapAlert:
    """A new CAP alert (msgType Alert) from a template, with the placeholders filled from ``values``.

    ``stadtteile`` (names, or one string separated by ``;`` or ``,``) become one area each; none means
    the whole city. With ``known_stadtteile`` (spelling in lower case -> canonical name, e.g.
    ``Catalog.stadtteil_names()``) unknown names are refused and spellings normalised. ``sent``
    defaults to now (Europe/Berlin), ``expires`` to ``sent`` plus the template's lifetime.
    """
    template = TEMPLATES.get(name)
    if template is None:
        raise _template_error(
            f"Unbekannte Vorlage „{name}“. Verfügbar: {', '.join(TEMPLATES)}.",
            f"unknown template {name!r}; known: {', '.join(TEMPLATES)}",
        )
    allowed = template.required() | template.optional()
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise _template_error(
            f"Die Vorlage „{template.title}“ kennt diese Angaben nicht: {', '.join(unknown)}. "
            f"Möglich sind: {', '.join(sorted(allowed))}.",
            f"template {name!r} has no placeholder(s) {', '.join(unknown)}",
        )
    texts = {key: _value_text(key, value) for key, value in values.items() if value is not None}
    missing = sorted(template.required() - set(texts))
    if missing:
        raise _template_error(
            f"Für die Vorlage „{template.title}“ fehlen diese Angaben: {', '.join(missing)}.",
            f"template {name!r} needs: {', '.join(missing)}",
        )
    for key, options in template.choices.items():
        if key in texts and texts[key].lower() not in options:
            raise _template_error(
                f"„{key}“ muss einer dieser Werte sein: {', '.join(options)}.",
                f"{key!r} must be one of: {', '.join(options)}",
            )
    areas = _canonical_stadtteile(stadtteile, known_stadtteile)
    texts["stadtteile_de"] = _area_phrase(areas, "de")
    texts["stadtteile_en"] = _area_phrase(areas, "en")

    sent = (sent or _now()).replace(microsecond=0)
    if expires is None:
        expires = _utc_plus(effective or sent, template.valid_hours)
    infos = []
    for block in (template.de, template.en if english else None):
        if block is None:
            continue
        headline, description, instruction = _render_texts(block, texts, template.choices)
        infos.append(
            CapInfo(
                language=block.language,
                category=template.category,
                event=block.event,
                urgency=template.urgency,
                severity=template.severity,
                certainty=template.certainty,
                headline=headline,
                description=description,
                instruction=instruction,
                effective=effective,
                onset=onset,
                expires=expires,
                sender_name=block.sender_name,
                web=web,
                contact=contact,
                areas=_areas(areas),
                response_types=template.response_types,
            )
        )
    alert = CapAlert(
        identifier=identifier or _new_identifier(sender, sent),
        sender=sender,
        sent=sent,
        status=status,
        msg_type="Alert",
        scope="Public",
        infos=tuple(infos),
    )
    check_alert(alert)
    return alert


def _chain(original: CapAlert) -> tuple[str, ...]:
    own = reference_of(original)
    return (*(ref for ref in original.references if ref != own), own)


def render_update(
    original: CapAlert,
    *,
    headline: str | None = None,
    description: str | None = None,
    instruction: str | None = None,
    stadtteile: Sequence[str] | str | None = None,
    expires: dt.datetime | None = None,
    correction: bool = False,
    sent: dt.datetime | None = None,
    identifier: str | None = None,
    known_stadtteile: Mapping[str, str] | None = None,
) -> CapAlert:
    """An Update of ``original`` (which may itself be an Update): changed German texts, areas or expiry.

    The English block is kept only while the texts stay the same (a changed German text would leave
    it stale). ``correction=True`` marks a correction of a mistake rather than a change of the situation.
    """
    sent = (sent or _now()).replace(microsecond=0)
    areas = None if stadtteile is None else _areas(_canonical_stadtteile(stadtteile, known_stadtteile))
    texts_changed = any(value is not None for value in (headline, description, instruction))
    infos = []
    for info in original.infos:
        german = info.language.lower().startswith("de")
        if texts_changed and not german:
            continue
        changes: dict[str, object] = {}
        if german:
            for key, value in (
                ("headline", headline),
                ("description", description),
                ("instruction", instruction),
            ):
                if value is not None:
                    changes[key] = value.strip()
        if areas is not None:
            changes["areas"] = areas
        if expires is not None:
            changes["expires"] = expires
        infos.append(replace(info, **changes))  # type: ignore[arg-type]
    label = "Korrektur zur Warnung" if correction else "Aktualisierung der Warnung"
    return _follow_up(original, "Update", infos, label, sent, identifier)


def render_all_clear(
    original: CapAlert,
    *,
    hinweis: str | None = None,
    sent: dt.datetime | None = None,
    identifier: str | None = None,
) -> CapAlert:
    """The all-clear ("Entwarnung") for ``original``: msgType Cancel referencing the whole chain."""
    sent = (sent or _now()).replace(microsecond=0)
    infos = []
    for info in original.infos:
        german = info.language.lower().startswith("de")
        if german:
            headline = f"Entwarnung: {info.headline}"
            description = _all_clear_body(original, info, "de")
            if hinweis:
                description = f"{description} {_value_text('hinweis', hinweis)}"
        elif info.language.lower().startswith("en"):
            headline = f"All clear: {info.headline}"
            description = _all_clear_body(original, info, "en")
        else:
            continue
        infos.append(
            replace(
                info,
                urgency="Past",
                severity="Minor",
                certainty="Observed",
                response_types=("AllClear",),
                headline=headline,
                description=description,
                instruction="",
                effective=None,
                onset=None,
                expires=None,
            )
        )
    return _follow_up(original, "Cancel", infos, "Entwarnung zur Warnung", sent, identifier)


def _follow_up(
    original: CapAlert,
    msg_type: MsgType,
    infos: list[CapInfo],
    label: str,
    sent: dt.datetime,
    identifier: str | None,
) -> CapAlert:
    """An Update or Cancel that references the whole chain of ``original`` and keeps its envelope."""
    alert = CapAlert(
        identifier=identifier or _new_identifier(original.sender, sent),
        sender=original.sender,
        sent=sent,
        status=original.status,
        msg_type=msg_type,
        scope=original.scope,
        infos=tuple(infos),
        references=_chain(original),
        note=f"{label} vom {german_datetime(original.sent)}",
        source=original.source,
        extra=dict(original.extra),
    )
    check_alert(alert)
    return alert


def _all_clear_body(alert: CapAlert, info: CapInfo, language: str) -> str:
    areas = tuple(a.area_desc for a in info.areas)
    whole_city = not alert.stadtteile()
    if language == "de":
        where = "ganz Koblenz" if whole_city else _join(areas, "und")
        return (
            f"Die Warnung vom {german_datetime(alert.sent)} für {where} ist aufgehoben. Die Gefahr ist "
            "vorüber; die Hinweise aus der Warnung gelten nicht mehr."
        )
    where = "all of Koblenz" if whole_city else _join(areas, "and")
    when = alert.sent.astimezone(BERLIN).strftime("%d/%m/%Y, %H:%M")
    return (
        f"The warning of {when} for {where} has been lifted. The danger is over; the advice in the "
        "warning no longer applies."
    )


# -- message texts --------------------------------------------------------------------------------


def alert_text(alert: CapAlert) -> str:
    """The full German message of an alert: headline, description, what to do, area, validity, web."""
    info = alert.info("de")
    parts = [info.headline, info.description]
    if info.instruction:
        parts.append(f"Was Sie tun sollten: {info.instruction}")
    if info.expires is not None and alert.msg_type != "Cancel":
        parts.append(f"Gültig bis {german_datetime(info.expires)}.")
    if info.web:
        parts.append(f"Mehr Informationen: {info.web}")
    return "\n\n".join(part for part in parts if part)


def update_text(original: CapAlert, update: CapAlert, *, correction: bool = False) -> str:
    """Short follow-up that refers to the first message, for channels that cannot edit it."""
    info = update.info("de")
    label = "Korrektur zur Warnung" if correction else "Aktualisierung zur Warnung"
    parts = [f"{label} vom {german_datetime(original.sent)}: {info.headline}", info.description]
    if info.instruction:
        parts.append(f"Was Sie tun sollten: {info.instruction}")
    return "\n\n".join(part for part in parts if part)


def all_clear_text(alert: CapAlert) -> str:
    """ "Entwarnung: …" for the alert being lifted (pass the alert, not the Cancel)."""
    info = alert.info("de")
    headline = info.headline.removeprefix("Entwarnung: ")
    return f"Entwarnung: {headline}\n\n{_all_clear_body(alert, info, 'de')}"
