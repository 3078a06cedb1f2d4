"""One publisher interface for every outbound channel: capabilities (send, edit, delete), limits
(text length, rates), a preview, and what the channel cannot do.

Push channels (Telegram subscribers) are driven by the outbox workers. Pull channels (RSS/Atom feed, the
CAP Atom feed, the website banner) are read by their clients from the database: a post or alert is on
them as soon as it is published, changes with it and disappears with it, so they never need an outbox row.

Errors of the platforms are mapped here, at the boundary, to ``PublishError`` subclasses::

    PublishError (broadcasts.BroadcastError)
    ├── RetryAfter       429: pause the whole channel for ``seconds``
    ├── Transient        5xx, timeouts, connection errors: retry with backoff
    ├── RecipientGone    403 (blocked, kicked, deactivated): deactivate the subscriber
    ├── EditImpossible   the message is too old or gone: send a correction instead
    ├── Rejected         any other 4xx: the message itself is bad, retrying will not help
    └── Unsupported      the channel cannot do this at all
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from broadcasts import BroadcastError, TextTooLong


class PublishError(BroadcastError):
    pass


class RetryAfter(PublishError):
    def __init__(self, seconds: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.seconds = seconds


class Transient(PublishError):
    pass


class RecipientGone(PublishError):
    pass


class EditImpossible(PublishError):
    pass


class Rejected(PublishError):
    pass


class Unsupported(PublishError):
    pass


@dataclass(frozen=True)
class Capabilities:
    send: bool
    edit: bool
    delete: bool
    push: bool  # True: the outbox delivers to recipients; False: clients read it (feeds, banner)
    max_text: int | None = None  # characters (Telegram counts UTF-16 code units)
    rate_per_second: float | None = None
    per_chat_interval: float | None = None  # seconds between two messages to one private chat
    group_per_minute: int | None = None
    edit_window: dt.timedelta | None = None  # older messages cannot be edited
    cannot: tuple[str, ...] = field(default_factory=tuple)  # what the channel cannot do, said plainly


def text_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


class Publisher(Protocol):
    name: str
    label: str  # German, for people
    capabilities: Capabilities

    def preview(self, text: str) -> str: ...

    def check(self, text: str) -> None:
        """Raise TextTooLong (naming the limit) when the text cannot be published on this channel."""

    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        """Send; return the provider's message id."""

    async def edit(self, target: str, message_id: str, text: str) -> None: ...

    async def delete(self, target: str, message_id: str) -> None: ...


class _Checked:
    name = ""
    label = ""
    capabilities = Capabilities(send=False, edit=False, delete=False, push=False)

    def check(self, text: str) -> None:
        limit = self.capabilities.max_text
        if limit is not None and text_length(text) > limit:
            raise TextTooLong(self.label, text_length(text), limit)


class TelegramPublisher(_Checked):
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


class _PullChannel(_Checked):
    async def send(self, target: str, text: str, reply_to: str | None = None) -> str:
        raise Unsupported(f"{self.label}: wird von den Lesern abgerufen, nicht zugestellt")

    async def edit(self, target: str, message_id: str, text: str) -> None:
        raise Unsupported(f"{self.label}: zeigt immer den aktuellen Stand")

    async def delete(self, target: str, message_id: str) -> None:
        raise Unsupported(f"{self.label}: zeigt nur veröffentlichte und aktive Einträge")


class FeedPublisher(_PullChannel):
    name = "feed"
    label = "RSS/Atom-Feed"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        cannot=(
            "Feed-Leser holen den Feed selbst ab; wann sie eine Änderung sehen, bestimmt ihr Abrufintervall.",
        ),
    )

    def preview(self, text: str) -> str:
        return text.strip().splitlines()[0][:120] if text.strip() else ""


class CapFeedPublisher(_PullChannel):
    name = "cap"
    label = "CAP-Feed"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        cannot=("Enthält nur Warnungen, keine Pressemitteilungen; beendete Warnungen fallen heraus.",),
    )

    def preview(self, text: str) -> str:
        return text


class BannerPublisher(_PullChannel):
    name = "banner"
    label = "Website-Banner"
    capabilities = Capabilities(
        send=False,
        edit=False,
        delete=False,
        push=False,
        cannot=("Zeigt nur aktive Warnungen, keine Pressemitteilungen.",),
    )

    def preview(self, text: str) -> str:
        return text.strip().splitlines()[0] if text.strip() else ""


PULL_CHANNELS: tuple[_PullChannel, ...] = (FeedPublisher(), CapFeedPublisher(), BannerPublisher())
TELEGRAM_MAX_TEXT = 4096
