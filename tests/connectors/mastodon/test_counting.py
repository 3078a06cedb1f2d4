"""Lengths as Mastodon counts them: URLs weigh the instance's reserved length, remote mentions their local
part, emoji one character each; checked against Mastodon's own URL pattern (as Mastodon.py ships it)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mastodon._url_regex import url_regex

from connectors.mastodon.counting import countable, graphemes, status_length, urls
from tests.conftest import examples

SAMPLE_URLS = [
    "https://www.koblenz.de",
    "https://www.koblenz.de/",
    "https://www.koblenz.de/rathaus/buergerservice/",
    "https://www.koblenz.de/leben-in-koblenz/ordnung-und-sicherheit?seite=2&sort=neu#inhalt",
    "http://koblenz.de/a_(b)",
    "https://social.bund.de/@stadt_koblenz/113000000000000001",
    "https://de.wikipedia.org/wiki/Koblenz_(Stadt)",
    "https://www.bbk.bund.de/DE/Warnung-Vorsorge/Warn-App-NINA/warn-app-nina_node.html",
    "https://www.koblenz.de/müll-und-abfälle/",
    "HTTPS://WWW.KOBLENZ.DE/X",
    "https://www.koblenz.de:8443/karte",
    "https://t.co/x",
]
GLUE = [" ", ". ", ", ", "\n", " (", ") ", ": ", "! ", "? ", " „", "“ ", " 👍 ", ".", ",", ")"]
WORDS = ["Infos", "unter", "Bitte", "meiden", "Sie", "die", "Altstadt", "Straße", "Koblenz", "Rhein"]


def mastodon_countable(text: str, weight: int = 23) -> str:
    """Mastodon.py's get_status_length without the grapheme module: Mastodon's URL regex, then mentions."""
    return str(url_regex.sub(lambda m: m.group(2) + "x" * weight, text))


@pytest.mark.parametrize("url", SAMPLE_URLS)
def test_every_url_weighs_23_characters(url: str) -> None:
    assert status_length(f"Infos: {url}") == len("Infos: ") + 23
    assert urls(f"Mehr dazu ({url}).") == [url]


def test_url_weight_comes_from_the_instance() -> None:
    assert status_length("https://www.koblenz.de/rathaus", url_weight=30) == 30
    assert status_length("https://t.co", url_weight=23) == 23  # short URLs count the full weight too


def test_trailing_punctuation_and_text_without_scheme_count_as_text() -> None:
    assert status_length("Siehe https://www.koblenz.de.") == len("Siehe ") + 23 + 1
    assert status_length("koblenz.de") == len("koblenz.de")  # no scheme: not a URL for Mastodon
    assert status_length("http://localhost:8080/x") == len("http://localhost:8080/x")  # no TLD
    assert status_length("Mail an info@koblenz.de") == len("Mail an info@koblenz.de")


def test_remote_mention_counts_its_local_part() -> None:
    assert countable("Danke @stadt@social.bund.de!") == "Danke @stadt!"
    assert status_length("@stadt@social.bund.de") == len("@stadt")
    assert status_length("@stadt") == len("@stadt")


def test_content_warning_counts_as_it_is() -> None:
    assert (
        status_length("Text", "Warnung: https://www.koblenz.de") == len("Warnung: https://www.koblenz.de") + 4
    )


def test_emoji_and_combined_characters_count_once() -> None:
    assert graphemes("⚠️") == 1  # with variation selector
    assert graphemes("👩‍🚒") == 1  # ZWJ sequence
    assert graphemes("👍🏽") == 1  # skin tone
    assert graphemes("🇩🇪🇪🇺") == 2  # two flags
    assert graphemes("e\u0301") == 1  # combining accent
    assert graphemes("Straße\r\n") == 7
    assert graphemes("a\u200db") == 2  # a joiner between letters joins nothing


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(SAMPLE_URLS), st.sampled_from(WORDS), st.sampled_from(GLUE)), max_size=14
    )
)
def test_url_weighting_agrees_with_mastodons_pattern(parts: list[str]) -> None:
    text = " ".join(parts)
    assert countable(text) == mastodon_countable(text)
