"""The aiohttp application factory: the one place where everything is wired together.

Each package hands over its routes and receives its dependencies here, explicitly; resources (database
engine, HTTP session, Rasa servers, send budgets, background loops) are opened and closed in the
``cleanup_ctx`` generators below, in the order of the list in ``create_app``. Nothing imports this module
but the CLI.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text as sql_text

import bot.http
import broadcasts.api
import connectors.console
import connectors.nina
import connectors.rasa_rest
import connectors.telegram
import connectors.telegram.channel_spec
import connectors.web
from app.openapi import OPENAPI
from bot.chat import ChatService
from bot.conversations import ConversationStore
from bot.dialogue import Dialogue
from bot.http import CATALOG, CHAT, LIMITER, RateLimiter
from bot.privacy import load_or_create_key
from bot.search import CatalogSearch
from broadcasts.alert_source import StoreAlerts
from broadcasts.engine import slots_for
from broadcasts.publishers import Publisher
from broadcasts.ratelimit import Slots
from catalog.links import last_result as last_link_check
from catalog.links import weekly as weekly_link_check
from catalog.revisions import LiveCatalog
from catalog.revisions import current as edited_catalog
from connectors import registry
from connectors.ingest.config import IngestConfig
from connectors.ingest.news import FeedNews
from connectors.ingest.poller import FeedPoller
from connectors.ingest.suggestions import suggestions as feed_suggestions
from core.alerts import AlertSource
from core.background import periodic
from core.db import create_engine, migrate, sessionmaker
from core.http import MAX_BODY_BYTES, error_middleware
from core.keys import ALERTS, ENGINE, SETTINGS
from core.settings import Settings
from nlu import NLU_DIR
from nlu.auth import load_or_create_token
from nlu.client import RasaClient, RasaPool, rasa_urls
from nlu.retrain import RetrainJob
from nlu.server import RasaSupervisor

log = logging.getLogger(__name__)

SUPERVISOR = web.AppKey("supervisor", RasaSupervisor)
RETRAIN = web.AppKey("retrain", RetrainJob)  # "Neu trainieren": train, then swap server by server
SEND_BUDGETS = web.AppKey("send_budgets", dict[str, Slots])  # one per bot token: chat replies + outbox
# the bot token's one Telegram client: chat replies, subscription screens, polling and broadcasts
TELEGRAM_CLIENT = web.AppKey("telegram_client", connectors.telegram.TelegramClient)
FEEDS = web.AppKey("feeds", FeedPoller)  # inbound feeds (health, console)
# the catalog the bot answers from: the seed with the editors' revisions, changed in place on a save
LIVE_CATALOG = web.AppKey("live_catalog", LiveCatalog)
PHRASES_FILE = NLU_DIR / "phrases" / "services.yml"  # the seed phrasings the editors start from


def channel_health(app: web.Application) -> list[dict[str, Any]]:
    """One line per outbound channel (``connectors.registry.health``): on or off, and what it does here."""
    service = app.get(broadcasts.api.SERVICE)
    run = app.get(broadcasts.api.RUNNING)
    sending = set(run.worker.channels) if run is not None and run.worker is not None else set()
    budgets = app.get(SEND_BUDGETS) or {}
    return registry.health(
        app[SETTINGS],
        opened=service.channels if service is not None else None,
        sending=sending,
        paused_until={name: budget.paused_until() for name, budget in budgets.items()},
    )


async def health_handler(request: web.Request) -> web.Response:
    database = "ok"
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(sql_text("SELECT 1"))
    except Exception:
        database = "unavailable"
    supervisor = request.app.get(SUPERVISOR)
    rasa = "ready" if supervisor is not None and supervisor.ready.is_set() else "unavailable"
    answering, in_use = supervisor.servers() if supervisor is not None else (0, 0)
    status = "ok" if database == "ok" and rasa == "ready" and answering == in_use else "degraded"
    return web.json_response(
        {
            "status": status,
            "database": database,
            "nlu": rasa,
            "nlu_servers": {"answering": answering, "total": in_use},
            "services": len(request.app[CATALOG].services),
            "channels": channel_health(request.app),
            "link_check": last_link_check(request.app[SETTINGS].state_dir),  # None until the first run
            "nlu_retrain": request.app[RETRAIN].status.as_dict() if RETRAIN in request.app else None,
            "nina": connectors.nina.health(request.app),
            "feeds": request.app[FEEDS].health() if FEEDS in request.app else [],
        },
        status=200 if database == "ok" else 503,
    )


async def openapi_handler(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


# -- resources, opened in this order and closed in reverse ---------------------------------------------


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].database_url)
    await migrate(engine)
    app[ENGINE] = engine
    await app[LIVE_CATALOG].load(sessionmaker(engine))  # the editors' revisions over the YAML seed
    app[SEND_BUDGETS] = slots_for(engine, app[SETTINGS])
    yield
    await engine.dispose()


async def _telegram_client(app: web.Application) -> AsyncIterator[None]:
    """One Telegram client per bot token, taking its turns from the token's send budget; the chat channel
    and the outbox's publisher both get it (issue 9)."""
    settings = app[SETTINGS]
    if not settings.telegram_token:
        yield
        return
    async with connectors.telegram.open_client(settings, app[SEND_BUDGETS].get("telegram")) as client:
        app[TELEGRAM_CLIENT] = client
        yield


