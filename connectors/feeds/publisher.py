"""The feeds' publishers: pull channels, so they only declare what they carry and how they show it."""

from __future__ import annotations

from broadcasts.publishers import Capabilities, PullPublisher

FEED_TITLE_CHARS = 120  # the feed entry's title: the first line of the text, cut here


class FeedPublisher(PullPublisher):
    name = "feed"
    label = "RSS/Atom-Feed"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        cannot=(
            "Feed-Leser holen den Feed selbst ab; wann sie eine Änderung sehen, bestimmt ihr Abrufintervall.",
            "Zeigt die letzten 50 Mitteilungen und Warnungen; Bilder nur als Link.",
        ),
    )

    def preview(self, text: str) -> str:
        """The entry's title (the first line, at most 120 characters) and its text, as feed readers show
        them; the link is the entry's own link, not part of the text."""
        stripped = text.strip()
        if not stripped:
            return ""
        return f"Titel: {stripped.splitlines()[0][:FEED_TITLE_CHARS]}\n{stripped}"


class CapFeedPublisher(PullPublisher):
    name = "cap"
    label = "CAP-Feed"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        posts=False,
        cannot=("Enthält nur Warnungen, keine Pressemitteilungen; beendete Warnungen fallen heraus.",),
    )

    def preview(self, text: str) -> str:
        return text
