"""Telegram's limits, in one place: python-telegram-bot's constants where it has them (``MessageLimit``,
``InlineKeyboardButtonLimit``, ``FloodLimit``), the Bot API documentation where it does not."""

from __future__ import annotations

import datetime as dt

from telegram.constants import FloodLimit, InlineKeyboardButtonLimit, MessageLimit

MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # characters (UTF-16 code units) after entity parsing
MAX_CALLBACK_DATA = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # bytes
RATE = float(FloodLimit.MESSAGES_PER_SECOND)  # per bot token (paid broadcasts: up to 1,000/s)
PER_CHAT_INTERVAL = 1.0 / FloodLimit.MESSAGES_PER_SECOND_PER_CHAT  # seconds between two messages to a chat
GROUP_PER_MINUTE = int(FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP)  # groups, supergroups and channels
# editMessageText / deleteMessage: "a message can only be deleted if it was sent less than 48 hours ago"
EDIT_WINDOW = dt.timedelta(hours=48)
