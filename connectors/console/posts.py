"""The press office's pages: the post form (preview per channel, variants, time, four-eyes approval), the
list, a post's page (decision, cancel, edit, progress), the week and month calendar, the preview API."""

from __future__ import annotations

import calendar as cal
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import and_, or_, select, update

import connectors.console.progressview as progressview
from broadcasts import BroadcastError
from broadcasts.berlin import LocalTimeError, show
from broadcasts.compose import ChannelPreview
from broadcasts.models import Broadcast
from broadcasts.publishers import carrying
from broadcasts.states import CANCELLABLE, SCHEDULABLE, AuditOutcome, PostState
from broadcasts.subscribers import TOPICS
from connectors.console.base import (
    Claim,
    actor_of,
    allowed,
    audit,
    form_of,
    need,
    new_form_token,
    render,
    service_of,
    sessions_of,
    settings_of,
)
from connectors.console.forms import parse_when
from connectors.console.models import Approval, ApprovalState, Submission
from core.time import BERLIN, utcnow

STATE_NAMES = {
    PostState.DRAFT: "Entwurf",
    PostState.SCHEDULED: "Geplant",
    PostState.SENDING: "Wird gesendet",
    PostState.SENT: "Gesendet",
    PostState.PARTLY_FAILED: "Teilweise fehlgeschlagen",
    PostState.CANCELLED: "Abgesagt",
}
APPROVAL_NAMES = {
    ApprovalState.PENDING: "Wartet auf Freigabe",
    ApprovalState.APPROVED: "Freigegeben",
    ApprovalState.REJECTED: "Abgelehnt",
    ApprovalState.EXPIRED: "Nicht gesendet: Zeitpunkt verstrichen, bevor freigegeben wurde",
}
MAX_TEXT = 10_000
MAX_URL = 2000


@dataclass
class PostForm:
    text: str = ""
    link: str = ""
    image_url: str = ""
    image_alt: str = ""
    topic: str = "presse"
    channels: list[str] = field(default_factory=list)
    variants: dict[str, str] = field(default_factory=dict)
    when: str = "now"
    date: str = ""
    time: str = ""
    offset: str = ""
    token: str = ""

    @classmethod
    def read(cls, form: dict[str, Any]) -> PostForm:
        return cls(
            text=str(form.get("text", "")).replace("\r\n", "\n").strip(),
            link=str(form.get("link", "")).strip(),
            image_url=str(form.get("image_url", "")).strip(),
            image_alt=str(form.get("image_alt", "")).strip(),
            topic=str(form.get("topic", "presse")),
            channels=[c for c in form.get("channels[]", []) if isinstance(c, str)],
            variants={
                k.removeprefix("variant_"): str(v).replace("\r\n", "\n").strip()
                for k, v in form.items()
                if k.startswith("variant_") and str(v).strip()
            },
            when=str(form.get("when", "now")),
            date=str(form.get("date", "")),
            time=str(form.get("time", "")),
            offset=str(form.get("offset", "")),
            token=str(form.get("form_token", "")),
        )


def post_channels(request: web.Request) -> list[Any]:
    return list(carrying(service_of(request).channels.values(), "post"))


