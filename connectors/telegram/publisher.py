"""Telegram as a broadcast channel: the outbox's publisher for subscribers (sendMessage, edit, delete).

Bot API errors are mapped to the engine's ``PublishError`` tree here, at the boundary.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import aiohttp

from broadcasts.publishers import (
    Capabilities,
    Checked,
    EditImpossible,
    RecipientGone,
    Rejected,
    RetryAfter,
    Transient,
)


class TelegramPublisher(Checked):
    """Telegram Bot API over a thin aiohttp client (fast for mass fan-out; the chat itself uses PTB)."""

    name = "telegram"
    label = "Telegram"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        token: str,
        rate: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.capabilities = Capabilities(
            send=True,
            edit=True,
            delete=True,
            push=True,
            max_text=4096,
            rate_per_second=rate,
            per_chat_interval=1.0,
            group_per_minute=20,
            edit_window=dt.timedelta(hours=48),
            cannot=(
                "Nachrichten, die älter als 48 Stunden sind, können nicht mehr bearbeitet oder gelöscht "
                "werden; stattdessen geht eine kurze Korrektur als Antwort auf die erste Nachricht raus.",
                "Bilder werden als Link-Vorschau gezeigt, nicht als eigenes Foto.",
            ),
        )

    def preview(self, text: str) -> str:
        return text

    @staticmethod
    def _chat(target: str) -> int | str:
        return int(target) if target.lstrip("-").isdigit() else target

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            async with self._session.post(
                self._base + method,
                data=json.dumps(params),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError, UnicodeDecodeError):
                    body = None
        except TimeoutError as exc:
            raise Transient(f"{method}: timeout") from exc
        except aiohttp.ClientError as exc:
            raise Transient(f"{method}: {type(exc).__name__}: {exc}") from exc
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        description = str(body.get("description", "")) if isinstance(body, dict) else ""
        code = int(body.get("error_code", status)) if isinstance(body, dict) else status
        detail = f"{method}: {code} {description}".strip()[:400]
        if code == 429:
            parameters = body.get("parameters") if isinstance(body, dict) else None
            retry = parameters.get("retry_after", 1) if isinstance(parameters, dict) else 1
            raise RetryAfter(float(retry) if isinstance(retry, int | float) else 1.0, detail)
        if code >= 500 or status >= 500 or body is None:
            raise Transient(detail)
        if code == 403:
            raise RecipientGone(detail)
        lowered = description.lower()
        if method == "editMessageText" and "not modified" in lowered:
            return None  # the message already shows this text: an edit that was done before
        if method in ("editMessageText", "deleteMessage") and (
            "not found" in lowered or "can't be edited" in lowered or "can't be deleted" in lowered
        ):
            raise EditImpossible(detail)
        if code == 400 and "chat not found" in lowered:
            raise RecipientGone(detail)
        raise Rejected(detail)

    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        params: dict[str, Any] = {"chat_id": self._chat(target), "text": text}
        if reply_to is not None:
            params["reply_parameters"] = {"message_id": int(reply_to), "allow_sending_without_reply": True}
        result = await self._call("sendMessage", params)
        if not isinstance(result, dict) or "message_id" not in result:
            raise Transient("sendMessage: answer without message_id")
        return str(result["message_id"])

    async def edit(self, target: str, message_id: str, text: str) -> None:
        await self._call(
            "editMessageText", {"chat_id": self._chat(target), "message_id": int(message_id), "text": text}
        )

    async def delete(self, target: str, message_id: str) -> None:
        await self._call("deleteMessage", {"chat_id": self._chat(target), "message_id": int(message_id)})
