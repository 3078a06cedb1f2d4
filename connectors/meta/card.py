"""The picture of an Instagram post: an accessible card rendered with Pillow, and where it is kept.

A card is a JPEG of 1080 × 1350 pixels (4:5, the tallest ratio Instagram's feed takes) with

- an "ÜBUNG – keine echte Gefahr" banner on top when the message is an exercise or a test;
- the kind of message: the severity in the one German vocabulary (``core.alerts``: "Extreme Gefahr",
  "Gefahr", "Gefahreninformation", "Warnung"), "Aktualisiert: …", "Entwarnung" or "Mitteilung";
- the headline (large, bold), "Betroffen: …" (Stadtteile or the whole city), a short instruction;
- "Stadt Koblenz" at the foot.

Colours by severity: Extreme dark red, Severe red, Moderate orange and Minor yellow (both with dark
text), Unknown slate, all-clears green, posts a calm blue. Every pair of text and background colour has a
contrast of at least 4.5:1 (WCAG 2 AA for normal text; :func:`contrast`, checked by the tests). German text
is word-wrapped and set in DejaVu Sans (found among the system fonts) or else Pillow's own scalable
default font; characters no font here can draw (emoji) are left out of the picture, never shown as boxes.
The alt text (:func:`alt_text`) says the same in words.

``CardStore`` writes a card once under its SHA-256 (``<state_dir>/cards/<sha256>.jpg``, atomically) and
prunes cards older than ``keep_days``; ``connectors.meta.routes`` serves them.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from broadcasts.publishers import Outgoing
from core.alerts import severity_label

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1080, 1350  # 4:5
MARGIN = 72
Colour = tuple[int, int, int]
WHITE: Colour = (255, 255, 255)
DARK: Colour = (26, 26, 26)
BANNER_BACK: Colour = (0, 0, 0)
BANNER_TEXT: Colour = (255, 214, 0)
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)
CARD_NAME = re.compile(r"[0-9a-f]{64}")
KEEP_DAYS = 30
ALT_LIMIT = 1000  # characters of alt text we send at most


@dataclass(frozen=True)
class Palette:
    background: Colour
    text: Colour


PALETTES: dict[str, Palette] = {
    "Extreme": Palette((110, 0, 0), WHITE),
    "Severe": Palette((198, 40, 40), WHITE),
    "Moderate": Palette((245, 124, 0), DARK),
    "Minor": Palette((255, 214, 0), DARK),
    "Unknown": Palette((55, 71, 79), WHITE),
    "allclear": Palette((27, 94, 32), WHITE),
    "post": Palette((21, 74, 128), WHITE),
}


def _luminance(colour: Colour) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Colour, b: Colour) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True)
class Card:
    label: str  # "Extreme Gefahr", "Aktualisiert: Gefahr", "Entwarnung", "Mitteilung"
    headline: str
    areas: str  # "Betroffen: …" ("" for posts)
    body: str  # the instruction (alerts) or the rest of the text (posts)
    palette: Palette
    exercise: bool = False


ALERT_KINDS = ("alert", "update", "allclear")


def _drawable(text: str) -> str:
    """``text`` without what the fonts here cannot draw (emoji, pictographs, joiners, variation
    selectors), whitespace tidied."""
    kept = []
    for ch in text:
        point = ord(ch)
        if point >= 0x1F000 or 0x2600 <= point <= 0x27BF or 0x2B00 <= point <= 0x2BFF:
            continue
        if point in (0x200D, 0xFE0E, 0xFE0F) or unicodedata.category(ch) in ("Co", "Cs", "Cn"):
            continue
        kept.append(ch)
    lines = ("".join(kept)).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines).strip()


def areas_line(outgoing: Outgoing) -> str:
    return "Betroffen: " + (", ".join(outgoing.areas) if outgoing.areas else "ganzes Stadtgebiet Koblenz")


def card_for(outgoing: Outgoing, text: str) -> Card:
    """The card of a message: its facts from ``outgoing``; a post's headline and body from ``text``."""
    kind = outgoing.kind if outgoing.kind in ALERT_KINDS else "post"
    if kind == "post":
        lines = [line for line in _drawable(text).splitlines() if line.strip()]
        if outgoing.link:
            lines = [line for line in lines if line.strip() != outgoing.link]
        headline = _drawable(outgoing.headline) or (lines[0] if lines else "")
        rest = lines[1:] if lines and lines[0] == headline else lines
        return Card("Mitteilung", headline, "", " ".join(rest), PALETTES["post"], outgoing.exercise)
    severity = outgoing.severity if outgoing.severity in PALETTES else "Unknown"
    label = outgoing.severity_label or severity_label(severity)
    headline = _drawable(outgoing.headline or outgoing.event_name) or label
    if kind == "allclear":
        return Card(
            "Entwarnung",
            headline,
            areas_line(outgoing),
            "Die Warnung ist aufgehoben.",
            PALETTES["allclear"],
            outgoing.exercise,
        )
    if kind == "update":
        label = f"Aktualisiert: {label}"
    return Card(
        label,
        headline,
        areas_line(outgoing),
        _drawable(outgoing.instruction),
        PALETTES[severity],
        outgoing.exercise,
    )


