"""A loopback double of the NINA API of the federal warning system (BBK), as documented in
github.com/bundesAPI/nina-api (openapi.yaml; base https://warnung.bund.de/api31).

A real aiohttp server on 127.0.0.1 serving::

    GET /dashboard/{ARS}.json      the district's current warnings (ARSOverviewResult): a list of
                                   {id, payload: {version, type, id, hash, data: {headline, provider,
                                   severity, msgType, transKeys: {event}, area: {type, data}}},
                                   i18nTitle: {de}, sent} plus the map-data fields version, startDate,
                                   severity, type (MapWarnings); 404 for an ARS whose last seven digits
                                   are not zeros (the API serves districts only)
    GET /warnings/{id}.json        the warning's CAP-JSON (Warning): identifier, sender, sent, status,
                                   msgType, scope, references, info[] with language, category, event,
                                   urgency, severity, certainty, eventCode, effective, expires, senderName,
                                   headline, description, instruction, web, parameter[] (sender_langname,
                                   warnVerwaltungsbereiche), area[] {areaDesc, geocode[] {valueName, value},
                                   polygon[]}
    GET /warnings/{id}.geojson     a GeoJSON FeatureCollection of its polygons
    GET /{source}/mapData.json     mowas, katwarn, biwapp, dwd, lhp, police: MapWarnings of that source

Every answer carries ``ETag`` and ``Last-Modified``; ``If-None-Match`` (or, without it,
``If-Modified-Since``) that still matches gives ``304 Not Modified`` with no body.

Scenario::

    fake = FakeNinaAPI(); await fake.start()         # fake.url → KOBLENZ_BOT_NINA_URL
    wid = fake.add_warning(detail, ars="071110000000")   # detail: a CAP-JSON dict, e.g. fake.mowas(...)
    fake.new_version(wid, headline=...)                   # version + 1, msgType Update (same id)
    fake.cancel(wid)                                       # version + 1, msgType Cancel
    fake.remove(wid)                                       # off the dashboard, detail 404
    detail = FakeNinaAPI.mowas(...) / FakeNinaAPI.dwd(...)  # documented shapes with sensible defaults

Counters: ``calls`` (Counter: "dashboard", "warning", "geojson", "mapData"), ``not_modified`` (304s),
``served`` (200s), ``requests`` (path, If-None-Match, If-Modified-Since) of every request.
Faults: ``fail_next(n, status=500, kind=None)``, ``delay`` (seconds before every answer) or
``set_delay(seconds, kind)``, ``garbage_next(n)`` (a 200 that is not JSON).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import json
from collections import Counter
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import web

from tests.fakes.loopback import serve

KOBLENZ = "071110000000"
MAYEN_KOBLENZ = "071370000000"
NEUWIED = "071380000000"
SOURCES = ("mowas", "katwarn", "biwapp", "dwd", "lhp", "police")
_PREFIX = {"mow": "MOWAS", "kat": "KATWARN", "biw": "BIWAPP", "dwd": "DWD", "lhp": "LHP", "pol": "POLICE"}


def _iso(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat()


class FakeNinaAPI:
    def __init__(self) -> None:
        self.url = ""
        self.details: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.areas: dict[str, tuple[str, ...]] = {}  # id → the ARS whose dashboards list it
        self.modified: dict[str, dt.datetime] = {}  # resource key → Last-Modified
        self.calls: Counter[str] = Counter()
        self.not_modified = 0
        self.served = 0
        self.requests: list[tuple[str, str | None, str | None]] = []
        self.delay = 0.0
        self._delays: dict[str, float] = {}
        self._failures: list[tuple[int, str | None]] = []
        self._garbage = 0
        self._runner: web.AppRunner | None = None
        self._clock = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    # -- server ----------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/dashboard/{ars}.json", self._dashboard)
        app.router.add_get("/warnings/{id}.json", self._warning)
        app.router.add_get("/warnings/{id}.geojson", self._geojson)
        app.router.add_get("/{source}/mapData.json", self._map_data)
        self._runner, self.url = await serve(app, access_log=None, shutdown_timeout=0.5)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scenario --------------------------------------------------------------------------------------

    def _touch(self, *keys: str) -> None:
        # Last-Modified has a resolution of one second: every change moves the clock on by one
        self._clock = max(
            self._clock + dt.timedelta(seconds=1), dt.datetime.now(dt.UTC).replace(microsecond=0)
        )
        for key in keys:
            self.modified[key] = self._clock

    def _dashboards_of(self, warning_id: str) -> list[str]:
        return [f"dashboard:{ars}" for ars in self.areas.get(warning_id, ())] + [
            f"map:{self._source(warning_id)}"
        ]

    def add_warning(
        self, detail: dict[str, Any], ars: str | tuple[str, ...] = KOBLENZ, version: int = 1
    ) -> str:
        warning_id = str(detail["identifier"])
        self.details[warning_id] = copy.deepcopy(detail)
        self.versions[warning_id] = version
        self.areas[warning_id] = (ars,) if isinstance(ars, str) else tuple(ars)
        self._touch(f"warning:{warning_id}", *self._dashboards_of(warning_id))
        return warning_id

    def new_version(self, warning_id: str, msg_type: str = "Update", **info_changes: Any) -> int:
        """Version + 1 under the same id: msgType (Update/Cancel), ``sent`` later, the German info's fields
        changed as given (headline=..., description=..., severity=..., expires=...)."""
        detail = self.details[warning_id]
        previous = f"{detail['sender']},{detail['identifier']},{detail['sent']}"
        sent = dt.datetime.fromisoformat(detail["sent"]) + dt.timedelta(minutes=5)
        detail.update(msgType=msg_type, sent=_iso(sent), references=previous)
        german = next(i for i in detail["info"] if str(i.get("language", "")).lower().startswith("de"))
        german.update(info_changes)
        self.versions[warning_id] += 1
        self._touch(f"warning:{warning_id}", *self._dashboards_of(warning_id))
        return self.versions[warning_id]

    def cancel(self, warning_id: str) -> int:
        return self.new_version(warning_id, msg_type="Cancel")

    def remove(self, warning_id: str) -> None:
        keys = self._dashboards_of(warning_id)
        del self.details[warning_id], self.versions[warning_id], self.areas[warning_id]
        self._touch(*keys)

    def fail_next(self, count: int = 1, status: int = 500, kind: str | None = None) -> None:
        """The next ``count`` requests (of ``kind``: dashboard, warning, ...) answer ``status``."""
        self._failures += [(status, kind)] * count

    def set_delay(self, seconds: float, kind: str | None = None) -> None:
        if kind is None:
            self.delay = seconds
        else:
            self._delays[kind] = seconds

    def garbage_next(self, count: int = 1) -> None:
        self._garbage += count

    # -- documented shapes -----------------------------------------------------------------------------

    @staticmethod
    def mowas(
        identifier: str = "mow.DE-RP-KO-W001-20261130-000",
        *,
        headline: str = "Gefahreninformation: Großbrand in Koblenz-Lützel",
        description: str = "Bei einem Brand in einer Lagerhalle entsteht starker Rauch.<br/>Halten Sie Fenster und Türen geschlossen.",
        instruction: str = "Meiden Sie das Gebiet. Schalten Sie Lüftungs- und Klimaanlagen ab.",
        severity: str = "Severe",
        ars: str = KOBLENZ,
        area_desc: str = "Stadt Koblenz",
        sender_name: str = "Integrierte Leitstelle Koblenz",
        sent: dt.datetime | None = None,
        expires: dt.datetime | None = None,
        polygon: str | None = None,
        status: str = "Actual",
        msg_type: str = "Alert",
        references: str | None = None,
    ) -> dict[str, Any]:
        """A MoWaS warning as NINA serves it (the BBK profile: AreaId geocode, ARS in
        ``warnVerwaltungsbereiche``, the authority in ``sender_langname``)."""
        sent = sent or dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=1)))
        area: dict[str, Any] = {"areaDesc": area_desc, "geocode": [{"valueName": "AreaId", "value": "0"}]}
        if polygon:
            area["polygon"] = [polygon]
        info: dict[str, Any] = {
            "language": "DE",
            "category": ["Fire"],
            "event": "Gefahreninformation",
            "urgency": "Immediate",
            "severity": severity,
            "certainty": "Observed",
            "eventCode": [{"valueName": "profile:DE-BBK-EVENTCODE", "value": "BBK-EVC-009"}],
            "headline": headline,
            "description": description,
            "instruction": instruction,
            "web": "https://warnung.bund.de",
            "contact": "Leitstelle",
            "parameter": [
                {"valueName": "sender_langname", "value": sender_name},
                {"valueName": "warnVerwaltungsbereiche", "value": ars},
            ],
            "area": [area],
        }
        if expires is not None:
            info["expires"] = _iso(expires)
        detail: dict[str, Any] = {
            "identifier": identifier,
            "sender": "DE-RP-KO-W001",
            "sent": _iso(sent),
            "status": status,
            "msgType": msg_type,
            "scope": "Public",
            "code": ["DVN:1", "medien_ueberregional"],
            "info": [info],
        }
        if references:
            detail["references"] = references
        return detail

    @staticmethod
    def dwd(
        identifier: str = "dwd.2.49.0.0.276.0.DWD.PVW.1764500000000.aaaa.DEU",
        *,
        warncell: str = "107111000",
        area_desc: str = "Stadt Koblenz",
        severity: str = "Moderate",
        expires: dt.datetime | None = None,
        polygon: str | None = None,
    ) -> dict[str, Any]:
        """A DWD weather warning as NINA serves it: German and English info, warn-cell geocode."""
        sent = dt.datetime.now(dt.UTC).replace(microsecond=0)
        until = expires or sent + dt.timedelta(hours=6)

        def info(language: str, headline: str, description: str, instruction: str) -> dict[str, Any]:
            area: dict[str, Any] = {
                "areaDesc": area_desc,
                "geocode": [{"valueName": "WARNCELLID", "value": warncell}],
            }
            if polygon:
                area["polygon"] = [polygon]
            return {
                "language": language,
                "category": ["Met"],
                "event": "STURMBÖEN" if language == "de-DE" else "GALE-FORCE GUSTS",
                "responseType": ["Prepare"],
                "urgency": "Immediate",
                "severity": severity,
                "certainty": "Likely",
                "eventCode": [{"valueName": "II", "value": "52"}],
                "effective": _iso(sent),
                "onset": _iso(sent),
                "expires": _iso(until),
                "senderName": "Deutscher Wetterdienst",
                "headline": headline,
                "description": description,
                "instruction": instruction,
                "web": "https://www.wettergefahren.de",
                "contact": "Deutscher Wetterdienst",
                "area": [area],
            }

        return {
            "identifier": identifier,
            "sender": "opendata@dwd.de",
            "sent": _iso(sent),
            "status": "Actual",
            "msgType": "Alert",
            "scope": "Public",
            "code": ["PVW", "id:2.49.0.0.276.0.DWD.PVW.1764500000000.aaaa"],
            "info": [
                info(
                    "de-DE",
                    "Amtliche WARNUNG vor STURMBÖEN",
                    "Es treten Sturmböen mit Geschwindigkeiten um 70 km/h auf.",
                    "ACHTUNG! Hinweis auf mögliche Gefahren: Es können zum Beispiel einzelne Äste herabstürzen.",
                ),
                info(
                    "en-GB",
                    "Official WARNING of GALE-FORCE GUSTS",
                    "There is a risk of gale-force gusts (level 2 of 4).",
                    "",
                ),
            ],
        }

    # -- handlers --------------------------------------------------------------------------------------

    @staticmethod
    def _source(warning_id: str) -> str:
        return _PREFIX.get(warning_id.split(".", 1)[0], "MOWAS").lower()

    async def _before(self, request: web.Request, kind: str) -> web.Response | None:
        self.calls[kind] += 1
        self.requests.append(
            (request.path, request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since"))
        )
        wait = self._delays.get(kind, self.delay)
        if wait:
            await asyncio.sleep(wait)
        for index, (status, only) in enumerate(self._failures):
            if only is None or only == kind:
                del self._failures[index]
                return web.json_response({"error": "fault injected"}, status=status)
        if self._garbage:
            self._garbage -= 1
            self.served += 1
            return web.Response(text="<html>Wartungsarbeiten</html>", content_type="text/html")
        return None

    def _answer(self, request: web.Request, body: Any, key: str) -> web.Response:
        data = json.dumps(body, ensure_ascii=False).encode()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = self.modified.get(key, self._clock)
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        match = request.headers.get("If-None-Match")
        since = request.headers.get("If-Modified-Since")
        fresh = match == etag if match is not None else False
        if match is None and since:
            try:
                fresh = modified <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                fresh = False
        if fresh:
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        self.served += 1
        return web.Response(body=data, content_type="application/json", headers=headers)

    def _item(self, warning_id: str) -> dict[str, Any]:
        detail = self.details[warning_id]
        german = next(
            (i for i in detail["info"] if str(i.get("language", "")).lower().startswith("de")),
            detail["info"][0],
        )
        version = self.versions[warning_id]
        msg_type = detail["msgType"]
        payload_hash = hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()
        return {
            "id": warning_id,
            "version": version,
            "startDate": detail["sent"],
            "severity": german.get("severity", "Unknown"),
            "urgency": german.get("urgency", "Unknown"),
            "type": msg_type,
            "i18nTitle": {"de": german.get("headline", "")},
            "transKeys": {"event": "BBK-EVC-001"},
            "payload": {
                "version": version,
                "type": msg_type.upper(),
                "id": warning_id,
                "hash": payload_hash,
                "data": {
                    "headline": german.get("headline", ""),
                    "provider": _PREFIX.get(warning_id.split(".", 1)[0], "MOWAS"),
                    "severity": german.get("severity", "Unknown"),
                    "msgType": msg_type,
                    "transKeys": {"event": "BBK-EVC-001"},
                    "area": {"type": "ZGEM", "data": "1+11057100001"},
                },
            },
            "sent": detail["sent"],
        }

    async def _dashboard(self, request: web.Request) -> web.Response:
        refused = await self._before(request, "dashboard")
        if refused is not None:
            return refused
        ars = request.match_info["ars"]
        if len(ars) != 12 or not ars.isdigit() or not ars.endswith("0000000"):
            return web.Response(status=404, text="Not Found")
        items = [self._item(w) for w in self.details if ars in self.areas.get(w, ())]
        return self._answer(request, items, f"dashboard:{ars}")

    async def _warning(self, request: web.Request) -> web.Response:
        refused = await self._before(request, "warning")
        if refused is not None:
            return refused
        detail = self.details.get(request.match_info["id"])
        if detail is None:
            return web.Response(status=404, text="Not Found")
        return self._answer(request, detail, f"warning:{request.match_info['id']}")

    async def _geojson(self, request: web.Request) -> web.Response:
        refused = await self._before(request, "geojson")
        if refused is not None:
            return refused
        detail = self.details.get(request.match_info["id"])
        if detail is None:
            return web.Response(status=404, text="Not Found")
        features = []
        for info in detail["info"][:1]:
            for area in info.get("area", []):
                for polygon in area.get("polygon", []):
                    ring = [[float(p.split(",")[1]), float(p.split(",")[0])] for p in polygon.split()]
                    features.append(
                        {
                            "type": "Feature",
                            "geometry": {"type": "Polygon", "coordinates": [ring]},
                            "properties": {"areaDesc": area.get("areaDesc", "")},
                        }
                    )
        return self._answer(
            request,
            {"type": "FeatureCollection", "features": features},
            f"warning:{request.match_info['id']}",
        )

    async def _map_data(self, request: web.Request) -> web.Response:
        source = request.match_info["source"]
        refused = await self._before(request, "mapData")
        if refused is not None:
            return refused
        if source not in SOURCES:
            return web.Response(status=404, text="Not Found")
        items = [
            {k: v for k, v in self._item(w).items() if k != "payload"}
            for w in self.details
            if self._source(w) == source
        ]
        return self._answer(request, items, f"map:{source}")
