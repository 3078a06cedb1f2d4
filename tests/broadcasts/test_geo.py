"""CAP from other profiles: does the area touch Koblenz (broadcasts.geo), and the check every incoming
message goes through (broadcasts.cap.check_receivable): DWD warnings for a Bavarian district refused, for
Koblenz accepted, expired ones refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts import geo
from broadcasts.alert_source import StoreAlerts
from broadcasts.cap import CapExpired, CapOutsideArea, check_receivable, parse_cap_xml
from broadcasts.capmodel import CapArea
from broadcasts.geo import Verdict
from broadcasts.service import Actor
from core.db import sessionmaker
from tests import broadcasting as h

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ROSENHEIM = "47.80,12.00 47.95,12.00 47.95,12.25 47.80,12.25 47.80,12.00"
KOBLENZ_CENTRE = "50.34,7.57 50.37,7.57 50.37,7.61 50.34,7.61 50.34,7.57"


def dwd_cap(
    *,
    area: str = "Kreis Rosenheim",
    warncell: str = "109187000",
    polygon: str | None = ROSENHEIM,
    expires: dt.datetime | None = None,
    msg_type: str = "Alert",
    references: str | None = None,
    ags: str | None = None,
) -> bytes:
    """A warning in the DWD CAP profile: German and English info blocks, warn-cell geocode, polygon,
    altitude/ceiling, eventCodes and parameters the city's own profile does not use."""
    sent = NOW - dt.timedelta(minutes=10)
    until = expires or NOW + dt.timedelta(hours=6)

    def info(language: str, event: str, headline: str, description: str) -> str:
        shape = f"<polygon>{polygon}</polygon>" if polygon else ""
        codes = f"<geocode><valueName>WARNCELLID</valueName><value>{warncell}</value></geocode>"
        if ags:
            codes += f"<geocode><valueName>AGS</valueName><value>{ags}</value></geocode>"
        return f"""
  <info>
    <language>{language}</language>
    <category>Met</category>
    <event>{event}</event>
    <responseType>Prepare</responseType>
    <urgency>Immediate</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <eventCode><valueName>PROFILE_VERSION</valueName><value>2.1.14</value></eventCode>
    <eventCode><valueName>II</valueName><value>52</value></eventCode>
    <effective>{sent.isoformat()}</effective>
    <onset>{sent.isoformat()}</onset>
    <expires>{until.isoformat()}</expires>
    <senderName>Deutscher Wetterdienst</senderName>
    <headline>{headline}</headline>
    <description>{description}</description>
    <web>https://www.wettergefahren.de</web>
    <contact>Deutscher Wetterdienst</contact>
    <parameter><valueName>gust</valueName><value>70 [km/h]</value></parameter>
    <area>
      <areaDesc>{area}</areaDesc>
      {shape}
      {codes}
      <altitude>0</altitude>
      <ceiling>9842.5197</ceiling>
    </area>
  </info>"""

    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>2.49.0.0.276.0.DWD.PVW.{int(NOW.timestamp())}.{warncell}.DEU</identifier>
  <sender>opendata@dwd.de</sender>
  <sent>{sent.isoformat()}</sent>
  <status>Actual</status>
  <msgType>{msg_type}</msgType>
  <source>PVW</source>
  <scope>Public</scope>
  <code>PVW</code>
  {refs}
  {info("de-DE", "STURMBÖEN", "Amtliche WARNUNG vor STURMBÖEN", "Es treten Sturmböen um 70 km/h auf.")}
  {info("en-GB", "GALE-FORCE GUSTS", "Official WARNING of GALE-FORCE GUSTS", "Gale-force gusts.")}
