"""The banner's publisher: a pull channel that shows the first line of an alert (its headline)."""

from __future__ import annotations

from broadcasts.publishers import Capabilities, PullPublisher


class BannerPublisher(PullPublisher):
    name = "banner"
    label = "Website-Banner"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        posts=False,
        cannot=(
            "Zeigt nur aktive Warnungen, keine Pressemitteilungen.",
            "Zeigt nur eine Zeile (die Überschrift), keinen langen Text.",
        ),
    )

    def preview(self, text: str) -> str:
        stripped = text.strip()
        return stripped.splitlines()[0] if stripped else ""
