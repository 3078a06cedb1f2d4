"""Mastodon as a broadcast channel: one public German status per message on the city's account.

- ``send``: ``status_post`` with ``visibility="public"``, ``language="de"``, the delivery's key as
  ``Idempotency-Key`` (a retry of the same delivery returns the status of the first attempt instead of
  posting again; Mastodon keeps a key for an hour), an alert's content warning (``spoiler_text``,
  :func:`content_warning`), ``in_reply_to_id`` for an all-clear (it answers the alert's status; if that
  is gone, the all-clear is posted on its own), and the post's image (``outgoing.image_url``, fetched with
  the shared aiohttp session, uploaded with ``media_post`` and its alt text; if it cannot be fetched or
  the instance refuses it, the status goes without it and a warning is logged). Returns ``Sent(id, url)``.
- ``edit``: ``status_update`` of the same status (updates of an alert), keeping its content warning and
  media (Mastodon drops both from an edit that does not repeat them, so they are read first).
- ``delete``: ``status_delete``; a status that is already gone counts as deleted.

Limits come from the instance (``GET /api/v2/instance``: ``configuration.statuses.max_characters``,
``characters_reserved_per_url``, ``configuration.media_attachments.*``), loaded once by :meth:`start`
(the composition root awaits it after ``open``) or else by the first send, and cached. Until then
``check``, ``length`` and ``fit`` use Mastodon's stock values: 500 characters, 23 per URL.

Mastodon.py (composed, not subclassed) blocks on HTTP; every call runs in ``asyncio.to_thread``, one at a
time per publisher (``ratelimit_reset`` is read right after the failing call, in the same thread), with
``ratelimit_method="throw"`` (a 429 becomes ``RetryAfter`` until the reset, never a sleep in the SDK) and
``version_check_mode="none"`` (no network when it is built).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import requests
from mastodon import Mastodon
from mastodon.errors import MastodonError, MastodonVersionError

from broadcasts.publishers import (
    Capabilities,
    Checked,
    EditImpossible,
    Outgoing,
    PublishError,
    Sent,
    Transient,
)
from connectors.mastodon.counting import status_length
from connectors.mastodon.errors import TOKEN_PROBLEM, Forbidden, StatusGone, TokenRejected, mapped
from connectors.mastodon.limits import InstanceLimits
from connectors.mastodon.media import FETCH_TIMEOUT, MediaUnavailable, fetch_image

log = logging.getLogger(__name__)
T = TypeVar("T")

TIMEOUT = 15.0  # seconds per API call (Mastodon.py's default would be 300)
MEDIA_WAIT = 10.0  # seconds to wait for the instance to process an uploaded image
MEDIA_POLL = 0.5
ALERT_KINDS = ("alert", "update", "allclear")
CW_NAME_LIMIT = 80  # characters of the warning's name in the content warning
USER_AGENT = "koblenz-bot (Mastodon.py)"
_REMEMBERED_MEDIA = 200  # uploads remembered per delivery key, so a retry does not upload again


def content_warning(outgoing: Outgoing | None) -> str:
    """The content warning of an alert, its update or its all-clear ("" for posts and without severity):
    "Warnung: Bombenentschärfung (Gefahr)", "Entwarnung: Bombenentschärfung", "ÜBUNG – ..." for exercises."""
    if outgoing is None or outgoing.kind not in ALERT_KINDS or not outgoing.severity:
        return ""
    name = " ".join((outgoing.event_name or outgoing.headline or "Warnung").split())
    if len(name) > CW_NAME_LIMIT:
        name = name[: CW_NAME_LIMIT - 1].rstrip() + "…"
    prefix = "ÜBUNG – " if outgoing.exercise else ""
    if outgoing.kind == "allclear":
        return f"{prefix}Entwarnung: {name}"
    label = outgoing.severity_label
    if label and label != "Warnung":
        return f"{prefix}Warnung: {name} ({label})"
    return f"{prefix}Warnung: {name}"


class MastodonPublisher(Checked):
    name = "mastodon"
    label = "Mastodon"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        token: str,
        *,
        timeout: float = TIMEOUT,
        image_timeout: float = FETCH_TIMEOUT,
        media_wait: float = MEDIA_WAIT,
    ) -> None:
        """No network I/O here (``ChannelSpec.open``); the instance is asked in :meth:`start` or on the
        first send. ``session``: the shared aiohttp session, for fetching images."""
        self.session = session
        self.api_url = api_url
        self.image_timeout = image_timeout
        self.media_wait = media_wait
        self._http = requests.Session()
        self.client = Mastodon(
            api_base_url=api_url,
            access_token=token,
            ratelimit_method="throw",
            version_check_mode="none",
            request_timeout=timeout,
            session=self._http,
            user_agent=USER_AGENT,
        )
        self.limits = InstanceLimits()
        self.capabilities = self._capabilities(self.limits)
        self.account: str | None = None  # the account's handle, once start() has checked the token
        self.problem: str | None = None  # what start() found wrong, for operators
        self._queue = asyncio.Lock()  # calls wait here on the loop, not in threads
        self._one_call = threading.Lock()  # and stay one at a time if a waiting task was cancelled
        self._loading = asyncio.Lock()
        self._media: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def _capabilities(limits: InstanceLimits) -> Capabilities:
        return Capabilities(
            send=True,
            edit=True,
            delete=True,
            push=True,
            posts=True,
            alerts=True,
            max_text=limits.max_characters,
            rate_per_second=1.0,  # calm pacing; the instance's 300 posts per 3 h come back as RetryAfter
            edit_window=None,
            audience="once",
            on_update="edit",
            on_allclear="reply",
            cannot=(
                f"Ein Beitrag hat höchstens {limits.max_characters} Zeichen, die Inhaltswarnung einer "
                f"Warnung mitgezählt; jeder Link zählt {limits.url_weight} Zeichen. Längere Texte gehen "
                "als Kurzfassung mit Link raus.",
                "Höchstens ein Bild je Beitrag, mit Bildbeschreibung; lässt es sich nicht laden, geht der "
                "Beitrag ohne Bild raus.",
                "Die Instanz nimmt je Konto höchstens 300 Beiträge in drei Stunden an; darüber wartet der "
                "Kanal, bis sie wieder annimmt.",
            ),
        )

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> bool:
        """Load the instance's limits and check the token (``verify_credentials``). Never raises: a
        problem is logged (the token is named, never shown) and kept in ``problem``; the limits are then
        loaded again on the first send. True when the instance answered and took the token."""
        try:
            await self.load_limits()
            try:
                account = await self._call("verify_credentials", self.client.account_verify_credentials)
                self.account = str(account.get("acct") or "") or None
            except Forbidden:  # a valid token without read:accounts/profile: fine for posting
                self.account = None
        except TokenRejected:
            self.problem = TOKEN_PROBLEM
            log.error("Mastodon (%s): %s", self.api_url, TOKEN_PROBLEM)
            return False
        except PublishError as error:
            self.problem = f"Mastodon-Instanz {self.api_url} nicht erreichbar: {error}"
            log.warning("Mastodon instance %s not reachable at start: %s", self.api_url, error)
            return False
        self.problem = None
        log.info(
            "Mastodon ready as @%s on %s (%d characters, %d per URL)",
            self.account or "?",
            self.api_url,
            self.limits.max_characters,
            self.limits.url_weight,
        )
        return True

    async def close(self) -> None:
        self._http.close()

    async def load_limits(self) -> InstanceLimits:
        """The instance's limits, asked once (later calls return the cached ones)."""
        if self.limits.loaded:
            return self.limits
        async with self._loading:
            if not self.limits.loaded:
                instance = await self._call("instance", self._instance)
                self.limits = InstanceLimits.from_instance(instance)
                self.capabilities = self._capabilities(self.limits)
        return self.limits

    def _instance(self) -> Mapping[str, Any]:
        """``GET /api/v2/instance`` (Mastodon 4.0 or newer), then Mastodon.py learns the server's version
        (``media_post`` picks ``/api/v2/media`` by it). ``fail_hard``: without it Mastodon.py retries a
        failing version check recursively, request after request."""
        instance = dict(self.client.instance_v2())
        try:
            self.client.retrieve_mastodon_version(fail_hard=True)
        except MastodonVersionError as error:
            cause = error.__cause__
            raise (cause if isinstance(cause, MastodonError) else error) from None
        return instance

    # -- counting ----------------------------------------------------------------------------------------

    def length(self, text: str, outgoing: Outgoing | None = None) -> int:
        """As Mastodon counts: graphemes of the content warning (``outgoing``'s, if any) plus the text,
        every URL as the instance's ``characters_reserved_per_url``, a mention as its local part. Until the
        instance has answered (:meth:`start`, first send): 23 per URL, and ``check`` allows 500."""
        return status_length(text, content_warning(outgoing), self.limits.url_weight)

    def check(self, text: str, outgoing: Outgoing | None = None) -> None:
        """``TextTooLong`` (naming Mastodon and the limit) when text and content warning exceed the
        instance's ``max_characters``. Until the instance has answered (:meth:`start`, the first send) the
        limit is Mastodon's stock 500 with 23 per URL: conservative, an instance may allow more, and the
        check is exact once it has answered."""
        super().check(text, outgoing)

    # -- sending -----------------------------------------------------------------------------------------

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> Sent:
        await self.load_limits()
        media_ids = await self._upload_image(outgoing) if outgoing is not None else []
        options: dict[str, Any] = {
            "visibility": "public",
            "language": "de",
            "spoiler_text": content_warning(outgoing) or None,
            "idempotency_key": (outgoing.key if outgoing is not None else "") or None,
            "media_ids": media_ids or None,
            "in_reply_to_id": reply_to,
        }
        try:
            status = await self._call("post", self.client.status_post, text, **options)
        except StatusGone:
            if reply_to is None:
                raise
            log.warning("Mastodon status %s to answer is gone; posting without the reference", reply_to)
            options["in_reply_to_id"] = None
            status = await self._call("post", self.client.status_post, text, **options)
        url = status.get("url")
        return Sent(str(status["id"]), str(url) if url else None)

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
        """Edit the status. Mastodon replaces content warning and media with what the edit sends, so both
        are read first (``GET /api/v1/statuses/:id``) and sent again; ``outgoing`` (if given) sets the
        content warning anew. ``EditImpossible`` (the engine then answers with a correction, which carries
        its own warning): the status is gone, or the token may not read it (no ``read:statuses``) and
        there is no ``outgoing`` to take the warning from."""
        await self.load_limits()
        try:
            current: Mapping[str, Any] | None = await self._call("edit", self.client.status, message_id)
        except Forbidden as error:
            log.warning(
                "Mastodon: cannot read status %s before editing it (%s); scope read:statuses?",
                message_id,
                error,
            )
            current = None
        if current is None and outgoing is None:
            raise EditImpossible(f"Mastodon: Beitrag {message_id} nicht lesbar (Recht read:statuses fehlt)")
        if outgoing is not None:
            spoiler = content_warning(outgoing)
        else:
            spoiler = str((current or {}).get("spoiler_text") or "")
        attached = (current or {}).get("media_attachments") or []
        media_ids = [str(m["id"]) for m in attached if "id" in m]
        await self._call(
            "edit",
            self.client.status_update,
            message_id,
            text,
            spoiler_text=spoiler,
            media_ids=media_ids or None,
        )

    async def delete(self, target: str, message_id: str) -> None:
        try:
            await self._call("delete", self.client.status_delete, message_id)
        except StatusGone:
            log.info("Mastodon status %s was already gone", message_id)

    # -- media ---------------------------------------------------------------------------------------------

    async def _upload_image(self, outgoing: Outgoing) -> list[str]:
        """The media id of the post's image, uploaded with its alt text; [] when there is none or it cannot
        be used (logged). A retry of the same delivery reuses the upload."""
        if not outgoing.image_url:
            return []
        if outgoing.key and outgoing.key in self._media:
            return [self._media[outgoing.key]]
        try:
            image = await fetch_image(self.session, outgoing.image_url, self.limits, self.image_timeout)
        except MediaUnavailable as error:
            log.warning("Mastodon: posting without the image, it cannot be fetched: %s", error)
            return []
        description = (outgoing.image_alt or "").strip()[: self.limits.description_limit] or None
        try:
            media = await self._call(
                "media",
                self.client.media_post,
                image.data,
                mime_type=image.mime_type,
                description=description,
            )
            media_id = str(media["id"])
            deadline = time.monotonic() + self.media_wait
            while not media.get("url"):  # 202: the instance is still processing it
                if time.monotonic() > deadline:
                    log.warning("Mastodon: posting without the image, the instance did not finish it in time")
                    return []
                await asyncio.sleep(MEDIA_POLL)
                media = await self._call("media", self.client.media, media_id)
        except (TokenRejected, Transient):
            raise
        except PublishError as error:  # refused (type, size) or media rate limit: the text matters more
            log.warning("Mastodon: posting without the image, the upload failed: %s", error)
            return []
        if outgoing.key:
            self._media[outgoing.key] = media_id
            while len(self._media) > _REMEMBERED_MEDIA:
                self._media.popitem(last=False)
        return [media_id]

    # -- calls -----------------------------------------------------------------------------------------------

    async def _call(self, action: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one Mastodon.py call in a thread, one at a time; its errors mapped (``errors.mapped``)."""
        async with self._queue:
            return await asyncio.to_thread(self._blocking, action, call, args, kwargs)

    def _blocking(
        self, action: str, call: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        with self._one_call:
            try:
                return call(*args, **kwargs)
            except MastodonError as error:
                raise mapped(action, error, self.client.ratelimit_reset) from error
