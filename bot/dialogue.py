"""The dialogue core: one message plus the conversation's state in, one reply out, for every channel."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot import InputRejected
from bot.answers import contact_blocks, service_answer, service_links
from bot.events import Block, IncomingMessage, Link, Paragraph, QuickReply, Reply, Title
from bot.news import news_answer
from bot.search import CatalogSearch, Hit, terms
from catalog.aspects import ASPECTS, Aspect, find_aspects
from catalog.model import Catalog
from catalog.stadtteile import Stadtteile
from core.alerts import ActiveAlert, AlertSource, severity_label
from core.news import NewsSource, StaticNews
from nlu import RasaUnavailable, service_for_intent
from nlu.client import ParseResult

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
SEARCH_MIN_SCORE = 0.5
SEARCH_CLEAR_LEAD = 1.05  # without NLU, answer the top hit directly when it leads the next by 5 %
SMALLTALK = {
    "greet": "Hallo! Ich bin der digitale Assistent der Stadt Koblenz. Fragen Sie mich zu Anliegen bei der "
    "Stadtverwaltung, zum Beispiel: „Was kostet ein Reisepass?“ oder „Wie melde ich Sperrmüll an?“",
    "help": "Ich beantworte Fragen zu Leistungen der Stadtverwaltung Koblenz: Ausweis und Pass, Ummeldung, "
    "Auto, Führerschein, Müll, Steuern, Familie, Bauen und vieles mehr. Ich nenne Kosten, Unterlagen, "
    "Zuständigkeit und Links zu Online-Diensten. Wenn ich nicht weiterweiß, nenne ich Ihnen einen Kontakt.",
    "thanks": "Gern geschehen! Kann ich sonst noch helfen?",
    "goodbye": "Auf Wiedersehen und alles Gute!",
}
EXAMPLES = (
    QuickReply("Personalausweis", "svc:personalausweis:overview"),
    QuickReply("Wohnsitz anmelden", "svc:wohnsitz-anmelden:overview"),
    QuickReply("Sperrmüll", "svc:sperrmuell:overview"),
    QuickReply("Mit einem Menschen sprechen", "handoff"),
)
RASA_DOWN_NOTICE = (
    "Mein Sprachverständnis ist gerade nicht erreichbar. Ich habe deshalb im Katalog der Stadt gesucht."
)

OFFICIAL_WARNING_LINKS = (
    Link(
        "Warn-App NINA (Bundesamt für Bevölkerungsschutz)",
        "https://www.bbk.bund.de/DE/Warnung-Vorsorge/Warn-App-NINA/warn-app-nina_node.html",
        "info",
    ),
)


class Parser(Protocol):
    async def parse(self, text: str) -> ParseResult: ...


@dataclass
class State:
    """What the bot remembers within one conversation."""

    last_service: str | None = None
    stadtteil: str | None = None
    pending: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> State:
        data = data or {}
        pending = data.get("pending")
        return cls(
            last_service=data.get("last_service") if isinstance(data.get("last_service"), str) else None,
            stadtteil=data.get("stadtteil") if isinstance(data.get("stadtteil"), str) else None,
            pending=[p for p in pending if isinstance(p, str)] if isinstance(pending, list) else [],
        )

    def to_json(self) -> dict[str, Any]:
        return {"last_service": self.last_service, "stadtteil": self.stadtteil, "pending": self.pending}


@dataclass(frozen=True)
class Turn:
    reply: Reply
    state: State
    intent: str | None
    clean_text: str


def clean(text: str, max_chars: int) -> str:
    """Normalise a citizen's text; reject what cannot be processed with a polite explanation."""
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", text))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > max_chars:
        raise InputRejected(
            f"message of {len(text)} characters exceeds {max_chars}",
            f"Ihre Nachricht ist leider zu lang (höchstens {max_chars} Zeichen). Bitte stellen Sie Ihre "
            "Frage kürzer, gern in mehreren Nachrichten.",
        )
    return text


