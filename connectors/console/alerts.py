"""The fire service's pages: "Warnung auslösen" from a template in three steps after choosing it (fill in →
check the per-channel preview → "Warnung senden"), the active warnings with one-click "Aktualisieren",
"Entwarnung" and "Aufheben (Fehlalarm)", and each warning's page with its delivery progress.

Alerts are built exactly as ``koblenz-bot alert issue --template …`` builds them
(``broadcasts.templates.render_template``/``render_update``/``render_all_clear``) and submitted through
``Broadcasts.submit_alert``; no approval (an emergency)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select

import connectors.console.progressview as progressview
from broadcasts import BroadcastError
from broadcasts.alertrows import to_cap
from broadcasts.cap import CapError, to_cap_xml
from broadcasts.capmodel import CapAlert
from broadcasts.models import Alert
from broadcasts.states import AlertState
from broadcasts.templates import render_all_clear, render_template, render_update
from catalog.model import load_catalog
from catalog.stadtteile import Stadtteile
from connectors.console.base import (
    Claim,
    actor_of,
    allowed,
    form_of,
    need,
    new_form_token,
    render,
    service_of,
    sessions_of,
    settings_of,
)
from connectors.console.forms import (
    BY_KEY,
    CERTAINTIES,
    CHOICES,
    SEVERITIES,
    URGENCIES,
    Choice,
    area_groups,
    blanks,
)

STATE_NAMES = {
    AlertState.ACTIVE: "Aktiv",
    AlertState.UPDATED: "Aktualisiert",
    AlertState.CANCELLED: "Aufgehoben",
    AlertState.EXPIRED: "Abgelaufen",
}
FALSE_ALARM = "Fehlalarm: Diese Warnung wurde irrtümlich versandt. Es bestand keine Gefahr."


def known_stadtteile(request: web.Request) -> Stadtteile:
    key = "console_stadtteile"
    cached = request.config_dict.get(key)
    if isinstance(cached, Stadtteile):
        return cached
    return Stadtteile(load_catalog(settings_of(request).catalog_dir))


def _choice(request: web.Request) -> Choice:
    choice = BY_KEY.get(request.match_info["template"])
    if choice is None:
        raise web.HTTPNotFound()
    return choice


@dataclasses.dataclass
class AlertForm:
    values: dict[str, str]
    area: str  # "city", "stadtteile" or ""
    stadtteile: list[str]
    exercise: bool
    severity: str
    urgency: str
    certainty: str
    token: str

    @classmethod
    def read(cls, form: dict[str, Any], choice: Choice) -> AlertForm:
        names = {b.name for b in blanks(choice)}
        spec = choice.spec
        return cls(
            values={n: str(form.get(f"v_{n}", "")).strip() for n in names},
            area=str(form.get("area", "")),
            stadtteile=[s for s in form.get("stadtteile[]", []) if isinstance(s, str)],
            exercise=form.get("exercise") == "1",
            severity=str(form.get("severity", spec.severity)),
            urgency=str(form.get("urgency", spec.urgency)),
            certainty=str(form.get("certainty", spec.certainty)),
            token=str(form.get("form_token", "")),
        )

    @classmethod
    def blank(cls, choice: Choice) -> AlertForm:
        spec = choice.spec
        return cls({}, "", [], False, spec.severity, spec.urgency, spec.certainty, new_form_token())


def build(request: web.Request, choice: Choice, form: AlertForm) -> tuple[CapAlert | None, dict[str, str]]:
    """The CAP alert from the form, or the errors by field id."""
    errors: dict[str, str] = {}
    for blank in blanks(choice):
        if blank.required and not form.values.get(blank.name):
            errors[f"f-{blank.name}"] = f"Bitte füllen Sie „{blank.label}“ aus."
    known = known_stadtteile(request)
    areas = [s for s in form.stadtteile if s in known.names]
    if form.area == "city" and areas:
        errors["f-area"] = "Sie haben „Ganze Stadt“ und einzelne Stadtteile gewählt. Bitte nur eines davon."
    elif form.area != "city" and not areas:
        errors["f-area"] = "Bitte wählen Sie das Gebiet: „Ganze Stadt“ oder mindestens einen Stadtteil."
    if form.severity not in SEVERITIES:
        errors["f-severity"] = "Bitte wählen Sie eine Schwere."
    if form.urgency not in URGENCIES:
        errors["f-urgency"] = "Bitte wählen Sie eine Dringlichkeit."
    if form.certainty not in CERTAINTIES:
        errors["f-certainty"] = "Bitte wählen Sie eine Gewissheit."
    if errors:
        return None, errors
    values: dict[str, Any] = {k: v for k, v in form.values.items() if v}
    values.update(choice.fixed)
    try:
        alert = render_template(
            choice.template,
            stadtteile=() if form.area == "city" else areas,
            status="Exercise" if form.exercise else "Actual",
            **values,
        )
    except CapError as exc:
        return None, {"f-form": getattr(exc, "message_de", str(exc))}
    infos = tuple(
        dataclasses.replace(i, severity=form.severity, urgency=form.urgency, certainty=form.certainty)  # type: ignore[arg-type]
        for i in alert.infos
    )
    return dataclasses.replace(alert, infos=infos), {}


def _form_context(request: web.Request, choice: Choice, form: AlertForm, **extra: Any) -> dict[str, Any]:
    return {
        "choice": choice,
        "blanks": blanks(choice),
        "form": form,
        "groups": area_groups(known_stadtteile(request).names),
        "severities": SEVERITIES,
        "urgencies": URGENCIES,
        "certainties": CERTAINTIES,
        **extra,
    }


async def choose(request: web.Request) -> web.StreamResponse:
    need(request, "alerts.write")
    return render(request, "alert_choose.html", {"choices": CHOICES})


async def new_alert(request: web.Request) -> web.StreamResponse:
    need(request, "alerts.write")
    choice = _choice(request)
    if request.method == "GET":
        form = AlertForm.blank(choice)
        return render(request, "alert_form.html", _form_context(request, choice, form, errors={}))
    raw = await form_of(request)
    form = AlertForm.read(raw, choice)
    action = raw.get("action", "preview")
    alert, errors = build(request, choice, form)
    if alert is None or action == "edit":
        status = 422 if errors else 200
        return render(request, "alert_form.html", _form_context(request, choice, form, errors=errors), status)
    if action == "preview":
        previews = await service_of(request).preview_alert(alert)
        return render(
            request,
            "alert_preview.html",
            _form_context(request, choice, form, alert=alert, info=alert.info("de"), previews=previews),
        )
    claimed = await Claim.take(request, form.token, "alert")
    if claimed is not None:
        raise web.HTTPSeeOther(
            f"/console/warnungen/{claimed}?meldung=doppelt" if claimed else "/console/warnungen"
        )
    try:
        result = await service_of(request).submit_alert(actor_of(request), alert, to_cap_xml(alert).decode())
    except (BroadcastError, CapError) as exc:
        await Claim.release(request, form.token)
        message = getattr(exc, "message_de", None) or getattr(exc, "message", str(exc))
        return render(
            request, "alert_form.html", _form_context(request, choice, form, errors={"f-form": message}), 422
        )
    await Claim.done(request, form.token, result.id)
    raise web.HTTPSeeOther(f"/console/warnungen/{result.id}?meldung=gesendet")


async def _head(request: web.Request) -> Alert:
    try:
        alert_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    return await service_of(request).head_of(str(alert_id))


async def alerts_list(request: web.Request) -> web.StreamResponse:
    user = need(request, "alerts.view")
    async with sessions_of(request)() as session:
        active = (
            await session.scalars(
                select(Alert).where(Alert.state == AlertState.ACTIVE).order_by(Alert.id.desc())
            )
        ).all()
        ended = (
            await session.scalars(
                select(Alert)
                .where(Alert.root_id.is_(None), Alert.state != AlertState.ACTIVE)
                .order_by(Alert.id.desc())
                .limit(20)
            )
        ).all()
    return render(
        request,
        "alerts.html",
        {
            "active": [(a, to_cap(a)) for a in active],
            "ended": [(a, to_cap(a)) for a in ended],
            "state_names": STATE_NAMES,
            "may_write": allowed(user.role, "alerts.write"),
            "token": new_form_token(),
        },
    )


async def alert_page(request: web.Request) -> web.StreamResponse:
    user = need(request, "alerts.view")
    head = await _head(request)
    root_id = head.root_id or head.id
    async with sessions_of(request)() as session:
        chain = (
            await session.scalars(
                select(Alert).where((Alert.id == root_id) | (Alert.root_id == root_id)).order_by(Alert.id)
            )
        ).all()
    data = await progressview.load(request, "alert", head.id)
    return render(
        request,
        "alert.html",
        {
            "head": head,
            "cap": to_cap(head),
            "chain": [(a, to_cap(a)) for a in chain],
            "state_names": STATE_NAMES,
            "may_write": allowed(user.role, "alerts.write"),
            "may_retry": allowed(user.role, "alerts.write") or allowed(user.role, "alerts.retry"),
            "progress": progressview.payload(request, data),
            "token": new_form_token(),
        },
    )


async def _send_follow_up(
    request: web.Request, head: Alert, notice: str, make: Callable[[], CapAlert]
) -> web.StreamResponse:
    """Claim the form's token first (a double click finds the first result), then build and submit."""
    token = str((await form_of(request)).get("form_token", ""))
    claimed = await Claim.take(request, token, "alert")
    if claimed is not None:
        target = f"/console/warnungen/{claimed}?meldung=doppelt" if claimed else "/console/warnungen"
        raise web.HTTPSeeOther(target)
    try:
        _still_active(head)
        alert = make()
        await service_of(request).submit_alert(actor_of(request), alert, to_cap_xml(alert).decode())
    except (BroadcastError, CapError, web.HTTPException):
        await Claim.release(request, token)
        raise
    await Claim.done(request, token, head.id)
    raise web.HTTPSeeOther(f"/console/warnungen/{head.id}?meldung={notice}")