def _publishers(
    app: web.Application,
) -> Callable[[Settings], AbstractAsyncContextManager[dict[str, Publisher]]]:
    """The registry's channels, Telegram's publisher over the token's one client (opened above)."""

    def open_channels(settings: Settings) -> AbstractAsyncContextManager[dict[str, Publisher]]:
        specs = dict(registry.discover())
        client = app.get(TELEGRAM_CLIENT)
        if client is not None:
            for spec in connectors.telegram.channel_spec.sharing(client):
                specs[spec.name] = spec
        return registry.publishers(settings, specs.values())

    return open_channels


async def _conversation_purger(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]

    async def purge() -> None:
        store = app[CHAT].store
        removed = await store.purge(dt.timedelta(days=settings.retention_days)) if store else 0
        if removed:
            log.info(
                "retention: deleted %d conversations older than %d days", removed, settings.retention_days
            )

    async with periodic("conversation-purge", settings.purge_interval_seconds, purge):
        yield


class _Retrain:
    """The running app's "Neu trainieren" job for the console (it exists once the Rasa pool is up)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    @property
    def status(self) -> Any:
        return self.app[RETRAIN].status

    def start(self) -> Any:
        return self.app[RETRAIN].start()


async def _feeds(app: web.Application) -> AsyncIterator[None]:
    """The inbound feeds (``FEEDS``): one task per feed; drafts become the console's suggestions, publish
    mode posts through the engine's service (so it runs after ``broadcasts.api.setup``'s context)."""
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(
            IngestConfig.from_settings(app[SETTINGS]),
            session,
            sessionmaker(app[ENGINE]),
            app[broadcasts.api.SERVICE],
        )
        app[FEEDS] = poller
        async with poller.running(start_delay=1.0):
            yield


async def _catalog_reload(app: web.Application) -> AsyncIterator[None]:
    """``koblenz-bot catalog import`` reaches the running bot: every ``CATALOG_RELOAD_INTERVAL`` seconds a
    few ``stat`` calls; a changed seed is read, the revisions laid over it again, and swapped in."""
    interval = app[SETTINGS].catalog_reload_interval
    if interval <= 0:
        yield
        return
    live, sessions = app[LIVE_CATALOG], sessionmaker(app[ENGINE])
    async with periodic("catalog-reload", interval, lambda: live.refresh(sessions)):
        yield


async def _link_check(app: web.Application) -> AsyncIterator[None]:
    """The catalog's links, checked weekly (``koblenz-bot catalog check-links``); /health shows the result."""
    async with weekly_link_check(app[SETTINGS]):
        yield


