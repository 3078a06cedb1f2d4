"""The editors' catalog ("Dienste"): the list of services, the edit form (facts, links, citizens'
phrasings), the server-rendered diff before saving, the history with "Zurücksetzen", and the one-click
phrasing from the unanswered-questions report. The same for the offices ("Ämter", ``/console/aemter``):
name, address, opening hours (one row per time block: weekday checkboxes, opening and closing time, a
note, "entfernen"; two empty rows to add one), contact facts, accessibility, sources.

Everything goes through ``catalog.revisions.LiveCatalog`` (handed over by the root): its validation (the
catalog model's rules plus a known office, https links, fees as amounts, phrasings neither empty nor
repeated), its revisions (who, role, when, the full record, a comment) and its live update: the chat
answers with the saved record at once. Every handler calls ``need(request, "catalog.edit")`` first;
every change is in the audit log. Forms: one field per fact, one row per fee, link and opening-hours
block (two empty rows to add one; "Entfernen" to drop one), one phrasing per line. No script needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

import connectors.console.pages as pages
from broadcasts.berlin import show
from catalog.model import DAY_NAMES, Office, Service, fold
from catalog.revisions import (
    OFFICE,
    WEEKDAYS,
    CatalogRevision,
    EditConflict,
    EditRefused,
    Entry,
    LiveCatalog,
    Loc,
    entry_of,
    office_of,
    phrasing_key,
    service_json,
)
from connectors.console.base import (
    LIVE_CATALOG,
    RETRAIN,
    ROLE_NAMES,
    allowed,
    audit,
    form_of,
    need,
    render,
    sessions_of,
)

PERMISSION = "catalog.edit"
EXTRA_ROWS = 2  # empty rows for a new fee or link (without JavaScript)
LINK_KINDS = {
    "info": "Information",
    "online": "Online-Dienst",
    "appointment": "Terminbuchung",
    "payment": "Bezahlung",
    "form": "Formular",
}
APPOINTMENT = {"": "Unbekannt", "ja": "Ja, nur mit Termin", "nein": "Nein"}
TEXT_FIELDS = ("title", "summary", "fees_note", "processing_time", "online", "leika", "reviewed")
LINE_FIELDS = ("synonyms", "details", "documents", "sources")
FEE_PARTS = ("item", "amount", "source", "checked")
LINK_PARTS = ("kind", "title", "url", "source", "checked")
LABELS = {
    "title": "Titel",
    "summary": "Kurzbeschreibung",
    "synonyms": "Weitere Namen",
    "details": "Weitere Hinweise",
    "documents": "Unterlagen",
    "fees_note": "Hinweis zu den Gebühren",
    "processing_time": "Bearbeitungszeit",
    "online": "Online erledigen",
    "appointment_required": "Termin nötig",
    "office": "Zuständiges Amt",
    "leika": "LeiKa-Schlüssel",
    "sources": "Quellen",
    "reviewed": "Geprüft am",
    "unconfirmed_links": "Nicht bestätigte Links",
    "phrasings": "Formulierungen",
}


def live_of(request: web.Request) -> LiveCatalog:
    live = request.config_dict.get(LIVE_CATALOG)
    if live is None:
        raise web.HTTPNotFound(text="Das Bearbeiten des Katalogs ist in diesem Betrieb nicht eingerichtet.")
    return live


def _service_id(request: web.Request, live: LiveCatalog) -> str:
    service_id = request.match_info["service"]
    if service_id not in live.catalog.services:
        raise web.HTTPNotFound(text="Diesen Dienst gibt es im Katalog nicht.")
    return service_id


def when(value: dt.datetime | None) -> str:
    """Stored UTC (SQLite hands it back without an offset) as Koblenz time."""
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return show(value)


# -- the form: a Service <-> flat form values ------------------------------------------------------


def form_values(entry: Entry) -> dict[str, str]:
    service = entry.service
    values: dict[str, str] = {
        "title": service.title,
        "summary": service.summary,
        "fees_note": service.fees_note or "",
        "processing_time": service.processing_time or "",
        "online": service.online or "",
        "leika": service.leika or "",
        "reviewed": service.reviewed.isoformat(),
        "office": service.office or "",
        "appointment_required": {True: "ja", False: "nein", None: ""}[service.appointment_required],
        "synonyms": "\n".join(service.synonyms),
        "details": "\n".join(service.details),
        "documents": "\n".join(service.documents),
        "sources": "\n".join(str(s) for s in service.sources),
        "phrasings": "\n".join(entry.phrasings),
        "fee_rows": str(len(service.fees) + EXTRA_ROWS),
        "link_rows": str(len(service.links) + EXTRA_ROWS),
    }
    for index, fee in enumerate(service.fees):
        values.update(
            {
                f"fee-{index}-item": fee.item,
                f"fee-{index}-amount": fee.amount,
                f"fee-{index}-source": str(fee.source or ""),
                f"fee-{index}-checked": fee.checked.isoformat() if fee.checked else "",
            }
        )
    for index, link in enumerate(service.links):
        values.update(
            {
                f"link-{index}-kind": link.kind,
                f"link-{index}-title": link.title,
                f"link-{index}-url": str(link.url),
                f"link-{index}-source": str(link.source or ""),
                f"link-{index}-checked": link.checked.isoformat() if link.checked else "",
            }
        )
    return values


def _rows(values: Mapping[str, str], name: str) -> int:
    try:
        return max(0, min(200, int(values.get(name, "0"))))
    except ValueError:
        return 0


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass
class Proposal:
    """What the form says, as the catalog model's raw record, and where each part came from."""

    raw: dict[str, Any]
    phrasings: list[str]
    phrasing_lines: list[int]  # 1-based line in the text area of each phrasing
    fee_rows: list[int]  # form row of each fee in ``raw``
    link_rows: list[int]


