"""Reply → Telegram messages: HTML with everything escaped, inline keyboards, splitting at 4,096 characters.

The reply's blocks are rendered here: a ``Title`` becomes ``<b>Titel</b>``, paragraphs plain lines, a
``Bullets`` list "• " lines. All text is escaped (no markup is read from it), so titles with ``_``, ``*``
or ``<`` never break a message. Telegram allows only http(s) and tg:// URLs on buttons: ``tel:`` and
``mailto:`` contacts go into the text instead (unless it already names them).
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.events import Bullets, Link, QuickReply, Reply, Title, block_text
from connectors.telegram.limits import MAX_TEXT

log = logging.getLogger(__name__)
MAX_MESSAGE = MAX_TEXT  # characters (UTF-16 code units) after entity parsing
MAX_CALLBACK_DATA = 64  # bytes
_PHONE = re.compile(r"\+?\d[\d /-]*\d|\d")


@dataclass(frozen=True)
class Outgoing:
    """One Telegram message: HTML text and an optional inline keyboard."""

    html: str
    keyboard: InlineKeyboardMarkup | None = None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def to_html(text: str) -> str:
    """Escape plain text for parse_mode HTML."""
    return html.escape(text, quote=False)


def _fitting_prefix(text: str, limit: int) -> int:
    """How many characters of ``text`` fit into ``limit`` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return max(1, index)
    return len(text)


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split at paragraph, then line, then word boundaries into chunks of at most ``limit`` characters."""
    text = text.strip()
    if utf16_len(text) <= limit:
        return [text] if text else []
    separator = next((sep for sep in ("\n\n", "\n", " ") if sep in text), None)
    if separator is None:
        cut = _fitting_prefix(text, limit)
        return [text[:cut], *split_text(text[cut:], limit)]
    chunks: list[str] = []
    current = ""
    for part in text.split(separator):
        candidate = f"{current}{separator}{part}" if current else part
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        if utf16_len(part) <= limit:
            current = part
        else:
            pieces = split_text(part, limit)
            chunks.extend(pieces[:-1])
            current = pieces[-1] if pieces else ""
    if current:
        chunks.append(current)
    return [chunk.strip() for chunk in chunks if chunk.strip()]


def is_button_url(url: str) -> bool:
    return url.startswith(("https://", "http://", "tg://"))


def _digits(text: str) -> set[str]:
    return {re.sub(r"\D", "", match) for match in _PHONE.findall(text)}


def contact_lines(links: tuple[Link, ...], text: str) -> list[str]:
    """tel:/mailto: links the text does not already name, as lines for the text."""
    lines = []
    numbers = _digits(text)
    for link in links:
        if link.url.startswith("tel:"):
            number = link.url[4:]
            if re.sub(r"\D", "", number) not in numbers:
                lines.append(f"☎ {link.title}: {number}")
        elif link.url.startswith("mailto:"):
            address = link.url[7:]
            if address.lower() not in text.lower():
                lines.append(f"✉ {link.title}: {address}")
    return lines


def keyboard(links: tuple[Link, ...], quick_replies: tuple[QuickReply, ...]) -> InlineKeyboardMarkup | None:
    """URL buttons for the links (one per row), callback buttons for the quick replies (two per row)."""
    rows: list[list[InlineKeyboardButton]] = [
        [InlineKeyboardButton(link.title, url=link.url)] for link in links if is_button_url(link.url)
    ]
    buttons = []
    for quick in quick_replies:
        if len(quick.payload.encode("utf-8")) > MAX_CALLBACK_DATA:
            log.warning("quick reply payload longer than 64 bytes left out: %r", quick.payload[:80])
            continue
        buttons.append(InlineKeyboardButton(quick.title, callback_data=quick.payload))
    rows += [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(rows) if rows else None


def _body(reply: Reply) -> tuple[str, list[tuple[int, int]]]:
    """The message's plain text (notices, blocks, contacts not named in the text) and where its titles are."""
    contacts = contact_lines(reply.links, reply.text)
    parts: list[tuple[str, bool, bool]] = [(notice, False, False) for notice in reply.notices]
    parts += [(block_text(b), isinstance(b, Title), isinstance(b, Bullets)) for b in reply.blocks]
    if contacts:
        parts.append(("\n".join(contacts), False, False))
    text, bold = "", []
    for part, is_title, is_list in parts:
        if not part.strip():
            continue
        if text:
            text += "\n" if is_list and text.endswith(":") else "\n\n"  # a list under its lead-in
        if is_title:
            bold.append((len(text), len(text) + len(part)))
        text += part
    return text, bold


def _html(text: str, start: int, end: int, bold: list[tuple[int, int]]) -> str:
    """``text[start:end]`` escaped, the parts inside a title span in <b> (also when a split cut a title)."""
    out, position = [], start
    for span_start, span_end in bold:
        cut_start, cut_end = max(span_start, start), min(span_end, end)
        if cut_start >= cut_end:
            continue
        out += [to_html(text[position:cut_start]), "<b>", to_html(text[cut_start:cut_end]), "</b>"]
        position = cut_end
    out.append(to_html(text[position:end]))
    return "".join(out)


def render(reply: Reply) -> list[Outgoing]:
    """The Reply as Telegram messages: notices first, then the blocks and the contacts; split into messages
    of at most 4,096 characters (at paragraphs, then lines, then words), the keyboard on the last one."""
    text, bold = _body(reply)
    markup = keyboard(reply.links, reply.quick_replies)
    chunks = split_text(text)
    if not chunks:
        return [Outgoing("…", markup)]
    messages, position = [], 0
    for index, chunk in enumerate(chunks):
        start = text.find(chunk, position)  # every chunk is a piece of the text, in order
        position = start + len(chunk)
        messages.append(
            Outgoing(_html(text, start, position, bold), markup if index == len(chunks) - 1 else None)
        )
    return messages


def render_text(text: str, markup: InlineKeyboardMarkup | None = None) -> list[Outgoing]:
    """Plain German text of the channel itself (help, privacy, subscriptions), escaped and split."""
    chunks = split_text(text) or ["…"]
    return [
        Outgoing(to_html(chunk), markup if index == len(chunks) - 1 else None)
        for index, chunk in enumerate(chunks)
    ]
