"""Exceptions of the Telegram channel; python-telegram-bot's errors are mapped to these at the boundary.

::

    TelegramChannelError
    ├── RecipientBlocked   the chat blocked the bot or removed it (Bot API 403); the subscriber is deactivated
    └── DeliveryFailed     a message could not be delivered (400, or network/5xx after retries)
"""

from __future__ import annotations


class TelegramChannelError(Exception):
    """Root of the Telegram channel's exceptions."""


class RecipientBlocked(TelegramChannelError):
    def __init__(self, chat_id: int | str, description: str) -> None:
        super().__init__(f"chat {chat_id}: {description}")
        self.chat_id = chat_id
        self.description = description


class DeliveryFailed(TelegramChannelError):
    """A Bot API call failed for good; the message says why (Telegram's description)."""
