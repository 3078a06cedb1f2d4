"""python-telegram-bot reads updates and dispatches them to the channel's handlers; it never talks to
Telegram. Its ``Bot`` gets :class:`NoNetwork` as request object (PTB's documented interface for a
networking backend): ``getMe``, which ``Application.initialize`` calls to learn the bot's name for
commands and mentions, is answered with what the Telegram client fetched; any other call fails loudly,
since every Bot API call goes through ``client.TelegramClient`` (one pacing, one error mapping).
"""

from __future__ import annotations

import json
from typing import Any

from telegram.request import BaseRequest, RequestData


class NoNetwork(BaseRequest):
    __slots__ = ("me",)

    def __init__(self) -> None:
        self.me: dict[str, Any] | None = None  # the bot's User, from TelegramClient.get_me()

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if url.rsplit("/", 1)[-1].lower() == "getme" and self.me is not None:
            return 200, json.dumps({"ok": True, "result": self.me}).encode()
        # PTB wraps this into a NetworkError; the method name only (the URL holds the token)
        raise RuntimeError(
            f"{url.rsplit('/', 1)[-1]}: the Telegram channel sends through TelegramClient, not PTB's Bot"
        )