class Dialogue:
    def __init__(
        self,
        catalog: Catalog,
        search: CatalogSearch,
        nlu: Parser | None,
        alerts: AlertSource,
        max_chars: int = 1000,
        threshold: float = 0.45,
        margin: float = 0.12,
        news: NewsSource | None = None,
    ) -> None:
        self.news: NewsSource = news or StaticNews()  # the latest posts ("Was gibt es Neues zu Corona?")
        self.catalog = catalog
        self.search = search
        self.nlu = nlu
        self.alerts = alerts
        self.max_chars = max_chars
        self.threshold = threshold
        self.margin = margin
        self.stadtteile = Stadtteile(catalog)  # patterns compiled once, not per message

    async def handle(self, message: IncomingMessage, state: State) -> Turn:
        try:
            text = clean(message.text, self.max_chars)
        except InputRejected as rejected:
            return Turn(Reply(rejected.polite, "fallback"), state, None, message.text[: self.max_chars])
        payload = message.payload or (text if text.startswith(("svc:", "handoff")) else None)
        if payload:
            reply = self._from_payload(payload, state)
            if reply is not None:
                return Turn(await self._lead_with_alerts(reply, state), state, None, text)
        if not text or not any(ch.isalnum() for ch in text):
            reply = Reply(
                "Ich habe keine Frage erkannt. Schreiben Sie mir einfach Ihr Anliegen, zum Beispiel "
                "„Personalausweis beantragen“.",
                "fallback",
                quick_replies=EXAMPLES,
            )
            return Turn(reply, state, None, text)
        stadtteil = self.stadtteile.find(text)
        if stadtteil:
            state.stadtteil = stadtteil
        try:
            parsed = await self.nlu.parse(text) if self.nlu else None
        except RasaUnavailable as exc:
            log.warning("NLU unavailable, answering from the catalog search: %s", exc)
            parsed = None
        reply = await self._route(text, parsed, state)
        if parsed is None and reply.kind in ("service", "fallback"):
            reply = _with_notice(reply, RASA_DOWN_NOTICE)
        return Turn(
            await self._lead_with_alerts(reply, state), state, parsed.intent if parsed else None, text
        )

    # -- routing ---------------------------------------------------------------------------------------

    async def _route(self, text: str, parsed: ParseResult | None, state: State) -> Reply:
        aspects = self._aspects(text, parsed)
        if parsed is not None:
            for value in parsed.entity_values("stadtteil"):
                state.stadtteil = self.stadtteile.canonical(value) or value
        if self._is_follow_up(text, aspects, parsed, state):
            assert state.last_service is not None
            return self._answer_service(
                state.last_service, aspects, state, parsed.confidence if parsed else None
            )
        if parsed is None:
            matching = await self._matching_alerts(text)
            if matching:
                return _alert_answer(matching, None)
            news = await news_answer(self.news, text)
            if news is not None:
                return news
            return self._search_reply(text, aspects, state, unsure=False)
        intent, confidence = parsed.intent or "", parsed.confidence
        service_id = service_for_intent(intent)
        if intent != "alerts" and not (service_id in self.catalog.services and confidence >= self.threshold):
            # Questions about an active warning ("Ist das Leitungswasser trinkbar?") are answered from it.
            matching = await self._matching_alerts(text)
            if matching:
                return _alert_answer(matching, confidence)
            if intent not in ("subscribe", "unsubscribe", "handoff"):
                # "Ist die Balduinbrücke gesperrt?": the latest posts of the topic, with date and source
                news = await news_answer(self.news, text)
                if news is not None:
                    return news
        if confidence < self.threshold:
            return self._search_reply(text, aspects, state, unsure=True, ranking=parsed.ranking)
        if service_id and service_id in self.catalog.services:
            close = self._close_services(parsed)
            if len(close) > 1:
                return self._ask_back(close, aspects, confidence)
            return self._answer_service(service_id, aspects, state, confidence)
        if intent in SMALLTALK:
            return Reply(
                SMALLTALK[intent],
                "smalltalk",
                confidence=confidence,
                quick_replies=EXAMPLES if intent in ("greet", "help") else (),
            )
        if intent == "handoff":
            return self._handoff(confidence)
        if intent == "alerts":
            matching = [
                a
                for a in await self._matching_alerts(text)
                if not (state.stadtteil and a.areas and state.stadtteil not in a.areas)
            ]
            if matching:
                return _alert_answer(matching, confidence)
            return await self._alerts_reply(state, confidence)
        if intent in ("subscribe", "unsubscribe"):
            return self._subscription_reply(intent, state, confidence)
        return self._out_of_scope(text, confidence)

    def _aspects(self, text: str, parsed: ParseResult | None) -> list[Aspect]:
        found: list[Aspect] = [m.aspect for m in find_aspects(text)]
        if parsed is not None:
            found += [v for v in parsed.entity_values("aspect") if v in ASPECTS]
        ordered: list[Aspect] = []
        for aspect in found:
            if aspect not in ordered:
                ordered.append(aspect)
        return ordered

    def _is_follow_up(
        self, text: str, aspects: list[Aspect], parsed: ParseResult | None, state: State
    ) -> bool:
        """ "und was muss ich mitbringen?": an aspect, no service named, and a service talked about before."""
        if not state.last_service or not aspects:
            return False
        stripped = text
        for found in reversed(find_aspects(text)):
            stripped = stripped[: found.start] + " " + stripped[found.end :]
        remaining = [t for t in terms(stripped) if t not in {"das", "dafuer", "dafur", "und", "noch", "denn"}]
        if not remaining:
            return True
        if parsed is not None and service_for_intent(parsed.intent or "") == state.last_service:
            return True
        return False

    def _close_services(self, parsed: ParseResult) -> list[str]:
        top = parsed.confidence
        close = []
        for intent, confidence in parsed.ranking[:3]:
            service_id = service_for_intent(intent)
            if service_id in self.catalog.services and top - confidence < self.margin:
                close.append(service_id)
        return close

    def _from_payload(self, payload: str, state: State) -> Reply | None:
        if payload == "handoff":
            return self._handoff(1.0)
        parts = payload.split(":")
        if len(parts) >= 2 and parts[0] == "svc" and parts[1] in self.catalog.services:
            aspect = parts[2] if len(parts) > 2 and parts[2] in ASPECTS else "overview"
            return self._answer_service(parts[1], [aspect], state, 1.0)
        return None

    # -- replies ---------------------------------------------------------------------------------------

    def _answer_service(
        self, service_id: str, aspects: list[Aspect], state: State, confidence: float | None
    ) -> Reply:
        service = self.catalog.service(service_id)
        blocks, buttons = service_answer(self.catalog, service, aspects, state.stadtteil)
        state.last_service = service_id
        state.pending = []
        primary = next((a for a in aspects if a != "overview"), "overview")
        return Reply.of(
            blocks,
            "service",
            service_id=service_id,
            aspect=primary,
            confidence=confidence,
            links=service_links(self.catalog, service),
            quick_replies=buttons,
        )

    def _ask_back(self, service_ids: list[str], aspects: list[Aspect], confidence: float) -> Reply:
        aspect = next((a for a in aspects if a != "overview"), "overview")
        buttons = tuple(
            QuickReply(self.catalog.service(sid).title, f"svc:{sid}:{aspect}") for sid in service_ids
        )
        return Reply(
            "Ich bin nicht ganz sicher, was Sie meinen. Geht es um eines davon?",
            "fallback",
            aspect=aspect,
            confidence=confidence,
            quick_replies=(*buttons, EXAMPLES[-1]),
        )

    def _search_reply(
        self,
        text: str,
        aspects: list[Aspect],
        state: State,
        unsure: bool,
        ranking: tuple[tuple[str, float], ...] = (),
    ) -> Reply:
        hits = [h for h in self.search.search(text, limit=3) if h.score >= SEARCH_MIN_SCORE]
        if not unsure and hits and (len(hits) == 1 or hits[0].score >= SEARCH_CLEAR_LEAD * hits[1].score):
            return self._answer_service(hits[0].service_id, aspects, state, None)
        candidates = _merge_candidates(hits, ranking)
        aspect = next((a for a in aspects if a != "overview"), "overview")
        if candidates:
            buttons = tuple(
                QuickReply(self.catalog.service(sid).title, f"svc:{sid}:{aspect}") for sid in candidates[:3]
            )
            state.pending = list(candidates[:3])
            contact, links = contact_blocks(
                self.catalog, "Wenn nichts passt, erreichen Sie Menschen in der Stadtverwaltung so:"
            )
            return Reply.of(
                (Paragraph("Ich habe Ihre Frage nicht sicher verstanden. Meinen Sie eines davon?"), *contact),
                "fallback",
                aspect=aspect,
                links=links,
                quick_replies=(*buttons, EXAMPLES[-1]),
            )
        contact, links = contact_blocks(self.catalog)
        return Reply.of(
            (Paragraph("Dazu habe ich leider nichts gefunden."), *contact),
            "fallback",
            links=links,
            quick_replies=EXAMPLES,
        )

    def _handoff(self, confidence: float | None) -> Reply:
        blocks, links = contact_blocks(self.catalog)
        return Reply.of(blocks, "handoff", confidence=confidence, links=links)

    def _out_of_scope(self, text: str, confidence: float) -> Reply:
        contact, links = contact_blocks(self.catalog)
        scope = Paragraph(
            "Dabei kann ich leider nicht helfen: Ich beantworte Fragen zu den Leistungen der "
            "Stadtverwaltung Koblenz, etwa zu Ausweisen, Ummeldung, Auto, Müll oder Steuern."
        )
        return Reply.of(
            (scope, *contact),
            "fallback",
            confidence=confidence,
            links=links,
            quick_replies=EXAMPLES,
        )

    async def _matching_alerts(self, text: str) -> list[ActiveAlert]:
        """Active alerts the question is about: a word of the headline, or two words of the alert's text."""
        asked = {t for t in terms(text) if len(t) >= 4}
        if not asked:
            return []
        matching = []
        for alert in await self.alerts.active():
            headline = set(terms(alert.headline))
            body = set(terms(f"{alert.description} {alert.instruction}")) | headline
            hits = {q for q in asked if any(_related(q, word) for word in body)}
            if hits and (len(hits) >= 2 or any(_related(q, word) for q in hits for word in headline)):
                matching.append(alert)
        return matching

    async def _alerts_reply(self, state: State, confidence: float | None) -> Reply:
        alerts = await self.alerts.active()
        if state.stadtteil:
            local = [a for a in alerts if not a.areas or state.stadtteil in a.areas]
        else:
            local = alerts
        if not local:
            where = f" für {state.stadtteil}" if state.stadtteil else ""
            return Reply(
                f"Mir liegen derzeit keine Warnungen der Stadt Koblenz{where} vor. Amtliche "
                "Warnungen erhalten Sie auch über die Warn-App NINA.",
                "alerts",
                confidence=confidence,
                links=OFFICIAL_WARNING_LINKS,
            )
        return _alert_answer(local, confidence)

    def _subscription_reply(self, intent: str, state: State, confidence: float | None) -> Reply:
        where = f" für {state.stadtteil}" if state.stadtteil else ""
        if intent == "subscribe":
            text = (
                f"Warnungen und Neuigkeiten{where} können Sie im Telegram-Kanal der Stadt abonnieren: "
                "Schreiben Sie dort dem Bot /abo und wählen Sie Themen und Stadtteile. Amtliche Warnungen "
                "kommen außerdem über die Warn-App NINA."
            )
            return Reply(text, "subscribe", confidence=confidence, links=OFFICIAL_WARNING_LINKS)
        text = (
            "Abonnements beenden Sie im Telegram-Bot der Stadt mit /stop: Dann werden alle Abos und Ihre "
            "gespeicherten Daten gelöscht. Einzelne Themen bestellen Sie mit /meine ab."
        )
        return Reply(text, "unsubscribe", confidence=confidence)

    async def _lead_with_alerts(self, reply: Reply, state: State) -> Reply:
        if reply.kind == "alerts":
            return reply
        alerts = await self.alerts.active()
        if not alerts:
            return reply
        lead = alerts[0]
        source = f" (Quelle: {lead.authority})" if lead.authority else ""
        return _with_notice(reply, f"⚠ Aktuelle Warnung: {lead.headline}{source}")


