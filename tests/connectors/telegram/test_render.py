"""Rendering a reply's blocks for Telegram: <b> titles, escaped text, "• " lists, the 4,096 split."""

from __future__ import annotations

import html
import re

from bot.events import Bullets, Link, Paragraph, QuickReply, Reply, Title
from connectors.telegram.render import MAX_MESSAGE, render, utf16_len


def _plain(fragment: str) -> str:
    """What the citizen reads: the HTML without tags, entities resolved (as Telegram parses it)."""
    return html.unescape(re.sub(r"</?b>", "", fragment))


def test_title_is_bold_and_everything_is_escaped() -> None:
    reply = Reply.of(
        (
            Title("Hunde_steuer <b>ermäßigt</b> & mehr"),
            Paragraph("Das kostet es:"),
            Bullets(("Erster Hund: 5 < 10 €", "**kein** Fettdruck")),
            Paragraph("Zeile 1\nZeile 2"),
        ),
        "service",
        quick_replies=(QuickReply("Kosten", "svc:hundesteuer:fees"),),
        notices=("⚠ Aktuelle Warnung: Hochwasser <Mosel>",),
    )
    [message] = render(reply)
    assert message.html == (
        "⚠ Aktuelle Warnung: Hochwasser &lt;Mosel&gt;\n\n"
        "<b>Hunde_steuer &lt;b&gt;ermäßigt&lt;/b&gt; &amp; mehr</b>\n\n"
        "Das kostet es:\n• Erster Hund: 5 &lt; 10 €\n• **kein** Fettdruck\n\n"
        "Zeile 1\nZeile 2"
    )
    assert _plain(message.html) == "\n\n".join([*reply.notices, reply.text])
    assert message.keyboard is not None


def test_contacts_follow_the_blocks() -> None:
    reply = Reply.of(
        (Paragraph("So erreichen Sie uns:"), Bullets(("Bürgeramt",))),
        "handoff",
        links=(Link("Bürgeramt anrufen", "tel:+4926112900", "contact"),),
    )
    [message] = render(reply)
    assert message.html.endswith("• Bürgeramt\n\n☎ Bürgeramt anrufen: +4926112900")
    assert message.keyboard is None  # tel: cannot be a Telegram button


def test_long_replies_split_below_the_limit_with_balanced_tags() -> None:
    long_title = "Titel " * 1000  # longer than one message: cut, each part still bold
    paragraphs = [Paragraph(f"Absatz {i}: " + "Koblenz liegt an Rhein und Mosel. " * 40) for i in range(8)]
    items = tuple(f"Zeile {i} mit <x> & Text" for i in range(300))
    reply = Reply.of((Title(long_title.strip()), *paragraphs, Bullets(items)), "service")
    messages = render(reply)
    assert len(messages) >= 4
    for message in messages:
        assert utf16_len(_plain(message.html)) <= MAX_MESSAGE
        assert message.html.count("<b>") == message.html.count("</b>")
        assert not re.search(r"<(?!/?b>)", message.html)  # no stray tag: every "<" of the text is escaped
    assert messages[0].html.startswith("<b>Titel") and messages[1].html.startswith("<b>Titel")
    assert "".join(_plain(m.html) for m in messages).replace("\n", "").replace(" ", "") == (
        reply.text.replace("\n", "").replace(" ", "")
    )
    assert all(_plain(m.html).startswith(("Titel", "Absatz", "• Zeile")) for m in messages)


def test_an_empty_reply_still_sends_something() -> None:
    [message] = render(Reply("", "fallback"))
    assert message.html == "…"
