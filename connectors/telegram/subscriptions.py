"""Subscriptions in Telegram: topic and Stadtteil detection in sentences, and the button flows.

Callback data (at most 64 bytes, no state kept on the server; the Stadtteil choice travels as a bit mask
over the sorted resident names of the catalog)::

    abo:menu                     the topic menu
    abo:list                     the citizen's subscriptions
    abo:t:<topic>:<mask>:<page>  choose Stadtteile for a topic (page of the picker; mask = chosen so far)
    abo:ok:<topic>:<mask>        subscribe (mask 0 = the whole city); replaces the topic's Stadtteile
    abo:rm:<topic>               unsubscribe from a topic
    abo:x                        cancel
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from broadcasts.subscribers import TOPICS, TOPICS_WITH_AREAS
from catalog.model import fold
from catalog.stadtteile import Stadtteile

LABELS: dict[str, str] = {
    "warnungen": "Warnungen",
    "gesundheit": "Gesundheit",
    "presse": "Pressemitteilungen",
    "verkehr": "Verkehr",
    "veranstaltungen": "Veranstaltungen",
}
# Deterministic keywords per topic, as regular expressions over the folded text (ä→ae, ß→ss); plain
# stems match inside compounds ("Hochwasserwarnungen"), short words only as words. A sentence naming none
# of them means "warnungen".
KEYWORDS: dict[str, tuple[str, ...]] = {
    "warnungen": (
        "warn",
        "hochwasser",
        "wasserstand",
        "pegel",
        "unwetter",
        "sturm",
        "gewitter",
        "bombe",
        "blindgaenger",
        "entschaerfung",
        "evakuier",
        "katastroph",
        "brand",
        "feuer",
        "trinkwasser",
        "alarm",
        "gefahr",
        "notfall",
        "stromausf",
        "rauch",
    ),
    "gesundheit": ("gesundheit", "corona", "covid", "impf", "pandemie", "virus", "grippe", "hitze", "infekt"),
    "presse": ("presse", "newsletter", r"\bnews\b", "neuigkeit", "mitteilung", "nachrichten der stadt"),
    "verkehr": (
        "verkehr",
        "sperrung",
        "gesperrt",
        "baustelle",
        "umleitung",
        r"\bstaus?\b",
        "bruecke",
        r"\bbus",
        "parken",
    ),
    "veranstaltungen": (
        "veranstaltung",
        r"\bevents?\b",
        "konzert",
        r"\bfest",
        "festival",
        "markt",
        "ausstellung",
        "kultur",
    ),
}
ALL_WORDS = ("alle", "alles", "saemtliche", "komplett")
PAGE_SIZE = 10
PREFIX = "abo:"


def detect_topics(text: str) -> list[str]:
    """Topics named in a sentence, in catalog order; empty when none is named."""
    folded = fold(text)
    found = []
    for topic, patterns in KEYWORDS.items():
        if any(re.search(pattern, folded) for pattern in patterns):
            found.append(topic)
    return [topic for topic in TOPICS if topic in found]


def names_everything(text: str) -> bool:
    folded = fold(text)
    return any(re.search(rf"\b{word}\b", folded) for word in ALL_WORDS)


def only_these(text: str) -> bool:
    """ "nur noch Warnungen …, den Rest abbestellen" keeps the named topics and drops the others."""
    return bool(re.search(r"\bnur noch\b", fold(text)))


class Areas:
    """The Stadtteile citizens can choose (resident names), found in sentences by the catalog's one
    detector, and the bit-mask codec of the picker."""

    def __init__(self, stadtteile: Stadtteile) -> None:
        self.names: list[str] = stadtteile.names
        self._stadtteile = stadtteile

    def find(self, text: str) -> list[str]:
        """Every Stadtteil named in the text (resident names, in order of the list)."""
        return self._stadtteile.find_all(text)

    def mask(self, names: list[str] | tuple[str, ...]) -> int:
        return sum(1 << self.names.index(name) for name in names if name in self.names)

    def unmask(self, mask: int) -> list[str]:
        return [name for index, name in enumerate(self.names) if mask >> index & 1]


@dataclass(frozen=True)
class Screen:
    text: str
    keyboard: InlineKeyboardMarkup | None


def describe(topic: str, areas: list[str]) -> str:
    if topic not in TOPICS_WITH_AREAS:
        return LABELS[topic]
    if not areas:
        return f"{LABELS[topic]} – ganz Koblenz"
    return f"{LABELS[topic]} – {', '.join(areas)}"


def _button(text: str, data: str) -> InlineKeyboardButton:
    assert len(data.encode()) <= 64, data
    return InlineKeyboardButton(text, callback_data=data)


def menu(current: dict[str, list[str]], areas: Areas) -> Screen:
    rows = []
    for topic in TOPICS:
        mark = "✓ " if topic in current else ""
        mask = areas.mask(current.get(topic, []))
        rows.append([_button(f"{mark}{LABELS[topic]}", f"{PREFIX}t:{topic}:{mask:x}:0")])
    if current:
        rows.append([_button("Meine Abos", f"{PREFIX}list")])
    text = (
        "Was möchten Sie abonnieren? Tippen Sie auf ein Thema. Warnungen und Verkehrsmeldungen können Sie "
        "auf einzelne Stadtteile beschränken."
    )
    return Screen(text, InlineKeyboardMarkup(rows))


def picker(topic: str, mask: int, page: int, areas: Areas) -> Screen:
    """Choose a topic's Stadtteile (paged), or confirm a topic without Stadtteil filter."""
    if topic not in TOPICS_WITH_AREAS:
        text = f"Möchten Sie „{LABELS[topic]}“ abonnieren? {TOPICS[topic]}."
        rows = [[_button("Ja, abonnieren", f"{PREFIX}ok:{topic}:0"), _button("Abbrechen", f"{PREFIX}x")]]
        return Screen(text, InlineKeyboardMarkup(rows))
    pages = max(1, -(-len(areas.names) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    chosen = areas.unmask(mask)
    buttons = []
    for index in range(page * PAGE_SIZE, min(len(areas.names), (page + 1) * PAGE_SIZE)):
        name = areas.names[index]
        selected = mask >> index & 1
        buttons.append(
            _button(f"{'✓ ' if selected else ''}{name}", f"{PREFIX}t:{topic}:{mask ^ (1 << index):x}:{page}")
        )
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    navigation = []
    if page > 0:
        navigation.append(_button("◀ Zurück", f"{PREFIX}t:{topic}:{mask:x}:{page - 1}"))
    if page < pages - 1:
        navigation.append(_button("Weiter ▶", f"{PREFIX}t:{topic}:{mask:x}:{page + 1}"))
    if navigation:
        rows.append(navigation)
    if chosen:
        rows.append([_button(f"Übernehmen ({len(chosen)} gewählt)", f"{PREFIX}ok:{topic}:{mask:x}")])
    rows.append([_button("Ganz Koblenz", f"{PREFIX}ok:{topic}:0"), _button("Abbrechen", f"{PREFIX}x")])
    what = "Warnungen für ganz Koblenz erhalten Sie immer. " if topic == "warnungen" else ""
    text = (
        f"{LABELS[topic]}: Für welche Stadtteile? Tippen Sie die Stadtteile an und dann auf „Übernehmen“ – "
        f"oder wählen Sie „Ganz Koblenz“. {what}(Seite {page + 1} von {pages})\n\n"
        f"Gewählt: {', '.join(chosen) if chosen else 'noch keiner'}"
    )
    return Screen(text, InlineKeyboardMarkup(rows))


def overview(current: dict[str, list[str]], areas: Areas, lead: str = "") -> Screen:
    """The citizen's subscriptions with buttons to change or remove each."""
    if not current:
        text = f"{lead}Sie haben derzeit nichts abonniert. Mit /abo können Sie Themen wählen.".strip()
        return Screen(text, InlineKeyboardMarkup([[_button("Etwas abonnieren", f"{PREFIX}menu")]]))
    lines = [f"• {describe(topic, current[topic])}" for topic in TOPICS if topic in current]
    rows = []
    for topic in TOPICS:
        if topic not in current:
            continue
        row = [_button(f"✖ {LABELS[topic]} abbestellen", f"{PREFIX}rm:{topic}")]
        if topic in TOPICS_WITH_AREAS:
            row.append(_button("Stadtteile ändern", f"{PREFIX}t:{topic}:{areas.mask(current[topic]):x}:0"))
        rows.append(row)
    if len(current) < len(TOPICS):
        rows.append([_button("Weiteres Thema abonnieren", f"{PREFIX}menu")])
    warning_note = (
        "\n\nWarnungen für ganz Koblenz erhalten Sie auch mit Stadtteil-Auswahl."
        if current.get("warnungen")
        else ""
    )
    text = (
        f"{lead}Ihre Abos:\n"
        + "\n".join(lines)
        + warning_note
        + "\n\nMit /stop beenden Sie alle Abos und löschen Ihre Daten."
    )
    return Screen(text, InlineKeyboardMarkup(rows))


@dataclass(frozen=True)
class Action:
    kind: str  # menu, list, pick, ok, rm, cancel
    topic: str | None = None
    mask: int = 0
    page: int = 0


def parse(data: str) -> Action | None:
    """Decode our callback data; None for anything we did not send (or a stale format)."""
    parts = data.split(":")
    if parts[0] != "abo" or len(parts) < 2:
        return None
    try:
        if parts[1:] == ["menu"]:
            return Action("menu")
        if parts[1:] == ["list"]:
            return Action("list")
        if parts[1:] == ["x"]:
            return Action("cancel")
        if parts[1] == "t" and len(parts) == 5 and parts[2] in TOPICS:
            return Action("pick", parts[2], int(parts[3], 16), int(parts[4]))
        if parts[1] == "ok" and len(parts) == 4 and parts[2] in TOPICS:
            return Action("ok", parts[2], int(parts[3], 16))
        if parts[1] == "rm" and len(parts) == 3 and parts[2] in TOPICS:
            return Action("rm", parts[2])
    except ValueError:
        return None
    return None
