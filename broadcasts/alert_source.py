"""``StoreAlerts``: the bot's ``AlertSource`` (website banner, /api/alerts, the dialogue) read from the
Alert table: the current message of every alert that is active, public and not expired.

Test and draft messages and non-public ones are never shown; exercises are, marked as such."""

from __future__ import annotations

import time

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts import ActiveAlert
from broadcasts.alertrows import to_cap
from broadcasts.models import Alert, utcnow

_SEVERITY_ORDER = {"Extreme": 0, "Severe": 1, "Moderate": 2, "Minor": 3, "Unknown": 4}


class StoreAlerts:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession] | None = None, cache_seconds: float = 0.2
    ) -> None:
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, list[ActiveAlert]] | None = None

    async def active(self) -> list[ActiveAlert]:
        if self._cached is not None and time.monotonic() - self._cached[0] < self._cache_seconds:
            return list(self._cached[1])
        if self._sessions is None:  # the web app binds the database when it starts
            return []
        now = utcnow()
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(Alert)
                    .where(
                        Alert.state == "active",
                        or_(Alert.expires_at.is_(None), Alert.expires_at > now),
                        Alert.status.in_(("Actual", "Exercise")),
                        Alert.scope == "Public",
                    )
                    .order_by(Alert.sent.desc())
                )
            ).all()
        alerts = []
        for row in rows:
            cap = to_cap(row)
            info = cap.info("de")
            prefix = "Übung: " if cap.status == "Exercise" else ""
            alerts.append(
                ActiveAlert(
                    identifier=row.identifier,
                    headline=prefix + info.headline,
                    severity=info.severity,
                    description=info.description,
                    instruction=info.instruction,
                    areas=tuple(row.stadtteile),
                    web=info.web,
                    expires=row.expires_at,
                )
            )
        alerts.sort(key=lambda a: _SEVERITY_ORDER.get(a.severity, 5))
        self._cached = (time.monotonic(), alerts)
        return list(alerts)

    def bind(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._cached = None

    def invalidate(self) -> None:
        self._cached = None
