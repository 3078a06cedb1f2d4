"""The console's request plumbing: security headers, sign-in check, CSRF check, roles, rendering, errors.

Every response under ``/console/`` carries ``CSP`` (no inline script, nothing from other origins) and the
usual hardening headers; error pages are HTML pages of the console (JSON under ``/console/api/``).
``auth_middleware`` loads the session (a page view or action counts as activity, the live figures do
not), sends visitors without a session to the sign-in page (GET) or refuses (401, other methods), and
refuses every POST whose hidden ``_csrf`` field does not match (403). Roles: ``PERMISSIONS``; a handler
calls ``need(request, permission)`` before it reads or changes anything else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import connectors.console.auth as auth
from broadcasts.api import SERVICE
from broadcasts.berlin import show
from broadcasts.models import AuditLog
from broadcasts.service import Actor, Broadcasts
from broadcasts.states import AuditOutcome
from catalog.revisions import LiveCatalog
from connectors.console.models import Submission
from core import KoblenzError
from core.db import sessionmaker
from core.keys import ENGINE, SETTINGS
from core.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "/console"
COOKIE = "koblenz_console"
LOGIN_COOKIE = "koblenz_console_login"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ROLE_NAMES = {"redaktion": "Redaktion", "feuerwehr": "Feuerwehr", "admin": "Administration"}
PERMISSIONS: dict[str, frozenset[str]] = {
    "redaktion": frozenset(
        {
            "posts.view",
            "posts.write",
            "posts.approve",
            "alerts.view",
            "suggestions.view",
            "questions.view",
            "nlu.retrain",
            "catalog.edit",
        }
    ),
    "feuerwehr": frozenset({"alerts.view", "alerts.write", "posts.view"}),
    "admin": frozenset(
        {
            "posts.view",
            "posts.approve",
            "posts.retry",
            "alerts.view",
            "alerts.retry",
            "users.manage",
            "health.view",
            "audit.view",
            "suggestions.view",
            "questions.view",
            "nlu.retrain",
            "catalog.edit",
        }
    ),
}
PUBLIC_PATHS = ("/console/anmelden", "/console/static/")

# what the root hands over: channel health rows, unanswered questions, suggestions from ingested feeds
Health = Callable[[web.Application], list[dict[str, Any]]]
Unanswered = Callable[[async_sessionmaker[AsyncSession], int, int], Awaitable[Sequence[Any]]]
Suggestions = Callable[[], Awaitable[Sequence[Any]]]


class Retrain(Protocol):
    """'Neu trainieren' (``nlu.retrain.RetrainJob``): ``start()`` begins a run (refused while one runs),
    ``status`` says where it is (state, progress 0-100, German message, Rasa's log tail on failure)."""

    @property
    def status(self) -> Any: ...

    def start(self) -> Any: ...


PARENT = web.AppKey("console_parent", web.Application)
STOPPING = web.AppKey("console_stopping", asyncio.Event)  # set at shutdown: live streams end
CURRENT = web.RequestKey("console_user", auth.Current)
LOGIN_CSRF = web.RequestKey("console_login_csrf", str)
HEALTH: web.AppKey[Health] = web.AppKey("console_health")
UNANSWERED: web.AppKey[Unanswered] = web.AppKey("console_unanswered")
SUGGESTIONS: web.AppKey[Suggestions] = web.AppKey("console_suggestions")
RETRAIN: web.AppKey[Retrain] = web.AppKey("console_retrain")
LIVE_CATALOG = web.AppKey("console_catalog", LiveCatalog)  # editors' changes, live (catalog.revisions)


def allowed(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, frozenset())


def settings_of(request: web.Request) -> Settings:
    return request.config_dict[SETTINGS]


def engine_of(request: web.Request) -> AsyncEngine:
    return request.config_dict[ENGINE]


def sessions_of(request: web.Request) -> async_sessionmaker[AsyncSession]:
    return sessionmaker(engine_of(request))


def service_of(request: web.Request) -> Broadcasts:
    return request.config_dict[SERVICE]


def user_of(request: web.Request) -> auth.User:
    current: auth.Current | None = request.get(CURRENT)
    if current is None:
        raise web.HTTPUnauthorized()
    return current.user


def actor_of(request: web.Request) -> Actor:
    user = user_of(request)
    return Actor(user.name, user.role, f"console:{client_address(request, settings_of(request))}")


def need(request: web.Request, permission: str) -> auth.User:
    """The signed-in user if their role may do this; else 403 at once (nothing is read or changed)."""
    user = user_of(request)
    if not allowed(user.role, permission):
        raise web.HTTPForbidden()
    return user


def client_address(request: web.Request, settings: Settings) -> str:
    """The connecting address; behind a proxy only from the configured header (its last entry, the one
    our proxy added)."""
    header = settings.console_trusted_proxy_header
    if header:
        value = request.headers.get(header, "")
        entries = [e.strip() for e in value.split(",") if e.strip()]
        if entries:
            return entries[-1][:64]
    return (request.remote or "unbekannt")[:64]


def secure_cookie(request: web.Request) -> bool:
    return (request.url.host or "") not in ("localhost", "127.0.0.1", "::1")


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name, value, path=PREFIX + "/", httponly=True, samesite="Strict", secure=secure_cookie(request)
    )


