"""Alert templates and follow-up texts (broadcasts/templates.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from broadcasts.cap import CapTemplateError, parse_cap_xml, reference_of, to_cap_xml, validate_cap_xml
from broadcasts.capmodel import CapAlert
from broadcasts.templates import (
    CITY_AREA_DESC,
    TEMPLATES,
    alert_text,
    all_clear_text,
    render_all_clear,
    render_template,
    render_update,
    update_text,
)
from catalog.model import Catalog
from core.time import BERLIN

SENT = dt.datetime(2026, 3, 12, 8, 15, tzinfo=BERLIN)

# the smallest set of values each template needs, with made-up places
REQUIRED: dict[str, dict[str, Any]] = {
    "unwetter": {"uhrzeit": "14:00"},
    "hochwasser": {"gewaesser": "Rhein", "uhrzeit": "18:00"},
    "bombenentschaerfung": {"ort": "Baustelle Musterstraße", "uhrzeit": "12:00"},
    "grossbrand": {"ort": "Lagerhalle Musterweg"},
    "trinkwasser": {},
    "stromausfall": {},
    "gefahrstoff": {"ort": "Musterplatz"},
}
ISSUE_ALERT_TYPES = {
    "unwetter",
    "hochwasser",
    "bombenentschaerfung",
    "grossbrand",
    "trinkwasser",
    "stromausfall",
    "gefahrstoff",
}


def texts_of(alert: CapAlert) -> list[str]:
    return [text for info in alert.infos for text in (info.headline, info.description, info.instruction)]


def test_every_alert_type_of_the_issue_has_a_template() -> None:
    assert set(TEMPLATES) == ISSUE_ALERT_TYPES == set(REQUIRED)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_renders_valid_cap_with_everything_filled(name: str) -> None:
    alert = render_template(name, stadtteile=["Lützel", "Neuendorf"], sent=SENT, **REQUIRED[name])
    xml = to_cap_xml(alert)
    validate_cap_xml(xml)
    assert parse_cap_xml(xml) == alert
    template = TEMPLATES[name]
    de = alert.info("de")
    assert (alert.msg_type, alert.status, alert.scope, alert.sender) == (
        "Alert",
        "Actual",
        "Public",
        "stadt-koblenz",
    )
    assert de.category == template.category and de.response_types == template.response_types
    assert (de.urgency, de.severity, de.certainty) == (
        template.urgency,
        template.severity,
        template.certainty,
    )
    assert alert.stadtteile() == ("Lützel", "Neuendorf")
    assert "Lützel und Neuendorf" in de.headline + de.description
    for value in REQUIRED[name].values():
        assert value in " ".join(texts_of(alert)) or name == "hochwasser"
    for text in texts_of(alert):
        assert "{" not in text and "}" not in text
    assert de.expires == SENT + dt.timedelta(hours=template.valid_hours)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_tone_is_calm_polite_and_says_what_to_do(name: str) -> None:
    alert = render_template(name, sent=SENT, **REQUIRED[name])
    de = alert.info("de")
    german = " ".join((de.headline, de.description, de.instruction))
    assert "!" not in german
    assert not re.search(r"\b[A-ZÄÖÜ]{4,}\b", german), "no shouting in capitals"
    assert not re.search(r"\b(du|dich|dir|dein\w*|ihr|euch)\b", german), "Sie-Form only"
    assert re.search(r"\bSie\b", de.instruction)
    assert len(de.headline) <= 100


def test_required_advice_is_in_the_texts() -> None:
    fire = render_template("grossbrand", ort="Lagerhalle", sent=SENT).info("de")
    assert "Schließen Sie Fenster und Türen" in fire.instruction
    water = render_template("trinkwasser", sent=SENT).info("de")
    assert "Kochen Sie Leitungswasser vor dem Trinken ab" in water.instruction
    assert "abkochen" in water.headline
    gas = render_template("gefahrstoff", ort="Hafen", sent=SENT).info("de")
    assert "Fenster und Türen" in gas.instruction and "Lüftungs" in gas.instruction


@pytest.mark.parametrize("name", ["bombenentschaerfung", "trinkwasser"])
def test_english_block_where_it_helps(name: str) -> None:
    alert = render_template(name, stadtteile="Lützel", sent=SENT, **REQUIRED[name])
    en = alert.info("en")
    assert en.language == "en-US" and en.headline != alert.info("de").headline
    assert "Lützel" in en.headline
    assert len(render_template(name, sent=SENT, english=False, **REQUIRED[name]).infos) == 1


def test_city_wide_alert_when_no_stadtteil_is_given() -> None:
    alert = render_template("stromausfall", sent=SENT)
    area = alert.info("de").areas[0]
    assert area.area_desc == CITY_AREA_DESC and area.geocodes == (("ARS", "071110000000"),)
    assert alert.stadtteile() == ()
    assert alert.info("de").headline == "Stromausfall in ganz Koblenz"
    assert render_template("stromausfall", stadtteile=["Koblenz"], sent=SENT).stadtteile() == ()


def test_no_facts_about_places_the_caller_did_not_name(catalog: Catalog) -> None:
    names = set(catalog.stadtteil_names().values())
    for name in TEMPLATES:
        alert = render_template(name, stadtteile=["Lützel"], sent=SENT, **REQUIRED[name])
        text = " ".join(texts_of(alert))
        mentioned = {place for place in names if re.search(rf"\b{re.escape(place)}\b", text)}
        assert mentioned == {"Lützel"}, (name, mentioned)


def test_stadtteile_are_checked_against_the_catalog(catalog: Catalog) -> None:
    known = catalog.stadtteil_names()
    alert = render_template(
        "trinkwasser", stadtteile="lützel; EHRENBREITSTEIN", known_stadtteile=known, sent=SENT
    )
    assert alert.stadtteile() == ("Lützel", "Ehrenbreitstein")
    with pytest.raises(CapTemplateError) as info:
        render_template("trinkwasser", stadtteile=["Lützel", "Atlantis"], known_stadtteile=known, sent=SENT)
    assert info.value.message_de.startswith("Unbekannte Stadtteile: Atlantis.")


@pytest.mark.parametrize(
    ("name", "values", "fragment"),
    [
        ("bombenentschaerfung", {}, "fehlen diese Angaben: ort, uhrzeit"),
        ("grossbrand", {"ort": "Halle", "uhrzeitt": "12:00"}, "kennt diese Angaben nicht: uhrzeitt"),
        ("sturmflut", {}, "Unbekannte Vorlage"),
        ("hochwasser", {"gewaesser": "Lahn", "uhrzeit": "18:00"}, "„gewaesser“ muss einer dieser Werte sein"),
        ("grossbrand", {"ort": "x" * 400}, "kurzer Text"),
        ("grossbrand", {"ort": "   "}, "kurzer Text"),
        ("unwetter", {"uhrzeit": dt.datetime(2026, 3, 12, 14)}, "Zeitzone"),
    ],
)
def test_template_errors_are_clear(name: str, values: dict[str, Any], fragment: str) -> None:
    with pytest.raises(CapTemplateError) as info:
        render_template(name, sent=SENT, **values)
    assert fragment in info.value.message_de
    assert info.value.status == 400 and info.value.code == "cap_template"


def test_optional_sentences_and_choices() -> None:
    flood = render_template(
        "hochwasser",
        stadtteile=["Altstadt"],
        gewaesser="rhein und mosel",
        uhrzeit="18:00",
        pegel="7,50 m",
        sent=SENT,
    )
    de = flood.info("de")
    assert de.headline == "Hochwasserwarnung an Rhein und Mosel: Altstadt"
    assert de.description.endswith("Erwarteter Wasserstand: 7,50 m.")
    bomb = render_template(
        "bombenentschaerfung",
        sent=SENT,
        ort="Baustelle",
        uhrzeit=dt.datetime(2026, 3, 12, 11, 0, tzinfo=dt.UTC),
        sammelstelle="Turnhalle (Beispiel)",
        hinweis="Busse fahren ab dem Rathaus.",
    )
    assert "bis spätestens 12:00 Uhr" in bomb.info("de").instruction  # 11:00 UTC is 12:00 in Koblenz
    assert "Anlaufstelle für Betroffene: Turnhalle (Beispiel)." in bomb.info("de").description
    assert bomb.info("de").description.endswith("Busse fahren ab dem Rathaus.")
    assert "Busse" not in bomb.info("en").description  # free German text stays out of the English block


def test_lifetime_is_absolute_across_the_dst_change() -> None:
    sent = dt.datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN)  # clocks go forward on 29 March 2026
    alert = render_template("unwetter", uhrzeit="22:00", sent=sent)
    expires = alert.info("de").expires
    assert expires is not None
    assert expires.astimezone(dt.UTC) - sent.astimezone(dt.UTC) == dt.timedelta(hours=12)
    assert expires.utcoffset() == dt.timedelta(hours=2) and expires.hour == 9


def test_default_sent_is_now_in_berlin_and_identifiers_are_unique() -> None:
    first = render_template("stromausfall")
    second = render_template("stromausfall")
    assert first.sent.tzinfo is not None and first.sent.utcoffset() in (
        dt.timedelta(hours=1),
        dt.timedelta(hours=2),
    )
    assert abs(first.sent - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert first.identifier != second.identifier
    assert first.identifier.startswith("stadt-koblenz.")


def bomb() -> CapAlert:
    return render_template(
        "bombenentschaerfung", stadtteile=["Lützel"], ort="Baustelle", uhrzeit="12:00", sent=SENT
    )


def test_update_refers_to_the_whole_chain() -> None:
    first = bomb()
    later = SENT + dt.timedelta(hours=1)
    update = render_update(first, instruction="Verlassen Sie den Sperrbereich bis 13:00 Uhr.", sent=later)
    assert update.msg_type == "Update" and update.references == (reference_of(first),)
    assert update.info("de").instruction == "Verlassen Sie den Sperrbereich bis 13:00 Uhr."
    assert [i.language for i in update.infos] == ["de-DE"]  # the English text would be stale
    assert update.note == "Aktualisierung der Warnung vom 12.03.2026, 08:15 Uhr"
    second = render_update(update, expires=SENT + dt.timedelta(hours=20), sent=later + dt.timedelta(hours=1))
    assert second.references == (reference_of(first), reference_of(update))
    assert parse_cap_xml(to_cap_xml(second)) == second
    only_time = render_update(first, expires=SENT + dt.timedelta(hours=20), sent=later)
    assert len(only_time.infos) == 2 and only_time.info("en").expires == SENT + dt.timedelta(hours=20)


def test_correction_text_refers_to_the_first_message() -> None:
    first = bomb()
    fix = render_update(
        first, description="Fundort korrigiert.", correction=True, sent=SENT + dt.timedelta(minutes=5)
    )
    assert fix.note == "Korrektur zur Warnung vom 12.03.2026, 08:15 Uhr"
    text = update_text(first, fix, correction=True)
    assert text.startswith("Korrektur zur Warnung vom 12.03.2026, 08:15 Uhr: Bombenentschärfung in Lützel")
    assert "Fundort korrigiert." in text and "Was Sie tun sollten:" in text
    assert update_text(first, fix).startswith("Aktualisierung zur Warnung vom 12.03.2026, 08:15 Uhr")


def test_all_clear() -> None:
    first = bomb()
    update = render_update(first, description="Neu.", sent=SENT + dt.timedelta(hours=1))
    cancel = render_all_clear(
        update, sent=SENT + dt.timedelta(hours=6), hinweis="Die Straßen sind wieder frei."
    )
    assert cancel.msg_type == "Cancel"
    assert cancel.references == (reference_of(first), reference_of(update))
    de = cancel.info("de")
    assert de.headline.startswith("Entwarnung: Bombenentschärfung in Lützel")
    assert de.response_types == ("AllClear",) and de.urgency == "Past"
    assert "ist aufgehoben" in de.description and de.description.endswith("Die Straßen sind wieder frei.")
    validate_cap_xml(to_cap_xml(cancel))
    text = all_clear_text(first)
    assert text.startswith("Entwarnung: Bombenentschärfung in Lützel")
    assert "Die Warnung vom 12.03.2026, 08:15 Uhr für Lützel ist aufgehoben." in text
    assert "für ganz Koblenz ist aufgehoben" in all_clear_text(render_template("stromausfall", sent=SENT))
    with_en = render_all_clear(first, sent=SENT + dt.timedelta(hours=6))
    assert with_en.info("en").headline.startswith("All clear: ")


def test_alert_text_for_channels() -> None:
    text = alert_text(bomb())
    assert text.startswith("Bombenentschärfung in Lützel: Sperrbereich bis 12:00 Uhr verlassen\n\n")
    assert "Was Sie tun sollten: Verlassen Sie den Sperrbereich" in text
    assert "Gültig bis 12.03.2026, 20:15 Uhr." in text
