"""The Telegram channel: updates in (long polling or webhook), the shared ChatService, Telegram messages out.

python-telegram-bot is composed, not subclassed: an ``Application`` (no Updater, no JobQueue) reads
updates and dispatches them to the handlers below; it never talks to Telegram itself (``ptb.NoNetwork``).
Every Bot API call, replies and polling included, goes through the bot token's one ``TelegramClient``,
which the composition root shares with the broadcast publisher: one budget, one per-chat pacing, one
error mapping. Polling is our own small loop over ``getUpdates`` so that one malformed update is logged
and skipped instead of blocking the batch (PTB's Updater retries a batch it cannot parse forever).
Updates of one chat are handled one after the other, different chats concurrently. Message texts are
never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections import Counter, deque
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import BotCommand, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

import connectors.telegram.texts as texts
from bot.chat import ChatService
from bot.dialogue import EXAMPLES
from bot.events import Reply
from broadcasts.publishers import EditImpossible, PublishError, RecipientGone, RetryAfter
from broadcasts.subscribers import (
    TOPICS,
    TOPICS_WITH_AREAS,
    deactivate,
    delete_subscriber,
    purge_deactivated,
    subscribe,
    subscriptions_of,
    unsubscribe,
)
from catalog.model import Catalog
from catalog.stadtteile import Stadtteile
from connectors.telegram.client import ChatId, TelegramClient
from connectors.telegram.errors import TokenRejected
from connectors.telegram.limits import MAX_CALLBACK_DATA, MAX_TEXT
from connectors.telegram.ptb import NoNetwork
from connectors.telegram.render import Outgoing, keyboard, render, render_text
from connectors.telegram.subscriptions import (
    LABELS,
    Areas,
    Screen,
    describe,
    detect_topics,
    menu,
    names_everything,
    only_these,
    overview,
    parse,
    picker,
)
from core.settings import Settings

log = logging.getLogger(__name__)
CHANNEL = "telegram"
HANDLED_UPDATES = ("message", "callback_query")
HTML = ParseMode.HTML


class TelegramChannel:
    def __init__(
        self,
        settings: Settings,
        chat: ChatService,
        catalog: Catalog,
        sessions: async_sessionmaker[AsyncSession],
        client: TelegramClient,
        *,
        max_concurrency: int = 32,
    ) -> None:
        self.settings = settings
        self.chat = chat
        self.catalog = catalog
        self.sessions = sessions
        self.areas = Areas(Stadtteile(catalog))
        self.client = client
        self._offline = NoNetwork()
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(settings.telegram_token.get_secret_value())
            .request(self._offline)
            .get_updates_request(NoNetwork())
            .updater(None)
            .job_queue(None)
            .build()
        )
        self.ready = asyncio.Event()
        self.stats: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[int | str, tuple[asyncio.Lock, list[int]]] = {}
        self._slots = asyncio.Semaphore(max_concurrency)
        self._runner: asyncio.Task[None] | None = None
        self._purger: asyncio.Task[None] | None = None
        self._hits: dict[int, deque[float]] = {}
        self._warned: set[int] = set()
        self._add_handlers()

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background: the web chat keeps working while Telegram is unreachable."""
        self._runner = asyncio.create_task(self._run(), name="telegram-channel")
        self._purger = asyncio.create_task(self._purge_loop(), name="telegram-purge-blocked")

    async def stop(self) -> None:
        for task in (self._runner, self._purger):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self.application.shutdown()
        except Exception:
            log.exception("could not shut the Telegram client down cleanly")

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                self._offline.me = await self.client.get_me()  # checks the token
                break
            except TokenRejected:
                log.error("Telegram rejected KOBLENZ_BOT_TELEGRAM_TOKEN; the Telegram channel stays off")
                return
            except PublishError as error:
                log.warning("Telegram not reachable (%s); retrying in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        await self.application.initialize()  # PTB learns the bot's name from NoNetwork, for /cmd@bot
        bot = self.application.bot
        commands = [BotCommand(name, description).to_dict() for name, description in texts.COMMANDS]
        try:
            await self.client.call("setMyCommands", {"commands": commands})
            if self.settings.telegram_mode == "webhook":
                if self.settings.telegram_webhook_url:
                    await self.client.call(
                        "setWebhook",
                        {
                            "url": self.settings.telegram_webhook_url,
                            "secret_token": self.settings.telegram_webhook_secret.get_secret_value(),
                            "allowed_updates": list(HANDLED_UPDATES),
                        },
                    )
            else:
                await self.client.call("deleteWebhook")
        except PublishError as error:
            log.error("Telegram set-up call failed: %s", error)
        log.info("Telegram channel ready as @%s (%s)", bot.username, self.settings.telegram_mode)
        self.ready.set()
        if self.settings.telegram_mode == "polling":
            await self._poll()

    async def purge_blocked(self) -> int:
        """Delete chats that blocked the bot longer than the retention period ago (as /datenschutz says)."""
        removed = await purge_deactivated(self.sessions, dt.timedelta(days=self.settings.retention_days))
        if removed:
            log.info("retention: deleted %d subscribers who had blocked the bot", removed)
        return removed

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.purge_blocked()
            except Exception:
                log.exception("purging blocked Telegram subscribers failed; retrying at the next interval")
            await asyncio.sleep(self.settings.purge_interval_seconds)

    async def _poll(self) -> None:
        timeout = self.settings.telegram_poll_timeout
        offset: int | None = None
        failures = 0
        while True:
            params: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(HANDLED_UPDATES)}
            if offset is not None:
                params["offset"] = offset
            try:
                raw = await self.client.call("getUpdates", params, timeout=timeout + 10.0)
                failures = 0
            except TokenRejected:
                log.error("Telegram rejected the token while polling; the Telegram channel stops")
                return
            except RetryAfter as error:
                await asyncio.sleep(error.seconds)
                continue
            except PublishError as error:  # 409: a webhook is set or another getUpdates took over
                failures += 1
                wait = min(30.0, 0.5 * 2**failures)
                log.warning("getUpdates failed (%s); retrying in %.1f s", error, wait)
                await asyncio.sleep(wait)
                continue
            if not isinstance(raw, list):
                log.warning("getUpdates answered something other than a list; ignored")
                continue
            for item in raw:
                update_id = item.get("update_id") if isinstance(item, dict) else None
                if isinstance(update_id, int) and (offset is None or update_id >= offset):
                    offset = update_id + 1
                self.feed(item)

    # -- inbound -------------------------------------------------------------------------------------

    def feed(self, raw: object) -> bool:
        """Accept one update (from polling or the webhook); False if it was malformed and skipped."""
        self.stats["updates"] += 1
        update = self._parse(raw)
        if update is None:
            self.stats["skipped"] += 1
            return False
        chat = update.effective_chat
        key: int | str = chat.id if chat is not None else f"u{update.update_id}"
        if chat is not None and not self._allow(chat.id):
            self.stats["rate_limited"] += 1
            return True
        task = asyncio.create_task(self._process(key, update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _allow(self, chat_id: int) -> bool:
        """At most ``chat_rate_per_minute`` updates per chat and minute; the first one over the limit gets
        a polite note, the rest are dropped until the minute has passed."""
        now = time.monotonic()
        hits = self._hits.setdefault(chat_id, deque())
        while hits and now - hits[0] > 60.0:
            hits.popleft()
        if len(hits) < self.settings.chat_rate_per_minute:
            hits.append(now)
            self._warned.discard(chat_id)
            if len(self._hits) > 50_000:  # forget idle chats so memory stays bounded
                for stale in [k for k, v in self._hits.items() if not v or now - v[-1] > 60.0]:
                    del self._hits[stale]
            return True
        if chat_id not in self._warned:
            self._warned.add(chat_id)
            task = asyncio.create_task(self._send(chat_id, render_text(texts.TOO_FAST)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return False

    def _parse(self, raw: object) -> Update | None:
        if not isinstance(raw, dict):
            log.warning("skipped an update that is not a JSON object")
            return None
        update_id = raw.get("update_id")
        if not isinstance(update_id, int):
            log.warning("skipped an update without a numeric update_id")
            return None
        kinds = [key for key in raw if key != "update_id"]
        if not any(kind in HANDLED_UPDATES for kind in kinds):
            log.info(
                "skipped update %d of unhandled type %s", update_id, ",".join(map(str, kinds[:3])) or "-"
            )
            return None
        try:
            update = Update.de_json(raw, self.application.bot)
        except Exception as error:
            log.warning("skipped malformed update %d (%s)", update_id, type(error).__name__)
            return None
        problem = _malformed(update)
        if problem:
            log.warning("skipped malformed update %d: %s", update_id, problem)
            return None
        return update

    async def _process(self, key: int | str, update: Update) -> None:
        await self.ready.wait()
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock, self._slots:
                await self.application.process_update(update)
                self.stats["processed"] += 1
        except Exception:
            self.stats["errors"] += 1
            log.exception("update %d could not be processed", update.update_id)
        finally:
            users[0] -= 1
            if users[0] == 0:
                self._locks.pop(key, None)

    def _add_handlers(self) -> None:
        app = self.application
        new_messages = filters.UpdateType.MESSAGE
        for name, callback in (
            ("start", self._cmd_start),
            ("hilfe", self._cmd_help),
            ("help", self._cmd_help),
            ("abo", self._cmd_abo),
            ("meine", self._cmd_mine),
            ("stop", self._cmd_stop),
            ("datenschutz", self._cmd_privacy),
        ):
            app.add_handler(CommandHandler(name, callback, filters=new_messages))
        app.add_handler(MessageHandler(new_messages & filters.COMMAND, self._cmd_unknown))
        app.add_handler(MessageHandler(new_messages & filters.TEXT & ~filters.COMMAND, self._on_text))
        app.add_handler(MessageHandler(new_messages & ~filters.TEXT, self._on_other))
        app.add_handler(CallbackQueryHandler(self._on_callback))
        app.add_error_handler(self._on_error)

    # -- handlers --------------------------------------------------------------------------------------

    async def _on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.message, update.effective_chat
        if message is None or chat is None or message.text is None:
            return
        text = message.text
        if chat.type != ChatType.PRIVATE:
            addressed, text = self._addressed(message)
            if not addressed:
                return
        await self._converse(chat, text)

    async def _on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE:
            await self._send(chat.id, render_text(texts.TEXT_ONLY))

    async def _cmd_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        argument = context.args[0] if context.args else ""
        if argument.startswith("abo-"):
            if chat.type != ChatType.PRIVATE:
                await self._send(chat.id, render_text(texts.PRIVATE_ONLY, self._private_button(argument)))
                return
            topic = argument[4:]
            current = await subscriptions_of(self.sessions, CHANNEL, str(chat.id))
            screen = (
                picker(topic, self.areas.mask(current.get(topic, [])), 0, self.areas)
                if topic in TOPICS
                else menu(current, self.areas)
            )
            await self._send(chat.id, render_text(screen.text, screen.keyboard))
        elif argument in self.catalog.services:
            await self._converse(chat, f"/start {argument}", payload=f"svc:{argument}:overview")
        elif argument:
            await self._send(chat.id, render_text(texts.UNKNOWN_START, keyboard((), EXAMPLES)))
        else:
            await self._send(chat.id, render_text(texts.START, keyboard((), EXAMPLES)))

    async def _cmd_help(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat is not None:
            await self._send(update.effective_chat.id, render_text(texts.HELP, keyboard((), EXAMPLES)))

    async def _cmd_privacy(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat is not None:
            text = texts.privacy(self.settings.retention_days)
            await self._send(update.effective_chat.id, render_text(text))

    async def _cmd_abo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = await self._private_chat(update, "abo")
        if chat is None:
            return
        current = await subscriptions_of(self.sessions, CHANNEL, str(chat.id))
        topic = context.args[0].lower() if context.args else ""
        if topic in TOPICS:
            screen = picker(topic, self.areas.mask(current.get(topic, [])), 0, self.areas)
        else:
            screen = menu(current, self.areas)
        await self._send(chat.id, render_text(screen.text, screen.keyboard))

    async def _cmd_mine(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = await self._private_chat(update, "abo")
        if chat is None:
            return
        screen = overview(await subscriptions_of(self.sessions, CHANNEL, str(chat.id)), self.areas)
        await self._send(chat.id, render_text(screen.text, screen.keyboard))

    async def _cmd_stop(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = await self._private_chat(update, "stop")
        if chat is None:
            return
        removed = await delete_subscriber(self.sessions, CHANNEL, str(chat.id))
        forgotten = await self.chat.forget(CHANNEL, str(chat.id))
        log.info("/stop: subscriber and conversation of a Telegram chat deleted")
        await self._send(
            chat.id, render_text(texts.STOPPED if removed or forgotten else texts.NOTHING_STORED)
        )

    async def _cmd_unknown(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE:
            await self._send(chat.id, render_text(texts.UNKNOWN_COMMAND))

    async def _on_callback(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        answered = False
        try:
            data = query.data or ""
            message = query.message
            chat = message.chat if message is not None else None
            if chat is None or message is None:
                await self._answer(query.id, texts.STALE_BUTTON, alert=True)
                answered = True
            elif data.startswith("abo:"):
                if chat.type != ChatType.PRIVATE:
                    await self._answer(query.id, texts.PRIVATE_ONLY, alert=True)
                    answered = True
                    return
                toast = await self._subscription_button(chat.id, message.message_id, data)
                await self._answer(query.id, toast)
                answered = True
            else:
                await self._answer(query.id)  # stops the spinner while we think
                answered = True
                label = _button_label(message, data) if isinstance(message, Message) else None
                await self._converse(chat, label or data, payload=data)
        finally:
            if not answered:
                await self._answer(query.id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.stats["errors"] += 1
        log.error("error while handling a Telegram update", exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None and update.message is not None:
            with contextlib.suppress(Exception):
                await self._send(update.effective_chat.id, render_text(texts.ERROR))

    # -- conversation and subscriptions -----------------------------------------------------------------

    async def _converse(self, chat: Chat, text: str, payload: str | None = None) -> None:
        result = await self.chat.chat(CHANNEL, str(chat.id), text, payload)
        reply = result.reply
        if reply.kind in ("subscribe", "unsubscribe"):
            if chat.type != ChatType.PRIVATE:
                topic = (detect_topics(text) or ["warnungen"])[0]
                await self._send(
                    chat.id, render_text(texts.PRIVATE_ONLY, self._private_button(f"abo-{topic}"))
                )
            elif reply.kind == "subscribe":
                await self._subscribe_by_sentence(chat.id, text, reply)
            else:
                await self._unsubscribe_by_sentence(chat.id, text, reply)
            return
        await self._send(chat.id, render(reply))

    async def _subscribe_by_sentence(self, chat_id: int, text: str, reply: Reply) -> None:
        topics = detect_topics(text) or ["warnungen"]
        areas = self.areas.find(text)
        for topic in topics:
            chosen = areas if topic in TOPICS_WITH_AREAS else []
            await subscribe(self.sessions, CHANNEL, str(chat_id), topic, chosen, chat_type="private")
        current = await subscriptions_of(self.sessions, CHANNEL, str(chat_id))
        done = "; ".join(describe(topic, current.get(topic, [])) for topic in topics)
        lead = f"Erledigt, Sie haben abonniert: {done}. Mit den Schaltflächen können Sie das anpassen.\n\n"
        await self._show_new(chat_id, overview(current, self.areas, lead), reply.notices)

    async def _unsubscribe_by_sentence(self, chat_id: int, text: str, reply: Reply) -> None:
        key = str(chat_id)
        current = await subscriptions_of(self.sessions, CHANNEL, key)
        named = detect_topics(text)
        areas = self.areas.find(text)
        if only_these(text) and named:
            drop = [topic for topic in current if topic not in named]
        elif named:
            drop = [topic for topic in named if topic in current]
        elif names_everything(text):
            drop = list(current)
        else:
            drop = []
        changed: list[str] = []
        for topic in drop:
            kept = [a for a in current[topic] if a not in areas] if topic in TOPICS_WITH_AREAS else []
            if areas and topic in TOPICS_WITH_AREAS and current[topic] and kept:
                await unsubscribe(self.sessions, CHANNEL, key, topic)  # fewer Stadtteile, topic stays
                await subscribe(self.sessions, CHANNEL, key, topic, kept, chat_type="private")
                changed.append(f"{LABELS[topic]} für {', '.join(a for a in current[topic] if a in areas)}")
            elif areas and topic in TOPICS_WITH_AREAS and not current[topic]:
                continue  # city-wide: we cannot take one Stadtteil out; the buttons below can narrow it
            else:
                await unsubscribe(self.sessions, CHANNEL, key, topic)
                changed.append(LABELS[topic])
        current = await subscriptions_of(self.sessions, CHANNEL, key)
        if changed:
            lead = f"Erledigt, abbestellt: {', '.join(changed)}.\n\n"
        elif named and current:
            lead = (
                "Das passt zu keinem Ihrer Abos – hier können Sie auswählen, was Sie abbestellen möchten.\n\n"
            )
        elif current:
            lead = "Was möchten Sie abbestellen? Tippen Sie auf ein Thema.\n\n"
        else:
            lead = ""
        await self._show_new(chat_id, overview(current, self.areas, lead), reply.notices)

    async def _subscription_button(self, chat_id: int, message_id: int, data: str) -> str | None:
        """Carry out a subscription button; edit its message to the next screen; return the toast."""
        action = parse(data)
        key = str(chat_id)
        toast: str | None = None
        if action is None:
            screen, toast = Screen(texts.STALE_BUTTON, None), "Nicht mehr gültig"
        elif action.kind == "menu":
            screen = menu(await subscriptions_of(self.sessions, CHANNEL, key), self.areas)
        elif action.kind == "list":
            screen = overview(await subscriptions_of(self.sessions, CHANNEL, key), self.areas)
        elif action.kind == "pick" and action.topic:
            screen = picker(action.topic, action.mask, action.page, self.areas)
        elif action.kind == "ok" and action.topic:
            chosen = self.areas.unmask(action.mask) if action.topic in TOPICS_WITH_AREAS else []
            await unsubscribe(self.sessions, CHANNEL, key, action.topic)  # the choice replaces the old one
            await subscribe(self.sessions, CHANNEL, key, action.topic, chosen, chat_type="private")
            current = await subscriptions_of(self.sessions, CHANNEL, key)
            lead = f"Erledigt, abonniert: {describe(action.topic, current.get(action.topic, []))}.\n\n"
            screen, toast = overview(current, self.areas, lead), "Abonniert"
        elif action.kind == "rm" and action.topic:
            removed = await unsubscribe(self.sessions, CHANNEL, key, action.topic)
            current = await subscriptions_of(self.sessions, CHANNEL, key)
            lead = f"Abbestellt: {LABELS[action.topic]}.\n\n" if removed else ""
            screen, toast = overview(current, self.areas, lead), "Abbestellt"
        else:
            screen = Screen("Abgebrochen. Mit /abo können Sie jederzeit Themen wählen.", None)
        [outgoing, *_rest] = render_text(screen.text, screen.keyboard)
        try:
            await self.client.edit_message_text(
                chat_id, message_id, outgoing.html, parse_mode=HTML, reply_markup=outgoing.keyboard
            )
        except EditImpossible:  # gone or too old: the screen comes as a new message
            await self._send(chat_id, render_text(screen.text, screen.keyboard))
        except RecipientGone:
            await self._deactivate(chat_id)
        except PublishError as error:
            log.warning("could not show the subscription screen: %s", error)
        return toast

    async def _show_new(self, chat_id: int, screen: Screen, notices: tuple[str, ...] = ()) -> None:
        text = "\n\n".join([*notices, screen.text])
        await self._send(chat_id, render_text(text, screen.keyboard))

    # -- helpers ---------------------------------------------------------------------------------------

    async def _send(self, chat_id: ChatId, messages: list[Outgoing]) -> None:
        """Send a reply's messages in order, paced by the token's client; a chat that blocked the bot is
        deactivated, anything else that cannot be delivered is logged (never the text)."""
        try:
            for outgoing in messages:
                await self.client.send_message(
                    chat_id, outgoing.html, parse_mode=HTML, reply_markup=outgoing.keyboard
                )
        except RecipientGone as error:
            log.info("chat blocked the bot or removed it: %s", error)
            await self._deactivate(chat_id)
        except PublishError as error:
            log.warning("reply not delivered: %s", error)

    async def _answer(self, query_id: str, text: str | None = None, alert: bool = False) -> None:
        try:
            await self.client.answer_callback_query(query_id, text, alert)
        except PublishError as error:  # too old or already answered: nothing the citizen can be told
            log.info("answerCallbackQuery failed: %s", error)

    async def _deactivate(self, chat_id: ChatId) -> None:
        try:
            await deactivate(self.sessions, CHANNEL, str(chat_id))
        except Exception:
            log.exception("could not mark a blocked chat as deactivated")

    async def _private_chat(self, update: Update, start: str) -> Chat | None:
        chat = update.effective_chat
        if chat is None:
            return None
        if chat.type != ChatType.PRIVATE:
            await self._send(chat.id, render_text(texts.PRIVATE_ONLY, self._private_button(start)))
            return None
        return chat

    def _private_button(self, start: str) -> InlineKeyboardMarkup | None:
        username = self.application.bot.username if self.ready.is_set() else None
        if not username:
            return None
        url = f"https://t.me/{username}?start={start}"
        return InlineKeyboardMarkup([[InlineKeyboardButton("Privat mit dem Bot schreiben", url=url)]])

    def _addressed(self, message: Message) -> tuple[bool, str]:
        """In groups: only messages that mention the bot or reply to it are for us."""
        text = message.text or ""
        bot = self.application.bot
        mention = re.compile(rf"@{re.escape(bot.username)}\b", re.IGNORECASE)
        if mention.search(text):
            return True, mention.sub(" ", text).strip()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True, text
        return False, text


def _malformed(update: Update) -> str | None:
    """What makes an update unusable even though PTB could read it (Telegram never sends these)."""
    if update.message is not None:
        message = update.message
        if not isinstance(message.chat, Chat) or not isinstance(message.chat.id, int):
            return "message without a chat"
        if message.text is not None and (not isinstance(message.text, str) or len(message.text) > MAX_TEXT):
            return "message text longer than Telegram allows"
        return None
    query = update.callback_query
    if query is not None:
        if not isinstance(query.id, str) or not query.id:
            return "callback query without an id"
        if query.data is not None and (
            not isinstance(query.data, str) or len(query.data.encode()) > MAX_CALLBACK_DATA
        ):
            return "callback data longer than Telegram allows"
        return None
    return "no message and no callback query"


def _button_label(message: Message, data: str) -> str | None:
    """The title of the pressed button (the citizen's "words" for the conversation record)."""
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
