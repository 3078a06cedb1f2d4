"""CAP 1.2 (OASIS Common Alerting Protocol) in and out: safe parsing of XML and JSON, writing, validation.

Every document that comes in or goes out is validated against the official OASIS CAP 1.2 schema in
``broadcasts/schema/CAP-v1.2.xsd`` (provenance in ``broadcasts/schema/README.md``) and then against the
city's own rules. The JSON form is turned into CAP XML and goes through exactly the same checks, so both
paths accept exactly the same alerts. The JSON mapping is documented in ``docs/cap.md``.

Public API::

    parse_cap_xml(data: bytes, max_bytes: int = MAX_CAP_BYTES) -> CapAlert
    parse_cap_json(data: bytes, max_bytes: int = MAX_CAP_BYTES) -> CapAlert
    to_cap_xml(alert: CapAlert) -> bytes          # valid CAP 1.2, UTF-8, with XML declaration
    alert_to_json(alert: CapAlert) -> dict        # the JSON mapping; parse_cap_json accepts it back
    validate_cap_xml(data: bytes, max_bytes: int = MAX_CAP_BYTES) -> None   # safety + schema only
    check_alert(alert: CapAlert) -> None          # the city's rules (raises CapSemanticError)
    check_receivable(alert, now=None) -> None     # an incoming message: for Koblenz, not expired
    reference_of(alert: CapAlert) -> str          # "sender,identifier,sent" for <references>
    format_cap_datetime(value: datetime) -> str   # 2026-03-01T14:00:00+01:00

Safety: input larger than ``max_bytes`` is refused before any parsing. A document type declaration of
any kind (and so every entity, internal or external: XXE, "billion laughs") is refused by a first pass
with defusedxml (``forbid_dtd``/``forbid_entities``/``forbid_external``); the tree is then built by lxml
with entity resolution, DTD loading, network access and huge trees switched off.

Exceptions (one tree below ``broadcasts.BroadcastError``, so ``core.http.error_middleware`` answers them
like every other error; each carries a German ``message`` (also ``message_de``) for citizens' and staff's
eyes, an English ``message_en`` (also ``str(exc)``), a stable ``code``, the HTTP ``status`` and, where
known, the failing ``element``, its ``line`` in the XML and a ``path`` such as ``info[0].area[1].areaDesc``;
all but the German message are the ``extra`` fields of the JSON answer)::

    CapError                      root; never raised itself
    ├── CapTooLarge               413  input over the size limit (checked before parsing)
    ├── CapNotWellFormed          400  not well-formed XML, or not valid JSON
    ├── CapUnsafe                 400  DOCTYPE / entity declarations / external references (XXE, billion laughs)
    ├── CapSchemaError            422  fails the OASIS CAP 1.2 schema (names element, line and path),
    │                                  wrong namespace or root, or JSON of the wrong shape
    ├── CapSemanticError          422  valid CAP, but breaks a rule: Update/Cancel without references, no
    │   │                              German info block, expires before effective, time without time
    │   │                              zone, two info blocks in one language, bad polygon, ...
    │   ├── CapUnknownReference   422  (raised by the engine) references an alert it does not know
    │   ├── CapOutsideArea        422  (check_receivable) its area provably does not touch Koblenz
    │   └── CapExpired            422  (check_receivable) an Alert or Update whose expires has passed
    └── CapTemplateError          400  (raised by broadcasts.templates) unknown template, missing or bad
                                       placeholder values, unknown Stadtteil

Elements of CAP 1.2 that the model does not carry are accepted but dropped when parsing: ``code``,
``resource``, ``altitude``, ``ceiling`` and XML signatures. ``restriction``, ``addresses`` and
``incidents`` are kept in ``CapAlert.extra`` under those keys (other keys in ``extra`` are not written).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml.common import DefusedXmlException
from lxml import etree

from broadcasts import BroadcastError
from broadcasts.capmodel import CapAlert, CapArea, CapInfo

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MIME_TYPE = "application/cap+xml"
MAX_CAP_BYTES = 256_000
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "CAP-v1.2.xsd"
EXTRA_KEYS = ("restriction", "addresses", "incidents")

_NS = f"{{{CAP_NS}}}"
_DATETIME_ELEMENTS = ("sent", "effective", "onset", "expires")
_NO_TZ = re.compile(r"^\s*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\s*$")
_CAP_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
_FORBIDDEN_ID_CHARS = re.compile(r"[\s,<&]")


# -- exceptions -----------------------------------------------------------------------------------


class _Where:
    """Where a CAP error is (``element``, ``line``, ``path``), kept in ``extra``: part of the JSON answer."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, error: CapError | None, owner: type | None = None) -> Any:
        return None if error is None else error.extra.get(self.name)

    def __set__(self, error: CapError, value: str | int | None) -> None:
        if value is None:
            error.extra.pop(self.name, None)
        else:
            error.extra[self.name] = value


