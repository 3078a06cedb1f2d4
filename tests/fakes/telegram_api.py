"""A loopback double of the Telegram Bot API (https://core.telegram.org/bots/api), reusable by every test
that talks to Telegram (the Telegram channel, the broadcast engine).

It is a real aiohttp server on 127.0.0.1 that answers ``<url>/bot<token>/<method>`` (GET or POST; query
string, JSON, urlencoded or multipart parameters, as python-telegram-bot and others send them; method names
case-insensitive) with the documented JSON shapes::

    {"ok": true, "result": ...}
    {"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3",
     "parameters": {"retry_after": 3}}

Usage::

    fake = FakeTelegramAPI(token="123456:TEST", username="KoblenzTestBot")
    await fake.start()            # fake.url = "http://127.0.0.1:<port>"  → KOBLENZ_BOT_TELEGRAM_API_URL
    ...
    await fake.stop()

Methods served: getMe, getUpdates (offset confirms, negative offset, limit 1-100, long polling with
``timeout``, ``allowed_updates`` filter, 409 when a webhook is set or another getUpdates takes over),
sendMessage (and the other send* methods, answered with a generic Message), editMessageText,
editMessageReplyMarkup, deleteMessage, answerCallbackQuery, setMyCommands, getMyCommands,
deleteMyCommands, setWebhook, deleteWebhook, getWebhookInfo. Unknown methods answer 404, a wrong token 401.

Validation like Telegram's: empty text, HTML ``parse_mode`` parsed strictly (unsupported or unclosed tags,
bare ``&`` → 400 "can't parse entities"), text over 4,096 characters after entity parsing, inline keyboard
URL buttons only with http(s)/tg URLs, callback_data 1-64 bytes, command names and descriptions, webhook
secret tokens. MarkdownV2 is checked for unescaped reserved characters only.

Limits (Telegram's FAQ): ``per_second`` messages per second overall (default 30), one message per second
per private chat (positive chat id), ``group_per_minute`` (default 20) per group or channel (negative chat
id). Counted are messages sent (send* methods, copy/forward), not edits. A send that exceeds a limit is
recorded in ``violations`` and, with ``enforce_limits`` (default), answered 429 with ``retry_after``.

Recorded for assertions:
    ``sent`` / ``edits`` / ``deleted``  lists of :class:`SentMessage` (chat_id, message_id, text as sent,
                                        plain visible text, parse_mode, reply_markup, time)
    ``callback_answers``               answerCallbackQuery parameters; ``unanswered_callbacks`` ids
    ``calls``                          Counter of calls per method; ``requests`` every (method, params)
    ``rate_limited`` ``server_errors`` ``forbidden``   how many 429/5xx/403 answers were given
    ``violations``                     :class:`Violation` per send over a limit
    ``my_commands``                    setMyCommands per (scope type, language code)
    ``webhook``                        the current webhook (url, secret_token, allowed_updates) or None
    ``messages_to(chat_id)``           messages sent to one chat; ``buttons(message)`` their buttons

Incoming updates: ``enqueue_message(chat_id, text, ...)`` (commands and @mentions get their entities,
``reply_to`` makes it a reply to one of the bot's messages), ``enqueue_callback(chat_id, data, ...)``,
``click(chat_id, button_text)`` (press an inline button of the bot's latest message that has it),
``enqueue_raw(dict)`` (anything, for malformed updates). With a webhook set, queued updates are POSTed to
it with the ``X-Telegram-Bot-Api-Secret-Token`` header instead (retried on errors, like Telegram).

Fault injection (``discard_abandoned`` drops slow requests whose client already timed out):
``fail_next(n, status=500)``, ``throttle_next(n, retry_after=1)`` (429 bursts),
``inject_error(status, description, count, method, retry_after)``, ``delay`` / ``set_delay(seconds,
method)`` (slow answers, client timeouts), ``block(chat_id)`` (403 "Forbidden: bot was blocked by the
user"). Editing with identical content answers 400 "message is not modified", editing or deleting an unknown
message 400 "message to edit not found" / "message to delete not found".

Waiting: ``await fake.wait_for(lambda: ..., timeout)``, ``await fake.wait_for_messages(chat_id, count)``;
``on_sent`` (a callable) sees every message as it is sent, for benchmarks with many chats.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import itertools
import json
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.loopback import serve

SEND_METHODS = frozenset(
    m.lower()
    for m in (
        "sendMessage sendPhoto sendDocument sendAudio sendVideo sendAnimation sendVoice sendLocation "
        "sendVenue sendContact sendPoll sendDice sendSticker copyMessage forwardMessage"
    ).split()
)
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
    }
)
INT_FIELDS = frozenset({"message_id", "offset", "limit", "timeout", "max_connections", "cache_time"})
BOOL_FIELDS = frozenset({"drop_pending_updates", "show_alert", "disable_notification", "protect_content"})
DEFAULT_UPDATE_TYPES = frozenset(
    (
        "message edited_message channel_post edited_channel_post business_connection business_message "
        "edited_business_message deleted_business_messages inline_query chosen_inline_result callback_query "
        "shipping_query pre_checkout_query purchased_paid_media poll poll_answer my_chat_member "
        "chat_join_request chat_boost removed_chat_boost"
    ).split()
)
HTML_TAGS = frozenset(
    ("b strong i em u ins s strike del a code pre tg-spoiler span blockquote tg-emoji").split()
)
MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
MAX_TEXT = 4096
_ARRIVED: contextvars.ContextVar[float] = contextvars.ContextVar("arrived", default=0.0)


class ApiError(Exception):
    """An ``ok: false`` answer."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class SentMessage:
    chat_id: int | str
    message_id: int
    text: str
    plain: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    time: float
    method: str = "sendMessage"


