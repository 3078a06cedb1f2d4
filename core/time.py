"""Time helpers: everything is stored in UTC; citizens and staff read Europe/Berlin."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
