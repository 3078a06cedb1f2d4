"""Which alerts the public sees: one definition for the push channels, the website banner and the chat
(``StoreAlerts``), the RSS/Atom feeds, the CAP index feed and the CAP files.

*Published*: CAP ``status`` Actual or Exercise and ``scope`` Public. ``Test``, ``System`` and ``Draft``
messages and ``Restricted``/``Private`` ones are stored and audited, never published.

*Active*: published, the current message of its chain (state ``active``: not updated, cancelled or
expired) and not past its ``expires``.

Exercises are handled like real alerts everywhere: sent to subscribers, on the banner, in the chat, on
the RSS/Atom feeds and in the CAP index feed, so a drill exercises the whole chain. They are always
marked: Telegram messages start with "ÜBUNG – keine echte Gefahr" (``broadcasts.texts``), headlines on
banner, chat and feeds with "Übung: " (``headline``), and machines read ``<status>Exercise</status>``
in the CAP itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import ColumnElement, and_, or_

from broadcasts.capmodel import CapAlert
from broadcasts.models import Alert
from broadcasts.states import AlertState

PUBLISHED_STATUSES = ("Actual", "Exercise")
PUBLIC_SCOPE = "Public"
EXERCISE_PREFIX = "Übung: "


class _Envelope(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def scope(self) -> str: ...


def is_published(alert: _Envelope) -> bool:
    """A CAP message (``CapAlert``) or a stored one (``Alert`` row) the public may see."""
    return alert.status in PUBLISHED_STATUSES and alert.scope == PUBLIC_SCOPE


def published() -> ColumnElement[bool]:
    """``is_published`` as a WHERE clause on ``Alert``."""
    return and_(Alert.status.in_(PUBLISHED_STATUSES), Alert.scope == PUBLIC_SCOPE)


def active(now: dt.datetime) -> ColumnElement[bool]:
    """Active at ``now`` as a WHERE clause on ``Alert``: published, current, not expired."""
    return and_(
        Alert.state == AlertState.ACTIVE,
        or_(Alert.expires_at.is_(None), Alert.expires_at > now),
        published(),
    )


def headline(alert: CapAlert) -> str:
    """The German headline as the public sees it: "Übung: …" for an exercise."""
    text = alert.info("de").headline
    return EXERCISE_PREFIX + text if alert.status == "Exercise" else text
