"""The wire under the Telegram client: one JSON POST per Bot API call over a shared aiohttp session.

Measured against python-telegram-bot's own path (``Bot.send_message`` over httpx) for mass fan-out, this
thin path is an order of magnitude faster and cheaper in CPU (``bench/telegram_transport.py``, figures in
docs/benchmarks.md, "Telegram transport (issue 9)"), so it carries every call of the bot token: chat
replies, subscription screens, broadcasts, polling. It maps only the network (timeouts, connection
errors) to ``Transient``; what the Bot API answers is read by ``errors.api_error``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import aiohttp

from broadcasts.publishers import Transient


class Transport(Protocol):
    async def post(
        self, method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        """POST ``params`` as JSON to ``method``; return the HTTP status and the parsed JSON (None if the
        answer was not JSON). Raises ``Transient`` when no answer arrived."""
        ...


class AiohttpTransport:
    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, token: str, timeout: float = 10.0
    ) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(
        self, method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        try:
            async with self._session.post(
                self._base + method,
                data=json.dumps(params, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout),
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError, UnicodeDecodeError):
                    body = None
                return response.status, body
        except TimeoutError as exc:
            raise Transient(f"{method}: timeout") from exc
        except aiohttp.ClientError as exc:  # never the URL: it contains the token
            raise Transient(f"{method}: {type(exc).__name__}") from exc