class CapError(BroadcastError):
    """Root of every CAP error; see the module docstring for the tree."""

    code = "cap_error"
    status = 400
    element = _Where()
    line = _Where()
    path = _Where()

    def __init__(
        self,
        message_de: str,
        message_en: str,
        *,
        element: str | None = None,
        line: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message_de, message_en=message_en)
        self.message_de = message_de
        self.message_en = message_en
        self.element, self.line, self.path = element, line, path

    def __str__(self) -> str:
        return self.message_en


class CapTooLarge(CapError):
    code = "cap_too_large"
    status = 413


class CapNotWellFormed(CapError):
    code = "cap_not_well_formed"
    status = 400


class CapUnsafe(CapError):
    code = "cap_unsafe"
    status = 400


class CapSchemaError(CapError):
    code = "cap_schema"
    status = 422


class CapSemanticError(CapError):
    code = "cap_semantic"
    status = 422


class CapUnknownReference(CapSemanticError):
    """For the engine: an Update or Cancel that references an alert we never issued or received.
    ``german`` replaces the standard German text (the engine's own, more specific one)."""

    code = "cap_unknown_reference"

    def __init__(self, reference: str, german: str | None = None) -> None:
        super().__init__(
            german
            or f"Die Nachricht bezieht sich auf eine unbekannte Warnung ({reference}). "
            "Bitte prüfen Sie die Angabe unter <references>.",
            f"references an unknown alert: {reference}",
            element="references",
        )
        self.reference = reference


class CapTemplateError(CapError):
    code = "cap_template"
    status = 400


class CapOutsideArea(CapSemanticError):
    """An incoming message whose area provably does not touch Koblenz (``broadcasts.geo``)."""

    code = "cap_outside_area"


class CapExpired(CapSemanticError):
    """An incoming Alert or Update whose ``expires`` has passed."""

    code = "cap_expired"


def _too_large(size: int, max_bytes: int) -> CapTooLarge:
    return CapTooLarge(
        f"Die Nachricht ist zu groß ({size} Bytes). Erlaubt sind höchstens {max_bytes} Bytes.",
        f"document too large: {size} bytes, limit {max_bytes} bytes",
    )


def _semantic(de: str, en: str, *, element: str | None = None, path: str | None = None) -> CapSemanticError:
    return CapSemanticError(de, en, element=element, path=path)


# -- schema ---------------------------------------------------------------------------------------

_schema_lock = threading.Lock()
_schema: etree.XMLSchema | None = None


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _get_schema() -> etree.XMLSchema:
    global _schema
    if _schema is None:
        doc = etree.parse(str(SCHEMA_PATH), _safe_parser())
        _schema = etree.XMLSchema(doc)
    return _schema


_NSMAP = cast(Any, {None: CAP_NS})


def _line(element: etree._Element) -> int | None:
    return cast("int | None", element.sourceline)


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _element_path(element: etree._Element) -> str:
    """The same dotted, 0-based path for XML and JSON input, e.g. ``info[0].area[1].areaDesc``."""
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None and node.getparent() is not None:
        parent = node.getparent()
        assert parent is not None
        name = _local(node.tag)
        same = [child for child in parent if child.tag == node.tag]
        repeatable = name in _REPEATABLE
        parts.append(f"{name}[{same.index(node)}]" if repeatable else name)
        node = parent
    return ".".join(reversed(parts))


_REPEATABLE = frozenset(
    {
        "info",
        "area",
        "eventCode",
        "parameter",
        "geocode",
        "resource",
        "polygon",
        "circle",
        "category",
        "responseType",
        "code",
    }
)


def _german_schema_hint(message: str) -> str:
    if "is not an element of the set" in message:
        return "unzulässiger Wert"
    if "This element is not expected" in message or "Missing child element" in message:
        expected = re.search(r"Expected is (?:one of )?\( ([^)]*) \)", message)
        hint = f"; erwartet wird hier: {expected.group(1).strip()}" if expected else ""
        return f"Element fehlt, ist zu viel oder steht an der falschen Stelle{hint}"
    if "dateTime" in message or "pattern" in message:
        return "Zeitangabe im falschen Format (erwartet z. B. 2026-03-01T14:00:00+01:00)"
    if "language" in message:
        return "ungültige Sprachangabe (erwartet z. B. de-DE)"
    if "anyURI" in message:
        return "ungültige Web-Adresse"
    return "ungültiger Inhalt"


