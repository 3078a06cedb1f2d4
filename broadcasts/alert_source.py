"""``StoreAlerts``: the bot's ``AlertSource`` (website banner, /api/alerts, the dialogue) read from the
Alert table: the current message of every active alert (``broadcasts.active``: published, current, not
expired), most severe first. Exercises are shown like real alerts, their headline marked "Übung: "."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import active
from broadcasts.alertrows import to_cap
from broadcasts.models import Alert
from core.alerts import SEVERITY_RANK, ActiveAlert
from core.time import utcnow

# the role of alerts received from other authorities (connectors.nina); shown with the authority's name
EXTERNAL_ROLE = "extern"


class StoreAlerts:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession] | None = None, cache_seconds: float = 0.2
    ) -> None:
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, list[ActiveAlert]] | None = None
        self._loading: asyncio.Future[list[ActiveAlert]] | None = None
        self._generation = 0  # bumped by invalidate(): a query begun before a change is not cached

    async def active(self) -> list[ActiveAlert]:
        if self._cached is not None and time.monotonic() - self._cached[0] < self._cache_seconds:
            return list(self._cached[1])
        if self._sessions is None:  # the web app binds the database when it starts
            return []
        # single flight: when the cache runs out under load, the concurrent answers share one query
        # instead of each sending its own (measured: 17 % of the bot's CPU at 50 concurrent chats)
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self._load(self._sessions, self._generation))
        alerts = await asyncio.shield(self._loading)
        return list(alerts)

    async def _load(self, sessions: async_sessionmaker[AsyncSession], generation: int) -> list[ActiveAlert]:
        now = utcnow()
        async with sessions() as session:
            rows = (
                await session.scalars(
                    select(Alert).where(active.active(now)).order_by(Alert.sent.desc())
                )
            ).all()
        alerts = []
        for row in rows:
            cap = to_cap(row)
            info = cap.info("de")
            alerts.append(
                ActiveAlert(
                    identifier=row.identifier,
                    headline=active.headline(cap),
                    severity=info.severity,
                    description=info.description,
                    instruction=info.instruction,
                    areas=tuple(row.stadtteile),
                    web=info.web,
                    expires=row.expires_at,
                    authority=(info.sender_name or row.sender) if row.role == EXTERNAL_ROLE else "",
                )
            )
        alerts.sort(key=lambda a: SEVERITY_RANK.get(a.severity, len(SEVERITY_RANK)))
        if generation == self._generation:
            self._cached = (time.monotonic(), alerts)
        return alerts

    def bind(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.invalidate()

    def invalidate(self) -> None:
        self._cached = None
        self._loading = None  # a query already under way may predate the change: the next caller asks anew
        self._generation += 1
