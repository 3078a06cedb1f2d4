"""X as a broadcast channel: one public post per message on the city's account (``audience="once"``).

- ``send``: ``tweepy.Client.create_tweet`` (API v2 ``POST /2/tweets``, OAuth 1.0a user context) with the
  text; ``in_reply_to_tweet_id`` for an all-clear (the outbox passes the alert's post id: the all-clear
  answers it; if that post is gone, the all-clear is posted on its own); ``media_ids`` when the post has an
  image (``outgoing.image_url``: fetched with the shared aiohttp session, uploaded to ``/2/media/upload``;
  if it cannot be fetched or X refuses it, the post goes without it and a warning is logged). Returns
  ``Sent(id, "https://x.com/i/web/status/<id>")``.
- ``edit``: X's API edits only within a short window and only on some plans, so this channel does not
  edit (``Unsupported``); an update replaces the post (``on_update="replace"``: the outbox deletes it and
  posts the updated text, which starts with "🔄 Aktualisiert").
- ``delete``: ``delete_tweet``; a post that is already gone (404) counts as deleted.

Length is counted as X counts it (``twitter_text.parse_tweet``: weighted, every URL 23, most non-Latin
characters and emoji 2), limit 280. The daily budget (``KOBLENZ_BOT_X_DAILY_POSTS`` over a rolling 24 h)
is ``daily_posts`` for the engine's check at scheduling time, and counted here too (``budget``): a press
post beyond it is refused (``Rejected``), an alert, its update and its all-clear always go.

tweepy is composed, never subclassed; it blocks, so each call runs in ``asyncio.to_thread``, one at a time
per publisher. Its session is replaced by ``transport.XSession`` so every call (posts and media) goes to
``KOBLENZ_BOT_X_API_URL``. Errors are mapped at the boundary (``errors.mapped``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import requests
import tweepy
from twitter_text import parse_tweet

from broadcasts.publishers import Capabilities, Checked, Outgoing, PublishError, Rejected, Sent, Unsupported
from connectors.x import media
from connectors.x.budget import DailyBudget
from connectors.x.errors import PostGone, TokenRejected, is_reply_target_gone, mapped
from connectors.x.transport import XSession, oauth1

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TEXT = 280  # weighted, as X counts
RATE = 1.0  # posts per second at most (the daily budget is the real limit)
TIMEOUT = 15.0  # seconds per API call
POST_URL = "https://x.com/i/web/status/{id}"
_REMEMBERED_MEDIA = 200  # uploads remembered per delivery key, so a retry does not upload again


def tweet_length(text: str) -> int:
    """The weighted length X counts (twitter-text v3: URLs 23, CJK and emoji 2, NFC-normalised)."""
    return int(parse_tweet(text).weightedLength)


class XPublisher(Checked):
    name = "x"
    label = "X"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        daily_posts: int,
        rate: float = RATE,
        timeout: float = TIMEOUT,
        fetch_timeout: float = media.FETCH_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """No network I/O here: the first send connects."""
        self.http = session  # the shared aiohttp session, for fetching images
        self.transport = XSession(api_url, timeout)
        self.client = tweepy.Client(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            return_type=dict,
            wait_on_rate_limit=False,  # a 429 becomes RetryAfter; the worker pauses the channel
        )
        self.client.session = self.transport
        self._auth = oauth1(consumer_key, consumer_secret, access_token, access_token_secret)
        self.fetch_timeout = fetch_timeout
        self.daily_posts = daily_posts  # read by the engine (broadcasts.service) at scheduling time
        self.budget = DailyBudget(daily_posts, clock)
        self._lock = asyncio.Lock()
        self._media: OrderedDict[str, str] = OrderedDict()
        self.capabilities = Capabilities(
            send=True,
            edit=False,
            delete=True,
            push=True,
            max_text=MAX_TEXT,
            rate_per_second=rate,
            audience="once",
            on_update="replace",
            on_allclear="reply",
            cannot=(
                "Beiträge können nicht bearbeitet werden: ein Update löscht den Beitrag und veröffentlicht "
                "ihn neu, beginnend mit „🔄 Aktualisiert“; Reposts und „Gefällt mir“ des alten Beitrags gehen "
                "dabei verloren.",
                f"Nur wenige Beiträge am Tag: höchstens {daily_posts} in 24 Stunden "
                "(KOBLENZ_BOT_X_DAILY_POSTS). Pressebeiträge darüber hinaus werden abgelehnt, Warnungen "
                "gehen immer raus.",
                "280 Zeichen, wie X zählt: jeder Link 23, die meisten nicht-lateinischen Zeichen und Emoji 2.",
                "Bilder gehen ohne Alternativtext raus.",
            ),
        )

    def length(self, text: str, outgoing: Outgoing | None = None) -> int:
        return tweet_length(text)

    async def _call(self, action: str, call: Callable[[], T]) -> T:
        async with self._lock:
            try:
                return await asyncio.to_thread(call)
            except (tweepy.TweepyException, requests.RequestException) as error:
                raise mapped(action, error) from error

    # -- sending -------------------------------------------------------------------------------------

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        kind = outgoing.kind if outgoing is not None else "post"
        if kind == "post" and self.budget.used() >= self.daily_posts:
            hours = max(1, round(self.budget.next_free() / 3600))
            raise Rejected(
                f"X: Das Tageskontingent von {self.daily_posts} Beiträgen in 24 Stunden "
                f"(KOBLENZ_BOT_X_DAILY_POSTS) ist ausgeschöpft; dieser Pressebeitrag wird nicht gesendet. "
                f"Wieder möglich in etwa {hours} Stunden. Warnungen gehen weiterhin raus."
            )
        media_ids = None
        if outgoing is not None and outgoing.image_url:
            media_id = await self._image(outgoing)
            media_ids = [media_id] if media_id else None
        try:
            answer = await self._create(text, reply_to, media_ids)
        except PublishError as error:
            if reply_to is None or not is_reply_target_gone(error):
                raise
            log.warning("X: the post %s to answer is gone; posting on its own", reply_to)
            answer = await self._create(text, None, media_ids)
        self.budget.record()
        post_id = str(answer["data"]["id"])
        return Sent(post_id, POST_URL.format(id=post_id))

    async def _create(self, text: str, reply_to: str | None, media_ids: list[str] | None) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            result: dict[str, Any] = self.client.create_tweet(
                text=text, in_reply_to_tweet_id=reply_to, media_ids=media_ids
            )
            return result

        return await self._call("Antwort" if reply_to else "Beitrag", call)

    async def _image(self, outgoing: Outgoing) -> str | None:
        """The media id of the post's image, uploaded once per delivery; None (and a warning) when it cannot
        be fetched or X refuses it. Rate limits, outages and rejected keys are raised: the send is retried."""
        assert outgoing.image_url is not None
        if outgoing.key and outgoing.key in self._media:
            return self._media[outgoing.key]
        try:
            image = await media.fetch_image(self.http, outgoing.image_url, self.fetch_timeout)
        except media.MediaUnavailable as error:
            log.warning("X: posting without the image: %s", error.message)
            return None
        base = self.transport.base_url
        try:
            media_id = await self._call("Bild", lambda: media.upload(self.transport, base, self._auth, image))
        except TokenRejected:
            raise  # nothing will work: the operator must fix the keys
        except Rejected as error:
            log.warning("X: posting without the image, the upload was refused: %s", error.message)
            return None
        if outgoing.key:
            self._media[outgoing.key] = media_id
            while len(self._media) > _REMEMBERED_MEDIA:
                self._media.popitem(last=False)
        return media_id

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
        raise Unsupported(
            "X: Beiträge können hier nicht bearbeitet werden; ein Update ersetzt den Beitrag "
            "(löschen und neu veröffentlichen)."
        )

    async def delete(self, target: str, message_id: str) -> None:
        try:
            await self._call("Löschen", lambda: self.client.delete_tweet(message_id))
        except PostGone:
            log.info("X: post %s was already gone", message_id)

    def close(self) -> None:
        self.transport.close()
