"""The Meta channels for ``connectors.registry``: Facebook (on when ``KOBLENZ_BOT_FACEBOOK_PAGE_ID`` and
``KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN`` are set) and Instagram (on when ``KOBLENZ_BOT_INSTAGRAM_USER_ID``, the
page token and ``KOBLENZ_BOT_PUBLIC_URL`` are set: Instagram fetches each post's card from
``{PUBLIC_URL}/cards/<sha256>.jpg``, a route of this channel)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from broadcasts.publishers import Publisher
from connectors.meta.card import CardStore
from connectors.meta.facebook import FacebookPublisher
from connectors.meta.graph import GraphClient
from connectors.meta.instagram import InstagramPublisher
from connectors.meta.routes import CARD_PATH, card_routes
from connectors.registry import ChannelSpec
from core.settings import Settings


def cards_folder(settings: Settings) -> Path:
    return settings.state_dir / "cards"


def graph_client(settings: Settings, session: aiohttp.ClientSession, platform: str) -> GraphClient:
    return GraphClient(
        session,
        settings.facebook_graph_url,
        settings.facebook_api_version,
        settings.facebook_page_token.get_secret_value(),
        platform=platform,
    )


async def open_facebook(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    return FacebookPublisher(graph_client(settings, session, "Facebook"), settings.facebook_page_id)


async def open_instagram(settings: Settings, session: aiohttp.ClientSession) -> Publisher:
    return InstagramPublisher(
        graph_client(settings, session, "Instagram"),
        settings.instagram_user_id,
        settings.public_url,
        CardStore(cards_folder(settings)),
    )


def _card_routes(settings: Settings) -> Sequence[web.RouteDef]:
    return card_routes(cards_folder(settings))


def _facebook_details(settings: Settings) -> dict[str, Any]:
    return {"page_id": settings.facebook_page_id, "api_version": settings.facebook_api_version}


def _instagram_details(settings: Settings) -> dict[str, Any]:
    return {"user_id": settings.instagram_user_id, "api_version": settings.facebook_api_version}


FACEBOOK = ChannelSpec(
    name="facebook",
    label="Facebook",
    open=open_facebook,
    requires=("facebook_page_id", "facebook_page_token"),
    details=_facebook_details,
)
INSTAGRAM = ChannelSpec(
    name="instagram",
    label="Instagram",
    open=open_instagram,
    requires=("instagram_user_id", "facebook_page_token", "public_url"),
    routes=_card_routes,
    paths=(CARD_PATH,),
    details=_instagram_details,
)
CHANNELS = (FACEBOOK, INSTAGRAM)
