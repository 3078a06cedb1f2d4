"""Does a CAP alert's area touch Koblenz? ``touches_koblenz(alert)`` answers ``TOUCHES``, ``OUTSIDE`` or
``UNKNOWN`` from the evidence in the alert, strongest first:

1. Administrative keys: ``geocode`` values named ARS, AGS, RS or SHN (and the BBK profile's info
   parameter ``warnVerwaltungsbereiche``, a comma-separated list of ARS). Koblenz is a kreisfreie Stadt:
   AGS 07111000, ARS 071110000000. A key touches Koblenz when it lies inside it (starts with 07111) or
   contains it (Germany 000000000000, Rheinland-Pfalz 070000000000, the former Regierungsbezirk Koblenz
   071000000000); any other well-formed key is elsewhere.
2. DWD warn cells (``geocode`` WARNCELLID): only the district cells, "1" followed by the district's
   AGS, are read. Verified: the DWD district cell of Koblenz is 107111000 "Stadt Koblenz" (zone list in
   github.com/fbeek/pimatic-dwd, README "ZoneIDs"), and district cells map to the district's ARS
   (table "warncellid | Bezeichnung | ARS", e.g. 114713000 Stadt Leipzig = 147130000000, in
   github.com/roe-dl/weewx-DWD/wiki/Namen-der-Landkreise-in-der-Schreibweise-des-Deutschen-Wetterdienstes).
   Municipality cells (8…), district parts (9…) and others are not interpreted (UNKNOWN): the polygons
   DWD sends with them decide.
3. Polygons and circles, against the outline of Koblenz below, with a tolerance of ``TOLERANCE_KM``
   (the outline is generalised; near the boundary we would rather show a warning than hide it).
4. The area description: "Koblenz" or the name of one of the 30 Stadtteile touches; any other text
   alone proves nothing.

An alert touches Koblenz when any of its areas does; it is ``OUTSIDE`` only when every area is
provably elsewhere; without evidence it is ``UNKNOWN`` (accepted: the sender is trusted with that).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from broadcasts.capmodel import CapAlert, CapArea

KOBLENZ_ARS = "071110000000"
KOBLENZ_AGS = "07111000"
KOBLENZ_WARNCELL = "107111000"  # DWD district cell "Stadt Koblenz" (sources in the module docstring)
_KOBLENZ_PREFIX = "07111"
_CONTAINING = frozenset({"000000000000", "070000000000", "071000000000"})  # Bund, Land RLP, RB Koblenz
ADMIN_KEYS = frozenset({"ars", "ags", "rs", "shn"})
WARNCELL_KEYS = frozenset({"warncellid", "warncell"})

# The boundary of the kreisfreie Stadt Koblenz (AGS 07111), 24 points (longitude, latitude), WGS 84:
# feature "07111" of geojson/counties.json in github.com/m-ad/geofeatures-ags-germany (derived from the
# GADM database, simplified with Mapshaper). Generalised: hence the tolerance.
_OUTLINE_LON_LAT: tuple[tuple[float, float], ...] = (
    (7.605128525097864, 50.293806717505795),
    (7.596064000284066, 50.30330204928939),
    (7.590398672275443, 50.32576661472863),
    (7.630055968335809, 50.32345068014726),
    (7.657627231311112, 50.32808254930999),
    (7.66669175612491, 50.34522046521209),
    (7.68859769109159, 50.36004244653282),
    (7.686709248422048, 50.3732432736466),
    (7.664047936387552, 50.38181223159765),
    (7.617214558182929, 50.37416964747915),
    (7.603240082428323, 50.39200234375566),
    (7.571136557046121, 50.410761413864705),
    (7.536389211926561, 50.38505454001156),
    (7.508062571883443, 50.37648558206051),
    (7.485778948382855, 50.36235838111419),
    (7.497109604400102, 50.346841619419045),
    (7.52165935910414, 50.33665150726104),
    (7.531856949519662, 50.32182952594031),
    (7.516371719629424, 50.30955507265907),
    (7.517882473765057, 50.297743806294115),
    (7.5337453921892035, 50.28523775955475),
    (7.555651327155883, 50.282921824973386),
    (7.576801885054746, 50.29612265208716),
    (7.605128525097864, 50.293806717505795),
)
TOLERANCE_KM = 1.0

# local projection around Koblenz (equirectangular, good to well under 1 % over a few hundred km)
_LAT0 = 50.35
_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON = 111.320 * math.cos(math.radians(_LAT0))

_WHOLE_CITY = frozenset({"koblenz", "stadt koblenz", "stadtgebiet koblenz", "kreisfreie stadt koblenz"})

Point = tuple[float, float]  # (x_km, y_km)


class Verdict(StrEnum):
    TOUCHES = "touches"
    OUTSIDE = "outside"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AreaCheck:
    verdict: Verdict
    reason: str  # German, for the refusal message and the log ("Landkreis Mayen-Koblenz (ARS 071370000000)")


def _project(lat: float, lon: float) -> Point:
    return (lon * _KM_PER_DEG_LON, lat * _KM_PER_DEG_LAT)


OUTLINE: tuple[Point, ...] = tuple(_project(lat, lon) for lon, lat in _OUTLINE_LON_LAT)


def _inside(point: Point, polygon: Sequence[Point]) -> bool:
    """Ray casting; the polygon is closed (first == last)."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(polygon):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _segment_distance(p: Point, a: Point, b: Point) -> float:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / length2))
    return math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    d1, d2, d3, d4 = _cross(c, d, a), _cross(c, d, b), _cross(a, b, c), _cross(a, b, d)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0))


