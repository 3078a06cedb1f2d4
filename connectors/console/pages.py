"""Sign-in and sign-out, the overview, "Vorschläge", unanswered questions, and the admin's pages (users,
channel health, audit log)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

import connectors.console.auth as auth
from broadcasts.berlin import show
from broadcasts.models import AuditLog, Broadcast
from broadcasts.service import Actor
from broadcasts.states import AlertState, AuditOutcome, PostState
from connectors.console.base import (
    COOKIE,
    CURRENT,
    HEALTH,
    LIVE_CATALOG,
    LOGIN_COOKIE,
    LOGIN_CSRF,
    PARENT,
    RETRAIN,
    ROLE_NAMES,
    SUGGESTIONS,
    UNANSWERED,
    allowed,
    audit,
    client_address,
    csrf_refused,
    form_of,
    need,
    render,
    sessions_of,
    set_cookie,
    settings_of,
    user_of,
)
from connectors.console.models import ROLES, Approval, ApprovalState


def _login_form(
    request: web.Request, name: str = "", errors: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    seed = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    request[LOGIN_CSRF] = auth.csrf_for(seed)
    response = render(request, "login.html", {"name": name, "errors": errors or {}}, status)
    set_cookie(request, response, LOGIN_COOKIE, seed)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    return _login_form(request)


async def login(request: web.Request) -> web.StreamResponse:
    form = await form_of(request)
    if not auth.csrf_ok(request.cookies.get(LOGIN_COOKIE), form.get("_csrf")):
        raise csrf_refused()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    settings = settings_of(request)
    address = client_address(request, settings)
    origin = f"console:{address}"
    if not name.strip() or not password:
        errors = {}
        if not name.strip():
            errors["f-name"] = "Bitte geben Sie Ihren Benutzernamen ein."
        if not password:
            errors["f-password"] = "Bitte geben Sie Ihr Passwort ein."
        return _login_form(request, name, errors, 422)
    try:
        user = await auth.sign_in(sessions_of(request), name, password, address)
    except auth.Throttled as exc:
        await audit(
            request,
            "console.signin",
            f"user:{name.strip().lower()[:64]}",
            {"reason": "throttled"},
            AuditOutcome.REJECTED,
            Actor(name.strip().lower()[:64] or "unbekannt", "unknown", origin),
        )
        response = _login_form(request, name, {"f-name": exc.message}, 429)
        response.headers["Retry-After"] = str(exc.extra.get("retry_after", 900))
        return response
    if user is None:
        await audit(
            request,
            "console.signin",
            f"user:{name.strip().lower()[:64]}",
            {"reason": "wrong name or password"},
            AuditOutcome.REJECTED,
            Actor(name.strip().lower()[:64], "unknown", origin),
        )
        return _login_form(
            request,
            name,
            {"f-name": "Benutzername oder Passwort ist falsch, oder das Konto ist gesperrt."},
            401,
        )
    await auth.purge_sessions(sessions_of(request), dt.timedelta(minutes=settings.console_idle_minutes))
    token = await auth.start_session(sessions_of(request), user)
    await audit(request, "console.signin", f"user:{user.name}", {}, actor=Actor(user.name, user.role, origin))
    response = web.HTTPSeeOther("/console/")
    set_cookie(request, response, COOKIE, token)
    response.del_cookie(LOGIN_COOKIE, path="/console/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    current = request.get(CURRENT)
    if current is not None:
        await auth.end_session(sessions_of(request), current.token)
        await audit(request, "console.signout", f"user:{current.user.name}")
    response = web.HTTPSeeOther("/console/anmelden?meldung=abgemeldet")
    response.del_cookie(COOKIE, path="/console/")
    raise response


async def dashboard(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    async with sessions_of(request)() as session:
        from broadcasts.models import Alert

        active = int(
            await session.scalar(
                select(func.count()).select_from(Alert).where(Alert.state == AlertState.ACTIVE)
            )
            or 0
        )
        planned = int(
            await session.scalar(
                select(func.count()).select_from(Broadcast).where(Broadcast.state == PostState.SCHEDULED)
            )
            or 0
        )
        waiting = int(
            await session.scalar(
                select(func.count())
                .select_from(Approval)
                .where(Approval.state == ApprovalState.PENDING, Approval.requested_by != user.name)
            )
            or 0
        )
    return render(
        request,
        "dashboard.html",
        {
            "active": active,
            "planned": planned,
            "waiting": waiting if allowed(user.role, "posts.approve") else 0,
        },
    )


async def suggestions(request: web.Request) -> web.StreamResponse:
    need(request, "suggestions.view")
    source = request.config_dict.get(SUGGESTIONS)
    items: list[Any] = list(await source()) if source is not None else []
    return render(
        request, "suggestions.html", {"items": [_as_dict(i) for i in items], "connected": source is not None}
    )


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if hasattr(item, "as_dict"):
        result = item.as_dict()
        return result if isinstance(result, dict) else {"title": str(item)}
    found = {k: getattr(item, k) for k in ("title", "text", "link", "source", "topic") if hasattr(item, k)}
    if "source" not in found and hasattr(item, "feed"):
        found["source"] = item.feed  # an ingested feed's entry (core.news.Suggestion)
    published = getattr(item, "published_at", None)
    if published is not None:
        found["published"] = show(published)
    return found


async def questions(
    request: web.Request, errors: dict[str, str] | None = None, status: int = 200
) -> web.StreamResponse:
    user = need(request, "questions.view")
    source = request.config_dict.get(UNANSWERED)
    try:
        days = max(1, min(365, int(request.query.get("tage", "30"))))
    except ValueError:
        days = 30
    rows = list(await source(sessions_of(request), days, 100)) if source is not None else []
    # editors add a question as a phrasing of a service in one click (catalog_pages.add_phrasing)
    live = request.config_dict.get(LIVE_CATALOG)
    services = (
        sorted(((s.id, s.title) for s in live.catalog.services.values()), key=lambda c: c[1].lower())
        if live is not None and allowed(user.role, "catalog.edit")
        else []
    )
    return render(
        request,
        "questions.html",
        {
            "rows": [_as_dict(r) for r in rows],
            "days": days,
            "connected": source is not None,
            "services": services,
            "errors": errors or {},
        },
        status,
    )


# -- admin --------------------------------------------------------------------------------------------


async def users_page(
    request: web.Request,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    need(request, "users.manage")
    users = await auth.list_users(sessions_of(request))
    return render(
        request,
        "users.html",
        {
            "users": users,
            "roles": ROLES,
            "role_names": ROLE_NAMES,
            "errors": errors or {},
            "values": values or {},
        },
        status,
    )


async def users_get(request: web.Request) -> web.StreamResponse:
    return await users_page(request)


async def user_add(request: web.Request) -> web.StreamResponse:
    need(request, "users.manage")
    form = await form_of(request)
    name, role, password = str(form.get("name", "")), str(form.get("role", "")), str(form.get("password", ""))
    try:
        user = await auth.add_user(sessions_of(request), name, role, password)
    except auth.UserError as exc:
        field = (
            "f-new-password"
            if "Passwort" in exc.message
            else "f-role"
            if "Rolle" in exc.message
            else "f-new-name"
        )
        return await users_page(request, {field: exc.message}, {"name": name, "role": role}, 422)
    await audit(request, "console.user.add", f"user:{user.name}", {"role": user.role})
    raise web.HTTPSeeOther("/console/benutzer?meldung=benutzer")


async def user_disable(request: web.Request) -> web.StreamResponse:
    admin = need(request, "users.manage")
    name = request.match_info["name"]
    if name == admin.name:
        raise web.HTTPConflict(text="Sie können sich nicht selbst sperren.")
    user = await auth.disable_user(sessions_of(request), name)
    await audit(request, "console.user.disable", f"user:{user.name}")
    raise web.HTTPSeeOther("/console/benutzer?meldung=gesperrt")


async def user_password(request: web.Request) -> web.StreamResponse:
    need(request, "users.manage")
    name = request.match_info["name"]
    form = await form_of(request)
    try:
        user = await auth.reset_password(sessions_of(request), name, str(form.get("password", "")))
    except auth.UserError as exc:
        return await users_page(request, {f"f-pw-{name}": exc.message}, None, 422)
    await audit(request, "console.user.reset_password", f"user:{user.name}")
    raise web.HTTPSeeOther("/console/benutzer?meldung=passwort")


async def health_page(request: web.Request) -> web.StreamResponse:
    need(request, "health.view")
    health = request.config_dict.get(HEALTH)
    parent = request.config_dict.get(PARENT)
    rows = health(parent) if health is not None and parent is not None else []
    return render(request, "health.html", {"rows": rows})


async def audit_page(request: web.Request) -> web.StreamResponse:
    need(request, "audit.view")
    async with sessions_of(request)() as session:
        rows = (await session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(200))).all()
    return render(request, "audit.html", {"rows": rows})


# -- the language model ("Neu trainieren") -------------------------------------------------------------

STATE_NAMES = {
    "idle": "Bereit",
    "generating": "Trainingsdaten werden erzeugt",
    "training": "Das Sprachmodell wird trainiert",
    "swapping": "Das neue Modell wird eingespielt",
    "done": "Fertig",
    "failed": "Fehlgeschlagen",
}


async def nlu_page(request: web.Request) -> web.StreamResponse:
    need(request, "nlu.retrain")
    job = request.config_dict.get(RETRAIN)
    status = job.status.as_dict(include_log=True) if job is not None else None
    running = status is not None and status.get("state") in ("generating", "training", "swapping")
    times = (
        {
            key: show(value) if (value := getattr(job.status, key, None)) is not None else None
            for key in ("started", "finished")
        }
        if job is not None
        else {}
    )
    return render(
        request,
        "nlu.html",
        {
            "status": status,
            "times": times,
            "running": running,
            "state_names": STATE_NAMES,
            "connected": job is not None,
        },
    )


async def nlu_status(request: web.Request) -> web.StreamResponse:
    """The same as JSON, for the page's script (and other tools)."""
    need(request, "nlu.retrain")
    job = request.config_dict.get(RETRAIN)
    return web.json_response(job.status.as_dict() if job is not None else None)


async def nlu_retrain(request: web.Request) -> web.StreamResponse:
    need(request, "nlu.retrain")
    job = request.config_dict.get(RETRAIN)
    if job is None:
        raise web.HTTPConflict(text="Das Neu-Trainieren ist in diesem Betrieb nicht eingerichtet.")
    try:
        job.start()
    except Exception as exc:  # a run is under way (RetrainRunning, 409): say so, change nothing
        message = getattr(exc, "message", None)
        if message is None:
            raise
        raise web.HTTPSeeOther("/console/sprachmodell?meldung=laeuft") from None
    await audit(request, "console.nlu.retrain", "nlu:model")
    raise web.HTTPSeeOther("/console/sprachmodell?meldung=training")
