"""The dialogue core with a scripted parser: focus on the aspect, context, asking back, never a dead end."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.dialogue import Dialogue, State
from bot.events import IncomingMessage
from bot.search import CatalogSearch
from catalog.model import Catalog
from core.alerts import ActiveAlert, StaticAlerts
from nlu import RasaUnavailable
from nlu.client import Entity, ParseResult


@dataclass
class ScriptedParser:
    """Answers like Rasa would for known texts; raises RasaUnavailable when ``down``."""

    script: dict[str, tuple[str, float, list[tuple[str, float]]]] = field(default_factory=dict)
    entities: dict[str, list[Entity]] = field(default_factory=dict)
    down: bool = False

    async def parse(self, text: str) -> ParseResult:
        if self.down:
            raise RasaUnavailable("connection refused")
        intent, confidence, ranking = self.script.get(text, ("out_of_scope", 0.2, []))
        return ParseResult(
            text,
            intent,
            confidence,
            tuple(ranking or [(intent, confidence)]),
            tuple(self.entities.get(text, [])),
        )


@pytest.fixture
def parser() -> ScriptedParser:
    return ScriptedParser()


@pytest.fixture
def dialogue(catalog: Catalog, parser: ScriptedParser) -> Dialogue:
    return Dialogue(catalog, CatalogSearch(catalog), parser, StaticAlerts())


async def ask(dialogue: Dialogue, text: str, state: State | None = None, payload: str | None = None):  # type: ignore[no-untyped-def]
    turn = await dialogue.handle(IncomingMessage("c1", "test", text, payload), state or State())
    return turn.reply


async def test_fee_question_leads_with_the_fees_and_gives_links(
    dialogue: Dialogue, parser: ScriptedParser
) -> None:
    parser.script["Was kostet ein Reisepass?"] = ("service_reisepass", 0.93, [])
    reply = await ask(dialogue, "Was kostet ein Reisepass?")
    assert reply.kind == "service" and reply.service_id == "reisepass" and reply.aspect == "fees"
    body = reply.text.split("\n\n", 1)[1]
    assert body.startswith("Das kostet es:") and "70,00 €" in body
    assert reply.links and all(link.url.startswith("https://") for link in reply.links)


async def test_follow_up_refers_to_the_last_service(dialogue: Dialogue, parser: ScriptedParser) -> None:
    state = State()
    parser.script["Ich brauche einen neuen Perso"] = ("service_personalausweis", 0.9, [])
    parser.script["und was muss ich mitbringen?"] = ("service_beglaubigung", 0.3, [])
    await ask(dialogue, "Ich brauche einen neuen Perso", state)
    reply = await ask(dialogue, "und was muss ich mitbringen?", state)
    assert reply.service_id == "personalausweis" and reply.aspect == "documents"
    assert "Passfoto" in reply.text or "Lichtbild" in reply.text


async def test_stadtteil_is_remembered_for_the_conversation(
    dialogue: Dialogue, parser: ScriptedParser
) -> None:
    state = State()
    parser.script["Sperrmüll in Güls"] = ("service_sperrmuell", 0.9, [])
    await ask(dialogue, "Sperrmüll in Güls", state)
    assert state.stadtteil == "Güls"
    parser.script["gibt es warnungen?"] = ("alerts", 0.9, [])
    reply = await ask(dialogue, "gibt es warnungen?", state)
    assert reply.kind == "alerts" and "Güls" in reply.text


async def test_two_close_services_are_offered_as_buttons(dialogue: Dialogue, parser: ScriptedParser) -> None:
    parser.script["ausweis"] = (
        "service_personalausweis",
        0.48,
        [("service_personalausweis", 0.48), ("service_vorlaeufiger_ausweis", 0.44)],
    )
    reply = await ask(dialogue, "ausweis")
    assert reply.service_id is None
    payloads = [q.payload for q in reply.quick_replies]
    assert "svc:personalausweis:overview" in payloads and "svc:vorlaeufiger-ausweis:overview" in payloads


async def test_a_button_answers_the_chosen_service_and_aspect(dialogue: Dialogue) -> None:
    reply = await ask(dialogue, "Kosten", payload="svc:reisepass:fees")
    assert reply.service_id == "reisepass" and reply.aspect == "fees" and reply.confidence == 1.0


async def test_low_confidence_searches_the_catalog_and_offers_a_human(
    dialogue: Dialogue, parser: ScriptedParser
) -> None:
    parser.script["alte couch abholen"] = ("service_fundbuero", 0.2, [("service_fundbuero", 0.2)])
    reply = await ask(dialogue, "alte couch abholen")
    assert reply.kind == "fallback"
    assert "svc:sperrmuell:overview" in [q.payload for q in reply.quick_replies]
    assert "115" in reply.text and any(link.kind == "contact" for link in reply.links)


async def test_out_of_scope_is_not_forced_onto_a_service(dialogue: Dialogue, parser: ScriptedParser) -> None:
    parser.script["Wie wird das Wetter?"] = ("out_of_scope", 0.95, [])
    reply = await ask(dialogue, "Wie wird das Wetter?")
    assert reply.kind == "fallback" and reply.service_id is None
    assert "Stadtverwaltung" in reply.text


async def test_asking_for_a_human_gets_the_contact_at_once(
    dialogue: Dialogue, parser: ScriptedParser
) -> None:
    parser.script["Ich will mit einem Menschen sprechen"] = ("handoff", 0.97, [])
    reply = await ask(dialogue, "Ich will mit einem Menschen sprechen")
    assert reply.kind == "handoff"
    assert "0261 129-7000" in reply.text and "115" in reply.text
    assert any(link.url == "tel:115" for link in reply.links)


async def test_when_rasa_is_down_the_catalog_answers_and_says_so(
    dialogue: Dialogue, parser: ScriptedParser
) -> None:
    parser.down = True
    reply = await ask(dialogue, "Was kostet ein Reisepass?")
    assert reply.service_id == "reisepass" and reply.aspect == "fees"
    assert any("nicht erreichbar" in notice for notice in reply.notices)


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂🙂", "\x00\x07\x1b", "?!?"])
async def test_empty_or_emoji_only_input_gets_a_polite_prompt(dialogue: Dialogue, text: str) -> None:
    reply = await ask(dialogue, text)
    assert reply.kind == "fallback" and "Anliegen" in reply.text


async def test_overlong_message_is_rejected_politely(dialogue: Dialogue) -> None:
    reply = await ask(dialogue, "Reisepass " * 1000)
    assert reply.kind == "fallback" and "zu lang" in reply.text and "1000" in reply.text


async def test_active_alert_leads_every_answer(catalog: Catalog, parser: ScriptedParser) -> None:
    alert = ActiveAlert(
        "a1",
        "Bombenentschärfung in Lützel",
        "Severe",
        "Evakuierung ab 9 Uhr.",
        "Verlassen Sie das Gebiet.",
        ("Lützel",),
        None,
        None,
    )
    dialogue = Dialogue(catalog, CatalogSearch(catalog), parser, StaticAlerts([alert]))
    parser.script["Reisepass"] = ("service_reisepass", 0.9, [])
    reply = await ask(dialogue, "Reisepass")
    assert reply.notices and "Bombenentschärfung" in reply.notices[0]
    parser.script["Gibt es Warnungen?"] = ("alerts", 0.9, [])
    reply = await ask(dialogue, "Gibt es Warnungen?")
    assert reply.kind == "alerts" and "Verlassen Sie das Gebiet." in reply.text


async def test_missing_fact_points_to_where_to_find_out(
    dialogue: Dialogue, parser: ScriptedParser, catalog: Catalog
) -> None:
    without_fees = next(s for s in catalog if not s.fees)
    reply = await ask(dialogue, "Kosten", payload=f"svc:{without_fees.id}:fees")
    assert "keine geprüfte Angabe" in reply.text and "115" in reply.text


async def test_follow_up_buttons_only_for_aspects_with_facts(dialogue: Dialogue, catalog: Catalog) -> None:
    without_fees = next(s for s in catalog if not s.fees)
    reply = await ask(dialogue, "", payload=f"svc:{without_fees.id}:overview")
    assert f"svc:{without_fees.id}:fees" not in [q.payload for q in reply.quick_replies]
    reply = await ask(dialogue, "", payload="svc:reisepass:overview")
    assert "svc:reisepass:fees" in [q.payload for q in reply.quick_replies]