def _url_error(value: str, what: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_URL or not value.startswith(("https://", "http://")) or " " in value:
        return f"{what} muss eine Web-Adresse sein, die mit https:// beginnt."
    return None


async def check(request: web.Request, form: PostForm) -> tuple[dict[str, str], list[ChannelPreview], Any]:
    """(errors by field id, previews, the parsed time). Errors name the field and are shown next to it."""
    errors: dict[str, str] = {}
    names = {c.name for c in post_channels(request)}
    if not form.text:
        errors["f-text"] = "Bitte geben Sie einen Text ein."
    elif len(form.text) > MAX_TEXT:
        errors["f-text"] = f"Der Text ist zu lang (höchstens {MAX_TEXT} Zeichen)."
    for key, value, what in (
        ("f-link", form.link, "Der Link"),
        ("f-image", form.image_url, "Die Bild-Adresse"),
    ):
        message = _url_error(value, what)
        if message:
            errors[key] = message
    if form.image_url and not form.image_alt:
        errors["f-alt"] = (
            "Bitte beschreiben Sie das Bild in einem Satz (Bildbeschreibung für blinde Menschen)."
        )
    if form.topic not in TOPICS:
        errors["f-topic"] = "Bitte wählen Sie ein Thema."
    if not form.channels or set(form.channels) - names:
        errors["f-channels"] = "Bitte wählen Sie mindestens einen der eingerichteten Kanäle."
    when = None
    try:
        when = parse_when(form.when, form.date, form.time, form.offset)
        if when.ambiguous:
            errors["f-time"] = (
                f"Die Uhrzeit {form.time} am {form.date} gibt es in Koblenz zweimal, weil die Uhr in dieser "
                "Nacht auf Winterzeit zurückgestellt wird. Bitte wählen Sie unten, welche gemeint ist."
            )
        elif when.at is not None and when.at < utcnow() - dt.timedelta(minutes=1):
            errors["f-time"] = "Dieser Zeitpunkt liegt in der Vergangenheit. Bitte wählen Sie einen späteren."
    except LocalTimeError as exc:
        errors["f-time"] = exc.message
    previews: list[ChannelPreview] = []
    chosen = [c for c in form.channels if c in names]
    if form.text and chosen:
        previews = await service_of(request).preview_post(
            form.text,
            form.link or None,
            form.image_url or None,
            {k: v for k, v in form.variants.items() if k in chosen},
            chosen,
            topic=form.topic if form.topic in TOPICS else "presse",
        )
        too_long = [p for p in previews if not p.ok]
        if too_long and "f-text" not in errors:
            errors["f-text"] = " ".join(p.error or f"{p.label}: zu lang." for p in too_long)
    return errors, previews, when


def _form_context(request: web.Request, form: PostForm, **extra: Any) -> dict[str, Any]:
    return {
        "form": form,
        "topics": TOPICS,
        "channels": post_channels(request),
        "approval": settings_of(request).approval_required,
        **extra,
    }


async def new_post(request: web.Request) -> web.StreamResponse:
    need(request, "posts.write")
    if request.method == "GET":
        # prefilled from a suggestion ("Als Beitrag übernehmen"): a GET only fills the form, never acts
        query = request.query
        topic = query.get("thema", "presse")
        form = PostForm(
            token=new_form_token(),
            channels=[c.name for c in post_channels(request)],
            text=query.get("text", "")[:5000],
            link=query.get("link", "")[:2000] if query.get("link", "").startswith("https://") else "",
            topic=topic if topic in TOPICS else "presse",
        )
        return render(request, "post_form.html", _form_context(request, form, errors={}, previews=[]))
    form = PostForm.read(await form_of(request))
    return await _submit(request, form, replaces=None)


async def _submit(request: web.Request, form: PostForm, replaces: Broadcast | None) -> web.StreamResponse:
    action = (await form_of(request)).get("action", "preview")
    errors, previews, when = await check(request, form)
    template = "post_form.html"
    context = _form_context(request, form, previews=previews, errors=errors, replaces=replaces)
    if action != "submit" or errors:
        return render(request, template, context, status=422 if errors and action == "submit" else 200)
    claimed = await Claim.take(request, form.token, "post")
    if claimed is not None:
        raise web.HTTPSeeOther(
            f"/console/beitraege/{claimed}?meldung=doppelt" if claimed else "/console/beitraege"
        )
    service, actor = service_of(request), actor_of(request)
    approval = settings_of(request).approval_required
    try:
        post_id = await service.create(
            actor,
            form.topic,
            form.text,
            form.link or None,
            form.image_url or None,
            {k: v for k, v in form.variants.items() if k in form.channels},
            form.channels,
            image_alt=form.image_alt or None,
        )
    except BroadcastError as exc:
        await Claim.release(request, form.token)
        context["errors"] = {"f-text": exc.message}
        return render(request, template, context, status=422)
    if approval:
        async with sessions_of(request).begin() as session:
            session.add(Approval(broadcast_id=post_id, requested_by=actor.name, send_at=when.at))
        await audit(
            request, "console.post.request_approval", f"broadcast:{post_id}", {"send_at": show(when.at)}
        )
    else:
        try:
            await service.schedule(actor, post_id, when.at)
        except BroadcastError as exc:
            await service.cancel(actor, post_id)
            await Claim.done(request, form.token, post_id)
            context["errors"] = {"f-text": exc.message}
            context["form"].token = new_form_token()
            return render(request, template, context, status=422)
    await Claim.done(request, form.token, post_id, form.image_alt or None)
    if replaces is not None:
        try:
            await service.cancel(actor, replaces.id)
        except BroadcastError:
            pass
        await _close_approvals(request, replaces.id, ApprovalState.REJECTED, f"Ersetzt durch Nr. {post_id}")
        await audit(request, "console.post.edit", f"broadcast:{replaces.id}", {"replaced_by": post_id})
    raise web.HTTPSeeOther(f"/console/beitraege/{post_id}?meldung={'freigabe' if approval else 'geplant'}")


async def _close_approvals(request: web.Request, post_id: int, state: ApprovalState, comment: str) -> None:
    async with sessions_of(request).begin() as session:
        await session.execute(
            update(Approval)
            .where(Approval.broadcast_id == post_id, Approval.state == ApprovalState.PENDING)
            .values(state=state, decided_by=actor_of(request).name, comment=comment, decided_at=utcnow())
        )


async def expire_due(request: web.Request) -> None:
    """Pending approvals whose wanted time has passed will not be sent; they say so."""
    async with sessions_of(request).begin() as session:
        await session.execute(
            update(Approval)
            .where(
                Approval.state == ApprovalState.PENDING,
                Approval.send_at.is_not(None),
                Approval.send_at < utcnow() - dt.timedelta(minutes=1),
            )
            .values(state=ApprovalState.EXPIRED, decided_at=utcnow())
        )


async def _approval(request: web.Request, post_id: int) -> Approval | None:
    async with sessions_of(request)() as session:
        return await session.scalar(
            select(Approval).where(Approval.broadcast_id == post_id).order_by(Approval.id.desc()).limit(1)
        )


async def _post(request: web.Request) -> Broadcast:
    try:
        post_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    return await service_of(request).get(post_id)


async def post_page(request: web.Request) -> web.StreamResponse:
    need(request, "posts.view")
    await expire_due(request)
    post = await _post(request)
    approval = await _approval(request, post.id)
    data = await progressview.load(request, "post", post.id)
    async with sessions_of(request)() as session:
        submission = await session.scalar(
            select(Submission).where(Submission.kind == "post", Submission.target == post.id)
        )
    user = need(request, "posts.view")
    return render(
        request,
        "post.html",
        {
            "post": post,
            "state_name": STATE_NAMES[post.state],
            "approval": approval,
            "approval_name": APPROVAL_NAMES.get(approval.state) if approval else "",
            "may_decide": approval is not None
            and approval.state == ApprovalState.PENDING
            and allowed(user.role, "posts.approve")
            and approval.requested_by != user.name,
            "own_pending": approval is not None
            and approval.state == ApprovalState.PENDING
            and approval.requested_by == user.name,
            "may_cancel": post.state in CANCELLABLE and allowed(user.role, "posts.write"),
            "may_edit": post.state in SCHEDULABLE and allowed(user.role, "posts.write"),
            "may_retry": allowed(user.role, "posts.write") or allowed(user.role, "posts.retry"),
            "labels": progressview.labels(request),
            "progress": progressview.payload(request, data),
            "image_alt": submission.image_alt if submission else None,
            "token": new_form_token(),
        },
    )


async def decide(request: web.Request) -> web.StreamResponse:
    user = need(request, "posts.approve")
    post = await _post(request)
    form = await form_of(request)
    decision, comment = form.get("decision", ""), str(form.get("comment", "")).strip()[:2000]
    approval = await _approval(request, post.id)
    if approval is None or approval.state != ApprovalState.PENDING:
        raise web.HTTPConflict(text="Für diesen Beitrag wartet keine Freigabe (mehr).")
    if approval.requested_by == user.name:
        await audit(
            request,
            "console.post.approve",
            f"broadcast:{post.id}",
            {"reason": "own post"},
            AuditOutcome.REJECTED,
        )
        raise web.HTTPForbidden(
            text="Sie können Ihren eigenen Beitrag nicht freigeben oder ablehnen (Vier-Augen-Prinzip)."
        )
    if decision not in ("approve", "reject"):
        raise web.HTTPBadRequest(text="Bitte wählen Sie „Freigeben“ oder „Ablehnen“.")
    if decision == "reject" and not comment:
        return await _decision_error(request, post, "Bitte begründen Sie die Ablehnung im Feld „Kommentar“.")
    now = utcnow()
    expired = approval.send_at is not None and approval.send_at < now - dt.timedelta(minutes=1)
    state = (
        ApprovalState.REJECTED
        if decision == "reject"
        else ApprovalState.EXPIRED
        if expired
        else ApprovalState.APPROVED
    )
    async with sessions_of(request).begin() as session:
        result = await session.execute(
            update(Approval)
            .where(Approval.id == approval.id, Approval.state == ApprovalState.PENDING)
            .values(state=state, decided_by=user.name, comment=comment or None, decided_at=now)
        )
        if not getattr(result, "rowcount", 0):
            raise web.HTTPConflict(text="Über diesen Beitrag wurde gerade schon entschieden.")
    await audit(request, f"console.post.{state.value}", f"broadcast:{post.id}", {"comment": comment})
    if state == ApprovalState.APPROVED:
        try:
            await service_of(request).schedule(actor_of(request), post.id, approval.send_at)
        except BroadcastError as exc:
            async with sessions_of(request).begin() as session:
                await session.execute(
                    update(Approval)
                    .where(Approval.id == approval.id)
                    .values(state=ApprovalState.PENDING, decided_by=None)
                )
            return await _decision_error(request, post, exc.message)
    notice = {ApprovalState.APPROVED: "freigegeben", ApprovalState.REJECTED: "abgelehnt"}.get(
        state, "verstrichen"
    )
    raise web.HTTPSeeOther(f"/console/beitraege/{post.id}?meldung={notice}")


async def _decision_error(request: web.Request, post: Broadcast, message: str) -> web.StreamResponse:
    context = {"title": "Nicht möglich", "message": message, "back": f"/console/beitraege/{post.id}"}
    return render(request, "error.html", context, 422)


async def cancel(request: web.Request) -> web.StreamResponse:
    need(request, "posts.write")
    post = await _post(request)
    await service_of(request).cancel(actor_of(request), post.id)
    await _close_approvals(request, post.id, ApprovalState.REJECTED, "Abgesagt")
    raise web.HTTPSeeOther(f"/console/beitraege/{post.id}?meldung=abgesagt")


async def edit(request: web.Request) -> web.StreamResponse:
    need(request, "posts.write")
    post = await _post(request)
    if post.state not in SCHEDULABLE:
        raise web.HTTPConflict(
            text="Dieser Beitrag wird schon gesendet oder ist beendet; ändern geht nicht mehr."
        )
    if request.method == "POST":
        return await _submit(request, PostForm.read(await form_of(request)), replaces=post)
    approval = await _approval(request, post.id)
    at = post.scheduled_at or (approval.send_at if approval else None)
    local = at.astimezone(BERLIN) if at else None
    form = PostForm(
        text=post.text,
        link=post.link or "",
        image_url=post.image_url or "",
        topic=post.topic,
        channels=list(post.channels or [c.name for c in post_channels(request)]),
        variants={k: v for k, v in (post.variants or {}).items() if v},
        when="at" if local else "now",
        date=local.strftime("%Y-%m-%d") if local else "",
        time=local.strftime("%H:%M") if local else "",
        offset=_offset(local),
        token=new_form_token(),
    )
    async with sessions_of(request)() as session:
        submission = await session.scalar(
            select(Submission).where(Submission.kind == "post", Submission.target == post.id)
        )
    form.image_alt = (submission.image_alt or "") if submission else ""
    return render(
        request, "post_form.html", _form_context(request, form, errors={}, previews=[], replaces=post)
    )


def _offset(local: dt.datetime | None) -> str:
    shift = local.utcoffset() if local is not None else None
    return str(round(shift.total_seconds() / 3600)) if shift is not None else ""


async def retry(request: web.Request) -> web.StreamResponse:
    user = need(request, "posts.view")
    if not (allowed(user.role, "posts.write") or allowed(user.role, "posts.retry")):
        raise web.HTTPForbidden()
    post = await _post(request)
    count = await progressview.retry(request, "post")
    raise web.HTTPSeeOther(f"/console/beitraege/{post.id}?meldung={'erneut' if count else 'nichts'}")


async def posts_list(request: web.Request) -> web.StreamResponse:
    user = need(request, "posts.view")
    await expire_due(request)
    posts = await service_of(request).list(limit=100)
    async with sessions_of(request)() as session:
        approvals = {
            a.broadcast_id: a for a in (await session.scalars(select(Approval).order_by(Approval.id))).all()
        }
    waiting = [
        p
        for p in posts
        if (a := approvals.get(p.id)) is not None
        and a.state == ApprovalState.PENDING
        and p.state == PostState.DRAFT
    ]
    return render(
        request,
        "posts.html",
        {
            "posts": posts,
            "approvals": approvals,
            "waiting": waiting,
            "state_names": STATE_NAMES,
            "approval_names": APPROVAL_NAMES,
            "may_approve": allowed(user.role, "posts.approve"),
            "labels": progressview.labels(request),
        },
    )


async def preview_api(request: web.Request) -> web.Response:
    need(request, "posts.write")
    form = PostForm.read(await form_of(request))
    errors, previews, _when = await check(request, form)
    return web.json_response({"previews": [p.as_dict() for p in previews], "errors": errors})


# -- calendar -----------------------------------------------------------------------------------------

WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)