def proposal(values: Mapping[str, str], current: Service) -> Proposal:
    raw: dict[str, Any] = {"id": current.id}
    for name in TEXT_FIELDS:
        text = values.get(name, "").strip()
        raw[name] = text or None
    raw["title"] = raw["title"] or ""
    raw["summary"] = raw["summary"] or ""
    for name in LINE_FIELDS:
        raw[name] = _lines(values.get(name, ""))
    raw["office"] = values.get("office", "").strip() or None
    raw["appointment_required"] = {"ja": True, "nein": False}.get(values.get("appointment_required", ""))
    fees, fee_rows = [], []
    for row in range(_rows(values, "fee_rows")):
        parts = {part: values.get(f"fee-{row}-{part}", "").strip() for part in FEE_PARTS}
        if values.get(f"fee-{row}-remove") or not any(parts.values()):
            continue
        fees.append(
            {k: v or None for k, v in parts.items()} | {"item": parts["item"], "amount": parts["amount"]}
        )
        fee_rows.append(row)
    links, link_rows = [], []
    for row in range(_rows(values, "link_rows")):
        parts = {part: values.get(f"link-{row}-{part}", "").strip() for part in LINK_PARTS}
        if values.get(f"link-{row}-remove") or not any(v for k, v in parts.items() if k != "kind"):
            continue
        links.append(
            {k: v or None for k, v in parts.items()} | {"title": parts["title"], "url": parts["url"]}
        )
        link_rows.append(row)
    raw["fees"], raw["links"] = fees, links
    linked = {link["kind"] for link in links}
    # a confirmed link of a kind replaces the note that none was found (the diff shows it)
    raw["unconfirmed_links"] = [
        u.model_dump(mode="json") for u in current.unconfirmed_links if u.kind not in linked
    ]
    phrasings, lines = [], []
    for number, line in enumerate(values.get("phrasings", "").splitlines(), 1):
        if line.strip():
            phrasings.append(line.strip())
            lines.append(number)
    return Proposal(raw, phrasings, lines, fee_rows, link_rows)


def field_errors(problems: Mapping[Loc, str], found: Proposal) -> dict[str, str]:
    """Problems by location → messages by form field id (the error summary links to them)."""
    errors: dict[str, str] = {}

    def add(field: str, message: str) -> None:
        errors[field] = f"{errors[field]} {message}" if field in errors else message

    for loc, message in problems.items():
        head = loc[0] if loc else ""
        if head in ("fees", "links") and len(loc) >= 2 and isinstance(loc[1], int):
            rows = found.fee_rows if head == "fees" else found.link_rows
            prefix = "fee" if head == "fees" else "link"
            row = rows[loc[1]] if loc[1] < len(rows) else 0
            part = str(loc[2]) if len(loc) > 2 else ("item" if head == "fees" else "url")
            what = "Gebühr" if head == "fees" else "Link"
            add(f"f-{prefix}-{row}-{part}", f"{what} {row + 1}: {message}")
        elif head == "phrasings" and len(loc) >= 2 and isinstance(loc[1], int):
            line = found.phrasing_lines[loc[1]] if loc[1] < len(found.phrasing_lines) else 0
            add("f-phrasings", f"Zeile {line}: {message}")
        elif head in LABELS and head != "unconfirmed_links":
            add(f"f-{head}", f"{LABELS[str(head)]}: {message}")
        else:
            add("f-title", message)
    return errors


