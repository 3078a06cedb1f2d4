"""The wire under the Telegram client: one JSON POST per Bot API call over keep-alive HTTP/1.1.

Every call of the bot token goes through it: chat replies, subscription screens, broadcasts, channel
posts, polling. It maps only the network (timeouts, connection errors, malformed answers) to
``Transient``; what the Bot API answers is read by ``errors.api_error``. Error texts name the method and
the kind of failure, never the URL (it contains the token).

``WireTransport`` rides on ``wire.Http1Pool`` rather than an aiohttp session: for mass fan-out the
sender is CPU-bound, and the lean pool needs a fraction of aiohttp's CPU per request while python-
telegram-bot's own path (httpx) needs several times more (``bench/telegram_transport.py``, figures in
docs/benchmarks.md, "Telegram transport").
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from broadcasts.publishers import Transient
from connectors.telegram.wire import Http1Pool, WireError, WireTimeout

JSON = b"application/json"


class Transport(Protocol):
    async def post(
        self, method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        """POST ``params`` as JSON to ``method``; return the HTTP status and the parsed JSON (None if the
        answer was not JSON). Raises ``Transient`` when no answer arrived."""
        ...

    async def close(self) -> None: ...


class WireTransport:
    """The Bot API at ``api_url`` for ``token``, over at most ``connections`` keep-alive connections."""

    def __init__(self, api_url: str, token: str, timeout: float = 10.0, connections: int = 100) -> None:
        self.pool = Http1Pool(f"{api_url.rstrip('/')}/bot{token}/", limit=connections)
        self._timeout = timeout

    async def post(
        self, method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            answer = await self.pool.post(method, body, self._timeout if timeout is None else timeout, JSON)
        except WireTimeout as exc:
            raise Transient(f"{method}: timeout") from exc
        except WireError as exc:
            raise Transient(f"{method}: {exc}") from exc
        try:
            parsed = json.loads(answer.body)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        return answer.status, parsed

    async def close(self) -> None:
        await self.pool.close()