def create_app(
    settings: Settings, alerts: AlertSource | None = None, manage_rasa: bool | None = None
) -> web.Application:
    # the seed on disk, watched: console edits and a `catalog import` update ``catalog`` in place
    live = LiveCatalog.from_directory(settings.catalog_dir, PHRASES_FILE)
    catalog = live.catalog
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[CATALOG] = catalog
    app[LIVE_CATALOG] = live
    app[LIMITER] = RateLimiter(settings.chat_rate_per_minute)
    key = load_or_create_key(settings.pseudonym_key, settings.state_dir)
    alert_source = alerts or StoreAlerts()  # active alerts from the broadcast engine's table
    app[ALERTS] = alert_source

    async def _conversation(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        should_manage = settings.rasa_manage if manage_rasa is None else manage_rasa
        servers = rasa_urls(settings.rasa_url, settings.rasa_processes if should_manage else 1)
        # the Rasa servers' HTTP API (parse, status, model replacement) needs this token (nlu.auth)
        token = load_or_create_token(settings.rasa_auth_token, settings.state_dir)
        pool = RasaPool(
            [RasaClient(session, url, settings.rasa_timeout, auth_token=token) for url in servers],
            per_server=settings.rasa_parallel,
        )
        supervisor = RasaSupervisor(
            pool,
            settings.rasa_config,
            settings.model_dir,
            settings.state_dir / "rasa" / "server.log",
            settings.rasa_startup_timeout,
            auth_token=token,
        )
        # training data from the seed on disk with the editors' revisions (facts and phrasings)
        app[RETRAIN] = RetrainJob.from_settings(
            settings,
            pool,
            source=lambda: edited_catalog(settings.catalog_dir, PHRASES_FILE, sessionmaker(app[ENGINE])),
        )
        if should_manage:
            await supervisor.start()
        elif await pool.status() is not None:
            supervisor.ready.set()
        app[SUPERVISOR] = supervisor
        search = CatalogSearch(catalog)
        live.on_change(search.reindex)  # an editor's save: the fallback search finds the new wording
        dialogue = Dialogue(
            catalog,
            search,
            pool,
            alert_source,
            settings.max_message_chars,
            settings.intent_threshold,
            settings.ambiguity_margin,
            news=FeedNews(sessionmaker(app[ENGINE])),
        )
        store = ConversationStore(sessionmaker(app[ENGINE]))
        app[CHAT] = ChatService(dialogue, store, key)
        yield
        await store.flush()  # answers already given are written before the database closes
        await supervisor.stop()
        await session.close()

    app.cleanup_ctx.extend(
        [_database, _telegram_client, _conversation, _conversation_purger, _catalog_reload, _link_check]
    )
    app.router.add_routes(bot.http.routes())
    app.router.add_routes(connectors.rasa_rest.routes())
    app.router.add_get("/health", health_handler)
    app.router.add_get("/openapi.json", openapi_handler)
    connectors.web.setup(app, settings)  # the website widget: /widget.js, demo page at /, feedback
    # the staff console at /console/ (issue 13): posts, approvals, alerts, progress, users
    connectors.console.setup(
        app,
        settings,
        health=channel_health,
        unanswered=connectors.web.feedback.unanswered_questions,
        suggestions=lambda: feed_suggestions(sessionmaker(app[ENGINE])),  # drafts from the feeds
        retrain=_Retrain(app),  # "Neu trainieren" for the editors
        catalog=live,  # "Dienste": editors change facts, links, phrasings; answers use them at once
    )
    # alert API; scheduler + worker in-process, sending through the channels the registry switches on
    broadcasts.api.setup(app, settings, _publishers(app), lambda app: app[SEND_BUDGETS])
    # official warnings for Koblenz from NINA (MoWaS, DWD, ...): shown, re-broadcast only by policy
    connectors.nina.setup(app, settings)
    app.cleanup_ctx.append(_feeds)  # health, press and traffic feeds (after the engine's service)
    # what the pull channels' clients read: feeds, CAP feed and files (the banner reads /api/alerts)
    app.router.add_routes(registry.routes(settings))
    # the Telegram channel when a token is set; it sends through the bot token's one client
    connectors.telegram.setup(
        app,
        settings,
        lambda app: (app[CHAT], app[CATALOG], sessionmaker(app[ENGINE])),
        lambda app: app[TELEGRAM_CLIENT],
    )
    return app
