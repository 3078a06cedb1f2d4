"""Active warnings as the conversation sees them: the read interface between ``bot`` (which answers
about warnings) and ``broadcasts`` (which stores them and implements ``AlertSource``).

``StaticAlerts`` holds what it is given (nothing by default): for the CLI's ``ask`` and for tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ActiveAlert:
    identifier: str
    headline: str
    severity: str
    description: str
    instruction: str
    areas: tuple[str, ...]
    web: str | None
    expires: dt.datetime | None


class AlertSource(Protocol):
    async def active(self) -> list[ActiveAlert]: ...


class StaticAlerts:
    def __init__(self, alerts: list[ActiveAlert] | None = None) -> None:
        self.alerts = list(alerts or [])

    async def active(self) -> list[ActiveAlert]:
        now = dt.datetime.now(dt.UTC)
        return [a for a in self.alerts if a.expires is None or a.expires > now]