def _validate_tree(root: etree._Element, json_style: bool) -> None:
    """Namespace, time zones (clearer message than the schema's pattern error) and the XSD."""
    if root.tag != f"{_NS}alert":
        namespace = etree.QName(root).namespace or ""
        found = f"<{_local(root.tag)}>" + (f" im Namensraum {namespace}" if namespace else " ohne Namensraum")
        raise CapSchemaError(
            f"Das ist keine CAP-1.2-Nachricht: erwartet wird <alert> im Namensraum {CAP_NS}, "
            f"gefunden wurde {found}.",
            f"not a CAP 1.2 document: expected <alert> in namespace {CAP_NS}, found {root.tag}",
            element=_local(root.tag),
            line=None if json_style else _line(root),
        )
    for name in _DATETIME_ELEMENTS:
        for element in root.iter(f"{_NS}{name}"):
            if element.text is not None and _NO_TZ.match(element.text):
                path = _element_path(element)
                raise CapSemanticError(
                    f"Die Zeitangabe <{name}> ({element.text.strip()}) hat keine Zeitzone. "
                    "Bitte mit Abstand zu UTC angeben, z. B. 2026-03-01T14:00:00+01:00.",
                    f"<{name}> has no time zone offset: {element.text.strip()!r}",
                    element=name,
                    line=None if json_style else _line(element),
                    path=path,
                )
    schema = _get_schema()
    with _schema_lock:
        valid = schema.validate(root.getroottree())
        errors = list(cast(Iterable[Any], schema.error_log))
    if valid:
        return
    first = errors[0]
    message = str(first.message or "").replace(_NS, "")
    match = re.search(r"Element '([^']+)'", message)
    element_name = _local(match.group(1)) if match else None
    failing = _element_at(root, first.line, element_name)
    failing_path = _element_path(failing) if failing is not None else None
    where_de = f"Element <{element_name}>" if element_name else "Nachricht"
    if not json_style:
        where_de += f", Zeile {first.line}"
    elif failing_path:
        where_de += f" ({failing_path})"
    raise CapSchemaError(
        f"Die Nachricht entspricht nicht dem Schema CAP 1.2: {where_de}: {_german_schema_hint(message)}. "
        f"Technische Meldung: {message}",
        f"CAP 1.2 schema violation at line {first.line}: {message}",
        element=element_name,
        line=None if json_style else first.line,
        path=failing_path,
    )


def _element_at(root: etree._Element, line: int, name: str | None) -> etree._Element | None:
    candidates = [el for el in root.iter() if isinstance(el.tag, str) and _line(el) == line]
    for element in candidates:
        if name is None or _local(element.tag) == name:
            return element
    return candidates[0] if candidates else None


# -- XML in ---------------------------------------------------------------------------------------


def _check_size(data: bytes, max_bytes: int) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("CAP input must be bytes")
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)


