"""Active warnings as the dialogue sees them: a small read interface the broadcast engine implements.

Until the broadcast engine stores alerts, ``StaticAlerts`` holds what it is given (nothing by default), so
"Gibt es Warnungen?" is answered truthfully: no warning of the city is known to the bot, and where
official warnings are published.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from bot.events import Link

OFFICIAL_WARNING_LINKS = (
    Link(
        "Warn-App NINA (Bundesamt für Bevölkerungsschutz)",
        "https://www.bbk.bund.de/DE/Warnung-Vorsorge/Warn-App-NINA/warn-app-nina_node.html",
        "info",
    ),
)


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
