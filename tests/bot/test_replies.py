"""Replies carry their structure as blocks; the plain text has no markup; warnings speak German."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from bot.answers import aspect_blocks, service_answer
from bot.dialogue import Dialogue, State
from bot.events import Bullets, IncomingMessage, Paragraph, Reply, Title
from bot.search import CatalogSearch
from catalog.model import Catalog, Hours, Office
from core.alerts import SEVERITY_LABELS, ActiveAlert, StaticAlerts, severity_label
from nlu.client import ParseResult

CAP_SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
ENGLISH_ONLY = ("Severe", "Moderate", "Minor", "Unknown")  # "Extreme" is German too ("Extreme Gefahr")


class AlertsParser:
    """Understands every message as a question about warnings."""

    async def parse(self, text: str) -> ParseResult:
        return ParseResult(text, "alerts", 0.95, (("alerts", 0.95),), ())


def _alert(identifier: str, severity: str) -> ActiveAlert:
    return ActiveAlert(
        identifier,
        f"Testwarnung {identifier}",
        severity,
        "Beschreibung der Lage.",
        "Bleiben Sie zu Hause.",
        ("Lützel",),
        "https://www.koblenz.de/warnung",
        None,
    )


async def _reply(dialogue: Dialogue, text: str, payload: str | None = None) -> Reply:
    turn = await dialogue.handle(IncomingMessage("c1", "test", text, payload), State())
    return turn.reply


async def test_a_service_answer_is_built_from_blocks(catalog: Catalog) -> None:
    dialogue = Dialogue(catalog, CatalogSearch(catalog), None, StaticAlerts())
    reply = await _reply(dialogue, "Kosten", payload="svc:reisepass:fees")
    service = catalog.service("reisepass")
    assert reply.blocks[:2] == (Title(service.title), Paragraph("Das kostet es:"))
    fees = reply.blocks[2]
    assert isinstance(fees, Bullets) and any("70,00 €" in item for item in fees.items)
    assert reply.text.startswith(f"{service.title}\n\nDas kostet es:\n• ")  # the list right under its lead-in
    body = reply.as_dict()
    assert body["text"] == reply.text
    assert body["blocks"][:2] == [
        {"type": "title", "text": service.title},
        {"type": "paragraph", "text": "Das kostet es:"},
    ]
    assert body["blocks"][2] == {"type": "bullets", "items": list(fees.items)}


async def test_no_reply_text_carries_markup(catalog: Catalog) -> None:
    dialogue = Dialogue(catalog, CatalogSearch(catalog), None, StaticAlerts([_alert("a1", "Severe")]))
    replies = [await _reply(dialogue, "", payload=f"svc:{sid}:overview") for sid in catalog.services]
    replies += [await _reply(dialogue, "", payload=f"svc:{sid}:hours") for sid in list(catalog.services)[:20]]
    replies += [await _reply(dialogue, text) for text in ("handoff", "Wetter morgen", "xyzzy qwert", "?!")]
    for reply in replies:
        assert "**" not in reply.text and all("**" not in notice for notice in reply.notices)
        assert reply.blocks and all(
            "**" not in (b.text if not isinstance(b, Bullets) else " ".join(b.items)) for b in reply.blocks
        )
    overviews = [r for r in replies if r.kind == "service"]
    assert overviews and all(isinstance(r.blocks[0], Title) for r in overviews)


def test_the_title_is_a_block_not_markup(catalog: Catalog) -> None:
    service = catalog.service("personalausweis")
    blocks, _buttons = service_answer(catalog, service, ["overview"])
    assert blocks[0] == Title(service.title)
    assert not any(isinstance(block, Title) for block in blocks[1:])


@pytest.mark.parametrize("severity", CAP_SEVERITIES)
async def test_warnings_name_their_level_in_german(catalog: Catalog, severity: str) -> None:
    alert = _alert("a1", severity)
    dialogue = Dialogue(catalog, CatalogSearch(catalog), AlertsParser(), StaticAlerts([alert]))
    reply = await _reply(dialogue, "Gibt es Warnungen?")
    assert reply.kind == "alerts"
    assert reply.blocks[:2] == (
        Title(f"⚠ {alert.headline}"),
        Paragraph(f"Warnstufe: {severity_label(severity)} · Betroffen: Lützel"),
    )
    assert "Was Sie tun sollten: Bleiben Sie zu Hause." in reply.text
    for english in ENGLISH_ONLY:
        assert english not in reply.text  # never the CAP code word, e.g. "(Severe, …)"
    assert reply.text.count("Extreme") == reply.text.count("Extreme Gefahr")


async def test_questions_about_one_warning_also_get_the_german_level(catalog: Catalog) -> None:
    alert = replace(_alert("hw", "Severe"), headline="Hochwasser an der Mosel")
    dialogue = Dialogue(catalog, CatalogSearch(catalog), None, StaticAlerts([alert]))
    reply = await _reply(dialogue, "Was ist mit dem Hochwasser?")
    assert reply.kind == "alerts" and "Warnstufe: Gefahr · Betroffen: Lützel" in reply.text
    assert "Severe" not in reply.text


def test_one_german_severity_vocabulary() -> None:
    assert set(SEVERITY_LABELS) == set(CAP_SEVERITIES)
    assert [severity_label(s) for s in CAP_SEVERITIES[:3]] == [
        "Extreme Gefahr",
        "Gefahr",
        "Gefahreninformation",
    ]
    assert severity_label("Bogus") == "Warnung"
    assert not any(code in label for code in ENGLISH_ONLY for label in SEVERITY_LABELS.values())
    assert all(label != code for code, label in SEVERITY_LABELS.items())


def test_plain_text_and_blocks_stay_one_truth() -> None:
    reply = Reply("Hallo **Welt**\n\nZweiter Absatz", "smalltalk")
    assert reply.blocks == (Paragraph("Hallo **Welt**"), Paragraph("Zweiter Absatz"))  # no markup is read
    card = Reply.of((Title("T"), Paragraph("Liste:"), Bullets(("a", "b")), Paragraph("Ende")), "service")
    assert card.text == "T\n\nListe:\n• a\n• b\n\nEnde"
    assert replace(card, notices=("⚠ N",)).blocks == card.blocks
    with pytest.raises(ValueError):
        Reply("etwas anderes", "service", blocks=card.blocks)


def test_fees_say_how_fresh_they_are_and_where_they_come_from(catalog: Catalog) -> None:
    service = catalog.service("personalausweis")
    blocks, _buttons = service_answer(catalog, service, ["fees"])
    fees = blocks[2]
    assert isinstance(fees, Bullets) and "Personalausweis ab 24 Jahren: 46,00 €" in fees.items
    stand = Paragraph(
        "Stand: November 2026 · Quelle: "
        "https://www.stadt-muenster.de/aktuelles/newsdetail/personalausweis-fuer-erwachsene-kostet-kuenftig-46-euro"
    )
    assert blocks[-2:] == (stand, Paragraph("Die passenden Links finden Sie unten."))  # right under the fees


def test_answers_without_fees_have_no_stand_line(catalog: Catalog) -> None:
    blocks, _buttons = service_answer(catalog, catalog.service("hundesteuer"), ["fees"])
    assert not any(isinstance(b, Paragraph) and b.text.startswith("Stand:") for b in blocks)
    assert "keine geprüfte Angabe" in blocks[1].text  # type: ignore[union-attr]


def test_opening_hours_say_how_fresh_they_are(catalog: Catalog) -> None:
    office = Office(
        id="testamt",
        name="Testamt",
        hours=(Hours(days=("mo", "di"), opens="08:00", closes="12:00"),),
        web="https://www.koblenz.de/testamt",
        reviewed=dt.date(2026, 11, 30),
    )
    blocks = aspect_blocks("hours", catalog.service("termin"), office)
    assert blocks[:2] == [Paragraph("Öffnungszeiten Testamt:"), Bullets(("Mo, Di: 08:00–12:00 Uhr",))]
    assert blocks[-1] == Paragraph("Stand: November 2026 · Quelle: https://www.koblenz.de/testamt")