def _parse_safely(data: bytes) -> etree._Element:
    try:
        DefusedET.fromstring(bytes(data), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapUnsafe(
            "Die Nachricht enthält eine DOCTYPE-Angabe oder Entitäten. Das ist aus Sicherheitsgründen "
            "nicht erlaubt; bitte senden Sie reines CAP-XML ohne DOCTYPE.",
            f"document type declarations and entities are not allowed ({type(exc).__name__})",
        ) from None
    except (LookupError, ValueError) as exc:  # e.g. <?xml encoding="U-F-8"?>: an unknown encoding
        raise CapNotWellFormed(
            "Die XML-Deklaration nennt eine unbekannte Zeichenkodierung. Bitte senden Sie CAP als UTF-8.",
            f"unknown or invalid encoding in the XML declaration: {exc}",
        ) from None
    except ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        raise CapNotWellFormed(
            f"Die Nachricht ist kein wohlgeformtes XML (Zeile {line}, Spalte {column}).",
            f"not well-formed XML: {exc}",
            line=line,
        ) from None
    try:
        root = etree.fromstring(bytes(data), _safe_parser())
    except etree.XMLSyntaxError as exc:  # pragma: no cover - expat already refused it
        raise CapNotWellFormed(
            f"Die Nachricht ist kein wohlgeformtes XML (Zeile {exc.lineno}).",
            f"not well-formed XML: {exc}",
            line=exc.lineno,
        ) from None
    docinfo = root.getroottree().docinfo
    if (
        docinfo.internalDTD is not None or docinfo.externalDTD is not None
    ):  # pragma: no cover - belt and braces
        raise CapUnsafe("DOCTYPE ist nicht erlaubt.", "document type declarations are not allowed")
    return root


def validate_cap_xml(data: bytes, max_bytes: int = MAX_CAP_BYTES) -> None:
    """Size, safety, well-formedness and the OASIS CAP 1.2 schema; raises a CapError subclass."""
    _check_size(data, max_bytes)
    _validate_tree(_parse_safely(data), json_style=False)


def parse_cap_xml(data: bytes, max_bytes: int = MAX_CAP_BYTES) -> CapAlert:
    """Parse and fully check a CAP 1.2 XML document (schema and the city's rules)."""
    _check_size(data, max_bytes)
    root = _parse_safely(data)
    _validate_tree(root, json_style=False)
    alert = _alert_from_tree(root)
    try:
        check_alert(alert)
    except CapSemanticError as exc:
        if exc.line is None and exc.path:
            exc.line = _line_at_path(root, exc.path)
        raise
    return alert


def _line_at_path(root: etree._Element, path: str) -> int | None:
    """Source line of a model path such as ``info[1].area[0].polygon[2]`` (0-based indexes)."""
    node = root
    for part in path.split("."):
        match = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
        if match is None:
            return None
        children = node.findall(f"{_NS}{match.group(1)}")
        index = int(match.group(2) or 0)
        if index >= len(children):
            return _line(node)
        node = children[index]
    return _line(node)


def _text(parent: etree._Element, name: str) -> str | None:
    element = parent.find(f"{_NS}{name}")
    if element is None:
        return None
    return (element.text or "").strip()


def _texts(parent: etree._Element, name: str) -> tuple[str, ...]:
    return tuple((element.text or "").strip() for element in parent.findall(f"{_NS}{name}"))


def _pairs(parent: etree._Element, name: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        ((_text(element, "valueName") or ""), (_text(element, "value") or ""))
        for element in parent.findall(f"{_NS}{name}")
    )


def _datetime(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value)


def _alert_from_tree(root: etree._Element) -> CapAlert:
    infos = tuple(_info_from_tree(element) for element in root.findall(f"{_NS}info"))
    extra = {key: value for key in EXTRA_KEYS if (value := _text(root, key))}
    sent = _datetime(_text(root, "sent"))
    assert sent is not None  # the schema requires <sent>
    return CapAlert(
        identifier=_text(root, "identifier") or "",
        sender=_text(root, "sender") or "",
        sent=sent,
        status=cast(Any, _text(root, "status")),
        msg_type=cast(Any, _text(root, "msgType")),
        scope=cast(Any, _text(root, "scope")),
        infos=infos,
        references=tuple((_text(root, "references") or "").split()),
        note=_text(root, "note") or None,
        source=_text(root, "source") or None,
        extra=extra,
    )


def _info_from_tree(element: etree._Element) -> CapInfo:
    areas = tuple(
        CapArea(
            area_desc=_text(area, "areaDesc") or "",
            polygons=_texts(area, "polygon"),
            geocodes=_pairs(area, "geocode"),
            circles=_texts(area, "circle"),
        )
        for area in element.findall(f"{_NS}area")
    )
    return CapInfo(
        language=_text(element, "language") or "en-US",
        category=cast(Any, _texts(element, "category")),
        event=_text(element, "event") or "",
        urgency=cast(Any, _text(element, "urgency")),
        severity=cast(Any, _text(element, "severity")),
        certainty=cast(Any, _text(element, "certainty")),
        headline=_text(element, "headline") or "",
        description=_text(element, "description") or "",
        instruction=_text(element, "instruction") or "",
        effective=_datetime(_text(element, "effective")),
        onset=_datetime(_text(element, "onset")),
        expires=_datetime(_text(element, "expires")),
        sender_name=_text(element, "senderName") or "",
        web=_text(element, "web") or None,
        contact=_text(element, "contact") or None,
        areas=areas,
        response_types=cast(Any, _texts(element, "responseType")),
        audience=_text(element, "audience") or None,
        event_codes=_pairs(element, "eventCode"),
        parameters=_pairs(element, "parameter"),
    )


# -- the city's rules -----------------------------------------------------------------------------


def reference_of(alert: CapAlert) -> str:
    """The ``sender,identifier,sent`` triple that later Updates and Cancels put into <references>."""
    return f"{alert.sender},{alert.identifier},{format_cap_datetime(alert.sent)}"


def format_cap_datetime(value: dt.datetime) -> str:
    """CAP date-time: seconds precision with a numeric offset, e.g. ``2026-03-01T14:00:00+01:00``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise _semantic(
            f"Die Zeitangabe {value.isoformat()} hat keine Zeitzone.",
            f"date-time without time zone: {value.isoformat()}",
        )
    value = value.replace(microsecond=0)
    offset = value.utcoffset()
    assert offset is not None
    if offset.total_seconds() % 60:
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="seconds")


def _check_id(value: str, name: str, path: str) -> None:
    if not value or _FORBIDDEN_ID_CHARS.search(value):
        raise _semantic(
            f"<{name}> darf nicht leer sein und keine Leerzeichen, Kommas, < oder & enthalten: {value!r}.",
            f"<{name}> must be non-empty without spaces, commas, '<' or '&': {value!r}",
            element=name,
            path=path,
        )


def _check_aware(value: dt.datetime | None, name: str, path: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise _semantic(
            f"Die Zeitangabe <{name}> hat keine Zeitzone.",
            f"<{name}> has no time zone",
            element=name,
            path=path,
        )


def _check_reference(reference: str, alert: CapAlert) -> None:
    parts = reference.split(",")
    ok = len(parts) == 3 and all(parts) and _CAP_DATETIME.match(parts[2]) is not None
    if ok:
        try:
            dt.datetime.fromisoformat(parts[2])
        except ValueError:
            ok = False
    if not ok:
        raise _semantic(
            f"Ungültiger Verweis in <references>: {reference!r}. Erwartet wird "
            "„Absender,Kennung,Sendezeit“, z. B. stadt-koblenz,KO-123,2026-03-01T14:00:00+01:00.",
            f"malformed reference {reference!r}: expected 'sender,identifier,sent'",
            element="references",
            path="references",
        )
    if parts[0] == alert.sender and parts[1] == alert.identifier:
        raise _semantic(
            "Eine Nachricht kann sich nicht auf sich selbst beziehen.",
            "a message cannot reference itself",
            element="references",
            path="references",
        )


def _check_polygon(polygon: str, path: str) -> None:
    points: list[tuple[float, float]] = []
    try:
        for pair in polygon.split():
            lat_text, lon_text = pair.split(",")
            points.append((float(lat_text), float(lon_text)))
    except ValueError:
        points = []
    valid = (
        len(points) >= 4
        and points[0] == points[-1]
        and all(-90 <= lat <= 90 and -180 <= lon <= 180 for lat, lon in points)
    )
    if not valid:
        raise _semantic(
            "Ungültiges Polygon: mindestens vier Punkte „Breite,Länge“ (WGS 84), durch Leerzeichen getrennt, "
            "der letzte gleich dem ersten.",
            f"invalid polygon {polygon[:80]!r}: need >= 4 'lat,lon' pairs, first == last",
            element="polygon",
            path=path,
        )


def _check_circle(circle: str, path: str) -> None:
    try:
        centre, radius = circle.split()
        lat_text, lon_text = centre.split(",")
        lat, lon, km = float(lat_text), float(lon_text), float(radius)
        valid = -90 <= lat <= 90 and -180 <= lon <= 180 and km >= 0
    except ValueError:
        valid = False
    if not valid:
        raise _semantic(
            "Ungültiger Kreis: erwartet „Breite,Länge Radius_in_km“, z. B. „50.36,7.59 0.3“.",
            f"invalid circle {circle[:80]!r}: expected 'lat,lon radius_km'",
            element="circle",
            path=path,
        )


def _check_info(info: CapInfo, index: int, alert: CapAlert) -> None:
    base = f"info[{index}]"
    if not info.category:
        raise _semantic(
            "Jede <info> braucht mindestens eine <category>.",
            "every <info> needs a <category>",
            element="category",
            path=base,
        )
    if not info.event.strip():
        raise _semantic(
            "Jede <info> braucht ein Ereignis (<event>).",
            "every <info> needs an <event>",
            element="event",
            path=f"{base}.event",
        )
    for name in ("effective", "onset", "expires"):
        _check_aware(getattr(info, name), name, f"{base}.{name}")
    start = info.effective or alert.sent
    if info.expires is not None and info.expires <= start:
        raise _semantic(
            "Das Ablaufdatum (<expires>) liegt vor dem Beginn der Gültigkeit (<effective> bzw. <sent>).",
            "<expires> is not after <effective> (or <sent>)",
            element="expires",
            path=f"{base}.expires",
        )
    if info.onset is not None and info.expires is not None and info.onset > info.expires:
        raise _semantic(
            "Der erwartete Beginn (<onset>) liegt nach dem Ablaufdatum (<expires>).",
            "<onset> is after <expires>",
            element="onset",
            path=f"{base}.onset",
        )
    if info.web is not None and urlsplit(info.web).scheme not in ("http", "https"):
        raise _semantic(
            f"<web> muss eine vollständige Web-Adresse sein (http:// oder https://): {info.web!r}.",
            f"<web> must be an absolute http(s) URL: {info.web!r}",
            element="web",
            path=f"{base}.web",
        )
    for area_index, area in enumerate(info.areas):
        area_path = f"{base}.area[{area_index}]"
        if not area.area_desc.strip():
            raise _semantic(
                "Jedes Gebiet (<area>) braucht eine Beschreibung (<areaDesc>), z. B. den Stadtteil.",
                "every <area> needs an <areaDesc>",
                element="areaDesc",
                path=f"{area_path}.areaDesc",
            )
        for polygon_index, polygon in enumerate(area.polygons):
            _check_polygon(polygon, f"{area_path}.polygon[{polygon_index}]")
        for circle_index, circle in enumerate(area.circles):
            _check_circle(circle, f"{area_path}.circle[{circle_index}]")


def check_alert(alert: CapAlert) -> None:
    """The city's rules on top of the schema; raises CapSemanticError with a German and English message."""
    _check_id(alert.identifier, "identifier", "identifier")
    _check_id(alert.sender, "sender", "sender")
    _check_aware(alert.sent, "sent", "sent")
    if alert.msg_type in ("Update", "Cancel", "Ack", "Error") and not alert.references:
        raise _semantic(
            f"Eine Nachricht vom Typ {alert.msg_type} muss unter <references> angeben, auf welche frühere "
            "Warnung sie sich bezieht.",
            f"msgType {alert.msg_type} requires <references> to the earlier message",
            element="references",
            path="references",
        )
    for reference in alert.references:
        _check_reference(reference, alert)
    if alert.scope == "Restricted" and not alert.extra.get("restriction"):
        raise _semantic(
            "Bei scope „Restricted“ ist <restriction> Pflicht.",
            "scope Restricted requires <restriction>",
            element="restriction",
            path="restriction",
        )
    if alert.scope == "Private" and not alert.extra.get("addresses"):
        raise _semantic(
            "Bei scope „Private“ ist <addresses> Pflicht.",
            "scope Private requires <addresses>",
            element="addresses",
            path="addresses",
        )
    seen: set[str] = set()
    for index, info in enumerate(alert.infos):
        language = info.language.lower()
        if language in seen:
            raise _semantic(
                f"Es gibt mehr als eine <info> in der Sprache {info.language}. Erlaubt ist eine je Sprache.",
                f"more than one <info> in language {info.language}",
                element="language",
                path=f"info[{index}].language",
            )
        seen.add(language)
        _check_info(info, index, alert)
    german = [info for info in alert.infos if info.language.lower().startswith("de")]
    if not german:
        raise _semantic(
            "Die Nachricht braucht einen deutschen Info-Block (<info> mit <language>de-DE</language>).",
            "a German <info> block (language de-DE) is required",
            element="info",
            path="info",
        )
    if not german[0].headline.strip():
        raise _semantic(
            "Der deutsche Info-Block braucht eine Überschrift (<headline>).",
            "the German <info> block needs a <headline>",
            element="headline",
            path=f"info[{alert.infos.index(german[0])}].headline",
        )


def check_receivable(alert: CapAlert, now: dt.datetime | None = None) -> None:
    """An incoming message (alert API, ``alert issue --cap``, NINA), from any CAP profile (the city's,
    DWD's with warn cells, AGS and polygons, the BBK's): refused when its area provably does not touch
    Koblenz (``CapOutsideArea``) or when it is an Alert or Update that has expired (``CapExpired``). A
    Cancel is never refused for its expiry: an all-clear is always welcome."""
    from broadcasts.geo import Verdict, touches_koblenz

    area = touches_koblenz(alert)
    if area.verdict is Verdict.OUTSIDE:
        raise CapOutsideArea(
            f"Die Warnung betrifft nicht Koblenz: ihr Gebiet liegt außerhalb der Stadt ({area.reason}). "
            "Sie wird Koblenzer Bürgerinnen und Bürgern nicht angezeigt.",
            f"the alert's area does not touch Koblenz: {area.reason}",
            element="area",
        )
    moment = now or dt.datetime.now(dt.UTC)
    times = [info.expires for info in alert.infos if info.expires is not None]
    if alert.msg_type in ("Alert", "Update") and times and len(times) == len(alert.infos):
        latest = max(times)
        if latest <= moment:
            raise CapExpired(
                f"Die Warnung ist bereits abgelaufen (gültig bis {format_cap_datetime(latest)}). "
                "Abgelaufene Warnungen werden nicht angenommen.",
                f"the alert expired at {format_cap_datetime(latest)}",
                element="expires",
            )


# -- XML out --------------------------------------------------------------------------------------


def _sub(parent: etree._Element, name: str, text: str | None) -> None:
    if text is None or text == "":
        return
    element = etree.SubElement(parent, f"{_NS}{name}")
    element.text = text


def _sub_pairs(parent: etree._Element, name: str, pairs: Iterable[tuple[str, str]]) -> None:
    for value_name, value in pairs:
        element = etree.SubElement(parent, f"{_NS}{name}")
        etree.SubElement(element, f"{_NS}valueName").text = value_name
        etree.SubElement(element, f"{_NS}value").text = value


def _alert_tree(alert: CapAlert) -> etree._Element:
    root = etree.Element(f"{_NS}alert", nsmap=_NSMAP)
    _sub(root, "identifier", alert.identifier)
    _sub(root, "sender", alert.sender)
    _sub(root, "sent", format_cap_datetime(alert.sent))
    _sub(root, "status", alert.status)
    _sub(root, "msgType", alert.msg_type)
    _sub(root, "source", alert.source)
    _sub(root, "scope", alert.scope)
    _sub(root, "restriction", alert.extra.get("restriction"))
    _sub(root, "addresses", alert.extra.get("addresses"))
    _sub(root, "note", alert.note)
    _sub(root, "references", " ".join(alert.references) or None)
    _sub(root, "incidents", alert.extra.get("incidents"))
    for info in alert.infos:
        element = etree.SubElement(root, f"{_NS}info")
        _sub(element, "language", info.language)
        for category in info.category:
            _sub(element, "category", category)
        _sub(element, "event", info.event)
        for response_type in info.response_types:
            _sub(element, "responseType", response_type)
        _sub(element, "urgency", info.urgency)
        _sub(element, "severity", info.severity)
        _sub(element, "certainty", info.certainty)
        _sub(element, "audience", info.audience)
        _sub_pairs(element, "eventCode", info.event_codes)
        for name in ("effective", "onset", "expires"):
            value = getattr(info, name)
            _sub(element, name, format_cap_datetime(value) if value is not None else None)
        _sub(element, "senderName", info.sender_name)
        _sub(element, "headline", info.headline)
        _sub(element, "description", info.description)
        _sub(element, "instruction", info.instruction)
        _sub(element, "web", info.web)
        _sub(element, "contact", info.contact)
        _sub_pairs(element, "parameter", info.parameters)
        for area in info.areas:
            area_element = etree.SubElement(element, f"{_NS}area")
            _sub(area_element, "areaDesc", area.area_desc)
            for polygon in area.polygons:
                _sub(area_element, "polygon", polygon)
            for circle in area.circles:
                _sub(area_element, "circle", circle)
            _sub_pairs(area_element, "geocode", area.geocodes)
    return root


def to_cap_xml(alert: CapAlert) -> bytes:
    """Valid CAP 1.2 XML (UTF-8, XML declaration, indented); checks the city's rules and the schema."""
    check_alert(alert)
    try:
        root = _alert_tree(alert)
        data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    except (ValueError, TypeError) as exc:  # control characters, NUL bytes, lone surrogates
        raise _semantic(
            "Der Text enthält Zeichen, die in XML nicht erlaubt sind (z. B. Steuerzeichen).",
            f"text contains characters not allowed in XML: {exc}",
        ) from None
    _validate_tree(etree.fromstring(data, _safe_parser()), json_style=False)
    return data


# -- JSON -----------------------------------------------------------------------------------------

_Converter = Callable[[etree._Element, str, object, str], None]


def _json_error(path: str, de: str, en: str, element: str | None = None) -> CapSchemaError:
    return CapSchemaError(
        f"Ungültiges CAP-JSON bei „{path}“: {de}",
        f"invalid CAP JSON at {path!r}: {en}",
        element=element,
        path=path,
    )


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _scalar(value: object, path: str, name: str, numbers: bool = False) -> str:
    if isinstance(value, str):
        if _NOT_XML.search(value):  # XML 1.0 cannot carry control characters: a clear 4xx, not a crash
            raise _json_error(
                path, "enthält Steuerzeichen, die XML nicht erlaubt.", "control character", name
            )
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _json_error(path, "erwartet wird Text.", "expected a string", name)


def _put_text(parent: etree._Element, name: str, value: object, path: str) -> None:
    etree.SubElement(parent, f"{_NS}{name}").text = _scalar(value, path, name)


def _put_number(parent: etree._Element, name: str, value: object, path: str) -> None:
    etree.SubElement(parent, f"{_NS}{name}").text = _scalar(value, path, name, numbers=True)


def _as_list(value: object, path: str, name: str) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, str | dict):
        return [value]
    raise _json_error(path, "erwartet wird eine Liste.", "expected a list", name)


