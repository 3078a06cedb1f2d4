"""The NINA API over the project's aiohttp session: conditional GETs (If-None-Match / If-Modified-Since
from the last answer's ETag / Last-Modified), a timeout per request and a size limit.

``dashboard(ars)`` returns the list of the district's current warnings, or ``None`` when the server
answered 304 (nothing changed since the last poll); ``warning(id)`` returns a warning's CAP-JSON (from
the cache on a 304). Every failure (connection, timeout, status other than 200/304, not JSON, too large)
is a ``NinaUnavailable`` with a short English ``detail`` for the log and /health.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from connectors import ConnectorError

MAX_BYTES = 5_000_000


class NinaUnavailable(ConnectorError):
    """The NINA API could not be read this time (the poller logs it, shows it in /health and tries again)."""

    status = 503
    code = "nina_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__("Die Warnungen des Bundes (NINA) sind gerade nicht abrufbar.", detail=detail)
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


@dataclass
class _Cached:
    etag: str | None
    last_modified: str | None
    body: Any


@dataclass
class NinaClient:
    session: aiohttp.ClientSession
    base_url: str
    timeout: float = 10.0
    requests: dict[str, int] = field(
        default_factory=lambda: {"dashboard": 0, "warning": 0, "not_modified": 0}
    )
    _cache: dict[str, _Cached] = field(default_factory=dict)

    async def dashboard(self, ars: str) -> list[dict[str, Any]] | None:
        self.requests["dashboard"] += 1
        body, changed = await self._get(f"{self.base_url}/dashboard/{quote(ars, safe='')}.json")
        if not changed:
            return None
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise NinaUnavailable("dashboard is not a list of objects")
        return body

    async def warning(self, warning_id: str) -> dict[str, Any]:
        self.requests["warning"] += 1
        body, _changed = await self._get(f"{self.base_url}/warnings/{quote(warning_id, safe='')}.json")
        if not isinstance(body, dict):
            raise NinaUnavailable(f"warning {warning_id} is not a JSON object")
        return body

    async def _get(self, url: str) -> tuple[Any, bool]:
        """(body, changed): a 304 gives the cached body and changed=False."""
        cached = self._cache.get(url)
        headers = {"Accept": "application/json"}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        try:
            async with self.session.get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as response:
                if response.status == 304 and cached is not None:
                    self.requests["not_modified"] += 1
                    return cached.body, False
                if response.status != 200:
                    raise NinaUnavailable(f"HTTP {response.status} from {url}")
                if response.content_length is not None and response.content_length > MAX_BYTES:
                    raise NinaUnavailable(f"answer too large ({response.content_length} bytes) from {url}")
                data = await response.content.read(MAX_BYTES + 1)
                if len(data) > MAX_BYTES:
                    raise NinaUnavailable(f"answer larger than {MAX_BYTES} bytes from {url}")
                etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        except TimeoutError:
            raise NinaUnavailable(f"timeout after {self.timeout:g} s: {url}") from None
        except aiohttp.ClientError as exc:
            raise NinaUnavailable(f"{type(exc).__name__} for {url}: {exc}") from None
        except asyncio.CancelledError:
            raise
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise NinaUnavailable(f"not JSON from {url}: {exc}") from None
        self._cache[url] = _Cached(etag, modified, body)
        return body, True

    def forget(self, warning_id: str) -> None:
        """Drop a warning's cached detail (it left the dashboard)."""
        self._cache.pop(f"{self.base_url}/warnings/{quote(warning_id, safe='')}.json", None)