</alert>""".encode()


def test_dwd_warning_for_a_bavarian_district_is_refused_with_the_reason() -> None:
    alert = parse_cap_xml(dwd_cap())  # valid CAP: the profile is accepted, the area is not
    with pytest.raises(CapOutsideArea) as refused:
        check_receivable(alert)
    assert refused.value.status == 422 and refused.value.code == "cap_outside_area"
    assert "betrifft nicht Koblenz" in refused.value.message and "Kreis Rosenheim" in refused.value.message


@pytest.mark.parametrize(
    "where",
    [
        {"area": "Stadt Koblenz", "warncell": "107111000", "polygon": KOBLENZ_CENTRE},
        {"area": "Stadt Koblenz", "warncell": "107111000", "polygon": None},  # the district cell alone
        {"area": "Gemeinde irgendwo", "warncell": "807111000", "polygon": KOBLENZ_CENTRE},  # the polygon
        {"area": "Koblenz", "warncell": "999999999", "polygon": None, "ags": "07111000"},  # the AGS
    ],
)
def test_dwd_warning_for_koblenz_is_accepted(where: dict[str, str | None]) -> None:
    alert = parse_cap_xml(dwd_cap(**where))  # type: ignore[arg-type]
    check_receivable(alert)
    assert [i.language for i in alert.infos] == ["de-DE", "en-GB"]


def test_expired_warning_is_refused() -> None:
    alert = parse_cap_xml(
        dwd_cap(
            area="Stadt Koblenz", warncell="107111000", polygon=None, expires=NOW - dt.timedelta(minutes=1)
        )
    )
    with pytest.raises(CapExpired) as refused:
        check_receivable(alert)
    assert refused.value.code == "cap_expired" and "abgelaufen" in refused.value.message


def test_a_cancel_is_never_refused_for_its_expiry() -> None:
    alert = parse_cap_xml(
        dwd_cap(
            area="Stadt Koblenz",
            warncell="107111000",
            polygon=None,
            expires=NOW - dt.timedelta(minutes=1),
            msg_type="Cancel",
            references=f"opendata@dwd.de,2.49.0.0.276.0.DWD.PVW.1.x.DEU,{(NOW - dt.timedelta(hours=1)).isoformat()}",
        )
    )
    check_receivable(alert)


def test_the_citys_own_alerts_pass() -> None:
    check_receivable(h.cap_alert(areas=["Lützel", "Neuendorf"]))
    check_receivable(h.cap_alert())  # "Stadtgebiet Koblenz"


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("071110000000", Verdict.TOUCHES),  # Koblenz
        ("07111000", Verdict.TOUCHES),  # its AGS
        ("070000000000", Verdict.TOUCHES),  # Rheinland-Pfalz contains it
        ("000000000000", Verdict.TOUCHES),  # all of Germany
        ("071370000000", Verdict.OUTSIDE),  # Landkreis Mayen-Koblenz
        ("071380000000", Verdict.OUTSIDE),  # Neuwied
        ("09187", Verdict.OUTSIDE),  # Rosenheim
        ("0711", Verdict.UNKNOWN),  # not a key
        ("abc", Verdict.UNKNOWN),
    ],
)
def test_administrative_keys(code: str, verdict: Verdict) -> None:
    assert geo.admin_key_verdict(code) is verdict


def test_only_verified_warn_cells_are_read() -> None:
    assert geo.warncell_verdict("107111000") is Verdict.TOUCHES
    assert geo.warncell_verdict("107137000") is Verdict.OUTSIDE  # Kreis Mayen-Koblenz
    assert geo.warncell_verdict("807111000") is Verdict.UNKNOWN  # municipality cells: not interpreted
    assert geo.warncell_verdict("907235999") is Verdict.UNKNOWN


def test_shapes_near_the_boundary_count_and_far_ones_do_not() -> None:
    # Deutsches Eck (inside), a polygon just across the boundary in Vallendar's direction (within 1 km),
    # and a circle in Andernach (about 15 km away)
    assert geo.area_verdict(CapArea("Punkt", circles=("50.3645,7.6060 0.2",))).verdict is Verdict.TOUCHES
    near = "50.398,7.605 50.41,7.605 50.41,7.62 50.398,7.62 50.398,7.605"  # 0.6 km outside
    assert geo.area_verdict(CapArea("Nachbar", polygons=(near,))).verdict is Verdict.TOUCHES
    assert geo.area_verdict(CapArea("Andernach", circles=("50.44,7.40 2",))).verdict is Verdict.OUTSIDE
    # a polygon around all of Koblenz, with no vertex inside the city, still touches it
    around = "50.20,7.40 50.50,7.40 50.50,7.80 50.20,7.80 50.20,7.40"
    assert geo.area_verdict(CapArea("Region", polygons=(around,))).verdict is Verdict.TOUCHES


def test_area_names_alone_prove_nothing_unless_they_are_koblenz() -> None:
    assert geo.area_verdict(CapArea("Güls")).verdict is Verdict.TOUCHES
    assert geo.area_verdict(CapArea("Landkreis Mayen-Koblenz")).verdict is Verdict.UNKNOWN


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = await h.fresh_engine(database_url)
    yield db
    await db.dispose()


async def test_accepted_dwd_warning_is_shown_to_koblenz(engine: AsyncEngine) -> None:
    data = dwd_cap(area="Stadt Koblenz", warncell="107111000", polygon=KOBLENZ_CENTRE)
    alert = parse_cap_xml(data)
    check_receivable(alert)
    await h.service(engine).submit_alert(Actor("dwd", "feuerwehr", "test"), alert, data.decode())
    [shown] = await StoreAlerts(sessionmaker(engine), cache_seconds=0).active()
    assert shown.headline == "Amtliche WARNUNG vor STURMBÖEN"
    assert dataclasses.asdict(shown)["authority"] == ""  # a CAP submitted by our own staff: ours