def _put_texts(parent: etree._Element, name: str, value: object, path: str) -> None:
    for index, item in enumerate(_as_list(value, path, name)):
        _put_text(parent, name, item, f"{path}[{index}]")


def _put_references(parent: etree._Element, name: str, value: object, path: str) -> None:
    items = [value] if isinstance(value, str) else _as_list(value, path, name)
    texts = [_scalar(item, f"{path}[{index}]", name) for index, item in enumerate(items)]
    etree.SubElement(parent, f"{_NS}{name}").text = " ".join(texts)


def _put_pairs(parent: etree._Element, name: str, value: object, path: str) -> None:
    for index, item in enumerate(_as_list(value, path, name)):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise _json_error(
                item_path,
                "erwartet wird ein Objekt mit valueName und value.",
                "expected an object with valueName and value",
                name,
            )
        _put_object(etree.SubElement(parent, f"{_NS}{name}"), item, _PAIR_FIELDS, item_path, name)


def _objects(fields: Sequence[tuple[str, _Converter]]) -> _Converter:
    def put(parent: etree._Element, name: str, value: object, path: str) -> None:
        for index, item in enumerate(_as_list(value, path, name)):
            item_path = f"{path}[{index}]"
            if not isinstance(item, dict):
                raise _json_error(item_path, "erwartet wird ein Objekt.", "expected an object", name)
            _put_object(etree.SubElement(parent, f"{_NS}{name}"), item, fields, item_path, name)

    return put


