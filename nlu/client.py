"""The small HTTP client for Rasa's ``POST /model/parse``; the only way the app talks to Rasa."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from nlu import RasaUnavailable


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class ParseResult:
    text: str
    intent: str | None
    confidence: float
    ranking: tuple[tuple[str, float], ...]
    entities: tuple[Entity, ...]

    def entity_values(self, name: str) -> list[str]:
        return [e.value for e in self.entities if e.entity == name]


def parse_payload(payload: dict[str, Any], text: str) -> ParseResult:
    """Turn Rasa's JSON answer into a ParseResult; tolerate missing parts."""
    intent = payload.get("intent") if isinstance(payload.get("intent"), dict) else {}
    assert isinstance(intent, dict)
    ranking_raw = payload.get("intent_ranking") or []
    ranking = tuple(
        (str(r["name"]), float(r.get("confidence") or 0.0))
        for r in ranking_raw
        if isinstance(r, dict) and r.get("name")
    )
    entities = tuple(
        Entity(str(e["entity"]), str(e.get("value", "")), int(e.get("start", 0)), int(e.get("end", 0)))
        for e in (payload.get("entities") or [])
        if isinstance(e, dict) and e.get("entity")
    )
    name = intent.get("name")
    return ParseResult(
        text=text,
        intent=str(name) if name else None,
        confidence=float(intent.get("confidence") or 0.0),
        ranking=ranking,
        entities=entities,
    )


class RasaClient:
    """Parses text with a running Rasa server. Session and base URL come from outside (settings)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: float = 1.0) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def base_url(self) -> str:
        return self._base_url

    async def parse(self, text: str) -> ParseResult:
        try:
            async with self._session.post(
                f"{self._base_url}/model/parse", json={"text": text}, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                payload = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RasaUnavailable(f"Rasa did not answer: {exc!r}") from exc
        if not isinstance(payload, dict):
            raise RasaUnavailable("Rasa answered with unexpected JSON")
        return parse_payload(payload, text)

    async def status(self) -> dict[str, object] | None:
        """Rasa's /status, or None when the server is not (yet) ready with a model."""
        try:
            async with self._session.get(f"{self._base_url}/status", timeout=self._timeout) as response:
                if response.status != 200:
                    return None
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("model_file") else None
