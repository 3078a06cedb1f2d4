"""CAP 1.2 parsing, writing and validation (broadcasts/cap.py): realistic Koblenz alerts, hostile input,
and property-based round trips through XML and JSON."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from broadcasts import BroadcastError
from broadcasts.cap import (
    MAX_CAP_BYTES,
    SCHEMA_PATH,
    CapError,
    CapNotWellFormed,
    CapSchemaError,
    CapSemanticError,
    CapTooLarge,
    CapUnknownReference,
    CapUnsafe,
    alert_to_json,
    check_alert,
    parse_cap_json,
    parse_cap_xml,
    reference_of,
    to_cap_xml,
    validate_cap_xml,
)
from broadcasts.capmodel import CapAlert, CapArea
from core.http import error_middleware
from tests.cap_strategies import cap_alerts
from tests.conftest import examples

DATA = Path(__file__).parent.parent / "data" / "cap"
XSD = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
BERLIN_WINTER = dt.timezone(dt.timedelta(hours=1))
PROPERTY = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def assert_schema_valid(xml: bytes) -> None:
    """Independent check with lxml and the OASIS XSD (not through broadcasts.cap)."""
    document = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    assert XSD.validate(document), XSD.error_log


# -- good Koblenz examples ------------------------------------------------------------------------


def test_bomb_defusal_in_luetzel_is_read_completely() -> None:
    alert = parse_cap_xml(load("bomb_luetzel_alert.xml"))
    assert alert.identifier == "stadt-koblenz.20260312T081500.bomb01"
    assert alert.sent == dt.datetime(2026, 3, 12, 8, 15, tzinfo=BERLIN_WINTER)
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    assert alert.stadtteile() == ("Lützel",)
    de, en = alert.info("de"), alert.info("en")
    assert de.language == "de-DE" and en.language == "en-US"
    assert de.headline == "Bombenentschärfung in Lützel: Evakuierung bis 12:00 Uhr"
    assert de.response_types == ("Evacuate",)
    assert de.category == ("Safety",)
    assert de.expires == dt.datetime(2026, 3, 12, 20, tzinfo=BERLIN_WINTER)
    assert de.areas[0].circles == ("50.3705,7.5905 0.5",)
    assert "Sperrbereich" in de.instruction
    assert en.headline.startswith("WWII bomb disposal")


def test_rhine_flood_warning_for_three_stadtteile() -> None:
    alert = parse_cap_xml(load("flood_rhein_alert.xml"))
    assert alert.stadtteile() == ("Altstadt", "Neuendorf", "Ehrenbreitstein")
    info = alert.info("de")
    assert info.category == ("Met",) and info.event == "Hochwasser"
    assert info.areas[0].polygons[0].startswith("50.3600,7.5950")
    assert info.parameters == (("Pegel", "Beispielwert 7,10 m"),)
    assert info.onset == dt.datetime(2026, 2, 4, 18, tzinfo=BERLIN_WINTER)


def test_update_and_cancel_reference_the_first_alert() -> None:
    first = parse_cap_xml(load("bomb_luetzel_alert.xml"))
    update = parse_cap_xml(load("bomb_luetzel_update.xml"))
    cancel = parse_cap_xml(load("bomb_luetzel_cancel.xml"))
    assert update.msg_type == "Update" and update.references == (reference_of(first),)
    assert "13:00" in update.info("de").headline
    assert cancel.msg_type == "Cancel"
    assert cancel.references == (reference_of(first), reference_of(update))
    assert cancel.info("de").response_types == ("AllClear",)
    assert cancel.info("de").headline.startswith("Entwarnung")


def test_json_sample_is_the_same_alert_as_the_xml_sample() -> None:
    assert parse_cap_json(load("flood_rhein_alert.json")) == parse_cap_xml(load("flood_rhein_alert.xml"))


@pytest.mark.parametrize(
    "name",
    ["bomb_luetzel_alert.xml", "bomb_luetzel_update.xml", "bomb_luetzel_cancel.xml", "flood_rhein_alert.xml"],
)
def test_samples_round_trip_and_written_xml_is_schema_valid(name: str) -> None:
    alert = parse_cap_xml(load(name))
    xml = to_cap_xml(alert)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert_schema_valid(xml)
    assert parse_cap_xml(xml) == alert
    assert parse_cap_json(json.dumps(alert_to_json(alert)).encode()) == alert


def test_dropped_elements_and_extra_fields() -> None:
    """restriction/addresses/incidents are kept in extra; code and resource are accepted and dropped."""
    xml = load("bomb_luetzel_alert.xml").decode()
    xml = xml.replace(
        "<scope>Public</scope>",
        "<scope>Restricted</scope><restriction>nur Einsatzkräfte</restriction><code>KO-Übung</code>",
    )
    xml = xml.replace(
        "<note>Beispielnachricht für Tests: fiktives Ereignis.</note>",
        "<note>Beispiel</note><incidents>KO-2026-17</incidents>",
    )
    xml = xml.replace(
        "<area>",
        "<resource><resourceDesc>Karte</resourceDesc><mimeType>image/png</mimeType></resource><area>",
        1,
    )
    alert = parse_cap_xml(xml.encode())
    assert alert.scope == "Restricted"
    assert alert.extra == {"restriction": "nur Einsatzkräfte", "incidents": "KO-2026-17"}
    assert b"<restriction>nur Einsatzkr" in to_cap_xml(alert)


# -- hostile and broken input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "element", "german"),
    [
        ("bad/not_well_formed.xml", CapNotWellFormed, None, "kein wohlgeformtes XML (Zeile 9"),
        (
            "bad/schema_bad_status.xml",
            CapSchemaError,
            "status",
            "Element <status>, Zeile 6: unzulässiger Wert",
        ),
        (
            "bad/schema_missing_urgency.xml",
            CapSchemaError,
            "severity",
            "erwartet wird hier: responseType, urgency",
        ),
        ("bad/xxe.xml", CapUnsafe, None, "DOCTYPE"),
        ("bad/billion_laughs.xml", CapUnsafe, None, "DOCTYPE"),
        (
            "bad/update_without_references.xml",
            CapSemanticError,
            "references",
            "Typ Update muss unter <references>",
        ),
        ("bad/missing_de_info.xml", CapSemanticError, "info", "deutschen Info-Block"),
        (
            "bad/sent_without_timezone.xml",
            CapSemanticError,
            "sent",
            "<sent> (2026-03-12T08:15:00) hat keine Zeitzone",
        ),
        ("bad/expires_before_effective.xml", CapSemanticError, "expires", "Ablaufdatum"),
        ("bad/cap11_namespace.xml", CapSchemaError, "alert", "keine CAP-1.2-Nachricht"),
    ],
)
async def test_bad_input_raises_the_right_error_with_a_clear_message(
    name: str, error: type[CapError], element: str | None, german: str
) -> None:
    with pytest.raises(error) as info:
        parse_cap_xml(load(name))
    exc = info.value
    assert type(exc) is error
    assert german in exc.message_de
    assert exc.element == element
    status, body = await http_answer(exc)
    assert body["error"] == error.code and body["message"] == exc.message_de
    assert body["message_en"] == exc.message_en == str(exc)
    assert body.get("element") == element and ("line" in body) == (exc.line is not None)
    assert 400 <= status == exc.status < 500


def test_schema_error_names_line_and_path() -> None:
    with pytest.raises(CapSchemaError) as info:
        parse_cap_xml(load("bad/schema_missing_urgency.xml"))
    assert info.value.line == 15
    assert info.value.path == "info[0].severity"


def test_semantic_error_in_xml_names_the_line() -> None:
    with pytest.raises(CapSemanticError) as info:
        parse_cap_xml(load("bad/expires_before_effective.xml"))
    assert info.value.path == "info[0].expires"
    assert info.value.line == 20


def test_xxe_never_reads_the_file() -> None:
    with pytest.raises(CapUnsafe) as info:
        parse_cap_xml(load("bad/xxe.xml"))
    assert "root:" not in info.value.message_de + info.value.message_en


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd"><alert/>',
        b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><alert/>',
        b"<!DOCTYPE alert><alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>",
    ],
)
def test_every_doctype_is_refused(payload: bytes) -> None:
    with pytest.raises(CapUnsafe):
        parse_cap_xml(payload)


def test_oversize_is_refused_before_parsing() -> None:
    junk = b"<" * (MAX_CAP_BYTES + 1)  # not even well-formed: the size check comes first
    with pytest.raises(CapTooLarge) as info:
        parse_cap_xml(junk)
    assert str(MAX_CAP_BYTES) in info.value.message_de
    assert info.value.status == 413
    with pytest.raises(CapTooLarge):
        parse_cap_xml(load("bomb_luetzel_alert.xml"), max_bytes=1000)
    with pytest.raises(CapTooLarge):
        parse_cap_json(b" " * 2000, max_bytes=1000)


async def test_unknown_reference_error_for_the_engine() -> None:
    exc = CapUnknownReference("stadt-koblenz,gibt-es-nicht,2026-03-12T08:15:00+01:00")
    assert isinstance(exc, CapSemanticError) and isinstance(exc, BroadcastError)
    status, body = await http_answer(exc)
    assert status == 422 and body["error"] == "cap_unknown_reference"
    assert "unbekannte Warnung" in body["message"] and body["element"] == "references"


async def http_answer(exc: Exception) -> tuple[int, dict[str, Any]]:
    """What ``core.http.error_middleware``, the one mapping of errors to HTTP, answers for ``exc``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        raise exc

    response = await error_middleware(make_mocked_request("POST", "/api/alerts"), handler)
    assert isinstance(response, web.Response) and response.body is not None
    return response.status, json.loads(bytes(response.body))  # type: ignore[arg-type]