@dataclass(frozen=True)
class Violation:
    kind: str  # "overall", "private_chat" or "group"
    chat_id: int | str
    time: float
    detail: str


@dataclass
class _Injected:
    status: int
    description: str
    count: int
    method: str | None
    retry_after: int | None
    delay: float = 0.0


@dataclass
class _Stored:
    chat_id: int | str
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    from_bot: bool


def html_to_plain(text: str) -> str:
    """Telegram's HTML parse mode, strictly: the visible text, or ApiError 400 like the real API."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    raw = text.encode("utf-8")
    while i < len(text):
        ch = text[i]
        if ch == "<":
            match = re.match(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)\s*>", text[i:])
            offset = len(text[:i].encode("utf-8"))
            if not match:
                raise ApiError(
                    400, f"Bad Request: can't parse entities: Unsupported start tag at byte offset {offset}"
                )
            closing, tag = match.group(1) == "/", match.group(2).lower()
            if tag not in HTML_TAGS:
                raise ApiError(
                    400,
                    f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}" at byte offset '
                    f"{offset}",
                )
            if closing:
                if not stack or stack[-1] != tag:
                    raise ApiError(
                        400, f"Bad Request: can't parse entities: Unexpected end tag at byte offset {offset}"
                    )
                stack.pop()
            else:
                if tag == "a" and not re.search(r"href\s*=", match.group(3)):
                    pass  # Telegram accepts <a> without href as plain text
                stack.append(tag)
            i += match.end()
            continue
        if ch == "&":
            match = re.match(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});", text[i:])
            if not match:
                offset = len(text[:i].encode("utf-8"))
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Character '&' is reserved and must be escaped "
                    f"at byte offset {offset}",
                )
            name = match.group(1)
            if name.startswith("#x"):
                out.append(chr(int(name[2:], 16)))
            elif name.startswith("#"):
                out.append(chr(int(name[1:])))
            else:
                out.append({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[name])
            i += match.end()
            continue
        if ch == ">":
            pass  # a bare ">" is tolerated by Telegram
        out.append(ch)
        i += 1
    if stack:
        raise ApiError(
            400,
            f"Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
            f" (byte offset {len(raw)})",
        )
    return "".join(out)


def markdown_v2_to_plain(text: str) -> str:
    """An approximation of MarkdownV2 parsing: reserved characters outside formatting must be escaped."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch in "*_~`|":
            i += 1  # formatting markers are invisible; balance is not checked here
            continue
        if ch in MDV2_RESERVED:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Character '{ch}' is reserved and must be escaped "
                "with the preceding '\\'",
            )
        out.append(ch)
        i += 1
    return "".join(out)


def _check_keyboard(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return  # reply keyboards, force_reply, remove_keyboard: not checked
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            actions = [k for k in button if k != "text"]
            if len(actions) != 1:
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: exactly one field")
            if "url" in button:
                url = str(button["url"])
                if not re.match(r"^(https?|tg)://\S+$", url):
                    raise ApiError(
                        400,
                        f"Bad Request: inline keyboard button URL '{url}' is invalid: Unsupported URL protocol",
                    )
            if "callback_data" in button:
                data = str(button["callback_data"]).encode("utf-8")
                if not 1 <= len(data) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _chat_type(chat_id: int | str) -> str:
    if isinstance(chat_id, str):
        return "channel"
    if chat_id > 0:
        return "private"
    return "supergroup" if chat_id <= -1_000_000_000_000 else "group"


class FakeTelegramAPI:
    def __init__(
        self,
        token: str = "123456:TEST-token",
        username: str = "KoblenzTestBot",
        *,
        per_second: int = 30,
        private_interval: float = 1.0,
        group_per_minute: int = 20,
        enforce_limits: bool = True,
        allow_http_webhooks: bool = True,
    ) -> None:
        self.token = token
        self.username = username
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.per_second = per_second
        self.private_interval = private_interval
        self.group_per_minute = group_per_minute
        self.enforce_limits = enforce_limits
        self.allow_http_webhooks = allow_http_webhooks
        self.url = ""
        # recorded
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.deleted: list[tuple[int | str, int, float]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.violations: list[Violation] = []
        self.rate_limited = 0
        self.server_errors = 0
        self.forbidden = 0
        # for the broadcast engine: with ``discard_abandoned`` a slow answer whose client
        # has already timed out is not processed (counted in ``abandoned``), so retries after a timeout
        # can be checked for duplicates; off by default (then the late request is processed as before)
        self.discard_abandoned = False
        self.abandoned = 0
        self.my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        # behaviour
        self.on_sent: Callable[[SentMessage], None] | None = None  # called for every message sent
        self.delay = 0.0
        self._delays: dict[str, float] = {}
        self._injected: list[_Injected] = []
        self._blocked: dict[int | str, str] = {}
        # state
        self._updates: deque[dict[str, Any]] = deque()
        self._delivered: set[int] = set()
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._messages: dict[tuple[int | str, int], _Stored] = {}
        self._callbacks: dict[str, bool] = {}  # id -> answered
        self._callback_ids = itertools.count(1)
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._send_times: deque[float] = deque()
        self._chat_send_times: dict[int | str, deque[float]] = {}
        self._changed = asyncio.Condition()
        self._poller: asyncio.Future[None] | None = None
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.url = await serve(app, access_log=None, shutdown_timeout=0.5)
        return self.url

    async def stop(self) -> None:
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)  # release a pending long poll
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"{self.url}/bot{self.token}"

    # -- fault injection ----------------------------------------------------------------------------

    def inject_error(
        self,
        status: int,
        description: str,
        count: int = 1,
        method: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self._injected.append(_Injected(status, description, count, method and method.lower(), retry_after))

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        description: str = "Internal Server Error",
        method: str | None = None,
    ) -> None:
        self.inject_error(status, description, count, method)

    def throttle_next(self, count: int = 1, retry_after: int = 1, method: str | None = None) -> None:
        self.inject_error(429, f"Too Many Requests: retry after {retry_after}", count, method, retry_after)

    def set_delay(self, seconds: float, method: str | None = None) -> None:
        if method is None:
            self.delay = seconds
        else:
            self._delays[method.lower()] = seconds

    def block(self, chat_id: int | str, description: str = "Forbidden: bot was blocked by the user") -> None:
        self._blocked[chat_id] = description

    def unblock(self, chat_id: int | str) -> None:
        self._blocked.pop(chat_id, None)

    # -- incoming updates ---------------------------------------------------------------------------

    def _user(self, user_id: int, first_name: str = "Bürgerin") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "de"}

    def _chat(self, chat_id: int | str, first_name: str = "Bürgerin") -> dict[str, Any]:
        kind = _chat_type(chat_id)
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = "Nachbarschaft Koblenz"
        return chat

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Stadt Koblenz", "username": self.username}

    def _push(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._notify()
        return update_id

    def enqueue_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Bürgerin",
        reply_to: int | None = None,
    ) -> int:
        """A citizen's text message; returns its update_id."""
        user = user_id if user_id is not None else (chat_id if chat_id > 0 else 4242)
        message_id = next(self._counter(chat_id))
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._user(user, first_name),
            "chat": self._chat(chat_id, first_name),
            "date": int(time.time()),
            "text": text,
        }
        entities = []
        command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        if command:
            entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(command.group(0))})
        for mention in re.finditer(r"(?<![\w@])@[A-Za-z0-9_]{5,32}", text):
            entities.append(
                {
                    "type": "mention",
                    "offset": _utf16_len(text[: mention.start()]),
                    "length": _utf16_len(mention.group(0)),
                }
            )
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            stored = self._messages.get((chat_id, reply_to))
            if stored is not None:
                message["reply_to_message"] = {
                    "message_id": reply_to,
                    "from": self._bot_user() if stored.from_bot else self._user(user),
                    "chat": self._chat(chat_id),
                    "date": int(time.time()),
                    "text": stored.text,
                }
        self._messages[(chat_id, message_id)] = _Stored(chat_id, message_id, text, None, from_bot=False)
        return self._push({"message": message})

    def enqueue_callback(
        self, chat_id: int, data: str, *, message_id: int | None = None, user_id: int | None = None
    ) -> tuple[int, str]:
        """A press on an inline button of one of the bot's messages; returns (update_id, query id)."""
        if message_id is None:
            own = [m for m in self.sent if m.chat_id == chat_id]
            if not own:
                raise AssertionError(f"the bot has sent nothing to chat {chat_id}")
            message_id = own[-1].message_id
        stored = self._messages.get((chat_id, message_id))
        query_id = str(next(self._callback_ids))
        self._callbacks[query_id] = False
        user = user_id if user_id is not None else (chat_id if chat_id > 0 else 4242)
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": stored.text if stored else "",
        }
        if stored is not None and stored.reply_markup:
            message["reply_markup"] = stored.reply_markup
        update_id = self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user),
                    "message": message,
                    "chat_instance": str(abs(hash(chat_id))),
                    "data": data,
                }
            }
        )
        return update_id, query_id

    def click(self, chat_id: int, button_text: str) -> tuple[int, str]:
        """Press the inline button labelled ``button_text`` on the bot's newest message that shows it."""
        for stored in reversed(list(self._messages.values())):
            if stored.chat_id != chat_id or not stored.from_bot or not stored.reply_markup:
                continue
            for row in stored.reply_markup.get("inline_keyboard", []):
                for button in row:
                    if button.get("text") == button_text and "callback_data" in button:
                        return self.enqueue_callback(
                            chat_id, button["callback_data"], message_id=stored.message_id
                        )
        raise AssertionError(
            f"no button {button_text!r} in chat {chat_id}; buttons: {self.buttons_in(chat_id)}"
        )

    def enqueue_raw(self, update: Any, with_id: bool = True) -> int | None:
        """Anything as an update (malformed on purpose): a dict gets the next update_id unless ``with_id``
        is off; other JSON values are delivered as they are."""
        if with_id and isinstance(update, dict):
            return self._push(dict(update))
        self._updates.append(update)
        self._notify()
        return None

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    @property
    def unanswered_callbacks(self) -> list[str]:
        return [query_id for query_id, answered in self._callbacks.items() if not answered]

    # -- inspection ---------------------------------------------------------------------------------

    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    @staticmethod
    def buttons(message: SentMessage) -> list[dict[str, Any]]:
        markup = message.reply_markup or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def buttons_in(self, chat_id: int | str) -> list[str]:
        return [
            str(b.get("text"))
            for s in self._messages.values()
            if s.chat_id == chat_id and s.from_bot and s.reply_markup
            for row in s.reply_markup.get("inline_keyboard", [])
            for b in row
        ]

    def current_text(self, chat_id: int | str, message_id: int) -> str | None:
        stored = self._messages.get((chat_id, message_id))
        return stored.text if stored else None

    def stats(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "sent": len(self.sent),
            "edits": len(self.edits),
            "rate_limited": self.rate_limited,
            "server_errors": self.server_errors,
            "forbidden": self.forbidden,
            "violations": len(self.violations),
        }

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        try:
            await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"condition not met within {timeout} s; {self.stats()}") from None

    async def wait_for_messages(
        self, chat_id: int | str, count: int = 1, timeout: float = 10.0
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages have been sent to the chat in total; return them all."""
        await self.wait_for(lambda: len(self.messages_to(chat_id)) >= count, timeout)
        return self.messages_to(chat_id)

    def _notify(self) -> None:
        async def _go() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(_go())
        if self.webhook is not None:
            self._ensure_webhook_task()

    # -- HTTP ---------------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except json.JSONDecodeError:
                    raise ApiError(400, "Bad Request: can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: parameters must be a JSON object")
                params.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    params[key] = value if isinstance(value, str) else getattr(value, "filename", "file")
        for key in list(params):
            value = params[key]
            if key in JSON_FIELDS and isinstance(value, str):
                try:
                    params[key] = json.loads(value)
                except json.JSONDecodeError:
                    raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
            elif key in INT_FIELDS and isinstance(value, str):
                try:
                    params[key] = int(value)
                except ValueError:
                    raise ApiError(400, f"Bad Request: invalid {key} specified") from None
            elif key in BOOL_FIELDS and isinstance(value, str):
                params[key] = value.lower() in ("true", "1")
        if "chat_id" in params:
            params["chat_id"] = _chat_id(params["chat_id"])
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        _ARRIVED.set(time.monotonic())  # limits count from arrival, before the body is read
        method = request.match_info["method"].lower()
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        try:
            params = await self._params(request)
            self.calls[_canonical(method)] += 1
            self.requests.append((_canonical(method), params))
            delay = self._delays.get(method, self.delay)
            if delay:
                await asyncio.sleep(delay)
                if self.discard_abandoned and (request.transport is None or request.transport.is_closing()):
                    self.abandoned += 1  # the client gave up (timeout): as if it never reached Telegram
                    return web.Response(status=499)
            self._maybe_injected(method)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                if method in SEND_METHODS:
                    result = self._send(method, params)
                else:
                    raise ApiError(404, "Not Found")
            else:
                result = await handler(params)
        except ApiError as error:
            if error.code == 429:
                self.rate_limited += 1
            elif error.code >= 500:
                self.server_errors += 1
            elif error.code == 403:
                self.forbidden += 1
            self._notify()
            return web.json_response(error.payload(), status=error.code)
        self._notify()
        return web.json_response({"ok": True, "result": result})

    def _maybe_injected(self, method: str) -> None:
        """Injected errors hit the named method, or (method None) every method except getUpdates."""
        for injected in self._injected:
            applies = injected.method == method if injected.method else method != "getupdates"
            if injected.count > 0 and applies:
                injected.count -= 1
                if injected.count == 0:
                    self._injected.remove(injected)
                raise ApiError(injected.status, injected.description, injected.retry_after)

    # -- methods ------------------------------------------------------------------------------------

    async def _m_getme(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        if self._poller is not None and not self._poller.done():
            self._poller.set_exception(
                ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot "
                    "instance is running",
                )
            )
        offset = params.get("offset")
        limit = max(1, min(100, int(params.get("limit", 100))))
        timeout = max(0, int(params.get("timeout", 0)))
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            wanted = params["allowed_updates"]
            self._allowed_updates = frozenset(wanted) if wanted else DEFAULT_UPDATE_TYPES
        self._confirm(offset)
        ready = self._deliverable(limit)
        if not ready and timeout:
            poller: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._poller = poller
            waiter = asyncio.create_task(self._wait_for_update())
            try:
                await asyncio.wait({poller, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if poller.done() and not poller.cancelled() and poller.exception() is not None:
                    raise ApiError(409, str(poller.exception()))
            finally:
                waiter.cancel()
                poller.cancel()
            self._confirm(offset)
            ready = self._deliverable(limit)
        return ready

    async def _wait_for_update(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._updates))

    def _confirm(self, offset: int | None) -> None:
        """Forget updates below ``offset`` (and, once delivered, malformed ones without an update_id)."""
        if offset is None:
            return
        if offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
            return
        self._updates = deque(
            u
            for u in self._updates
            if (isinstance(_uid(u), int) and _uid(u) >= offset)  # type: ignore[operator]
            or (not isinstance(_uid(u), int) and id(u) not in self._delivered)
        )

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        kept: deque[dict[str, Any]] = deque()
        for update in self._updates:
            kinds = [k for k in update if k != "update_id"] if isinstance(update, dict) else []
            if (
                kinds
                and kinds[0] in DEFAULT_UPDATE_TYPES | {"chat_member", "message_reaction"}
                and (kinds[0] not in self._allowed_updates)
            ):
                continue  # filtered out by allowed_updates: dropped, as Telegram does
            kept.append(update)
        self._updates = kept
        batch = list(itertools.islice(kept, limit))
        self._delivered.update(id(u) for u in batch)
        return batch

    def _counter(self, chat_id: int | str) -> itertools.count[int]:
        return self._message_ids.setdefault(chat_id, itertools.count(1))

    def _check_limits(self, chat_id: int | str) -> None:
        now = _ARRIVED.get() or time.monotonic()
        while self._send_times and now - self._send_times[0] >= 1.0:
            self._send_times.popleft()
        problems: list[tuple[str, float, str]] = []
        if len(self._send_times) >= self.per_second:
            wait = 1.0 - (now - self._send_times[0])
            problems.append(("overall", wait, f"more than {self.per_second} messages per second"))
        chat_times = self._chat_send_times.setdefault(chat_id, deque())
        if _chat_type(chat_id) == "private":
            if chat_times and now - chat_times[-1] < self.private_interval:
                wait = self.private_interval - (now - chat_times[-1])
                problems.append(
                    ("private_chat", wait, f"more than one message per {self.private_interval} s")
                )
        else:
            while chat_times and now - chat_times[0] >= 60.0:
                chat_times.popleft()
            if len(chat_times) >= self.group_per_minute:
                wait = 60.0 - (now - chat_times[0])
                problems.append(("group", wait, f"more than {self.group_per_minute} messages per minute"))
        for kind, _wait, detail in problems:
            self.violations.append(Violation(kind, chat_id, now, detail))
        if problems and self.enforce_limits:
            retry_after = max(1, math.ceil(max(wait for _k, wait, _d in problems)))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        bisect.insort(self._send_times, now)  # arrival order, even if handled out of order
        bisect.insort(chat_times, now)

    def _render(self, params: dict[str, Any], field_name: str = "text") -> tuple[str, str]:
        text = params.get(field_name)
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        mode = params.get("parse_mode")
        if mode == "HTML":
            plain = html_to_plain(text)
        elif mode == "MarkdownV2":
            plain = markdown_v2_to_plain(text)
        else:
            plain = text
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain.encode("utf-16-le")) // 2 > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text, plain

    def _target(self, params: dict[str, Any]) -> int | str:
        if "chat_id" not in params or params["chat_id"] in ("", None):
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat_id: int | str = params["chat_id"]
        if chat_id in self._blocked:
            raise ApiError(403, self._blocked[chat_id])
        return chat_id

    def _message(self, chat_id: int | str, message_id: int, text: str, markup: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        return message

    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target(params)
        if method == "sendmessage":
            text, plain = self._render(params)
        else:
            text = plain = str(params.get("caption", ""))
        markup = params.get("reply_markup")
        _check_keyboard(markup)
        self._check_limits(chat_id)
        message_id = next(self._counter(chat_id))
        self._messages[(chat_id, message_id)] = _Stored(chat_id, message_id, plain, markup, from_bot=True)
        sent = SentMessage(
            chat_id,
            message_id,
            text,
            plain,
            params.get("parse_mode"),
            markup,
            time.monotonic(),
            _canonical(method),
        )
        self.sent.append(sent)
        if self.on_sent is not None:
            self.on_sent(sent)
        return self._message(chat_id, message_id, plain, markup)

    async def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._send("sendmessage", params)

    def _stored_for_edit(self, params: dict[str, Any]) -> _Stored:
        chat_id = self._target(params)
        message_id = params.get("message_id")
        stored = self._messages.get((chat_id, message_id)) if isinstance(message_id, int) else None
        if stored is None or not stored.from_bot:
            raise ApiError(400, "Bad Request: message to edit not found")
        return stored

    async def _m_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored_for_edit(params)
        text, plain = self._render(params)
        markup = params.get("reply_markup")
        _check_keyboard(markup)
        if plain == stored.text and markup == stored.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message",
            )
        stored.text, stored.reply_markup = plain, markup
        self.edits.append(
            SentMessage(
                stored.chat_id,
                stored.message_id,
                text,
                plain,
                params.get("parse_mode"),
                markup,
                time.monotonic(),
                "editMessageText",
            )
        )
        return self._message(stored.chat_id, stored.message_id, plain, markup)

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored_for_edit(params)
        markup = params.get("reply_markup")
        _check_keyboard(markup)
        if markup == stored.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message",
            )
        stored.reply_markup = markup
        self.edits.append(
            SentMessage(
                stored.chat_id,
                stored.message_id,
                stored.text,
                stored.text,
                None,
                markup,
                time.monotonic(),
                "editMessageReplyMarkup",
            )
        )
        return self._message(stored.chat_id, stored.message_id, stored.text, markup)

    async def _m_deletemessage(self, params: dict[str, Any]) -> bool:
        chat_id = self._target(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or (chat_id, message_id) not in self._messages:
            raise ApiError(400, "Bad Request: message to delete not found")
        del self._messages[(chat_id, message_id)]
        self.deleted.append((chat_id, message_id, time.monotonic()))
        return True

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self._callbacks.get(query_id, True):
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        self.callback_answers.append(params)
        return True

    async def _m_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 BotCommand")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            description = command.get("description", "") if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(name)):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(description)) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        scope = params.get("scope") or {"type": "default"}
        self.my_commands[(str(scope.get("type", "default")), str(params.get("language_code", "")))] = commands
        return True

    async def _m_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        scope = params.get("scope") or {"type": "default"}
        return self.my_commands.get((str(scope.get("type")), str(params.get("language_code", ""))), [])

    async def _m_deletemycommands(self, params: dict[str, Any]) -> bool:
        scope = params.get("scope") or {"type": "default"}
        self.my_commands.pop((str(scope.get("type")), str(params.get("language_code", ""))), None)
        return True

    async def _m_setwebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if not url:
            self.webhook = None
            return True
        allowed = ("https://", "http://") if self.allow_http_webhooks else ("https://",)
        if not url.startswith(allowed):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATE_TYPES
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": params.get("allowed_updates")}
        if self._poller is not None and not self._poller.done():
            self._poller.set_exception(
                ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
            )
        self._ensure_webhook_task()
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        return True

    async def _m_getwebhookinfo(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # -- webhook delivery ---------------------------------------------------------------------------

    def _ensure_webhook_task(self) -> None:
        if self._webhook_task is None or self._webhook_task.done():
            with contextlib.suppress(RuntimeError):
                self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhooks())

    async def _deliver_webhooks(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        failures = 0
        while self.webhook is not None and self._updates:
            update = self._deliverable(1)
            if not update:
                break
            hook = self.webhook
            headers = {"Content-Type": "application/json"}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = str(hook["secret_token"])
            try:
                async with self._session.post(
                    hook["url"],
                    data=json.dumps(update[0]),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.webhook_deliveries.append((int(_uid(update[0]) or 0), status))
            if 200 <= status < 300 or failures >= 2:
                failures = 0
                if self._updates and self._updates[0] is update[0]:  # delivered (or given up): next
                    self._updates.popleft()
            else:
                failures += 1
                await asyncio.sleep(0.1 * failures)
            async with self._changed:
                self._changed.notify_all()


def _uid(update: Any) -> Any:
    return update.get("update_id") if isinstance(update, dict) else None


def _chat_id(value: Any) -> int | str:
    if isinstance(value, int):
        return value
    text = str(value)
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text.startswith("@"):
        return text
    raise ApiError(400, "Bad Request: chat not found")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_CANONICAL = {
    m.lower(): m
    for m in (
        "getMe getUpdates sendMessage editMessageText editMessageReplyMarkup deleteMessage answerCallbackQuery "
        "setMyCommands getMyCommands deleteMyCommands setWebhook deleteWebhook getWebhookInfo sendPhoto "
        "sendDocument copyMessage forwardMessage"
    ).split()
}


def _canonical(method: str) -> str:
    return _CANONICAL.get(method, method)