async def calendar_page(request: web.Request) -> web.StreamResponse:
    need(request, "posts.view")
    await expire_due(request)
    view = "monat" if request.query.get("ansicht") == "monat" else "woche"
    try:
        day = dt.date.fromisoformat(request.query.get("datum", ""))
    except ValueError:
        day = utcnow().astimezone(BERLIN).date()
    if view == "woche":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=6)
        previous, following = first - dt.timedelta(days=7), first + dt.timedelta(days=7)
        title = f"Woche vom {first:%d.%m.} bis {last:%d.%m.%Y}"
    else:
        first = day.replace(day=1)
        last = first.replace(day=cal.monthrange(first.year, first.month)[1])
        previous = (first - dt.timedelta(days=1)).replace(day=1)
        following = last + dt.timedelta(days=1)
        title = f"{MONTHS[first.month - 1]} {first.year}"
    start = dt.datetime.combine(first, dt.time(), BERLIN).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), BERLIN).astimezone(dt.UTC)
    async with sessions_of(request)() as session:
        scheduled = (
            await session.scalars(
                select(Broadcast).where(
                    Broadcast.scheduled_at >= start,
                    Broadcast.scheduled_at < end,
                    Broadcast.state != PostState.CANCELLED,
                )
            )
        ).all()
        pending = (
            await session.execute(
                select(Broadcast, Approval)
                .join(Approval, Approval.broadcast_id == Broadcast.id)
                .where(
                    and_(
                        Approval.state == ApprovalState.PENDING,
                        Approval.send_at >= start,
                        Approval.send_at < end,
                        or_(Broadcast.state == PostState.DRAFT),
                    )
                )
            )
        ).all()
    labels = progressview.labels(request)
    all_post_channels = [c.name for c in post_channels(request)]
    days: dict[dt.date, list[dict[str, Any]]] = {}

    def add(post: Broadcast, at: dt.datetime, state: str) -> None:
        local = at.astimezone(BERLIN)
        days.setdefault(local.date(), []).append(
            {
                "id": post.id,
                "time": local.strftime("%H:%M"),
                "text": post.text.split("\n", 1)[0][:80],
                "state": state,
                "badges": [labels.get(c, c) for c in (post.channels or all_post_channels)],
            }
        )

    for post in scheduled:
        assert post.scheduled_at is not None
        add(post, post.scheduled_at, STATE_NAMES[post.state])
    for post, approval in pending:
        assert approval.send_at is not None
        add(post, approval.send_at, "Wartet auf Freigabe")
    for items in days.values():
        items.sort(key=lambda i: i["time"])
    weeks: list[list[dt.date | None]] = []
    if view == "monat":
        for week in cal.Calendar().monthdatescalendar(first.year, first.month):
            weeks.append([d if d.month == first.month else None for d in week])
    else:
        weeks.append([first + dt.timedelta(days=i) for i in range(7)])
    return render(
        request,
        "calendar.html",
        {
            "view": view,
            "title": title,
            "weeks": weeks,
            "days": days,
            "weekdays": WEEKDAYS,
            "previous": previous.isoformat(),
            "following": following.isoformat(),
            "day": day.isoformat(),
            "today": utcnow().astimezone(BERLIN).date(),
        },
    )