async def audit(
    request: web.Request,
    action: str,
    target: str | None,
    details: dict[str, Any] | None = None,
    outcome: AuditOutcome = AuditOutcome.OK,
    actor: Actor | None = None,
) -> None:
    """One row in the engine's audit log, with the console user and role."""
    who = actor or actor_of(request)
    async with sessions_of(request).begin() as session:
        session.add(
            AuditLog(
                actor=who.name[:128],
                role=who.role[:32],
                action=action[:64],
                target=target,
                origin=who.origin[:128],
                outcome=outcome,
                details=details or {},
            )
        )


# -- rendering ----------------------------------------------------------------------------------------

NAV = (
    ("/console/", "Übersicht", None),
    ("/console/warnungen", "Warnungen", "alerts.view"),
    ("/console/beitraege", "Beiträge", "posts.view"),
    ("/console/kalender", "Kalender", "posts.view"),
    ("/console/vorschlaege", "Vorschläge", "suggestions.view"),
    ("/console/fragen", "Offene Fragen", "questions.view"),
    ("/console/dienste", "Dienste", "catalog.edit"),
    ("/console/sprachmodell", "Sprachmodell", "nlu.retrain"),
    ("/console/benutzer", "Benutzer", "users.manage"),
    ("/console/kanaele", "Kanäle", "health.view"),
    ("/console/protokoll", "Protokoll", "audit.view"),
)


def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, status: int = 200
) -> web.Response:
    current: auth.Current | None = request.get(CURRENT)
    role = current.user.role if current else ""
    values: dict[str, Any] = {
        "user": current.user if current else None,
        "role_name": ROLE_NAMES.get(role, ""),
        "csrf": auth.csrf_for(current.token) if current else request.get(LOGIN_CSRF, ""),
        "nav": [
            (href, label) for href, label, perm in NAV if current and (perm is None or allowed(role, perm))
        ],
        "path": request.path,
        "can": lambda permission: bool(current) and allowed(role, permission),
        "show": show,
        "notice": NOTICES.get(request.query.get("meldung", ""), ""),
    }
    values.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, values, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


NOTICES = {
    "training": "Das Neu-Trainieren hat begonnen. Das bisherige Modell antwortet weiter, bis das neue bereit ist.",
    "laeuft": "Es läuft bereits ein Training. Bitte warten Sie, bis es fertig ist.",
    "abgemeldet": "Sie sind abgemeldet.",
    "abgelaufen": "Sie wurden nach längerer Zeit ohne Aktivität abgemeldet. Bitte melden Sie sich erneut an.",
    "freigabe": "Der Beitrag wartet jetzt auf die Freigabe durch eine zweite Person.",
    "geplant": "Der Beitrag ist eingeplant.",
    "freigegeben": "Der Beitrag ist freigegeben und eingeplant.",
    "abgelehnt": "Der Beitrag wurde abgelehnt.",
    "verstrichen": "Die Freigabe kam zu spät: Der geplante Zeitpunkt ist verstrichen. Der Beitrag wurde "
    "nicht gesendet.",
    "abgesagt": "Der Beitrag ist abgesagt.",
    "doppelt": "Dieses Formular wurde bereits abgeschickt; hier sehen Sie das Ergebnis.",
    "gesendet": "Die Warnung ist angenommen und wird versandt.",
    "aktualisiert": "Die Aktualisierung ist angenommen und wird versandt.",
    "entwarnung": "Die Entwarnung ist angenommen und wird versandt.",
    "fehlalarm": "Die Warnung ist als Fehlalarm aufgehoben; die Aufhebung wird versandt.",
    "erneut": "Die fehlgeschlagenen Zustellungen werden erneut gesendet.",
    "nichts": "Es gibt keine fehlgeschlagenen Zustellungen.",
    "benutzer": "Der Benutzer ist angelegt.",
    "gesperrt": "Der Benutzer ist gesperrt; seine Sitzungen sind beendet.",
    "passwort": "Das neue Passwort ist gesetzt.",
    "gespeichert": "Die Änderung ist gespeichert. Der Chat antwortet ab sofort mit dem neuen Stand.",
    "zurueckgesetzt": "Der frühere Stand ist als neue Fassung gespeichert. Der Chat antwortet ab sofort damit.",
    "unveraendert": "Es gab keine Änderung; es wurde nichts gespeichert.",
    "formulierung": "Die Formulierung ist beim Dienst gespeichert. Damit das Sprachmodell sie lernt, "
    "trainieren Sie es neu (Seite „Sprachmodell“).",
}