def _with_notice(reply: Reply, notice: str) -> Reply:
    from dataclasses import replace

    return replace(reply, notices=(notice, *reply.notices))


def _related(asked: str, word: str) -> bool:
    """Same stem, or one contains the other ("hochwass" in "hochwasserwarn", "trink" in "trinkbar")."""
    short, long = sorted((asked, word), key=len)
    return short == long or (len(short) >= 5 and short in long)


def _alert_answer(alerts: list[ActiveAlert], confidence: float | None) -> Reply:
    """Each warning as a card: headline, level (in the citizens' German words) and area, text, advice."""
    blocks: list[Block] = []
    links: list[Link] = []
    for alert in alerts:
        area = ", ".join(alert.areas) if alert.areas else "ganz Koblenz"
        blocks += [
            Title(f"⚠ {alert.headline}"),
            Paragraph(f"Warnstufe: {severity_label(alert.severity)} · Betroffen: {area}"),
        ]
        if alert.authority:  # a warning of another authority (NINA): who issued it, text unchanged
            blocks.append(Paragraph(f"Quelle: {alert.authority}"))
        if alert.description:
            blocks.append(Paragraph(alert.description))
        if alert.instruction:
            blocks.append(Paragraph(f"Was Sie tun sollten: {alert.instruction}"))
        if alert.web:
            links.append(Link(f"Mehr zur Warnung: {alert.headline}", alert.web, "info"))
    return Reply.of(blocks, "alerts", confidence=confidence, links=(*links, *OFFICIAL_WARNING_LINKS))


def _merge_candidates(hits: list[Hit], ranking: tuple[tuple[str, float], ...]) -> list[str]:
    merged: list[str] = []
    for intent, _confidence in ranking[:3]:
        service_id = service_for_intent(intent)
        if service_id and service_id not in merged:
            merged.append(service_id)
    for hit in hits:
        if hit.service_id not in merged:
            merged.append(hit.service_id)
    return merged
