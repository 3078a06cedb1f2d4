"""The staff console under ``/console/``: German pages for the press office (posts, four-eyes approval,
calendar), the fire service (alerts from templates in three steps) and the administration (users, channel
health, audit log), with live delivery progress.

Server-rendered (aiohttp-jinja2, autoescape on); ``static/console.js`` only enhances (live preview,
live progress over server-sent events, Stadtteil search): every core flow works without JavaScript.
Nothing is loaded from another origin; every response carries a strict Content-Security-Policy.

Wiring (``app.web.create_app``)::

    connectors.console.setup(app, settings, health=channel_health,
                             unanswered=connectors.web.feedback.unanswered_questions, suggestions=None)

It mounts a sub-application at ``/console/`` that reads the engine, the settings and the broadcast
service (``broadcasts.api.SERVICE``) from the parent app. Users: ``koblenz-bot users …``
(``connectors.console.cli.register``). Tables: ``connectors.console.models`` (migration 0006).

Errors: ``ConsoleError`` (``connectors.ConnectorError``) → ``UserError`` 422, ``Throttled`` 429; pages
answer them as HTML error pages with the CSP, never a traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from catalog.revisions import LiveCatalog
from connectors.console import alerts, catalog_pages, pages, posts, progressview
from connectors.console.base import (
    HEALTH,
    LIVE_CATALOG,
    PARENT,
    RETRAIN,
    STOPPING,
    SUGGESTIONS,
    UNANSWERED,
    Health,
    Retrain,
    Suggestions,
    Unanswered,
    auth_middleware,
    error_middleware,
    security_headers,
)
from core.settings import Settings

HERE = Path(__file__).resolve().parent


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/", pages.dashboard),
        web.get("/anmelden", pages.login_page),
        web.post("/anmelden", pages.login),
        web.post("/abmelden", pages.logout),
        # press office
        web.get("/beitraege", posts.posts_list),
        web.route("*", "/beitraege/neu", posts.new_post),
        web.get("/beitraege/{id:\\d+}", posts.post_page),
        web.post("/beitraege/{id:\\d+}/entscheiden", posts.decide),
        web.post("/beitraege/{id:\\d+}/absagen", posts.cancel),
        web.route("*", "/beitraege/{id:\\d+}/bearbeiten", posts.edit),
        web.post("/beitraege/{id:\\d+}/erneut", posts.retry),
        web.get("/kalender", posts.calendar_page),
        web.post("/api/vorschau", posts.preview_api),
        # fire service
        web.get("/warnungen", alerts.alerts_list),
        web.get("/warnungen/neu", alerts.choose),
        web.route("*", "/warnungen/neu/{template}", alerts.new_alert),
        web.get("/warnungen/{id:\\d+}", alerts.alert_page),
        web.route("*", "/warnungen/{id:\\d+}/aktualisieren", alerts.update_alert),
        web.post("/warnungen/{id:\\d+}/entwarnung", alerts.all_clear),
        web.post("/warnungen/{id:\\d+}/fehlalarm", alerts.false_alarm),
        web.post("/warnungen/{id:\\d+}/erneut", alerts.retry),
        web.post("/api/warnungsvorschau/{template}", alerts.preview_api),
        # watching it go out
        web.get("/api/progress/{kind}/{id:\\d+}", progressview.progress_json),
        web.get("/api/progress/{kind}/{id:\\d+}/stream", progressview.progress_stream),
        # what comes next
        web.get("/vorschlaege", pages.suggestions),
        web.get("/fragen", pages.questions),
        web.get("/sprachmodell", pages.nlu_page),
        web.get("/api/sprachmodell", pages.nlu_status),
        web.post("/sprachmodell/neu-trainieren", pages.nlu_retrain),
        # the editors' catalog: facts, links, phrasings; diff, revisions, rollback (catalog_pages)
        web.get("/dienste", catalog_pages.services_list),
        web.get("/dienste/{service:[a-z0-9-]+}", catalog_pages.edit_page),
        web.post("/dienste/{service:[a-z0-9-]+}", catalog_pages.edit_post),
        web.get("/dienste/{service:[a-z0-9-]+}/verlauf", catalog_pages.history_page),
        web.get("/dienste/{service:[a-z0-9-]+}/verlauf/{revision:\\d+}", catalog_pages.revision_page),
        web.post(
            "/dienste/{service:[a-z0-9-]+}/verlauf/{revision:\\d+}/zuruecksetzen", catalog_pages.restore
        ),
        web.post("/fragen/formulierung", catalog_pages.add_phrasing),
        # the offices the services point to: opening hours, address, contact (catalog_pages, same rules)
        web.get("/aemter", catalog_pages.offices_list),
        web.get("/aemter/{office:[a-z0-9-]+}", catalog_pages.office_edit_page),
        web.post("/aemter/{office:[a-z0-9-]+}", catalog_pages.office_edit_post),
        web.get("/aemter/{office:[a-z0-9-]+}/verlauf", catalog_pages.office_history_page),
        web.get("/aemter/{office:[a-z0-9-]+}/verlauf/{revision:\\d+}", catalog_pages.office_revision_page),
        web.post(
            "/aemter/{office:[a-z0-9-]+}/verlauf/{revision:\\d+}/zuruecksetzen", catalog_pages.office_restore
        ),
        # administration
        web.get("/benutzer", pages.users_get),
        web.post("/benutzer", pages.user_add),
        web.post("/benutzer/{name}/sperren", pages.user_disable),
        web.post("/benutzer/{name}/passwort", pages.user_password),
        web.get("/kanaele", pages.health_page),
        web.get("/protokoll", pages.audit_page),
        web.static("/static", HERE / "static"),
    ]


def setup(
    app: web.Application,
    settings: Settings,
    *,
    health: Health | None = None,
    unanswered: Unanswered | None = None,
    suggestions: Suggestions | None = None,
    retrain: Retrain | None = None,
    catalog: LiveCatalog | None = None,
) -> None:
    """Mount the console at ``/console/`` (call before the app starts). ``health(app)`` gives the channel
    rows of ``/health``, ``unanswered(sessions, days, limit)`` the editors' report, ``suggestions()`` the
    drafts from ingested feeds (None: the page shows that none are connected yet), ``catalog`` the live
    catalog the editors change (``catalog.revisions.LiveCatalog``; None: no "Dienste" pages)."""
    console = web.Application(middlewares=[error_middleware, auth_middleware])
    aiohttp_jinja2.setup(
        console,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    console[PARENT] = app
    if health is not None:
        console[HEALTH] = health
    if unanswered is not None:
        console[UNANSWERED] = unanswered
    if suggestions is not None:
        console[SUGGESTIONS] = suggestions
    if retrain is not None:
        console[RETRAIN] = retrain
    if catalog is not None:
        console[LIVE_CATALOG] = catalog
    console.on_response_prepare.append(security_headers)

    console[STOPPING] = asyncio.Event()  # set before the app starts: a started app's state is frozen

    async def stop_streams(console: web.Application) -> None:
        console[STOPPING].set()  # live progress streams end at once instead of holding the shutdown

    console.on_shutdown.append(stop_streams)
    console.router.add_routes(routes())

    async def to_console(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect("/console/")

    app.router.add_get("/console", to_console)
    app.add_subapp("/console", console)
    del settings  # read per request from the parent app (core.keys.SETTINGS)