# -- the diff -----------------------------------------------------------------------------------------


def _fee_text(fee: Any) -> str:
    extra = [
        f"Quelle: {fee.source}" if fee.source else "",
        f"geprüft am {fee.checked}" if fee.checked else "",
    ]
    return f"{fee.item}: {fee.amount}" + "".join(f"\n{e}" for e in extra if e)


def _link_text(link: Any) -> str:
    extra = [
        f"Quelle: {link.source}" if link.source else "",
        f"geprüft am {link.checked}" if link.checked else "",
    ]
    return f"{LINK_KINDS.get(link.kind, link.kind)}: {link.title}\n{link.url}" + "".join(
        f"\n{e}" for e in extra if e
    )


def _plain(service: Service, name: str) -> str:
    value = getattr(service, name)
    if name == "appointment_required":
        return APPOINTMENT[{True: "ja", False: "nein", None: ""}[value]]
    if isinstance(value, tuple):
        if name == "unconfirmed_links":
            return "\n".join(f"{LINK_KINDS.get(u.kind, u.kind)}: {u.note}" for u in value)
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


def diff(old: Entry, new: Entry, offices: Mapping[str, Any]) -> list[Change]:
    """Field by field, old → new, in the form's order; fees and links per row; phrasings as added and
    removed lines."""
    changes: list[Change] = []
    for name in ("title", "summary", "synonyms", "details", "documents"):
        before, after = _plain(old.service, name), _plain(new.service, name)
        if before != after:
            changes.append(Change(LABELS[name], before, after))
    for index in range(max(len(old.service.fees), len(new.service.fees))):
        before = _fee_text(old.service.fees[index]) if index < len(old.service.fees) else ""
        after = _fee_text(new.service.fees[index]) if index < len(new.service.fees) else ""
        if before != after:
            changes.append(Change(f"Gebühr {index + 1}", before, after))
    for name in ("fees_note", "processing_time", "online", "appointment_required"):
        before, after = _plain(old.service, name), _plain(new.service, name)
        if before != after:
            changes.append(Change(LABELS[name], before, after))
    if old.service.office != new.service.office:
        changes.append(
            Change(
                LABELS["office"],
                _office_name(offices, old.service.office),
                _office_name(offices, new.service.office),
            )
        )
    for index in range(max(len(old.service.links), len(new.service.links))):
        before = _link_text(old.service.links[index]) if index < len(old.service.links) else ""
        after = _link_text(new.service.links[index]) if index < len(new.service.links) else ""
        if before != after:
            changes.append(Change(f"Link {index + 1}", before, after))
    for name in ("unconfirmed_links", "leika", "sources", "reviewed"):
        before, after = _plain(old.service, name), _plain(new.service, name)
        if before != after:
            changes.append(Change(LABELS[name], before, after))
    old_keys = {phrasing_key(p) for p in old.phrasings}
    new_keys = {phrasing_key(p) for p in new.phrasings}
    removed = [p for p in old.phrasings if phrasing_key(p) not in new_keys]
    added = [p for p in new.phrasings if phrasing_key(p) not in old_keys]
    if removed or added:
        changes.append(Change(LABELS["phrasings"], "\n".join(removed), "\n".join(added)))
    return changes


def _office_name(offices: Mapping[str, Any], office_id: str | None) -> str:
    if not office_id:
        return ""
    office = offices.get(office_id)
    return office.name if office is not None else office_id


def phrasings_changed(old: Entry, new: Entry) -> bool:
    return {phrasing_key(p) for p in old.phrasings} != {phrasing_key(p) for p in new.phrasings}


# -- pages --------------------------------------------------------------------------------------------