def _edges(polygon: Sequence[Point]) -> list[tuple[Point, Point]]:
    return list(itertools.pairwise(polygon))


def distance_to_outline(point: Point) -> float:
    """0 inside Koblenz, else the distance in km to its outline."""
    if _inside(point, OUTLINE):
        return 0.0
    return min(_segment_distance(point, a, b) for a, b in _edges(OUTLINE))


def polygon_touches(polygon: Sequence[Point]) -> bool:
    """Overlap with the outline, or closer to it than ``TOLERANCE_KM``."""
    if any(_inside(p, OUTLINE) for p in polygon) or any(_inside(p, polygon) for p in OUTLINE):
        return True
    theirs, ours = _edges(polygon), _edges(OUTLINE)
    if any(_segments_cross(a, b, c, d) for a, b in theirs for c, d in ours):
        return True
    near = min(
        min(_segment_distance(p, c, d) for p in polygon for c, d in ours),
        min(_segment_distance(p, a, b) for p in OUTLINE for a, b in theirs),
    )
    return near <= TOLERANCE_KM


def parse_polygon(text: str) -> list[Point]:
    """CAP polygon "lat,lon lat,lon ..." in projected km (validated before: broadcasts.cap)."""
    points = []
    for pair in text.split():
        lat, lon = pair.split(",")
        points.append(_project(float(lat), float(lon)))
    return points


def circle_touches(text: str) -> bool:
    """CAP circle "lat,lon radius_km"."""
    centre, radius = text.split()
    lat, lon = centre.split(",")
    return distance_to_outline(_project(float(lat), float(lon))) <= float(radius) + TOLERANCE_KM


def admin_key_verdict(code: str) -> Verdict:
    """An ARS/AGS (2, 5, 8 or 12 digits): inside or containing Koblenz, elsewhere, or not a key."""
    digits = code.strip()
    if not digits.isdigit() or len(digits) not in (2, 5, 8, 12):
        return Verdict.UNKNOWN
    padded = digits.ljust(12, "0")
    if padded.startswith(_KOBLENZ_PREFIX) or padded in _CONTAINING:
        return Verdict.TOUCHES
    return Verdict.OUTSIDE


def warncell_verdict(cell: str) -> Verdict:
    """A DWD warn cell: district cells ("1" + the district's AGS) only; others are not interpreted."""
    cell = cell.strip()
    if len(cell) == 9 and cell.isdigit() and cell[0] == "1":
        return admin_key_verdict(cell[1:])
    return Verdict.UNKNOWN


def _stadtteil_names() -> frozenset[str]:
    from catalog.model import fold, load_catalog  # lazily: the catalog is read once, when first needed
    from core.paths import PROJECT_ROOT

    names = load_catalog(PROJECT_ROOT / "data").stadtteil_names()
    return frozenset({fold(spelling) for spelling in names} | {fold(n) for n in names.values()})


_names: frozenset[str] | None = None


def _names_known(desc: str) -> bool:
    global _names
    from catalog.model import fold

    if _names is None:
        _names = _stadtteil_names()
    text = desc.strip().lower()
    if text in _WHOLE_CITY or text.startswith("koblenz-"):
        return True
    return fold(desc.strip()) in _names


