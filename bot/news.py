"""Answers from the latest posts: "Was gibt es Neues zu Corona?", "Ist die Balduinbrücke gesperrt?".

``news_answer(source, text)`` reads the recent items of the topic the question is about
(``core.news.NewsSource``: the posts the city sent, with the feed they came from) and answers with the
matching ones, each with its date (Europe/Berlin) and source, the link beside it. It returns None when the
question is not about news, so the dialogue goes on as before (catalog, warnings).

How a question is matched, on folded words (umlauts, case) with the catalog search's light stemmer:

- topic words name the topic: Corona, Covid, Impfung, Grippe, Gesundheit → ``gesundheit``; gesperrt,
  Sperrung, Baustelle, Brücke, Stau, Umleitung, Verkehr → ``verkehr``; Pressemitteilung → ``presse``;
  Veranstaltung, Fest, Konzert, Festival → ``veranstaltungen``. Compounds count ("Balduinbrücke",
  "Weinfest", "Vollsperrung"), "Sperrmüll" or "Brückentag" do not;
- news words (Neues, Neuigkeiten, aktuell, Meldungen, Nachrichten) ask for the latest of every topic when
  no topic is named;
- the other words are what the question is specifically about ("Balduinbrücke"): items mentioning them
  come first; when none does, the answer says so plainly and lists the newest of the topic instead, so a
  missing report is never presented as an answer ("nothing found" is not "not closed").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.events import Block, Link, Paragraph, Reply, ReplyKind, Title
from bot.search import STOPWORDS, stem
from catalog.model import fold, words
from core.news import NewsItem, NewsSource
from core.time import BERLIN

KIND: ReplyKind = "news"
MAX_ITEMS = 3
MAX_TEXT = 300
FETCH = 20
MAX_AGE = dt.timedelta(days=30)

TOPIC_LABELS = {
    "gesundheit": "Gesundheit",
    "verkehr": "Verkehr",
    "presse": "Pressemitteilungen",
    "veranstaltungen": "Veranstaltungen",
}
# folded, stemmed: a word is a topic word when it is one of these or ends with one (a compound)
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "gesundheit": (
        "corona",
        "coronavirus",
        "covid",
        "impf",
        "impfung",
        "gripp",
        "gesundheit",
        "gesundheitsamt",
    ),
    "verkehr": (
        "gesperrt",
        "sperr",
        "sperrung",
        "baustell",
        "brueck",
        "stau",
        "umleit",
        "verkehr",
        "umgeleitet",
    ),
    "presse": ("pressemitteil", "pressemeld", "presse"),
    "veranstaltungen": ("veranstalt", "fest", "konzert", "festival"),
}
# folded words that start a topic word on their own (Impfstoff, Impftermin, Coronatest, ...)
TOPIC_PREFIXES: dict[str, tuple[str, ...]] = {
    "gesundheit": ("corona", "covid", "impf"),
    "verkehr": ("verkehrsmeld", "verkehrslage", "baustell"),
    "presse": ("pressemitteil",),
    "veranstaltungen": ("veranstalt",),
}
NEWS_WORDS = frozenset(
    "neues neuigkeit neuigkeiten aktuell aktuelle aktuellen aktuelles meldung meldungen nachricht "
    "nachrichten news".split()
)
# subscribing to a topic ("Verkehrsmeldungen abonnieren") is the dialogue's, not a news question
SUBSCRIBE_PREFIXES = ("abonn", "abbestell", "kuendig")
SUBSCRIBE_WORDS = frozenset({"abo", "abos"})
QUESTION_WORDS = frozenset(
    "wann warum weshalb wieso heute morgen gestern derzeit zurzeit gerade momentan lange schon immer "
    "gibt gibts ist sind wird werden noch wieder bald bitte".split()
)


@dataclass(frozen=True)
class _Word:
    original: str
    folded: str
    stem: str


def _words(text: str) -> list[_Word]:
    found = []
    for raw in text.split():
        original = raw.strip(".,;:!?\"'()[]{}„“”‚‘’«»-–—/")
        if not original:
            continue
        folded = fold(original)
        if not folded.replace("-", "").isalnum():
            continue
        found.append(_Word(original, folded, stem(folded)))
    return found


def _topic_of(word: _Word) -> str | None:
    for topic, keys in TOPIC_WORDS.items():
        if any(word.stem == key or word.stem.endswith(key) for key in keys):
            return topic
        if any(word.folded.startswith(prefix) for prefix in TOPIC_PREFIXES[topic]):
            return topic
    return None


def _is_topic_word(word: _Word) -> bool:
    """The word is only a topic word ("Corona", "gesperrt"), not a specific subject ("Balduinbrücke")."""
    return any(word.stem in keys for keys in TOPIC_WORDS.values()) or any(
        word.folded.startswith(prefix) and len(word.folded) <= len(prefix) + 3
        for prefixes in TOPIC_PREFIXES.values()
        for prefix in prefixes
    )


def _related(asked: str, word: str) -> bool:
    short, long = sorted((asked, word), key=len)
    return short == long or (len(short) >= 5 and short in long)


def _mentions(item: NewsItem, asked: Sequence[str]) -> int:
    found = words(f"{item.title} {item.text}")
    vocabulary = set(found) | {stem(w) for w in found}
    return sum(1 for a in asked if any(_related(a, w) for w in vocabulary))


def german_date(value: dt.datetime) -> str:
    """ "03.03.2025, 15:00 Uhr" on the clocks in Koblenz."""
    local = value.astimezone(BERLIN)
    return f"{local:%d.%m.%Y, %H:%M} Uhr"


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:-") + "…"


def _cards(items: Sequence[NewsItem]) -> tuple[list[Block], list[Link]]:
    blocks: list[Block] = []
    links: list[Link] = []
    for item in items:
        blocks.append(Title(item.title))
        when = f"{german_date(item.published_at)} · " if item.published_at else ""
        blocks.append(Paragraph(f"{when}Quelle: {item.source}"))
        if item.text:
            blocks.append(Paragraph(_shorten(" ".join(item.text.split()), MAX_TEXT)))
        if item.link:
            links.append(Link(f"Zur Meldung: {_shorten(item.title, 60)}", item.link, "info"))
    return blocks, links


def _quoted(specific: Sequence[_Word], asked: Sequence[_Word]) -> str:
    """The specific words as the citizen wrote them, each with the nouns right after it
    ("Pfaffendorfer Brücke", not "Pfaffendorfer")."""
    phrases: list[str] = []
    covered: set[int] = set()
    for index, word in enumerate(asked):
        if word not in specific or index in covered:
            continue
        end = index + 1
        while end < len(asked) and asked[end].original[:1].isupper():
            end += 1
        covered.update(range(index, end))
        phrases.append(" ".join(w.original for w in asked[index:end]))
    return "„" + " ".join(phrases) + "“"


async def news_answer(
    source: NewsSource, text: str, now: dt.datetime | None = None, max_age: dt.timedelta = MAX_AGE
) -> Reply | None:
    """The answer from the latest posts, or None when the question is not about news."""
    asked_words = _words(text)
    topics: list[str] = []
    for word in asked_words:
        topic = _topic_of(word)
        if topic and topic not in topics:
            topics.append(topic)
    asks_news = any(w.folded in NEWS_WORDS for w in asked_words)
    if not topics and not asks_news:
        return None
    if any(w.folded in SUBSCRIBE_WORDS or w.folded.startswith(SUBSCRIBE_PREFIXES) for w in asked_words):
        return None
    specific = [
        w
        for w in asked_words
        if w.folded not in STOPWORDS
        and w.folded not in QUESTION_WORDS
        and w.folded not in NEWS_WORDS
        and (len(w.folded) >= 4 or any(ch.isdigit() for ch in w.folded))
        and not _is_topic_word(w)
    ]
    topic_terms = [w.stem for w in asked_words if _topic_of(w)]
    oldest = (now or dt.datetime.now(dt.UTC)) - max_age
    items: list[NewsItem] = []
    wanted: list[str | None] = list(topics) if topics else [None]
    for topic in wanted:
        for item in await source.latest(topic, FETCH):
            if (item.published_at is None or item.published_at >= oldest) and item not in items:
                items.append(item)
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    items.sort(key=lambda i: i.published_at or far_past, reverse=True)
    about = " und ".join(TOPIC_LABELS[t] for t in topics) if topics else ""
    theme = f" zum Thema {about}" if about else ""

    if specific:
        asked = [w.stem for w in specific]
        matching = [i for i in items if _mentions(i, asked)]
        if matching:
            matching.sort(key=lambda i: _mentions(i, asked), reverse=True)
            blocks, links = _cards(matching[:MAX_ITEMS])
            lead = Paragraph(f"Aktuelle Meldungen zu {_quoted(specific, asked_words)}:")
            return Reply.of((lead, *blocks), KIND, links=tuple(links))
        if not topics:
            return None  # "Neues zum Hochwasser?" with no such post: warnings or the catalog may know
        none = Paragraph(
            f"In den aktuellen Meldungen{theme} finde ich nichts zu {_quoted(specific, asked_words)}."
        )
        if not items:
            return Reply.of((none,), KIND)
        blocks, links = _cards(items[:MAX_ITEMS])
        return Reply.of(
            (none, Paragraph(f"Die neuesten Meldungen{theme}:"), *blocks), KIND, links=tuple(links)
        )

    if not items:
        return Reply(f"Mir liegen zurzeit keine aktuellen Meldungen{theme} vor.", KIND)
    # the topic words asked ("Corona") first, then the newest
    ranked = (
        sorted(items, key=lambda i: _mentions(i, topic_terms) > 0, reverse=True) if topic_terms else items
    )
    blocks, links = _cards(ranked[:MAX_ITEMS])
    lead = Paragraph(f"Die neuesten Meldungen{theme}:" if theme else "Die neuesten Meldungen der Stadt:")
    return Reply.of((lead, *blocks), KIND, links=tuple(links))
