"""The city's professional Instagram account as a broadcast channel (Graph API, the Page's access token).

Every Instagram post needs a picture, so each message gets a card (:mod:`connectors.meta.card`: severity
colour, headline, areas, instruction, "Stadt Koblenz", "ÜBUNG" for exercises), written under
``<state_dir>/cards/<sha256>.jpg`` and served at ``{PUBLIC_URL}/cards/<sha256>.jpg``
(:mod:`connectors.meta.routes`), from where Instagram fetches it. Publishing takes two steps:

1. the daily limit: ``GET /{ig-user-id}/content_publishing_limit?fields=config,quota_usage``. Over
   ``config.quota_total`` an alert (or its update or all-clear) waits (``RetryAfter``, until the oldest
   post this process published leaves the 24-hour window, re-checked at least hourly); a press post is
   refused already when fewer than ``ALERT_RESERVE`` posts are left, so that warnings still go out;
2. ``POST /{ig-user-id}/media`` with ``image_url``, ``caption`` (the channel's text) and ``alt_text`` (the
   card in words) → a container; ``GET /{container-id}?fields=status_code`` until ``FINISHED`` (backoff from
   ``poll_interval`` to ``poll_max``, at most ``wait_timeout`` seconds, then ``Transient``; ``ERROR`` or
   ``EXPIRED`` → ``Rejected``); then ``POST /{ig-user-id}/media_publish`` with ``creation_id`` (code 9007,
   "not ready", is retried within the same time) → the media id, and its ``permalink``.

A retry of the same delivery (its ``Outgoing.key``) reuses the container of the first attempt, so a slow
container is not created twice.

Captions cannot be edited through the API, so ``edit=False`` and ``on_update="new"``: an update or an
all-clear is a new post with its own card (a comment under the first post is hardly seen; the worker's
``reply_to`` is therefore not used). Deleting is not offered either (``delete=False``): Meta's reference of
the Instagram media object, as consulted, documents reading it and switching comments, not deleting it
(third-party tools mention a deletion for Facebook Login accounts; not confirmed in Meta's documents).

Caption: at most 2,200 characters and 30 hashtags (``check`` refuses more; ``fit`` turns hashtags beyond
the 30th into plain words).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from broadcasts import InvalidRequest
from broadcasts.publishers import (
    Capabilities,
    Checked,
    Outgoing,
    PublishError,
    Rejected,
    RetryAfter,
    Sent,
    Transient,
    Unsupported,
)
from connectors.meta.card import CardStore, alt_text, card_for, render
from connectors.meta.graph import GraphClient, NotReady, TokenRejected

log = logging.getLogger(__name__)

MAX_TEXT = 2_200  # characters of a caption
MAX_HASHTAGS = 30
ALERT_KINDS = ("alert", "update", "allclear")
ALERT_RESERVE = 5  # posts of the daily limit kept free for warnings (when the limit is above 10)
QUOTA_RECHECK = 900.0  # seconds to wait when over the limit and the window's end is unknown here
QUOTA_MAX_WAIT = 3600.0  # ask again at least this often
DAY = 86_400.0
LIMIT_CODE, LIMIT_SUBCODE = 9, 2207042  # media_publish: the account reached its publishing limit
HASHTAG = re.compile(r"(?<![\w&#])#(\w+)")
_REMEMBERED = 200  # containers remembered per delivery key


def hashtags(text: str) -> int:
    return len(HASHTAG.findall(text))


def _capped_hashtags(text: str) -> str:
    """Hashtags beyond the 30th as plain words (Instagram refuses a caption with more)."""
    seen = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return match.group(0) if seen <= MAX_HASHTAGS else match.group(1)

    return HASHTAG.sub(keep, text)


@dataclass(frozen=True)
class Quota:
    usage: int
    total: int
    duration: float


class InstagramPublisher(Checked):
    name = "instagram"
    label = "Instagram"

    def __init__(
        self,
        graph: GraphClient,
        user_id: str,
        public_url: str,
        cards: CardStore,
        *,
        wait_timeout: float = 60.0,
        poll_interval: float = 0.5,
        poll_max: float = 5.0,
    ) -> None:
        """No network I/O here (``ChannelSpec.open``). ``public_url``: where Instagram can fetch the cards."""
        self.graph = graph
        self.user_id = user_id
        self.public_url = public_url.rstrip("/")
        self.cards = cards
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.poll_max = poll_max
        self.quota: Quota | None = None  # as last read
        self._published: deque[float] = deque(maxlen=1000)  # when this process published (epoch s)
        self._containers: OrderedDict[str, str] = OrderedDict()
        self.capabilities = Capabilities(
            send=True,
            edit=False,
            delete=False,
            push=True,
            posts=True,
            alerts=True,
            max_text=MAX_TEXT,
            rate_per_second=1.0,
            audience="once",
            on_update="new",
            on_allclear="new",
            cannot=(
                "Jeder Beitrag braucht ein Bild: der Bot erzeugt dafür eine Grafik mit Überschrift, "
                "Gebiet und Hinweis (mit Bildbeschreibung); ein eigenes Bild des Beitrags wird hier nicht "
                "verwendet.",
                "Bildunterschriften lassen sich über die Schnittstelle nicht bearbeiten: eine "
                "Aktualisierung oder Entwarnung erscheint als neuer Beitrag mit eigener Grafik.",
                "Beiträge lassen sich über die Schnittstelle nicht löschen.",
                "Links in Bildunterschriften sind auf Instagram nicht anklickbar.",
                "Höchstens 2.200 Zeichen und 30 Hashtags je Beitrag; das Konto darf nur eine begrenzte "
                f"Zahl Beiträge in 24 Stunden veröffentlichen ({ALERT_RESERVE} davon bleiben Warnungen "
                "vorbehalten).",
            ),
        )

    # -- checks ------------------------------------------------------------------------------------

    def check(self, text: str, outgoing: Outgoing | None = None) -> None:
        super().check(text, outgoing)
        count = hashtags(text)
        if count > MAX_HASHTAGS:
            raise InvalidRequest(
                f"Der Text für {self.label} enthält {count} Hashtags; erlaubt sind höchstens {MAX_HASHTAGS}. "
                "Bitte entfernen Sie einige oder geben Sie eine eigene Fassung für diesen Kanal an.",
                channel=self.label,
                limit=MAX_HASHTAGS,
            )

    def fit(self, text: str, outgoing: Outgoing) -> str:
        return _capped_hashtags(super().fit(text, outgoing))

    @property
    def stopped(self) -> bool:
        """True once the platform refused the page token: nothing is sent until an operator renews it."""
        return self.graph.stopped is not None

    @property
    def problem(self) -> str | None:
        """What an operator must do (German), or None."""
        return self.graph.stopped

    async def start(self) -> bool:
        """Read the daily limit once (which checks the token), so that /health shows both before the first
        message. Never raises; True when it worked."""
        try:
            return await self._read_quota() is not None
        except PublishError as error:
            if not self.stopped:
                log.warning("Instagram account %s not checked at start: %s", self.user_id, error)
            return False

    def health(self) -> dict[str, Any]:
        """For ``/health``: "stopped" and the reason once the token was refused; the daily limit as last
        read."""
        line = dict(self.graph.health())
        if self.quota is not None:
            line.update(quota_usage=self.quota.usage, quota_total=self.quota.total)
        return line

    # -- sending -----------------------------------------------------------------------------------

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        """Publish ``text`` with the message's card. ``reply_to`` is not used: a new post is the update."""
        outgoing = outgoing or Outgoing(kind="post", event="post.published")
        quota = await self._read_quota()
        if quota is not None:
            self._gate(outgoing, quota)
        container = self._containers.get(outgoing.key) if outgoing.key else None
        if container is None:
            container = await self._container(text, outgoing)
        if await self._wait(container, outgoing.key) == "PUBLISHED":
            # an earlier attempt published it, but its answer was lost: the media id is not known here
            self._forget(outgoing.key)
            log.warning("Instagram: container %s was already published by an earlier attempt", container)
            return Sent(container, None)
        media_id = await self._publish(container, outgoing)
        self._forget(outgoing.key)
        self._published.append(time.time())
        return Sent(media_id, await self._permalink(media_id))

    async def _read_quota(self) -> Quota | None:
        try:
            answer = await self.graph.get(
                f"{self.user_id}/content_publishing_limit", "Tageslimit", fields="config,quota_usage"
            )
        except TokenRejected:
            raise
        except (Transient, Rejected) as error:
            log.warning("Instagram: publishing limit not read (%s); publishing anyway", error)
            return None
        data = answer.get("data")
        first: dict[str, Any] = (
            data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        )
        config: dict[str, Any] = first["config"] if isinstance(first.get("config"), dict) else {}
        usage, total = first.get("quota_usage"), config.get("quota_total")
        if not isinstance(usage, int) or not isinstance(total, int):
            return None
        duration = config.get("quota_duration")
        self.quota = Quota(usage, total, float(duration) if isinstance(duration, int | float) else DAY)
        return self.quota

    def _until_free(self, quota: Quota) -> float:
        now = time.time()
        recent = [t for t in self._published if t > now - quota.duration]
        wait = recent[0] + quota.duration - now if recent else QUOTA_RECHECK
        return min(max(wait, 60.0), QUOTA_MAX_WAIT)

    def _gate(self, outgoing: Outgoing, quota: Quota) -> None:
        alert = outgoing.kind in ALERT_KINDS
        reserve = ALERT_RESERVE if quota.total > 2 * ALERT_RESERVE else 0
        if alert and quota.usage >= quota.total:
            raise RetryAfter(
                self._until_free(quota),
                f"Instagram: Tageslimit erreicht ({quota.usage} von {quota.total} Beiträgen in 24 Stunden); "
                "die Warnung geht raus, sobald wieder Platz ist.",
            )
        if not alert and quota.usage >= quota.total - reserve:
            raise Rejected(
                f"Instagram: Tageslimit erreicht ({quota.usage} von {quota.total} Beiträgen in 24 Stunden, "
                f"{reserve} davon bleiben Warnungen vorbehalten); der Beitrag geht auf Instagram nicht raus."
            )

    async def _container(self, text: str, outgoing: Outgoing) -> str:
        card = card_for(outgoing, text)
        data = await asyncio.to_thread(render, card)
        name = await asyncio.to_thread(self.cards.save, data)
        answer = await self.graph.post(
            f"{self.user_id}/media",
            "Container",
            image_url=f"{self.public_url}/cards/{name}.jpg",
            caption=text,
            alt_text=alt_text(card),
        )
        container = str(answer.get("id") or "")
        if not container:
            raise Rejected("Instagram Container: Antwort ohne id")
        if outgoing.key:
            self._containers[outgoing.key] = container
            while len(self._containers) > _REMEMBERED:
                self._containers.popitem(last=False)
        return container

    def _forget(self, key: str) -> None:
        if key:
            self._containers.pop(key, None)

    async def _wait(self, container: str, key: str) -> str:
        """Poll the container until it is FINISHED (or PUBLISHED); ERROR/EXPIRED → Rejected."""
        deadline = time.monotonic() + self.wait_timeout
        delay = self.poll_interval
        while True:
            answer = await self.graph.get(container, "Status", fields="status_code,status")
            code = str(answer.get("status_code") or "")
            if code in ("FINISHED", "PUBLISHED"):
                return code
            if code in ("ERROR", "EXPIRED"):
                self._forget(key)
                said = f": {answer['status']}" if answer.get("status") else ""
                raise Rejected(
                    f"Instagram hat die Grafik nicht verarbeitet ({code}{said}). Häufige Ursache: die "
                    f"Grafik ist unter {self.public_url}/cards/ nicht öffentlich erreichbar."
                )
            if time.monotonic() + delay > deadline:
                raise Transient(
                    f"Instagram: Grafik nach {self.wait_timeout:g} s noch nicht verarbeitet ({code or '?'})"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.poll_max)

    async def _publish(self, container: str, outgoing: Outgoing) -> str:
        deadline = time.monotonic() + self.wait_timeout
        while True:
            try:
                answer = await self.graph.post(
                    f"{self.user_id}/media_publish", "Veröffentlichen", creation_id=container
                )
                break
            except NotReady:
                if time.monotonic() + self.poll_interval > deadline:
                    raise
                await asyncio.sleep(self.poll_interval)
            except Rejected as error:
                if (error.extra.get("graph_code"), error.extra.get("graph_subcode")) != (
                    LIMIT_CODE,
                    LIMIT_SUBCODE,
                ):
                    raise
                quota = self.quota or Quota(1, 1, DAY)
                self._gate(outgoing, Quota(max(quota.usage, quota.total), quota.total, quota.duration))
                raise
        media_id = str(answer.get("id") or "")
        if not media_id:
            raise Rejected("Instagram Veröffentlichen: Antwort ohne id")
        return media_id

    async def _permalink(self, media_id: str) -> str | None:
        try:
            answer = await self.graph.get(media_id, "Link", fields="permalink")
        except PublishError as error:
            log.warning("Instagram: permalink of %s not read (%s)", media_id, error)
            return None
        link = answer.get("permalink")
        return str(link) if link else None

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
        raise Unsupported("Instagram: Bildunterschriften lassen sich nicht bearbeiten")

    async def delete(self, target: str, message_id: str) -> None:
        raise Unsupported("Instagram: Beiträge lassen sich über die Schnittstelle nicht löschen")