ERRORS = {
    400: ("Ungültige Anfrage", "Die Anfrage ist ungültig."),
    401: ("Bitte anmelden", "Bitte melden Sie sich an, um die Konsole zu nutzen."),
    403: ("Nicht erlaubt", "Das ist mit Ihrer Rolle nicht erlaubt, oder das Formular ist abgelaufen."),
    404: ("Nicht gefunden", "Diese Seite gibt es nicht."),
    405: ("Nicht erlaubt", "Diese Aktion ist auf diesem Weg nicht möglich."),
    409: ("Nicht mehr möglich", "Das ist im jetzigen Zustand nicht mehr möglich."),
    413: ("Zu groß", "Die Eingabe ist zu groß."),
    429: ("Zu viele Anfragen", "Bitte warten Sie einen Moment."),
}


def error_page(request: web.Request, status: int, message: str | None = None) -> web.StreamResponse:
    title, default = ERRORS.get(
        status, ("Fehler", "Es ist ein Fehler aufgetreten. Bitte versuchen Sie es erneut.")
    )
    if request.path.startswith(PREFIX + "/api/"):
        return web.json_response({"error": str(status), "message": message or default}, status=status)
    response = render(request, "error.html", {"title": title, "message": message or default}, status)
    return response


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        return error_page(request, exc.status, message)
    except KoblenzError as exc:
        return error_page(request, exc.status if exc.status >= 400 else 500, exc.message)
    except Exception:
        log.exception("console: unexpected error in %s %s", request.method, request.path)
        return error_page(request, 500)


def csrf_refused(text: str = "") -> web.HTTPForbidden:
    return web.HTTPForbidden(
        text=text
        or "Das Formular ist abgelaufen oder unvollständig (Sicherheitsmerkmal fehlt). Bitte laden Sie die "
        "Seite neu und versuchen Sie es noch einmal."
    )


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    path = request.path
    if path.startswith(PUBLIC_PATHS) or not path.startswith(PREFIX + "/"):
        return await handler(request)
    settings = settings_of(request)
    live = path.startswith(PREFIX + "/api/progress/")  # live figures do not count as activity
    current, expired = await auth.current(
        sessions_of(request),
        request.cookies.get(COOKIE),
        dt.timedelta(minutes=settings.console_idle_minutes),
        touch=not live,
    )
    if current is None:
        if request.method in ("GET", "HEAD") and not path.startswith(PREFIX + "/api/"):
            target = "/console/anmelden" + ("?meldung=abgelaufen" if expired else "")
            raise web.HTTPSeeOther(target)
        message = (
            "Ihre Sitzung ist wegen längerer Inaktivität abgelaufen. Bitte melden Sie sich erneut an."
            if expired
            else None
        )
        raise web.HTTPUnauthorized(text=message or "")
    request[CURRENT] = current
    if request.method not in ("GET", "HEAD"):
        form = await request.post()
        if not auth.csrf_ok(current.token, _field(form, "_csrf")):
            raise csrf_refused()
    return await handler(request)


def _field(form: MultiDictProxy[Any], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


async def form_of(request: web.Request) -> dict[str, Any]:
    """The posted form: single values as strings, repeated fields (checkboxes) as lists under ``name[]``."""
    form = await request.post()
    values: dict[str, Any] = {}
    for key in form:
        items = [v for v in form.getall(key) if isinstance(v, str)]
        values[key] = items if key.endswith("[]") else (items[0] if items else "")
    return values


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith(PREFIX):
        return
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")


# -- idempotency: one form, one post or alert ----------------------------------------------------------


def new_form_token() -> str:
    return secrets.token_urlsafe(18)


class Claim:
    """``await claim(request, token, kind)``: None when this request may create; else the id (or 0 while
    the first request is still working) of what the first submission of this form created."""

    @staticmethod
    async def take(request: web.Request, token: str, kind: str) -> int | None:
        if not token or len(token) > 64:
            raise csrf_refused("Das Formular ist unvollständig. Bitte laden Sie die Seite neu.")
        try:
            async with sessions_of(request).begin() as session:
                session.add(Submission(token=token, user_name=user_of(request).name, kind=kind))
            return None
        except IntegrityError:
            async with sessions_of(request)() as session:
                row = await session.get(Submission, token)
            return (row.target or 0) if row is not None else 0

    @staticmethod
    async def done(request: web.Request, token: str, target: int, image_alt: str | None = None) -> None:
        async with sessions_of(request).begin() as session:
            row = await session.get(Submission, token)
            if row is not None:
                row.target, row.image_alt = target, image_alt

    @staticmethod
    async def release(request: web.Request, token: str) -> None:
        """Nothing was created (bad input): the corrected form may be sent with the same token."""
        async with sessions_of(request).begin() as session:
            row = await session.get(Submission, token)
            if row is not None and row.target is None:
                await session.delete(row)
