"""The texts that go out on push channels: press posts and alerts as Telegram messages, updates,
corrections and all-clears. The wording of alerts comes from ``broadcasts.templates`` (reviewed German
texts); this module adds what a chat message needs around it: the kind of message first (warning,
exercise, update) with the severity in the one German vocabulary of ``core.alerts``, and where it applies."""

from __future__ import annotations

from broadcasts import templates
from broadcasts.capmodel import CapAlert
from core.alerts import severity_label


def _status_prefix(alert: CapAlert) -> str:
    return {"Exercise": "ÜBUNG – keine echte Gefahr\n", "Test": "TEST – keine echte Gefahr\n"}.get(
        alert.status, ""
    )


def areas_text(alert: CapAlert) -> str:
    areas = alert.stadtteile() if alert.infos else ()
    return ", ".join(areas) if areas else "ganzes Stadtgebiet Koblenz"


def post_text(text: str, link: str | None, image_url: str | None) -> str:
    parts = [text.strip()]
    if link:
        parts.append(link)
    elif image_url:
        parts.append(image_url)  # Telegram shows the image as the link preview
    return "\n\n".join(parts)


def _label(alert: CapAlert) -> str:
    """ "🚨 Extreme Gefahr – Stadt Koblenz", "⚠️ Gefahreninformation – Deutscher Wetterdienst", ...:
    the issuing authority (the city for its own alerts; NINA's warnings name theirs)."""
    info = alert.info("de")
    issuer = info.sender_name or "Stadt Koblenz"
    return f"{'🚨' if info.severity == 'Extreme' else '⚠️'} {severity_label(info.severity)} – {issuer}"


def alert_text(alert: CapAlert) -> str:
    return (
        f"{_status_prefix(alert)}{_label(alert)}\n\n{templates.alert_text(alert)}"
        f"\n\nBetroffen: {areas_text(alert)}"
    )


def update_text(alert: CapAlert) -> str:
    """The full text of an updated alert; it replaces the first message where that can be edited."""
    return (
        f"{_status_prefix(alert)}🔄 Aktualisiert am {templates.german_datetime(alert.sent)}: "
        f"{_label(alert)}\n\n{templates.alert_text(alert)}\n\nBetroffen: {areas_text(alert)}"
    )


def correction_text(original: CapAlert, update: CapAlert) -> str:
    """A short message answering the first one when that can no longer be edited (Telegram: 48 h)."""
    return f"{_status_prefix(update)}🔄 {templates.update_text(original, update)}"


def all_clear_text(cancel: CapAlert, original: CapAlert) -> str:
    """Entwarnung for ``original`` (the current message of the alert); ``cancel`` may add a note."""
    parts = [f"{_status_prefix(original)}✅ {templates.all_clear_text(original)}"]
    if cancel.note and cancel.note.strip() and not cancel.note.startswith("Entwarnung zur Warnung vom"):
        parts.append(cancel.note.strip())
    return "\n\n".join(parts)
