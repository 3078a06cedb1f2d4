"""Answer cards: what the bot says about a service, focused on the aspect asked, in plain German.

Only facts from the catalog are stated. Where a fact is missing, the answer says where to find out
(the service's page, the office, or the authority number 115) instead of guessing.
"""

from __future__ import annotations

from bot.events import Block, Bullets, Link, Paragraph, QuickReply, Title
from catalog.aspects import Aspect
from catalog.model import Catalog, Office, Service
from catalog.stale import fees_stand, hours_stand

LINK_ORDER = {"online": 0, "appointment": 1, "payment": 2, "form": 3, "info": 4}
ASPECT_BUTTONS: tuple[tuple[Aspect, str], ...] = (
    ("fees", "Kosten"),
    ("documents", "Unterlagen"),
    ("hours", "Öffnungszeiten"),
    ("location", "Wo?"),
    ("online", "Online?"),
    ("appointment", "Termin"),
    ("duration", "Dauer"),
)
ASK_115 = "die Behördennummer 115 (Mo–Fr 8–18 Uhr)"
CONTACT_LEAD = "So erreichen Sie Menschen in der Stadtverwaltung:"


def _where_to_find_out(service: Service, office: Office | None) -> str:
    if service.links_of("info"):
        return "Die Details finden Sie auf der Seite der Stadt (Link unten) oder über " + ASK_115 + "."
    if office and office.phone:
        return (
            f"Fragen Sie bitte direkt beim {office.name} nach (Telefon {office.phone}) oder über {ASK_115}."
        )
    return "Auskunft gibt " + ASK_115 + "."


def _list(lead: str, items: list[str] | tuple[str, ...], note: str | None = None) -> list[Block]:
    """A lead-in sentence, the list, and an optional note under it."""
    return [Paragraph(lead), Bullets(tuple(items)), *([Paragraph(note)] if note else [])]


def _fees(service: Service, office: Office | None) -> list[Block]:
    if not service.fees:
        return [
            Paragraph("Zu den Kosten habe ich keine geprüfte Angabe. " + _where_to_find_out(service, office))
        ]
    blocks = _list("Das kostet es:", [f"{fee.item}: {fee.amount}" for fee in service.fees], service.fees_note)
    return [*blocks, Paragraph(stand)] if (stand := fees_stand(service)) else blocks


def _documents(service: Service, office: Office | None) -> list[Block]:
    if not service.documents:
        return [
            Paragraph(
                "Welche Unterlagen Sie brauchen, habe ich nicht sicher vorliegen. "
                + _where_to_find_out(service, office)
            )
        ]
    return _list("Bitte bringen Sie mit:", service.documents)


def _location(office: Office | None, service: Service) -> list[Block]:
    if office is None:
        return [
            Paragraph("Zuständig ist die Stadtverwaltung Koblenz. " + _where_to_find_out(service, office))
        ]
    if office.address is None:
        return [
            Paragraph(
                f"Zuständig ist: {office.name}. Die Adresse habe ich nicht geprüft vorliegen; "
                f"Auskunft gibt {ASK_115}."
            )
        ]
    text = f"Zuständig ist: {office.name}, {office.address.one_line()}."
    return [Paragraph(text + (f"\nBarrierefreiheit: {office.accessibility}" if office.accessibility else ""))]


def _hours(office: Office | None, service: Service) -> list[Block]:
    if office is None:
        return [
            Paragraph(
                "Öffnungszeiten kann ich Ihnen dafür nicht nennen. " + _where_to_find_out(service, office)
            )
        ]
    if office.hours:
        blocks = _list(f"Öffnungszeiten {office.name}:", office.hours_lines(), office.hours_note)
        return [*blocks, Paragraph(stand)] if (stand := hours_stand(office)) else blocks
    if office.hours_note and "115" in office.hours_note:
        return [Paragraph(office.hours_note.strip())]
    text = f"Geprüfte Öffnungszeiten für {office.name} habe ich nicht. Auskunft gibt {ASK_115}."
    return [Paragraph(f"{office.hours_note}\n{text}" if office.hours_note else text)]


def _online(service: Service, office: Office | None) -> list[Block]:
    online_links = service.links_of("online", "form", "payment")
    if service.online:
        text = service.online
    elif online_links:
        text = "Das können Sie online erledigen."
    else:
        text = "Ein Online-Angebot dafür kenne ich nicht. " + _where_to_find_out(service, office)
    return [Paragraph(text)]


def _appointment(service: Service, office: Office | None) -> list[Block]:
    booking = service.links_of("appointment")
    if service.appointment_required is True:
        text = "Sie brauchen dafür einen Termin."
    elif service.appointment_required is False:
        text = "Dafür brauchen Sie keinen Termin."
    else:
        text = "Ob Sie einen Termin brauchen, habe ich nicht sicher vorliegen."
    if booking:
        return [Paragraph(text + " Den Termin können Sie online buchen (Link unten).")]
    phone = f" unter {office.phone}" if office and office.phone else ""
    where = office.name if office else "zuständigen Amt"
    return [Paragraph(f"{text} Einen Termin vereinbaren Sie beim {where}{phone} oder über {ASK_115}.")]