_PAIR_FIELDS: list[tuple[str, _Converter]] = [("valueName", _put_text), ("value", _put_text)]
_RESOURCE_FIELDS: list[tuple[str, _Converter]] = [
    ("resourceDesc", _put_text),
    ("mimeType", _put_text),
    ("size", _put_number),
    ("uri", _put_text),
    ("derefUri", _put_text),
    ("digest", _put_text),
]
_AREA_FIELDS: list[tuple[str, _Converter]] = [
    ("areaDesc", _put_text),
    ("polygon", _put_texts),
    ("circle", _put_texts),
    ("geocode", _put_pairs),
    ("altitude", _put_number),
    ("ceiling", _put_number),
]
_INFO_FIELDS: list[tuple[str, _Converter]] = [
    ("language", _put_text),
    ("category", _put_texts),
    ("event", _put_text),
    ("responseType", _put_texts),
    ("urgency", _put_text),
    ("severity", _put_text),
    ("certainty", _put_text),
    ("audience", _put_text),
    ("eventCode", _put_pairs),
    ("effective", _put_text),
    ("onset", _put_text),
    ("expires", _put_text),
    ("senderName", _put_text),
    ("headline", _put_text),
    ("description", _put_text),
    ("instruction", _put_text),
    ("web", _put_text),
    ("contact", _put_text),
    ("parameter", _put_pairs),
    ("resource", _objects(_RESOURCE_FIELDS)),
    ("area", _objects(_AREA_FIELDS)),
]
_ALERT_FIELDS: list[tuple[str, _Converter]] = [
    ("identifier", _put_text),
    ("sender", _put_text),
    ("sent", _put_text),
    ("status", _put_text),
    ("msgType", _put_text),
    ("source", _put_text),
    ("scope", _put_text),
    ("restriction", _put_text),
    ("addresses", _put_text),
    ("code", _put_texts),
    ("note", _put_text),
    ("references", _put_references),
    ("incidents", _put_text),
    ("info", _objects(_INFO_FIELDS)),
]


