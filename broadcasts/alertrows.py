"""CapAlert (the typed contract) ↔ the Alert row: info blocks as JSON, times as ISO 8601."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from broadcasts.capmodel import CapAlert, CapArea, CapInfo
from broadcasts.models import Alert


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def info_to_dict(info: CapInfo) -> dict[str, Any]:
    plain: dict[str, Any] = _plain(info)
    return plain


def info_from_dict(data: dict[str, Any]) -> CapInfo:
    known = {f.name for f in dataclasses.fields(CapInfo)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key in ("effective", "onset", "expires"):
            values[key] = dt.datetime.fromisoformat(value) if value else None
        elif key == "areas":
            area_fields = {f.name for f in dataclasses.fields(CapArea)}
            values[key] = tuple(
                CapArea(**{k: _tuples(v) for k, v in area.items() if k in area_fields}) for area in value
            )
        else:
            values[key] = _tuples(value)
    return CapInfo(**values)


def expires_of(alert: CapAlert) -> dt.datetime | None:
    """The alert ends when its last info block expires (no expiry: until updated or cancelled)."""
    times = [i.expires for i in alert.infos if i.expires is not None]
    return max(times).astimezone(dt.UTC) if times and len(times) == len(alert.infos) else None


def columns(alert: CapAlert) -> dict[str, Any]:
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent.astimezone(dt.UTC),
        "status": alert.status,
        "msg_type": alert.msg_type,
        "references": list(alert.references),
        "scope": alert.scope,
        "note": alert.note,
        "infos": [info_to_dict(i) for i in alert.infos],
        "stadtteile": areas(alert),
        "expires_at": expires_of(alert),
    }


def areas(alert: CapAlert) -> list[str]:
    """Stadtteile the alert targets; empty = the whole city (also for a Cancel without info block)."""
    return list(alert.stadtteile()) if alert.infos else []


def to_cap(row: Alert) -> CapAlert:
    return CapAlert(
        identifier=row.identifier,
        sender=row.sender,
        sent=row.sent,
        status=row.status,  # type: ignore[arg-type]
        msg_type=row.msg_type,  # type: ignore[arg-type]
        scope=row.scope,  # type: ignore[arg-type]
        infos=tuple(info_from_dict(i) for i in row.infos),
        references=tuple(row.references),
        note=row.note,
    )


def reference_of(alert: CapAlert) -> str:
    """The CAP reference triple "sender,identifier,sent" of a message."""
    return f"{alert.sender},{alert.identifier},{cap_time(alert.sent)}"


def cap_time(value: dt.datetime) -> str:
    """CAP dateTime: no fractional seconds, explicit offset ("-00:00" is not used)."""
    return value.replace(microsecond=0).isoformat()


def referenced_identifiers(alert: CapAlert) -> list[str]:
    identifiers = []
    for reference in alert.references:
        parts = reference.split(",")
        identifiers.append(parts[1] if len(parts) >= 3 else reference)
    return identifiers