def _german_first(alert: CapAlert, **changes: Any) -> CapAlert:
    info = dataclasses.replace(alert.infos[0], **changes)
    return dataclasses.replace(alert, infos=(info, *alert.infos[1:]))


@pytest.mark.parametrize(
    ("change", "german"),
    [
        (lambda a: dataclasses.replace(a, infos=(a.infos[0], a.infos[0])), "mehr als eine <info>"),
        (
            lambda a: _german_first(a, areas=(CapArea("Lützel", polygons=("50.1,7.1 50.2,7.2 50.3,7.1",)),)),
            "Polygon",
        ),
        (lambda a: _german_first(a, areas=(CapArea("Lützel", circles=("50.1,7.1",)),)), "Kreis"),
        (lambda a: _german_first(a, web="www.koblenz.de"), "vollständige Web-Adresse"),
        (lambda a: _german_first(a, headline=""), "Überschrift"),
        (lambda a: dataclasses.replace(a, scope="Restricted"), "<restriction> Pflicht"),
        (lambda a: dataclasses.replace(a, identifier="mit Leerzeichen"), "keine Leerzeichen"),
        (
            lambda a: dataclasses.replace(a, msg_type="Update", references=("nur-ein-teil",)),
            "Ungültiger Verweis",
        ),
        (
            lambda a: dataclasses.replace(a, msg_type="Update", references=(reference_of(a),)),
            "auf sich selbst",
        ),
        (lambda a: dataclasses.replace(a, sent=a.sent.replace(tzinfo=None)), "keine Zeitzone"),
    ],
)
def test_city_rules(change: Any, german: str) -> None:
    bad = change(parse_cap_xml(load("bomb_luetzel_alert.xml")))
    with pytest.raises(CapSemanticError) as info:
        check_alert(bad)
    assert german in info.value.message_de
    with pytest.raises(CapSemanticError):  # the writer never emits what the reader would refuse
        to_cap_xml(bad)