def _put_object(
    element: etree._Element,
    obj: Mapping[str, object],
    fields: Sequence[tuple[str, _Converter]],
    path: str,
    name: str,
) -> None:
    known = {field for field, _ in fields}
    unknown = sorted(key for key in obj if key not in known)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise _json_error(
            where,
            f"unbekanntes Feld „{unknown[0]}“. Erlaubt sind: {', '.join(sorted(known))}.",
            f"unknown field {unknown[0]!r}",
            unknown[0],
        )
    for field, put in fields:
        value = obj.get(field)
        if value is None:
            continue
        put(element, field, value, f"{path}.{field}" if path else field)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_cap_json(data: bytes, max_bytes: int = MAX_CAP_BYTES) -> CapAlert:
    """Parse the JSON form of a CAP 1.2 alert (see docs/cap.md); checked exactly like the XML form."""
    _check_size(data, max_bytes)
    try:
        obj = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise CapNotWellFormed(
            f"Die Nachricht ist kein gültiges JSON (Zeile {exc.lineno}, Spalte {exc.colno}).",
            f"not valid JSON: {exc}",
            line=exc.lineno,
        ) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CapNotWellFormed(
            "Die Nachricht ist kein gültiges JSON in UTF-8 (oder enthält doppelte Felder).",
            f"not valid UTF-8 JSON: {exc}",
        ) from None
    if not isinstance(obj, dict):
        raise _json_error("$", "erwartet wird ein JSON-Objekt.", "expected a JSON object")
    root = etree.Element(f"{_NS}alert", nsmap=_NSMAP)
    _put_object(root, obj, _ALERT_FIELDS, "", "alert")
    try:
        xml = etree.tostring(root, encoding="UTF-8", pretty_print=True)
    except (ValueError, TypeError) as exc:  # pragma: no cover - lxml refuses bad characters on assignment
        raise _json_error("$", "unerlaubte Zeichen im Text.", str(exc)) from None
    tree = etree.fromstring(xml, _safe_parser())
    _validate_tree(tree, json_style=True)
    alert = _alert_from_tree(tree)
    check_alert(alert)
    return alert


