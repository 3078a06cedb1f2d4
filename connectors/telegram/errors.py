"""The one mapping of Bot API answers to our errors, for chat replies, subscription screens and broadcasts.

The vocabulary is the broadcast engine's ``PublishError`` tree (``broadcasts.publishers``), so the outbox
worker and the chat channel read the same outcomes; only a rejected token has its own subclass here::

    PublishError
    ├── RetryAfter       429 (``parameters.retry_after``): nothing to this bot token for ``seconds``
    ├── Transient        5xx, 409 (another getUpdates), no JSON answer, timeouts, connection errors
    ├── RecipientGone    403 (blocked, kicked, user deactivated, cannot initiate), 400 chat not found,
    │                    400 group upgraded to a supergroup (``migrate_to_chat_id``: a new chat id)
    ├── EditImpossible   400 message to edit/delete not found, message can't be edited/deleted
    └── Rejected         any other 4xx (can't parse entities, text too long, button data invalid, ...)
        └── TokenRejected  401/404: the token is wrong or revoked (nothing with it will work)

"message is not modified" (an edit that shows what is already there) is no error: ``api_error`` returns
None for it. Network errors become ``Transient`` in the transport; every Bot API answer that is not
``ok`` goes through :func:`api_error`, and nothing else in the project reads Telegram's descriptions.
"""

from __future__ import annotations

from typing import Any

from broadcasts.publishers import (
    EditImpossible,
    PublishError,
    RecipientGone,
    Rejected,
    RetryAfter,
    Transient,
)

__all__ = ["TokenRejected", "api_error"]

_EDITING = ("editmessagetext", "editmessagereplymarkup", "editmessagecaption", "deletemessage")
_GONE_MESSAGE = (
    "message to edit not found",
    "message to delete not found",
    "message can't be edited",
    "message can't be deleted",
    "message_id_invalid",
)
_GONE_CHAT = ("chat not found", "peer_id_invalid", "user not found", "chat_write_forbidden")


class TokenRejected(Rejected):
    """Telegram does not know the bot token (401 Unauthorized, or 404 for a malformed one)."""


def api_error(method: str, status: int, body: Any) -> PublishError | None:
    """The error for an answer of ``method`` that is not ``{"ok": true}`` (HTTP ``status``, parsed JSON
    ``body`` or None); None when the call is as good as done ("message is not modified")."""
    data = body if isinstance(body, dict) else {}
    code = data.get("error_code", status)
    code = code if isinstance(code, int) else status
    description = str(data.get("description", "") or "")
    given = data.get("parameters")
    parameters: dict[str, Any] = given if isinstance(given, dict) else {}
    detail = f"{method}: {code} {description}".strip()[:400]
    lowered = description.lower()
    if code == 429:
        retry = parameters.get("retry_after", 1)
        return RetryAfter(float(retry) if isinstance(retry, int | float) else 1.0, detail)
    if not data or code >= 500 or status >= 500 or code == 409:
        return Transient(detail)
    if code in (401, 404):
        return TokenRejected(detail)
    if code == 403:
        return RecipientGone(detail)
    if "not modified" in lowered and method.lower().startswith("edit"):
        return None  # the message already shows this: an edit that was done before (a double tap)
    if method.lower() in _EDITING and any(text in lowered for text in _GONE_MESSAGE):
        return EditImpossible(detail)
    if parameters.get("migrate_to_chat_id") or any(text in lowered for text in _GONE_CHAT):
        return RecipientGone(detail)
    return Rejected(detail)
