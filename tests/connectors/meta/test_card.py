"""The Instagram card: a JPEG Instagram accepts, colours by severity with readable contrast, German text
that fits, the exercise banner, its alt text; and the route that serves it (nothing else)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from connectors.meta.card import (
    HEIGHT,
    MARGIN,
    PALETTES,
    WIDTH,
    CardStore,
    alt_text,
    card_for,
    contrast,
    font,
    render,
    wrap,
)
from connectors.meta.routes import card_routes
from core.http import error_middleware
from tests.connectors.meta.conftest import alert, post


def dominant(data: bytes) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=8).convert("RGB")
    colours = image.getcolors(maxcolors=64) or []
    return max(colours)[1]  # type: ignore[no-any-return]


def near(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_card_is_a_jpeg_in_a_ratio_instagram_accepts() -> None:
    data = render(card_for(alert(), ""))
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.mode == "RGB"
    assert image.size == (1080, 1350)
    assert 0.8 <= image.width / image.height <= 1.91  # Instagram's feed: 4:5 up to 1.91:1


def test_each_severity_has_its_own_colour_with_readable_text() -> None:
    seen = {}
    for severity in ("Extreme", "Severe", "Moderate", "Minor"):
        colour = dominant(render(card_for(alert(severity=severity), "")))
        assert near(colour, PALETTES[severity].background), (severity, colour)
        seen[severity] = colour
    assert len({c for c in seen.values()}) == 4
    assert near(dominant(render(card_for(post(), "Sperrmüll\nNeue Termine"))), PALETTES["post"].background)
    assert near(dominant(render(card_for(alert("allclear"), ""))), PALETTES["allclear"].background)
    for name, palette in PALETTES.items():
        assert contrast(palette.background, palette.text) >= 4.5, name  # WCAG 2 AA for normal text
    # yellow and orange carry dark text, the reds white
    assert PALETTES["Minor"].text == PALETTES["Moderate"].text != PALETTES["Severe"].text


def test_exercise_cards_carry_the_banner() -> None:
    plain = Image.open(io.BytesIO(render(card_for(alert(), ""))))
    drill = Image.open(io.BytesIO(render(card_for(alert(exercise=True), ""))))
    assert near(plain.getpixel((8, 8)), PALETTES["Severe"].background)  # type: ignore[arg-type]
    assert near(drill.getpixel((8, 8)), (0, 0, 0))  # type: ignore[arg-type]
    assert alt_text(card_for(alert(exercise=True), "")).startswith("ÜBUNG – keine echte Gefahr.")


def test_german_text_wraps_within_the_card() -> None:
    face = font(84, True)
    text = "Donaudampfschifffahrtsgesellschaftskapitänsmütze Straßensperrung Übergänge Ölspur ÄÖÜäöüß"
    lines = wrap(text, face, WIDTH - 2 * MARGIN)
    assert len(lines) > 1
    assert all(face.getlength(line) <= WIDTH - 2 * MARGIN for line in lines)
    assert "".join(lines).replace("-", "").replace(" ", "") == text.replace(" ", "")
    # a very long instruction is cut with "…", never drawn over the foot of the card
    long = alert(instruction="Bitte beachten Sie die Hinweise. " * 80)
    assert Image.open(io.BytesIO(render(card_for(long, "")))).size == (WIDTH, HEIGHT)


def test_card_text_and_alt_text_from_the_message() -> None:
    card = card_for(alert("update", severity="Extreme", instruction="Bleiben Sie zu Hause. 🚨"), "")
    assert card.label == "Aktualisiert: Extreme Gefahr"
    assert card.areas == "Betroffen: Altstadt, Ehrenbreitstein"
    assert card.body == "Bleiben Sie zu Hause."  # no emoji the font cannot draw
    alt = alt_text(card)
    assert "Bombenentschärfung in der Altstadt" in alt
    assert "Betroffen: Altstadt, Ehrenbreitstein." in alt and "Bleiben Sie zu Hause." in alt
    assert alt.endswith("Stadt Koblenz.")
    whole_city = card_for(alert(areas=()), "")
    assert whole_city.areas == "Betroffen: ganzes Stadtgebiet Koblenz"
    news = card_for(post(), "Sperrmüllabfuhr: neue Termine für Lützel\nAb Montag.\n\nhttps://www.koblenz.de/")
    assert (news.label, news.headline, news.body) == (
        "Mitteilung",
        "Sperrmüllabfuhr: neue Termine für Lützel",
        "Ab Montag.",
    )


def test_store_names_cards_by_their_hash_and_prunes_old_ones(tmp_path: Path) -> None:
    store = CardStore(tmp_path / "cards", keep_days=1)
    data = render(card_for(alert(), ""))
    name = store.save(data)
    assert len(name) == 64 and store.save(data) == name
    assert store.path(name) is not None and store.path(name).read_bytes() == data  # type: ignore[union-attr]
    assert store.path("../../etc/passwd") is None and store.path(name.upper()) is None
    old = tmp_path / "cards" / ("0" * 64 + ".jpg")
    old.write_bytes(b"x")
    os.utime(old, (0, 0))
    assert store.prune() == 1 and not old.exists() and store.path(name).exists()  # type: ignore[union-attr]


@pytest.fixture
async def card_client(aiohttp_client: Any, tmp_path: Path) -> Any:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_routes(card_routes(tmp_path / "cards"))
    return await aiohttp_client(app)


async def test_route_serves_the_card_with_caching(card_client: Any, tmp_path: Path) -> None:
    data = render(card_for(alert(), ""))
    name = CardStore(tmp_path / "cards").save(data)
    response = await card_client.get(f"/cards/{name}.jpg")
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert "immutable" in response.headers["Cache-Control"]
    assert await response.read() == data


@pytest.mark.parametrize(
    "path",
    [
        "/cards/" + "a" * 64 + ".jpg",  # well-formed, not there
        "/cards/abc.jpg",
        "/cards/..%2F..%2Fetc%2Fpasswd.jpg",
        "/cards/%2E%2E%2Fsecret.jpg",
        "/cards/" + "A" * 64 + ".jpg",
    ],
)
async def test_route_refuses_anything_but_a_stored_card(card_client: Any, tmp_path: Path, path: str) -> None:
    (tmp_path / "secret.jpg").write_bytes(b"geheim")
    response = await card_client.get(path)
    assert response.status == 404
    assert b"geheim" not in await response.read()
