"""The small HTTP client for Rasa's HTTP API (``POST /model/parse``, ``GET /status``, ``PUT /model``); the only
way the app talks to Rasa. With an auth token (nlu.auth) every call carries ``?token=``: Rasa started with
``--auth-token`` requires it on every endpoint but ``/`` and ``/version``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import SecretStr

from nlu import NluError, RasaUnavailable


class ModelNotReplaced(NluError):
    """A Rasa server did not load the new model (refused token, unreadable model, no answer); it keeps
    serving the model it had. ``http_status`` is Rasa's answer (401: token missing or wrong), 0 for none."""

    def __init__(self, message: str, http_status: int = 0) -> None:
        super().__init__(message)
        self.http_status = http_status


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

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        timeout: float = 1.0,
        auth_token: SecretStr | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._auth_token = auth_token

    def _params(self) -> dict[str, str]:
        """``?token=`` when the servers require it (never logged: aiohttp's errors name host and port only)."""
        token = self._auth_token.get_secret_value() if self._auth_token is not None else ""
        return {"token": token} if token else {}

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def timeout(self) -> float:
        return float(self._timeout.total or 0.0)

    async def parse(self, text: str, timeout: float | None = None) -> ParseResult:
        """Rasa's reading of ``text``; ``timeout`` (seconds) overrides the client's own for this call."""
        limit = self._timeout if timeout is None else aiohttp.ClientTimeout(total=max(timeout, 0.001))
        try:
            async with self._session.post(
                f"{self._base_url}/model/parse", json={"text": text}, timeout=limit, params=self._params()
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
            async with self._session.get(
                f"{self._base_url}/status", timeout=self._timeout, params=self._params()
            ) as response:
                if response.status != 200:
                    return None
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("model_file") else None

    async def replace_model(self, model: Path, timeout: float = 300.0) -> None:
        """Load ``model`` (an absolute path on the Rasa server's machine) in place of the current one.

        Rasa answers 204 once the new model serves; until then it keeps the old one, and on any error it
        keeps the old one for good. Raises ModelNotReplaced (401: the token is missing or wrong)."""
        if not model.is_absolute():
            raise ValueError(f"the Rasa server needs an absolute model path, not {model}")
        try:
            async with self._session.put(
                f"{self._base_url}/model",
                json={"model_file": str(model)},
                params=self._params(),
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status in (200, 204):
                    return
                detail = (await response.text())[-300:]
                raise ModelNotReplaced(
                    f"Rasa at {self._base_url} refused the model (HTTP {response.status}): {detail}",
                    response.status,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ModelNotReplaced(f"Rasa at {self._base_url} did not answer: {exc!r}") from exc


class RasaPool:
    """Several Rasa servers holding the same model, used like one ``RasaClient``.

    One Rasa process parses on one core (its graph runs synchronously in Sanic's event loop), so on a
    multi-core machine the bot runs several and sends each parse to the ready member with the fewest
    parses in flight; beyond two parses per server, parses wait in the bot in arrival order. A member that
    fails is avoided for ``cooldown`` seconds (the parse is retried once on another member, within the same
    timeout); the supervisor marks members down while they (re)start and up once they answer. A member
    loading a new model (``replace_model``) gets no parses at all; with a single server, parses raise
    RasaUnavailable at once meanwhile, and the dialogue answers from the catalog search.
    """

    def __init__(self, clients: list[RasaClient], cooldown: float = 2.0, per_server: int = 2) -> None:
        if not clients:
            raise ValueError("a Rasa pool needs at least one server")
        self.members = [PoolMember(client) for client in clients]
        self._cooldown = cooldown
        self._turn = 0
        self._timeout = max(client.timeout for client in clients)
        # At most ``per_server`` parses per server at once (one parsing, one ready to start): the others
        # wait here, first come first served. Sending all of them on would queue them inside Rasa, whose
        # event loop serves them in no fair order (raw Rasa at 50 concurrent clients: p99 > 1 s).
        self._slots = asyncio.Semaphore(len(clients) * per_server)

    @property
    def base_url(self) -> str:
        return self.members[0].client.base_url

    def _pick(self, exclude: PoolMember | None = None) -> PoolMember | None:
        now = time.monotonic()
        candidates = [m for m in self.members if m is not exclude and not m.swapping]
        if not candidates:
            return None
        usable = [m for m in candidates if m.usable(now)]
        if not usable:  # none is known to work: try one anyway rather than not at all
            if exclude is not None:
                return None
            return min(candidates, key=lambda m: (not m.up, m.cooldown_until))
        self._turn += 1  # ties go round-robin, so idle members share the load
        return min(
            usable, key=lambda m: (m.in_flight, (self.members.index(m) - self._turn) % len(self.members))
        )

    async def parse(self, text: str) -> ParseResult:
        """Parse on the least busy server; the whole call, waiting included, is bounded by the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise RasaUnavailable(f"all Rasa servers busy for {self._timeout:.1f} s") from exc
        try:
            member = self._pick()
            if member is None:
                raise RasaUnavailable("every Rasa server is loading a new model")
            try:
                return await member.parse(text, deadline - loop.time())
            except RasaUnavailable:
                member.cooldown_until = time.monotonic() + self._cooldown
                other = self._pick(exclude=member)  # a refused or reset connection: try another one
                remaining = deadline - loop.time()
                if other is None or remaining < 0.05:
                    raise
                return await other.parse(text, remaining)
        finally:
            self._slots.release()

    async def status(self) -> dict[str, object] | None:
        """The first member's /status that answers (None when none does)."""
        for member in self.members:
            status = await member.client.status()
            if status is not None:
                return status
        return None

    async def replace_model(self, member: PoolMember, model: Path, drain_timeout: float = 10.0) -> None:
        """Load ``model`` into one member while it gets no parses; the other members keep answering.

        New parses avoid the member at once; the swap waits (at most ``drain_timeout`` seconds) for the
        parses it is working on, so none of them hits a server busy loading. Raises ModelNotReplaced."""
        member.swapping = True
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(member.idle.wait(), drain_timeout)
            await member.client.replace_model(model)
        finally:
            member.swapping = False

    @property
    def up_count(self) -> int:
        """Members the supervisor knows to be running and answering."""
        return sum(1 for m in self.members if m.up)

    @property
    def ready_count(self) -> int:
        """Members up (as far as the supervisor knows) and not resting after a failed parse."""
        now = time.monotonic()
        return sum(1 for m in self.members if m.usable(now))


class PoolMember:
    def __init__(self, client: RasaClient) -> None:
        self.client = client
        self.in_flight = 0
        self.parsed = 0
        self.up = True  # the supervisor's view: False while the server (re)starts
        self.cooldown_until = 0.0  # monotonic time until which it is avoided after a failed parse
        self.swapping = False  # loading a new model (RasaPool.replace_model): no parses meanwhile
        self.idle = asyncio.Event()  # set while no parse is in flight
        self.idle.set()

    def usable(self, now: float) -> bool:
        return self.up and not self.swapping and self.cooldown_until <= now

    async def parse(self, text: str, timeout: float | None = None) -> ParseResult:
        self.in_flight += 1
        self.idle.clear()
        try:
            result = await self.client.parse(text, timeout)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()
        self.parsed += 1
        return result


def rasa_urls(base_url: str, count: int) -> list[str]:
    """``base_url`` and ``count - 1`` more on the ports after its own (Rasa's default port is 5005)."""
    parts = urlsplit(base_url)
    port = parts.port or {"http": 5005, "https": 443}.get(parts.scheme, 5005)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    more = [urlunsplit((parts.scheme, f"{host}:{port + i}", parts.path, "", "")) for i in range(1, count)]
    return [base_url.rstrip("/")] + [url.rstrip("/") for url in more]