async def services_list(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    query = request.query.get("q", "").strip()[:100]
    needle = fold(query)
    rows = []
    for service in sorted(live.catalog.services.values(), key=lambda s: fold(s.title)):
        names = [service.title, service.id, *service.synonyms]
        if needle and not any(needle in fold(name) for name in names):
            continue
        office = live.catalog.office_of(service)
        rows.append(
            {
                "id": service.id,
                "title": service.title,
                "office": office.name if office else "",
                "fees": len(service.fees),
                "links": len(service.links),
                "edited": live.edited(service.id),
            }
        )
    return render(request, "services.html", {"rows": rows, "q": query, "total": len(live.catalog.services)})


def _edit_context(
    request: web.Request, live: LiveCatalog, service_id: str, values: Mapping[str, str], base: str
) -> dict[str, Any]:
    return {
        "service_id": service_id,
        "title": live.catalog.services[service_id].title,
        "v": values,
        "base": base,
        "fee_rows": _rows(values, "fee_rows"),
        "link_rows": _rows(values, "link_rows"),
        "offices": sorted(live.catalog.offices.values(), key=lambda o: fold(o.name)),
        "link_kinds": LINK_KINDS,
        "appointment": APPOINTMENT,
        "unconfirmed": live.catalog.services[service_id].unconfirmed_links,
        "office_link": live.catalog.office_of(live.catalog.services[service_id]),
        "edited": live.edited(service_id),
        "may_retrain": allowed(need(request, PERMISSION).role, "nlu.retrain")
        and request.config_dict.get(RETRAIN) is not None,
        "retrain_hint": request.query.get("training") == "1",
    }


async def edit_page(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    service_id = _service_id(request, live)
    newest = await live.newest_id(sessions_of(request), service_id)
    values = form_values(live.entry(service_id))
    context = _edit_context(request, live, service_id, values, str(newest or ""))
    return render(request, "service_edit.html", context | {"errors": {}})


def _base(values: Mapping[str, str]) -> int | None:
    text = values.get("base", "")
    return int(text) if text.isdigit() else None


async def edit_post(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    service_id = _service_id(request, live)
    values = {k: v for k, v in (await form_of(request)).items() if isinstance(v, str)}
    action = values.get("action", "vorschau")
    current = live.entry(service_id)
    found = proposal(values, current.service)
    entry, problems = live.check(service_id, found.raw, found.phrasings)
    base = values.get("base", "")
    if entry is None or action == "bearbeiten":
        errors = field_errors(problems, found)
        context = _edit_context(request, live, service_id, values, base)
        return render(request, "service_edit.html", context | {"errors": errors}, 422 if errors else 200)
    changes = diff(current, entry, live.catalog.offices)
    if action != "speichern":
        return render(
            request,
            "service_diff.html",
            {
                "service_id": service_id,
                "base_url": f"/console/dienste/{service_id}",
                "what": "der Dienst",
                "title": current.service.title,
                "changes": changes,
                "hidden": {k: v for k, v in values.items() if k not in ("_csrf", "action", "comment")},
                "comment": values.get("comment", ""),
                "action_url": f"/console/dienste/{service_id}",
                "restore": None,
            },
        )
    if not changes:
        raise web.HTTPSeeOther(f"/console/dienste/{service_id}?meldung=unveraendert")
    revision = await _save(request, live, entry, values.get("comment", ""), _base(values))
    await audit(
        request,
        "console.catalog.edit",
        f"service:{service_id}",
        {"revision": revision.id, "fields": [c.field for c in changes], "comment": revision.comment},
    )
    training = "&training=1" if phrasings_changed(current, entry) else ""
    raise web.HTTPSeeOther(f"/console/dienste/{service_id}?meldung=gespeichert{training}")


async def _stored(
    request: web.Request, save: Callable[[str, str], Awaitable[CatalogRevision]]
) -> CatalogRevision:
    """Run a save as the signed-in editor (name, role): another save in between is 409, a state the
    catalog's rules refuse 422; nothing is stored in either case."""
    user = need(request, PERMISSION)
    try:
        return await save(user.name, user.role)
    except EditConflict as conflict:
        raise web.HTTPConflict(text=conflict.message) from None
    except EditRefused as refused:
        raise web.HTTPUnprocessableEntity(
            text="Dieser Stand erfüllt die Regeln des Katalogs nicht mehr und wurde nicht gespeichert: "
            + "; ".join(refused.problems.values())
        ) from None


async def _save(
    request: web.Request,
    live: LiveCatalog,
    entry: Entry,
    comment: str,
    expected: int | None,
    restored_from: int | None = None,
) -> CatalogRevision:
    return await _stored(
        request,
        lambda name, role: live.save(
            sessions_of(request), entry, name, role, comment, expected, restored_from
        ),
    )


async def history_page(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    service_id = _service_id(request, live)
    rows = await live.history(sessions_of(request), service_id)
    return render(
        request,
        "service_history.html",
        {
            "service_id": service_id,
            "base_url": f"/console/dienste/{service_id}",
            "what": "der Dienst",
            "title": live.catalog.services[service_id].title,
            "rows": [
                {
                    "id": row.id,
                    "when": when(row.created_at),
                    "author": row.author,
                    "role": ROLE_NAMES.get(row.role, row.role),
                    "comment": row.comment,
                    "restored_from": row.restored_from,
                    "current": live.edited(service_id) == row.id,
                }
                for row in rows
            ],
            "seed_current": live.edited(service_id) is None,
        },
    )


async def _revision_entry(request: web.Request, live: LiveCatalog, service_id: str) -> tuple[int, Entry]:
    revision_id = int(request.match_info["revision"])
    if revision_id == 0:  # the seed (YAML) itself
        return 0, live.seed_entry(service_id)
    row = await live.revision(sessions_of(request), service_id, revision_id)
    if row is None:
        raise web.HTTPNotFound(text="Diese Fassung gibt es nicht.")
    return revision_id, entry_of(row.record)


async def revision_page(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    service_id = _service_id(request, live)
    revision_id, entry = await _revision_entry(request, live, service_id)
    newest = await live.newest_id(sessions_of(request), service_id)
    changes = diff(live.entry(service_id), entry, live.catalog.offices)
    return render(
        request,
        "service_diff.html",
        {
            "service_id": service_id,
            "base_url": f"/console/dienste/{service_id}",
            "what": "der Dienst",
            "title": live.catalog.services[service_id].title,
            "changes": changes,
            "hidden": {"base": str(newest or "")},
            "comment": "",
            "action_url": f"/console/dienste/{service_id}/verlauf/{revision_id}/zuruecksetzen",
            "restore": revision_id,
        },
    )


async def restore(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    service_id = _service_id(request, live)
    values = {k: v for k, v in (await form_of(request)).items() if isinstance(v, str)}
    revision_id, entry = await _revision_entry(request, live, service_id)
    current = live.entry(service_id)
    if not diff(current, entry, live.catalog.offices):
        raise web.HTTPSeeOther(f"/console/dienste/{service_id}?meldung=unveraendert")
    name = f"Fassung {revision_id}" if revision_id else "Ausgangsstand (YAML)"
    comment = values.get("comment", "").strip() or f"Zurückgesetzt auf {name}"
    revision = await _save(request, live, entry, comment, _base(values), revision_id or None)
    await audit(
        request,
        "console.catalog.restore",
        f"service:{service_id}",
        {"revision": revision.id, "restored_from": revision_id, "comment": revision.comment},
    )
    training = "&training=1" if phrasings_changed(current, entry) else ""
    raise web.HTTPSeeOther(f"/console/dienste/{service_id}?meldung=zurueckgesetzt{training}")


# -- the one-click phrasing from the unanswered questions -----------------------------------------


async def add_phrasing(request: web.Request) -> web.StreamResponse:
    """Add a citizen's question from the report as a phrasing of the chosen service (a new revision)."""
    need(request, PERMISSION)
    live = live_of(request)
    values = {k: v for k, v in (await form_of(request)).items() if isinstance(v, str)}
    question = " ".join(values.get("question", "").split())
    service_id = values.get("service", "")
    field = f"f-q-{values.get('row', '0')}" if values.get("row", "0").isdigit() else "f-q-0"
    if service_id not in live.catalog.services:
        return await pages.questions(request, {field: "Bitte wählen Sie einen Dienst aus der Liste."}, 422)
    current = live.entry(service_id)
    if phrasing_key(question) and phrasing_key(question) in {phrasing_key(p) for p in current.phrasings}:
        message = f"„{question}“ ist beim Dienst „{current.service.title}“ schon hinterlegt."
        return await pages.questions(request, {field: message}, 422)
    phrasings = [*current.phrasings, question]
    entry, problems = live.check(service_id, service_json(current.service), phrasings)
    if entry is None:
        message = " ".join(problems.values()) or "Die Formulierung konnte nicht übernommen werden."
        return await pages.questions(request, {field: message}, 422)
    expected = await live.newest_id(sessions_of(request), service_id)
    revision = await _save(request, live, entry, f"Aus den offenen Fragen übernommen: {question}", expected)
    await audit(
        request,
        "console.catalog.phrasing",
        f"service:{service_id}",
        {"revision": revision.id, "phrasing": question},
    )
    days = values.get("tage", "30")
    raise web.HTTPSeeOther(f"/console/fragen?tage={days if days.isdigit() else '30'}&meldung=formulierung")


# -- offices ("Ämter"): name, address, opening hours, contact -------------------------------------------

Values = Mapping[str, str | list[str]]  # the posted office form: checkboxes as lists
OFFICE_TEXT = ("name", "hours_note", "phone", "email", "web", "accessibility", "reviewed")
HOURS_PARTS = ("opens", "closes", "note")
OFFICE_LABELS = {
    "name": "Name",
    "street": "Straße und Hausnummer",
    "postcode": "Postleitzahl",
    "city": "Ort",
    "address": "Anschrift",
    "hours": "Öffnungszeiten",
    "hours_note": "Hinweis zu den Öffnungszeiten",
    "phone": "Telefon",
    "email": "E-Mail",
    "web": "Internetseite",
    "accessibility": "Barrierefreiheit",
    "sources": "Quellen",
    "reviewed": "Geprüft am",
}


def _office_id(request: web.Request, live: LiveCatalog) -> str:
    office_id = request.match_info["office"]
    if office_id not in live.catalog.offices:
        raise web.HTTPNotFound(text="Dieses Amt gibt es im Katalog nicht.")
    return office_id


def _text(values: Values, name: str) -> str:
    value = values.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _days(values: Values, row: int) -> list[str]:
    value = values.get(f"hours-{row}-days[]", [])
    return [day.strip() for day in ([value] if isinstance(value, str) else value) if day.strip()]


def office_form_values(office: Office) -> dict[str, str | list[str]]:
    values: dict[str, str | list[str]] = {
        "name": office.name,
        "street": office.address.street if office.address else "",
        "postcode": office.address.postcode if office.address else "",
        "city": office.address.city if office.address else "Koblenz",
        "hours_note": office.hours_note or "",
        "phone": office.phone or "",
        "email": office.email or "",
        "web": str(office.web or ""),
        "accessibility": office.accessibility or "",
        "sources": "\n".join(str(s) for s in office.sources),
        "reviewed": office.reviewed.isoformat(),
        "hours_rows": str(len(office.hours) + EXTRA_ROWS),
    }
    for index, block in enumerate(office.hours):
        values.update(
            {
                f"hours-{index}-days[]": list(block.days),
                f"hours-{index}-opens": block.opens,
                f"hours-{index}-closes": block.closes,
                f"hours-{index}-note": block.note or "",
            }
        )
    return values


@dataclass
class OfficeProposal:
    """What the office form says, as the catalog model's raw record (the seed's layout)."""

    raw: dict[str, Any]
    hours_rows: list[int]  # form row of each opening-hours block in ``raw``


def office_proposal(values: Values, office_id: str) -> OfficeProposal:
    raw: dict[str, Any] = {"id": office_id}
    for name in OFFICE_TEXT:
        raw[name] = _text(values, name) or None
    raw["name"] = raw["name"] or ""
    street, postcode = _text(values, "street"), _text(values, "postcode")
    # the city alone (it is prefilled) is no address
    raw["address"] = (
        {"street": street, "postcode": postcode, "city": _text(values, "city") or "Koblenz"}
        if street or postcode
        else None
    )
    raw["sources"] = _lines(_text(values, "sources"))
    hours, rows = [], []
    for row in range(_rows({"hours_rows": _text(values, "hours_rows")}, "hours_rows")):
        days = _days(values, row)
        parts = {part: _text(values, f"hours-{row}-{part}") for part in HOURS_PARTS}
        if _text(values, f"hours-{row}-remove") or not (days or any(parts.values())):
            continue
        hours.append(
            {"days": days, "from": parts["opens"], "to": parts["closes"], "note": parts["note"] or None}
        )
        rows.append(row)
    raw["hours"] = hours
    return OfficeProposal(raw, rows)


def office_field_errors(problems: Mapping[Loc, str], found: OfficeProposal) -> dict[str, str]:
    """Problems by location → messages by form field id (the error summary links to them)."""
    errors: dict[str, str] = {}

    def add(field: str, message: str) -> None:
        errors[field] = f"{errors[field]} {message}" if field in errors else message

    for loc, message in problems.items():
        head = str(loc[0]) if loc else ""
        if head == "hours" and len(loc) >= 2 and isinstance(loc[1], int):
            row = found.hours_rows[loc[1]] if loc[1] < len(found.hours_rows) else 0
            part = str(loc[2]) if len(loc) > 2 and str(loc[2]) in ("days", *HOURS_PARTS) else "days"
            add(f"f-hours-{row}-{part}", f"Zeitraum {row + 1}: {message}")
        elif head == "address":
            part = str(loc[1]) if len(loc) > 1 and str(loc[1]) in ("street", "postcode", "city") else "street"
            add(f"f-{part}", f"{OFFICE_LABELS[part]}: {message}")
        elif head == "sources" and len(loc) >= 2 and isinstance(loc[1], int):
            add("f-sources", f"Quellen, Zeile {loc[1] + 1}: {message}")
        elif head in OFFICE_LABELS and head not in ("hours", "address"):
            add(f"f-{head}", f"{OFFICE_LABELS[head]}: {message}")
        else:
            add("f-name", message)
    return errors


def _office_plain(office: Office, name: str) -> str:
    if name == "address":
        return office.address.one_line() if office.address else ""
    if name == "hours":
        return "\n".join(office.hours_lines())
    value = getattr(office, name)
    if isinstance(value, tuple):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def office_diff(old: Office, new: Office) -> list[Change]:
    """Field by field, old → new, in the form's order (the opening hours as the lines the chat shows)."""
    changes = []
    for name in ("name", "address", "hours", "hours_note", "phone", "email", "web", "accessibility"):
        before, after = _office_plain(old, name), _office_plain(new, name)
        if before != after:
            changes.append(Change(OFFICE_LABELS[name], before, after))
    for name in ("sources", "reviewed"):
        before, after = _office_plain(old, name), _office_plain(new, name)
        if before != after:
            changes.append(Change(OFFICE_LABELS[name], before, after))
    return changes


async def offices_list(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    rows = []
    for office in sorted(live.catalog.offices.values(), key=lambda o: fold(o.name)):
        rows.append(
            {
                "id": office.id,
                "name": office.name,
                "address": office.address.one_line() if office.address else "",
                "hours": len(office.hours),
                "services": len(live.services_of(office.id)),
                "edited": live.office_edited(office.id),
            }
        )
    return render(request, "offices.html", {"rows": rows})


def _office_context(
    request: web.Request, live: LiveCatalog, office_id: str, values: Values, base: str
) -> dict[str, Any]:
    rows = _rows({"hours_rows": _text(values, "hours_rows")}, "hours_rows")
    return {
        "office_id": office_id,
        "title": live.catalog.offices[office_id].name,
        "v": values,
        "base": base,
        "hours_rows": rows,
        "chosen_days": {row: _days(values, row) for row in range(rows)},
        "weekdays": WEEKDAYS,
        "day_short": DAY_NAMES,
        "services": sorted(live.services_of(office_id), key=lambda s: fold(s.title)),
        "edited": live.office_edited(office_id),
    }


async def office_edit_page(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    office_id = _office_id(request, live)
    newest = await live.newest_id(sessions_of(request), office_id, OFFICE)
    values = office_form_values(live.catalog.offices[office_id])
    context = _office_context(request, live, office_id, values, str(newest or ""))
    return render(request, "office_edit.html", context | {"errors": {}})


async def _office_values(request: web.Request) -> dict[str, str | list[str]]:
    return {
        k: v if isinstance(v, str) else [i for i in v if isinstance(i, str)]
        for k, v in (await form_of(request)).items()
        if isinstance(v, str | list)
    }


async def office_edit_post(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    office_id = _office_id(request, live)
    values = await _office_values(request)
    action = _text(values, "action") or "vorschau"
    current = live.catalog.offices[office_id]
    found = office_proposal(values, office_id)
    office, problems = live.check_office(office_id, found.raw)
    base = _text(values, "base")
    if office is None or action == "bearbeiten":
        errors = office_field_errors(problems, found)
        context = _office_context(request, live, office_id, values, base)
        return render(request, "office_edit.html", context | {"errors": errors}, 422 if errors else 200)
    changes = office_diff(current, office)
    url = f"/console/aemter/{office_id}"
    if action != "speichern":
        return render(
            request,
            "service_diff.html",
            {
                "base_url": url,
                "what": "das Amt",
                "title": current.name,
                "changes": changes,
                "hidden": {k: v for k, v in values.items() if k not in ("_csrf", "action", "comment")},
                "comment": _text(values, "comment"),
                "action_url": url,
                "restore": None,
            },
        )
    if not changes:
        raise web.HTTPSeeOther(f"{url}?meldung=unveraendert")
    revision = await _save_office(request, live, office, _text(values, "comment"), _base({"base": base}))
    await audit(
        request,
        "console.catalog.office.edit",
        f"office:{office_id}",
        {"revision": revision.id, "fields": [c.field for c in changes], "comment": revision.comment},
    )
    raise web.HTTPSeeOther(f"{url}?meldung=gespeichert")


async def _save_office(
    request: web.Request,
    live: LiveCatalog,
    office: Office,
    comment: str,
    expected: int | None,
    restored_from: int | None = None,
) -> CatalogRevision:
    return await _stored(
        request,
        lambda name, role: live.save_office(
            sessions_of(request), office, name, role, comment, expected, restored_from
        ),
    )


async def office_history_page(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    office_id = _office_id(request, live)
    rows = await live.history(sessions_of(request), office_id, OFFICE)
    edited = live.office_edited(office_id)
    return render(
        request,
        "service_history.html",
        {
            "base_url": f"/console/aemter/{office_id}",
            "title": live.catalog.offices[office_id].name,
            "rows": [
                {
                    "id": row.id,
                    "when": when(row.created_at),
                    "author": row.author,
                    "role": ROLE_NAMES.get(row.role, row.role),
                    "comment": row.comment,
                    "restored_from": row.restored_from,
                    "current": edited == row.id,
                }
                for row in rows
            ],
            "seed_current": edited is None,
        },
    )


async def _office_revision(request: web.Request, live: LiveCatalog, office_id: str) -> tuple[int, Office]:
    revision_id = int(request.match_info["revision"])
    if revision_id == 0:  # the seed (YAML) itself
        return 0, live.seed_office(office_id)
    row = await live.revision(sessions_of(request), office_id, revision_id, OFFICE)
    if row is None:
        raise web.HTTPNotFound(text="Diese Fassung gibt es nicht.")
    return revision_id, office_of(row.record)


async def office_revision_page(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    office_id = _office_id(request, live)
    revision_id, office = await _office_revision(request, live, office_id)
    newest = await live.newest_id(sessions_of(request), office_id, OFFICE)
    url = f"/console/aemter/{office_id}"
    return render(
        request,
        "service_diff.html",
        {
            "base_url": url,
            "what": "das Amt",
            "title": live.catalog.offices[office_id].name,
            "changes": office_diff(live.catalog.offices[office_id], office),
            "hidden": {"base": str(newest or "")},
            "comment": "",
            "action_url": f"{url}/verlauf/{revision_id}/zuruecksetzen",
            "restore": revision_id,
        },
    )


async def office_restore(request: web.Request) -> web.StreamResponse:
    need(request, PERMISSION)
    live = live_of(request)
    office_id = _office_id(request, live)
    values = await _office_values(request)
    revision_id, office = await _office_revision(request, live, office_id)
    url = f"/console/aemter/{office_id}"
    if not office_diff(live.catalog.offices[office_id], office):
        raise web.HTTPSeeOther(f"{url}?meldung=unveraendert")
    name = f"Fassung {revision_id}" if revision_id else "Ausgangsstand (YAML)"
    comment = _text(values, "comment") or f"Zurückgesetzt auf {name}"
    expected = _base({"base": _text(values, "base")})
    revision = await _save_office(request, live, office, comment, expected, revision_id or None)
    await audit(
        request,
        "console.catalog.office.restore",
        f"office:{office_id}",
        {"revision": revision.id, "restored_from": revision_id, "comment": revision.comment},
    )
    raise web.HTTPSeeOther(f"{url}?meldung=zurueckgesetzt")