def alt_text(card: Card) -> str:
    """The card in words, for screen readers (Instagram's ``alt_text``)."""
    parts = []
    if card.exercise:
        parts.append("ÜBUNG – keine echte Gefahr.")
    parts.append(f"{card.label}: {card.headline.rstrip('.')}.")
    if card.areas:
        parts.append(f"{card.areas}.")
    if card.body:
        parts.append(card.body if card.body.endswith((".", "!", "?")) else f"{card.body}.")
    parts.append("Stadt Koblenz.")
    text = " ".join(parts)
    if len(text) > ALT_LIMIT:
        text = text[: ALT_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    return text


# -- rendering ---------------------------------------------------------------------------------------

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def _font_file(bold: bool) -> str | None:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return None


@functools.cache
def font(size: int, bold: bool = False) -> Font:
    """DejaVu Sans (bold) at ``size`` px if the system has it, else Pillow's scalable default font."""
    path = _font_file(bold)
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            log.warning("font %s cannot be read; using Pillow's default font", path)
    return ImageFont.load_default(size=size)


def _width(text: str, face: Font) -> float:
    return float(face.getlength(text))


def wrap(text: str, face: Font, width: int) -> list[str]:
    """``text`` broken into lines no wider than ``width`` pixels: between words, a word longer than a
    line between its characters; line breaks in ``text`` kept."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if _width(candidate, face) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while _width(word, face) > width and len(word) > 1:
                cut = len(word)
                while cut > 1 and _width(word[:cut] + "-", face) > width:
                    cut -= 1
                lines.append(word[:cut] + "-")
                word = word[cut:]
            current = word
        if current:
            lines.append(current)
    return lines


def _ellipsized(lines: list[str], keep: int, face: Font, width: int) -> list[str]:
    if len(lines) <= keep:
        return lines
    kept = lines[:keep]
    last = kept[-1]
    while last and _width(last + " …", face) > width:
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    kept[-1] = (last + " …").strip()
    return kept


def _block(
    text: str, sizes: tuple[int, ...], bold: bool, width: int, max_lines: int
) -> tuple[Font, list[str], int]:
    """The largest of ``sizes`` at which ``text`` fits in ``max_lines`` without breaking a word; else the
    smallest, cut with "…".
    Returns the font, the lines and the line height."""
    for size in sizes:
        face = font(size, bold)
        lines = wrap(text, face, width)
        whole_words = all(_width(word, face) <= width for word in text.split())
        if len(lines) <= max_lines and (whole_words or size == sizes[-1]):
            return face, lines, int(size * 1.25)
    face = font(sizes[-1], bold)
    return face, _ellipsized(wrap(text, face, width), max_lines, face, width), int(sizes[-1] * 1.25)


def render(card: Card) -> bytes:
    """The card as JPEG bytes (1080 × 1350, RGB, baseline)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), card.palette.background)
    draw = ImageDraw.Draw(image)
    fg = card.palette.text
    width = WIDTH - 2 * MARGIN
    y = MARGIN
    if card.exercise:
        banner = font(60, True)
        band = 140
        draw.rectangle((0, 0, WIDTH, band), fill=BANNER_BACK)
        text = "ÜBUNG – keine echte Gefahr"
        if _width(text, banner) > width:
            banner = font(44, True)
        draw.text((WIDTH / 2, band / 2), text, font=banner, fill=BANNER_TEXT, anchor="mm")
        y = band + 56
    footer_top = HEIGHT - MARGIN - 60
    label_face, label_lines, label_height = _block(card.label.upper(), (52, 44, 38), True, width, 2)
    for line in label_lines:
        draw.text((MARGIN, y), line, font=label_face, fill=fg)
        y += label_height
    y += 12
    draw.rectangle((MARGIN, y, MARGIN + 160, y + 8), fill=fg)
    y += 48
    head_face, head_lines, head_height = _block(card.headline, (84, 76, 68, 60, 54), True, width, 5)
    for line in head_lines:
        draw.text((MARGIN, y), line, font=head_face, fill=fg)
        y += head_height
    y += 32
    if card.areas:
        area_face, area_lines, area_height = _block(card.areas, (46, 42, 38), True, width, 3)
        for line in area_lines:
            draw.text((MARGIN, y), line, font=area_face, fill=fg)
            y += area_height
        y += 28
    if card.body:
        body_face = font(42)
        body_height = int(42 * 1.3)
        room = max(0, (footer_top - 40 - y) // body_height)
        for line in _ellipsized(wrap(card.body, body_face, width), room, body_face, width):
            draw.text((MARGIN, y), line, font=body_face, fill=fg)
            y += body_height
    draw.rectangle((MARGIN, footer_top - 24, WIDTH - MARGIN, footer_top - 20), fill=fg)
    draw.text((MARGIN, footer_top), "Stadt Koblenz", font=font(48, True), fill=fg)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, optimize=True)
    return out.getvalue()


# -- storage -----------------------------------------------------------------------------------------


class CardStore:
    """Cards on disk, named by the SHA-256 of their bytes (so a name never changes its picture and can be
    cached for good)."""

    def __init__(self, folder: Path, keep_days: int = KEEP_DAYS) -> None:
        self.folder = folder
        self.keep_days = keep_days

    def path(self, name: str) -> Path | None:
        """Where the card ``name`` is (a 64-digit hex SHA-256), or None for any other name."""
        return self.folder / f"{name}.jpg" if CARD_NAME.fullmatch(name) else None

    def save(self, data: bytes) -> str:
        """Write ``data`` once (atomically) and return its name; prune old cards."""
        name = hashlib.sha256(data).hexdigest()
        target = self.folder / f"{name}.jpg"
        self.folder.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                os.chmod(temporary, 0o644)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        else:
            os.utime(target)  # in use again: not pruned soon
        self.prune()
        return name

    def prune(self) -> int:
        """Delete cards (and stray temporary files) older than ``keep_days``; how many went."""
        limit = time.time() - self.keep_days * 86400
        gone = 0
        for path in self.folder.glob("*"):
            if path.suffix not in (".jpg", ".tmp"):
                continue
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    gone += 1
            except OSError:
                continue
        return gone
