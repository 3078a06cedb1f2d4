"""Official warnings for Koblenz from the federal warning system NINA (BBK: MoWaS, DWD, LHP flood
centres, police, KATWARN, BIWAPP), polled from the public API at ``NINA_URL`` (docs/nina.md).

An inbound source, not a channel: the poller (``poller.NinaPoller``) reads
``{NINA_URL}/dashboard/{NINA_ARS}.json`` every ``NINA_INTERVAL`` seconds with conditional requests
(``client.NinaClient``), maps each warning for Koblenz to our CAP model (``mapping``: texts unchanged,
the issuing authority named) and hands it to ``broadcasts.service.Broadcasts.submit_alert``: shown on the
banner, in ``/api/alerts`` and in the chat (marked "Quelle: <Behörde>"), sent to subscribers and channels
only where ``NINA_REPUBLISH`` allows it. What it has seen is kept in the table ``nina_seen``
(``models``), so a restart repeats nothing.

Started by the root as a background job, either::

    connectors.nina.setup(app, settings)      # after broadcasts.api.setup: a cleanup_ctx of its own

or with ``await run(settings, service, session, stop)`` in a task of one's own. ``health(app)`` (or
``NinaPoller.health()``) is the poller's state for ``/health``.

Errors: ``client.NinaUnavailable`` (a ``ConnectorError``), never raised out of the loop: it is logged,
counted and shown in the health.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web

from broadcasts.service import Broadcasts
from connectors.nina.client import NinaClient, NinaUnavailable
from connectors.nina.poller import NinaPoller
from core.settings import Settings

__all__ = ["NINA", "NinaClient", "NinaPoller", "NinaUnavailable", "health", "make_poller", "run", "setup"]

NINA = web.AppKey("nina", NinaPoller)


def _stadtteile() -> Callable[[str], list[str]]:
    from catalog.model import load_catalog
    from catalog.stadtteile import Stadtteile
    from core.paths import PROJECT_ROOT

    return Stadtteile(load_catalog(PROJECT_ROOT / "data")).find_all


def make_poller(
    settings: Settings,
    service: Broadcasts,
    session: aiohttp.ClientSession,
    invalidate: Callable[[], None] | None = None,
) -> NinaPoller:
    """The poller of the settings' district over ``session`` (no network I/O here)."""
    return NinaPoller(
        NinaClient(session, settings.nina_url, timeout=min(30.0, max(2.0, settings.nina_interval / 2))),
        service,
        settings.nina_ars,
        Settings.republish_policy(settings.nina_republish),
        interval=settings.nina_interval,
        find_stadtteile=_stadtteile(),
        invalidate=invalidate,
    )


async def run(
    settings: Settings,
    service: Broadcasts,
    session: aiohttp.ClientSession,
    stop: asyncio.Event,
    invalidate: Callable[[], None] | None = None,
) -> None:
    """Poll until ``stop`` is set (``invalidate``: the banner's cache, e.g. ``StoreAlerts.invalidate``)."""
    await make_poller(settings, service, session, invalidate).run(stop)


def setup(app: web.Application, settings: Settings) -> None:
    """Run the poller while the app runs; call after ``broadcasts.api.setup`` (it needs its service).
    ``NINA_URL`` empty: nothing is started."""
    if not settings.nina_url:
        return

    async def nina_ctx(app: web.Application) -> AsyncIterator[None]:
        from broadcasts.alert_source import StoreAlerts
        from broadcasts.api import SERVICE
        from core.keys import ALERTS

        store = app.get(ALERTS)
        invalidate = store.invalidate if isinstance(store, StoreAlerts) else None
        session = aiohttp.ClientSession(headers={"User-Agent": "koblenz-bot (Stadt Koblenz, NINA-Abruf)"})
        poller = make_poller(settings, app[SERVICE], session, invalidate)
        app[NINA] = poller
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop), name="nina-poller")
        try:
            yield
        finally:
            stop.set()
            await task
            await session.close()

    app.cleanup_ctx.append(nina_ctx)


def health(app: web.Application) -> dict[str, Any]:
    """The poller's state for /health: on or starting, last poll, last error, counts."""
    poller = app.get(NINA)
    return poller.health() if poller is not None else {"state": "off"}
