"""Typed application keys for what the ground package owns. Packages declare keys for their own types
next to their routes (``bot.http.CHAT``, ``broadcasts.api.SERVICE``, ...); the composition root fills them."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from core.alerts import AlertSource
from core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
ALERTS = web.AppKey("alerts", AlertSource)