def test_writer_refuses_characters_xml_cannot_carry() -> None:
    alert = _german_first(parse_cap_xml(load("bomb_luetzel_alert.xml")), description="Text\x00mit NUL")
    with pytest.raises(CapSemanticError) as info:
        to_cap_xml(alert)
    assert "nicht erlaubt" in info.value.message_de


def test_writer_refuses_values_outside_the_schema() -> None:
    alert = dataclasses.replace(parse_cap_xml(load("bomb_luetzel_alert.xml")), status="Echt")  # type: ignore[arg-type]
    with pytest.raises(CapSchemaError) as info:
        to_cap_xml(alert)
    assert info.value.element == "status"


# -- JSON -----------------------------------------------------------------------------------------


def flood_json() -> dict[str, Any]:
    return json.loads(load("flood_rhein_alert.json"))


@pytest.mark.parametrize(
    ("payload", "error", "fragment"),
    [
        (b"{not json", CapNotWellFormed, "kein gültiges JSON"),
        (b'{"identifier": "a", "identifier": "b"}', CapNotWellFormed, "doppelte Felder"),
        (b"\xff\xfe", CapNotWellFormed, "UTF-8"),
        (b"[]", CapSchemaError, "JSON-Objekt"),
        (b"[" * 100_000, CapNotWellFormed, "JSON"),
    ],
)
def test_bad_json(payload: bytes, error: type[CapError], fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_cap_json(payload)
    assert type(info.value) is error
    assert fragment in info.value.message_de


def test_json_errors_name_the_path() -> None:
    data = flood_json()
    data["info"][0]["area"][1]["farbe"] = "rot"
    with pytest.raises(CapSchemaError) as info:
        parse_cap_json(json.dumps(data).encode())
    assert info.value.path == "info[0].area[1].farbe"
    data = flood_json()
    data["info"][0]["urgency"] = "Sofort"
    with pytest.raises(CapSchemaError) as info:
        parse_cap_json(json.dumps(data).encode())
    assert info.value.path == "info[0].urgency" and info.value.line is None
    assert "(info[0].urgency)" in info.value.message_de
    data = flood_json()
    data["identifier"] = 42
    with pytest.raises(CapSchemaError) as info:
        parse_cap_json(json.dumps(data).encode())
    assert info.value.path == "identifier"


def test_json_accepts_single_values_for_lists() -> None:
    data = flood_json()
    data["info"] = data["info"][0]
    data["info"]["category"] = "Met"
    assert parse_cap_json(json.dumps(data).encode()) == parse_cap_xml(load("flood_rhein_alert.xml"))


def _xml_and_json(mutate_json: Any, old: str, new: str) -> tuple[bytes, bytes]:
    data = copy.deepcopy(flood_json())
    mutate_json(data)
    xml = load("flood_rhein_alert.xml").decode().replace(old, new, 1)
    return xml.encode(), json.dumps(data).encode()


@pytest.mark.parametrize(
    ("mutate_json", "old", "new", "error"),
    [
        (lambda d: d.update(status="Echt"), "<status>Actual", "<status>Echt", CapSchemaError),
        (lambda d: d.update(msgType="Update"), "<msgType>Alert", "<msgType>Update", CapSemanticError),
        (lambda d: d["info"][0].update(language="fr-FR"), "de-DE", "fr-FR", CapSemanticError),
        (
            lambda d: d.update(sent="2026-02-04T06:00:00"),
            "06:00:00+01:00</sent>",
            "06:00:00</sent>",
            CapSemanticError,
        ),
        (
            lambda d: d["info"][0].update(expires="2026-02-04T05:00:00+01:00"),
            "2026-02-06T06:00:00+01:00",
            "2026-02-04T05:00:00+01:00",
            CapSemanticError,
        ),
        (lambda d: d["info"][0].pop("event"), "<event>Hochwasser</event>", "", CapSchemaError),
    ],
)
def test_xml_and_json_refuse_the_same_alerts(
    mutate_json: Any, old: str, new: str, error: type[CapError]
) -> None:
    xml, js = _xml_and_json(mutate_json, old, new)
    with pytest.raises(error) as from_xml:
        parse_cap_xml(xml)
    with pytest.raises(error) as from_json:
        parse_cap_json(js)
    assert type(from_xml.value) is type(from_json.value)
    assert from_xml.value.element == from_json.value.element


# -- properties -----------------------------------------------------------------------------------


@PROPERTY
@given(cap_alerts())
def test_round_trip_through_xml(alert: CapAlert) -> None:
    xml = to_cap_xml(alert)
    assert_schema_valid(xml)
    assert parse_cap_xml(xml) == alert


@PROPERTY
@given(cap_alerts())
def test_round_trip_through_json(alert: CapAlert) -> None:
    body = json.dumps(alert_to_json(alert), ensure_ascii=False).encode()
    assert parse_cap_json(body) == alert


@PROPERTY
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_raise_cap_errors(data: bytes) -> None:
    for parse in (parse_cap_xml, parse_cap_json):
        try:
            parse(data)
        except CapError:
            pass


@PROPERTY
@given(st.integers(0, 3000), st.binary(min_size=1, max_size=20))
def test_damaged_documents_only_ever_raise_cap_errors(position: int, junk: bytes) -> None:
    original = load("bomb_luetzel_alert.xml")
    position %= len(original)
    damaged = original[:position] + junk + original[position + len(junk) :]
    try:
        validate_cap_xml(damaged)
        parse_cap_xml(damaged)
    except CapError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)


@PROPERTY
@given(st.dictionaries(st.sampled_from(["identifier", "sent", "info", "references", "x"]), json_values))
def test_arbitrary_json_only_ever_raises_cap_errors(data: dict[str, Any]) -> None:
    try:
        parse_cap_json(json.dumps(data).encode())
    except CapError:
        pass


def test_unknown_encoding_in_the_declaration_is_not_well_formed() -> None:
    # found by hypothesis on a clean CI run: a damaged declaration raised LookupError, not a CapError
    from broadcasts.cap import CapNotWellFormed, parse_cap_xml

    with pytest.raises(CapNotWellFormed, match="encoding"):
        parse_cap_xml(b'<?xml version="1.0" encoding="U-F-8"?><alert/>')
