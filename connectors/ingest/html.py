"""Feed HTML → safe plain text, and feed dates → Europe/Berlin.

Feeds carry HTML in titles and summaries (``<p>``, ``<a>``, entities, sometimes ``<script>``). We never
pass it on as markup: it is cleaned with nh3 (the Python binding of the maintained Rust sanitiser ammonia),
never with regular expressions. Two passes: the first keeps only block tags, without attributes, which
ammonia serialises in one canonical form (``<p>``, ``</p>``, ``<br>``, ``<li>``) that can be turned into
line breaks by plain string replacement; the second removes every remaining tag (``<script>`` and
``<style>`` with their content); then the entities are decoded. The result is plain text for any channel
(each channel escapes it its own way); the entry's link travels beside it, never inside the text.
"""

from __future__ import annotations

import datetime as dt
import html
import time

import nh3

from core.time import BERLIN

_BLOCKS = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre"}
# ammonia's canonical serialisation of the block tags kept by the first pass → plain-text breaks
_BREAKS = (
    ("<br>", "\n"),
    ("<li>", "\n• "),
    ("</li>", ""),
    ("</p>", "\n\n"),
    ("</div>", "\n"),
    ("</tr>", "\n"),
    ("</blockquote>", "\n\n"),
    ("</pre>", "\n\n"),
    *((f"</h{level}>", "\n\n") for level in range(1, 7)),
)


def plain_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment: tags and attributes gone (scripts and styles with their content),
    entities decoded, paragraphs kept as blank lines, runs of spaces collapsed."""
    if not fragment:
        return ""
    kept = nh3.clean(fragment, tags=_BLOCKS, attributes={}, strip_comments=True)
    for tag, brk in _BREAKS:
        kept = kept.replace(tag, brk)
    text = html.unescape(nh3.clean(kept, tags=set(), strip_comments=True))
    lines = [" ".join(line.replace("\xa0", " ").split()) for line in text.splitlines()]
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)


def one_line(fragment: str | None) -> str:
    """A title: plain text on one line."""
    return " ".join(plain_text(fragment).split())


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut between words with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def to_utc(parsed: time.struct_time | None) -> dt.datetime | None:
    """feedparser's ``*_parsed`` (a UTC struct_time) as an aware UTC datetime."""
    if parsed is None:
        return None
    try:
        return dt.datetime(*parsed[:6], tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return None


def berlin(value: dt.datetime) -> dt.datetime:
    """The same moment on the clocks in Koblenz (CET/CEST)."""
    return value.astimezone(BERLIN)


def german_datetime(value: dt.datetime) -> str:
    """ "03.03.2025, 15:00 Uhr" in Europe/Berlin."""
    local = berlin(value)
    return f"{local:%d.%m.%Y, %H:%M} Uhr"