async def all_clear(request: web.Request) -> web.StreamResponse:
    need(request, "alerts.write")
    head = await _head(request)
    return await _send_follow_up(request, head, "entwarnung", lambda: render_all_clear(to_cap(head)))


async def false_alarm(request: web.Request) -> web.StreamResponse:
    need(request, "alerts.write")
    head = await _head(request)

    def make() -> CapAlert:
        cancel = render_all_clear(to_cap(head), hinweis="Die Warnung war ein Fehlalarm.")
        return dataclasses.replace(cancel, note=FALSE_ALARM)

    return await _send_follow_up(request, head, "fehlalarm", make)


def _still_active(head: Alert) -> None:
    if head.state != AlertState.ACTIVE:
        raise web.HTTPConflict(text="Diese Warnung ist bereits beendet.")


async def update_alert(request: web.Request) -> web.StreamResponse:
    need(request, "alerts.write")
    head = await _head(request)
    _still_active(head)
    cap = to_cap(head)
    info = cap.info("de")
    current = list(cap.stadtteile())
    context: dict[str, Any] = {
        "head": head,
        "groups": area_groups(known_stadtteile(request).names),
        "errors": {},
        "previews": [],
    }
    if request.method == "GET":
        context["form"] = {
            "headline": info.headline,
            "description": info.description,
            "instruction": info.instruction,
            "area": "city" if not current else "stadtteile",
            "stadtteile": current,
            "token": new_form_token(),
        }
        return render(request, "alert_update.html", context)
    raw = await form_of(request)
    form: dict[str, Any] = {
        "headline": str(raw.get("headline", "")).strip(),
        "description": str(raw.get("description", "")).replace("\r\n", "\n").strip(),
        "instruction": str(raw.get("instruction", "")).replace("\r\n", "\n").strip(),
        "area": str(raw.get("area", "")),
        "stadtteile": [s for s in raw.get("stadtteile[]", []) if s in known_stadtteile(request).names],
        "token": str(raw.get("form_token", "")),
    }
    context["form"] = form
    errors: dict[str, str] = {}
    if not form["headline"]:
        errors["f-headline"] = "Bitte geben Sie eine Überschrift ein."
    if not form["description"]:
        errors["f-description"] = "Bitte geben Sie eine Beschreibung ein."
    if form["area"] == "city" and form["stadtteile"]:
        errors["f-area"] = "Sie haben „Ganze Stadt“ und einzelne Stadtteile gewählt. Bitte nur eines davon."
    elif form["area"] != "city" and not form["stadtteile"]:
        errors["f-area"] = "Bitte wählen Sie das Gebiet: „Ganze Stadt“ oder mindestens einen Stadtteil."
    if errors:
        context["errors"] = errors
        return render(request, "alert_update.html", context, 422)
    try:
        update = render_update(
            cap,
            headline=form["headline"] if form["headline"] != info.headline else None,
            description=form["description"] if form["description"] != info.description else None,
            instruction=form["instruction"] if form["instruction"] != info.instruction else None,
            stadtteile=() if form["area"] == "city" else form["stadtteile"],
        )
    except CapError as exc:
        context["errors"] = {"f-headline": getattr(exc, "message_de", str(exc))}
        return render(request, "alert_update.html", context, 422)
    if raw.get("action") != "send":
        context["previews"] = await service_of(request).preview_alert(update)
        return render(request, "alert_update.html", context)
    return await _send_follow_up(request, head, "aktualisiert", lambda: update)


async def retry(request: web.Request) -> web.StreamResponse:
    user = need(request, "alerts.view")
    if not (allowed(user.role, "alerts.write") or allowed(user.role, "alerts.retry")):
        raise web.HTTPForbidden()
    head = await _head(request)
    count = await progressview.retry(request, "alert")
    raise web.HTTPSeeOther(f"/console/warnungen/{head.id}?meldung={'erneut' if count else 'nichts'}")


async def preview_api(request: web.Request) -> web.Response:
    need(request, "alerts.write")
    choice = _choice(request)
    alert, errors = build(request, choice, AlertForm.read(await form_of(request), choice))
    previews = await service_of(request).preview_alert(alert) if alert is not None else []
    return web.json_response({"previews": [p.as_dict() for p in previews], "errors": errors})