def _duration(service: Service, office: Office | None) -> list[Block]:
    if service.processing_time:
        return [Paragraph(f"Bearbeitungszeit: {service.processing_time}.")]
    return [
        Paragraph(
            "Wie lange es dauert, habe ich nicht geprüft vorliegen. " + _where_to_find_out(service, office)
        )
    ]


def aspect_blocks(aspect: Aspect, service: Service, office: Office | None) -> list[Block]:
    """What the catalog says about one aspect of the service, as blocks."""
    if aspect == "fees":
        return _fees(service, office)
    if aspect == "documents":
        return _documents(service, office)
    if aspect == "location":
        return _location(office, service)
    if aspect == "hours":
        return _hours(office, service)
    if aspect == "online":
        return _online(service, office)
    if aspect == "appointment":
        return _appointment(service, office)
    if aspect == "duration":
        return _duration(service, office)
    return [Paragraph(service.summary)]


def service_links(catalog: Catalog, service: Service) -> tuple[Link, ...]:
    """The service's deep links, online services first; without any, the office's or the city's page."""
    ordered = sorted(service.links, key=lambda link: LINK_ORDER[link.kind])
    links = tuple(Link(link.title, str(link.url), link.kind) for link in ordered)
    if links:
        return links
    for office in (catalog.office_of(service), catalog.offices.get("rathaus")):
        if office is not None and office.web is not None:
            return (Link(f"{office.name} im Internet", str(office.web), "info"),)
    return ()


def service_answer(
    catalog: Catalog, service: Service, aspects: list[Aspect], stadtteil: str | None = None
) -> tuple[tuple[Block, ...], tuple[QuickReply, ...]]:
    """The answer card (the service's title, the aspects asked first); and buttons for the other aspects."""
    office = catalog.office_of(service)
    asked: list[Aspect] = [a for a in aspects if a != "overview"] or ["overview"]
    blocks: list[Block] = [Title(service.title)]
    for aspect in asked:
        blocks += aspect_blocks(aspect, service, office)
    if asked == ["overview"]:
        if service.details:
            blocks.append(Bullets(tuple(service.details[:3])))
        if office and office.address:
            blocks.append(Paragraph(f"Zuständig: {office.name}, {office.address.one_line()}."))
        elif office:
            blocks.append(Paragraph(f"Zuständig: {office.name}."))
    if service.links:
        blocks.append(Paragraph("Die passenden Links finden Sie unten."))
    buttons = tuple(
        QuickReply(label, f"svc:{service.id}:{aspect}")
        for aspect, label in ASPECT_BUTTONS
        if aspect not in asked and _has_facts(aspect, service, office)
    )
    return tuple(blocks), buttons[:5]


def _has_facts(aspect: Aspect, service: Service, office: Office | None) -> bool:
    """Offer a follow-up button only where the catalog can say something about that aspect."""
    if aspect == "fees":
        return bool(service.fees)
    if aspect == "documents":
        return bool(service.documents)
    if aspect == "duration":
        return bool(service.processing_time)
    if aspect == "online":
        return bool(service.online or service.links_of("online", "form", "payment"))
    if aspect == "hours":
        return office is not None and bool(office.hours or office.hours_note)
    if aspect == "location":
        return office is not None and office.address is not None
    return True


def contact_blocks(catalog: Catalog, lead: str = CONTACT_LEAD) -> tuple[tuple[Block, ...], tuple[Link, ...]]:
    """How to reach a person: the Bürgeramt and the city's switchboard, as far as the catalog knows them,
    as a list under ``lead``; and the matching tel:/mailto: links."""
    items: list[str] = []
    links: list[Link] = []
    for office_id in ("buergeramt", "rathaus"):
        office = catalog.offices.get(office_id)
        if office is None:
            continue
        details = [office.name]
        if office.address:
            details.append(office.address.one_line())
        if office.phone:
            details.append(f"Telefon {office.phone}")
            links.append(
                Link(
                    f"{office.name} anrufen",
                    "tel:" + "".join(c for c in office.phone if c.isdigit() or c == "+"),
                    "contact",
                )
            )
        if office.email:
            details.append(f"E-Mail {office.email}")
            links.append(Link(f"E-Mail an {office.name}", f"mailto:{office.email}", "contact"))
        items.append(", ".join(details))
    items.append("Behördennummer 115 (Mo–Fr 8–18 Uhr): Auskunft zu allen Anliegen der Verwaltung")
    links.append(Link("Behördennummer 115 anrufen", "tel:115", "contact"))
    return (Paragraph(lead), Bullets(tuple(items))), tuple(links)