def _pairs_json(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"valueName": name, "value": value} for name, value in pairs]


def _drop_empty(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value not in (None, "", [], ())}


def alert_to_json(alert: CapAlert) -> dict[str, Any]:
    """The JSON mapping of an alert (docs/cap.md); ``parse_cap_json(json.dumps(result))`` gives it back."""

    def when(value: dt.datetime | None) -> str | None:
        return format_cap_datetime(value) if value is not None else None

    infos = [
        _drop_empty(
            {
                "language": info.language,
                "category": list(info.category),
                "event": info.event,
                "responseType": list(info.response_types),
                "urgency": info.urgency,
                "severity": info.severity,
                "certainty": info.certainty,
                "audience": info.audience,
                "eventCode": _pairs_json(info.event_codes),
                "effective": when(info.effective),
                "onset": when(info.onset),
                "expires": when(info.expires),
                "senderName": info.sender_name,
                "headline": info.headline,
                "description": info.description,
                "instruction": info.instruction,
                "web": info.web,
                "contact": info.contact,
                "parameter": _pairs_json(info.parameters),
                "area": [
                    _drop_empty(
                        {
                            "areaDesc": area.area_desc,
                            "polygon": list(area.polygons),
                            "circle": list(area.circles),
                            "geocode": _pairs_json(area.geocodes),
                        }
                    )
                    for area in info.areas
                ],
            }
        )
        for info in alert.infos
    ]
    return _drop_empty(
        {
            "identifier": alert.identifier,
            "sender": alert.sender,
            "sent": format_cap_datetime(alert.sent),
            "status": alert.status,
            "msgType": alert.msg_type,
            "source": alert.source,
            "scope": alert.scope,
            "restriction": alert.extra.get("restriction"),
            "addresses": alert.extra.get("addresses"),
            "note": alert.note,
            "references": list(alert.references),
            "incidents": alert.extra.get("incidents"),
            "info": infos,
        }
    )
