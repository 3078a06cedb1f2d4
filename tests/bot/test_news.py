"""The chat answers news questions from the latest posts of the matching topic, with date and source."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.news import news_answer
from core.news import NewsItem, StaticNews

NOW = dt.datetime(2025, 7, 10, 12, 0, tzinfo=dt.UTC)

BRIDGE = NewsItem(
    "Balduinbrücke ab Montag gesperrt",
    "Wegen Bauarbeiten ist die Brücke von 20 bis 5 Uhr voll gesperrt. Eine Umleitung ist ausgeschildert.",
    "https://example.invalid/balduinbruecke",
    "verkehr",
    dt.datetime(2025, 7, 10, 8, 30, tzinfo=dt.UTC),
    "Stadt Koblenz",
)
ROADWORKS = NewsItem(
    "Baustelle am Moselring",
    "Die rechte Spur ist bis Freitag gesperrt.",
    None,
    "verkehr",
    dt.datetime(2025, 7, 10, 10, 0, tzinfo=dt.UTC),
    "Verkehrsmeldungen",
)
CORONA = NewsItem(
    "Neue Corona-Impfstelle im Rathaus",
    "Ab Montag impft das Gesundheitsamt ohne Termin.",
    "https://example.invalid/impfstelle",
    "gesundheit",
    dt.datetime(2025, 1, 20, 9, 0, tzinfo=dt.UTC) + dt.timedelta(days=165),
    "Gesundheitsamt",
)
HEAT = NewsItem(
    "Hitzeschutz: Tipps für heiße Tage",
    "Trinken Sie ausreichend.",
    None,
    "gesundheit",
    dt.datetime(2025, 7, 9, 7, 0, tzinfo=dt.UTC),
    "Gesundheitsamt",
)
OLD = NewsItem(
    "Corona-Regeln aus dem Vorjahr",
    "Alt.",
    None,
    "gesundheit",
    dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
    "Archiv",
)
NEWS = StaticNews([BRIDGE, ROADWORKS, CORONA, HEAT, OLD])


async def test_corona_question_is_answered_from_health_posts_with_date_and_source() -> None:
    reply = await news_answer(NEWS, "Was gibt es Neues zu Corona?", now=NOW)
    assert reply is not None
    text = reply.text
    assert text.startswith("Die neuesten Meldungen zum Thema Gesundheit:")
    # the one about Corona first, with its date in Koblenz time (09:00 UTC = 11:00 CEST) and source
    assert text.index("Neue Corona-Impfstelle im Rathaus") < text.index("Hitzeschutz")
    assert "04.07.2025, 11:00 Uhr · Quelle: Gesundheitsamt" in text
    assert "09.07.2025, 09:00 Uhr · Quelle: Gesundheitsamt" in text
    assert "Baustelle" not in text and "Vorjahr" not in text  # other topic; older than 30 days
    assert [link.url for link in reply.links] == ["https://example.invalid/impfstelle"]


async def test_bridge_question_finds_the_closure() -> None:
    reply = await news_answer(NEWS, "Ist die Balduinbrücke gesperrt?", now=NOW)
    assert reply is not None
    assert reply.text.splitlines()[0] == "Aktuelle Meldungen zu „Balduinbrücke“:"
    assert "Balduinbrücke ab Montag gesperrt" in reply.text
    assert "10.07.2025, 10:30 Uhr · Quelle: Stadt Koblenz" in reply.text
    assert "Moselring" not in reply.text  # closed too, but not what was asked
    assert reply.links[0].url == "https://example.invalid/balduinbruecke"


async def test_nothing_about_the_bridge_is_said_plainly_never_as_an_answer() -> None:
    reply = await news_answer(NEWS, "Ist die Pfaffendorfer Brücke gesperrt?", now=NOW)
    assert reply is not None
    assert reply.text.startswith(
        "In den aktuellen Meldungen zum Thema Verkehr finde ich nichts zu „Pfaffendorfer Brücke“."
    )
    assert "Die neuesten Meldungen zum Thema Verkehr:" in reply.text


async def test_no_posts_at_all_in_the_topic() -> None:
    reply = await news_answer(StaticNews([CORONA]), "Gibt es Staus in Koblenz?", now=NOW)
    assert reply is not None
    assert reply.text == "Mir liegen zurzeit keine aktuellen Meldungen zum Thema Verkehr vor."
    empty = await news_answer(StaticNews(), "Ist die Balduinbrücke gesperrt?", now=NOW)
    assert empty is not None and "finde ich nichts zu „Balduinbrücke“" in empty.text


@pytest.mark.parametrize(
    "question",
    [
        "Was kostet ein Reisepass?",
        "Wie melde ich Sperrmüll an?",  # "sperr…" but not a closure
        "Wo bekomme ich ein Gesundheitszeugnis?",
        "Ist der Brückentag ein Feiertag?",
        "Ich möchte Verkehrsmeldungen abonnieren",
        "Wie kann ich das Abo für Corona-Meldungen kündigen?",
        "Hallo",
    ],
)
async def test_other_questions_are_left_to_the_dialogue(question: str) -> None:
    assert await news_answer(NEWS, question, now=NOW) is None


async def test_news_without_a_topic_lists_the_newest_of_all() -> None:
    reply = await news_answer(NEWS, "Gibt es aktuelle Meldungen?", now=NOW)
    assert reply is not None
    text = reply.text
    assert text.startswith("Die neuesten Meldungen der Stadt:")
    assert text.index("Moselring") < text.index("Balduinbrücke") < text.index("Hitzeschutz")
    assert "Impfstelle" not in text  # three at most


async def test_news_about_an_unknown_subject_without_topic_is_left_to_the_dialogue() -> None:
    assert await news_answer(NEWS, "Gibt es Neues zum Hochwasser?", now=NOW) is None


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Wann ist das nächste Weinfest?", "Veranstaltungen"),
        ("Gibt es eine neue Pressemitteilung?", "Pressemitteilungen"),
        ("Wo ist eine Baustelle?", "Verkehr"),
        ("Brauche ich eine Impfung?", "Gesundheit"),
    ],
)
async def test_topic_words(question: str, expected: str) -> None:
    reply = await news_answer(StaticNews(), question, now=NOW)
    assert reply is not None and f"zum Thema {expected}" in reply.text


async def test_long_texts_are_shortened_and_undated_items_show_the_source() -> None:
    long = NewsItem("Sperrung Europabrücke", "Wort " * 200, None, "verkehr", None, "Polizei")
    reply = await news_answer(StaticNews([long]), "Ist die Europabrücke gesperrt?", now=NOW)
    assert reply is not None
    assert "Quelle: Polizei" in reply.text and "Uhr" not in reply.text
    body = reply.text.split("Quelle: Polizei\n\n", 1)[1]
    assert len(body) <= 300 and body.endswith("…")
