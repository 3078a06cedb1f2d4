"""``GET /cards/<sha256>.jpg``: the Instagram cards, for Instagram's servers to fetch when a container is
created (and for anyone following a post back). Only names of 64 hex digits are looked up (no path can
leave the cards folder); a card never changes under its name, so it may be cached for good."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from connectors import ConnectorError
from connectors.meta.card import CardStore

CARD_PATH = "/cards/{name}.jpg"
CACHE = "public, max-age=31536000, immutable"


class CardNotFound(ConnectorError):
    status = 404
    code = "not_found"


def card_routes(folder: Path) -> list[web.RouteDef]:
    store = CardStore(folder)

    async def card(request: web.Request) -> web.StreamResponse:
        path = store.path(request.match_info["name"])
        if path is None:
            raise CardNotFound("Diese Grafik gibt es nicht.")
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise CardNotFound("Diese Grafik gibt es nicht (mehr).") from exc
        return web.Response(
            body=data,
            content_type="image/jpeg",
            headers={"Cache-Control": CACHE, "X-Content-Type-Options": "nosniff"},
        )

    return [web.get(CARD_PATH, card)]
