"""The city's Facebook Page as a broadcast channel (Graph API, page access token).

- ``send``: ``POST /{page-id}/feed`` with ``message`` (the channel's text) and ``link`` (the message's
  link, shown as a preview). Returns ``Sent(post id, https://www.facebook.com/<post id>)``.
- ``edit``: ``POST /{post-id}`` with the new ``message`` (updates of an alert; a Page post has no edit
  window). A post that is gone → ``EditImpossible`` (the worker then sends the update as a new post).
- ``delete``: ``DELETE /{post-id}``; a post that is already gone counts as deleted.
- An **all-clear is a new post** (``on_allclear="new"``): a comment under the alert's post reaches only
  those who open that post, a new post reaches everyone's feed. When the worker names the alert's post
  (``reply_to``), the all-clear is also left there as a comment, so that whoever finds the old warning
  sees that it is over; that comment is a courtesy: if it fails, the all-clear still counts as sent.

Errors: :mod:`connectors.meta.graph`. A refused token stops the channel (every later call fails at once
with the operator's text; ``health()`` says why).
"""

from __future__ import annotations

import logging
from typing import Any

from broadcasts.publishers import (
    Capabilities,
    Checked,
    EditImpossible,
    Outgoing,
    PublishError,
    Rejected,
    Sent,
)
from connectors.meta.graph import GraphClient, ObjectGone

log = logging.getLogger(__name__)

MAX_TEXT = 63_206  # characters of a Page post's text (Facebook's limit)
POST_URL = "https://www.facebook.com/{post_id}"


class FacebookPublisher(Checked):
    name = "facebook"
    label = "Facebook"

    def __init__(self, graph: GraphClient, page_id: str) -> None:
        """No network I/O here (``ChannelSpec.open``)."""
        self.graph = graph
        self.page_id = page_id
        self.capabilities = Capabilities(
            send=True,
            edit=True,
            delete=True,
            push=True,
            posts=True,
            alerts=True,
            max_text=MAX_TEXT,
            rate_per_second=1.0,  # calm; Meta's limits come back as RetryAfter
            edit_window=None,
            audience="once",
            on_update="edit",
            on_allclear="new",
            cannot=(
                "Eine Entwarnung erscheint als eigener Beitrag im Feed der Seite (und zusätzlich als "
                "Kommentar unter der Warnung), nicht nur als Kommentar, den kaum jemand sieht.",
                "Der Link eines Beitrags lässt sich nachträglich nicht ändern; eine Aktualisierung ändert "
                "nur den Text.",
                "Läuft der Seiten-Token ab, stoppt der Kanal, bis KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN erneuert "
                "und der Bot neu gestartet ist.",
            ),
        )

    # -- state for /health (``registry.health`` reads ``stopped`` and ``problem``) ----------------------

    @property
    def stopped(self) -> bool:
        """True once Facebook refused the page token: nothing is sent until an operator renews it."""
        return self.graph.stopped is not None

    @property
    def problem(self) -> str | None:
        """What an operator must do (German), or None."""
        return self.graph.stopped

    def health(self) -> dict[str, Any]:
        """ "stopped" and the reason once the token was refused, else nothing to add."""
        return self.graph.health()

    async def start(self) -> bool:
        """Check the page token once (``GET /{page-id}?fields=id``), so that a refused token shows in
        /health before the first message. Never raises; True when the token works."""
        try:
            await self.graph.get(self.page_id, "Seite prüfen", fields="id")
        except PublishError as error:
            if not self.stopped:
                log.warning("Facebook page %s not checked at start: %s", self.page_id, error)
            return False
        return True

    async def send(
        self, target: str, text: str, reply_to: str | None = None, outgoing: Outgoing | None = None
    ) -> str | Sent:
        params = {"message": text}
        if outgoing is not None and outgoing.link:
            params["link"] = outgoing.link
        answer = await self.graph.post(f"{self.page_id}/feed", "Beitrag", **params)
        post_id = str(answer.get("id") or "")
        if not post_id:
            raise Rejected("Facebook Beitrag: Antwort ohne id")
        if reply_to:
            await self._comment(reply_to, text)
        return Sent(post_id, POST_URL.format(post_id=post_id))

    async def _comment(self, post_id: str, text: str) -> None:
        try:
            await self.graph.post(f"{post_id}/comments", "Kommentar", message=text)
        except PublishError as error:
            log.warning("Facebook: comment under %s not left (%s); the new post stands", post_id, error)

    async def edit(self, target: str, message_id: str, text: str, outgoing: Outgoing | None = None) -> None:
        try:
            await self.graph.post(message_id, "Bearbeiten", message=text)
        except ObjectGone as error:
            raise EditImpossible(str(error)) from error

    async def delete(self, target: str, message_id: str) -> None:
        try:
            await self.graph.delete(message_id, "Löschen")
        except ObjectGone:
            return