def _describe(area: CapArea, key: str, value: str) -> str:
    return f"{area.area_desc} ({key} {value})" if area.area_desc else f"{key} {value}"


def area_verdict(area: CapArea) -> AreaCheck:
    """One ``<area>``: any positive evidence wins; else any proof of elsewhere; else unknown."""
    outside: list[str] = []
    for name, value in area.geocodes:
        key = name.strip().lower()
        if key in ADMIN_KEYS:
            verdict = admin_key_verdict(value)
        elif key in WARNCELL_KEYS:
            verdict = warncell_verdict(value)
        else:
            continue
        if verdict is Verdict.TOUCHES:
            return AreaCheck(Verdict.TOUCHES, _describe(area, name, value))
        if verdict is Verdict.OUTSIDE:
            outside.append(_describe(area, name, value))
    for polygon in area.polygons:
        try:
            points = parse_polygon(polygon)
        except ValueError:
            continue
        if polygon_touches(points):
            return AreaCheck(Verdict.TOUCHES, f"{area.area_desc} (Polygon)")
        outside.append(f"{area.area_desc} (Polygon)")
    for circle in area.circles:
        try:
            touches = circle_touches(circle)
        except ValueError:
            continue
        if touches:
            return AreaCheck(Verdict.TOUCHES, f"{area.area_desc} (Kreis)")
        outside.append(f"{area.area_desc} (Kreis)")
    if area.area_desc and _names_known(area.area_desc):
        return AreaCheck(Verdict.TOUCHES, area.area_desc)
    if outside:
        return AreaCheck(Verdict.OUTSIDE, "; ".join(outside))
    return AreaCheck(Verdict.UNKNOWN, area.area_desc)


def _parameter_keys(parameters: Iterable[tuple[str, str]]) -> list[str]:
    return [
        code.strip()
        for name, value in parameters
        if name.strip().lower() == "warnverwaltungsbereiche"
        for code in value.replace(";", ",").split(",")
        if code.strip()
    ]


def _info_verdict(parameters: Iterable[tuple[str, str]], areas: Iterable[CapArea]) -> AreaCheck:
    """One info block: TOUCHES, OUTSIDE (every area provably elsewhere), UNKNOWN with a reason (partly
    unknown) or UNKNOWN without one (no evidence at all)."""
    outside: list[str] = []
    partly_unknown = False
    listed = False  # the info's areas are covered by its warnVerwaltungsbereiche
    for code in _parameter_keys(parameters):
        verdict = admin_key_verdict(code)
        if verdict is Verdict.TOUCHES:
            return AreaCheck(Verdict.TOUCHES, f"warnVerwaltungsbereiche {code}")
        if verdict is Verdict.OUTSIDE:
            outside.append(f"ARS {code}")
            listed = True
        else:
            partly_unknown = True
    for area in areas:
        check = area_verdict(area)
        if check.verdict is Verdict.TOUCHES:
            return check
        if check.verdict is Verdict.OUTSIDE:
            outside.append(check.reason)
        elif not listed:  # an area without evidence of its own, and no list of keys for the info
            partly_unknown = True
    if outside and not partly_unknown:
        return AreaCheck(Verdict.OUTSIDE, "; ".join(dict.fromkeys(outside)))
    return AreaCheck(Verdict.UNKNOWN, "teilweise unbekannt" if outside else "")


def touches_koblenz(alert: CapAlert) -> AreaCheck:
    """The verdict over the info blocks (one per language, normally describing the same area): TOUCHES if
    any touches; OUTSIDE if one proves it and none of the others has evidence to the contrary."""
    checks = [_info_verdict(info.parameters, info.areas) for info in alert.infos]
    for check in checks:
        if check.verdict is Verdict.TOUCHES:
            return check
    if any(c.verdict is Verdict.UNKNOWN and c.reason for c in checks):
        return AreaCheck(Verdict.UNKNOWN, "")
    reasons = [c.reason for c in checks if c.verdict is Verdict.OUTSIDE]
    if not reasons:
        return AreaCheck(Verdict.UNKNOWN, "")
    parts = list(dict.fromkeys("; ".join(reasons).split("; ")))
    return AreaCheck(Verdict.OUTSIDE, "; ".join(parts[:5]) + (" …" if len(parts) > 5 else ""))
