"""The text of a post or suggestion made from a feed entry: the title, the summary (shortened), and the
source named with the entry's date in Koblenz time. The entry's link travels as the post's link."""

from __future__ import annotations

import datetime as dt

from connectors.ingest.html import german_datetime, shorten

MAX_SUMMARY = 800


def entry_text(title: str, summary: str, source: str, published_at: dt.datetime | None) -> str:
    parts = [title]
    body = shorten(summary, MAX_SUMMARY)
    if body and body != title:
        parts.append(body)
    when = f" (veröffentlicht am {german_datetime(published_at)})" if published_at else ""
    parts.append(f"Quelle: {source}{when}")
    return "\n\n".join(parts)
