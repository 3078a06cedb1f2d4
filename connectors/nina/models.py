"""What the NINA poller remembers across restarts: one row per NINA warning id it has seen."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class NinaSeen(Base):
    """``state``: ``active`` (shown as our alert ``alert_identifier``, the current message of its chain),
    ``ignored`` (not for Koblenz, expired, unreadable: ``reason``), ``own`` (the city's own alert coming back),
    ``ended`` (cancelled or gone from the dashboard), ``superseded`` (replaced by a warning with a new id)."""

    __tablename__ = "nina_seen"

    nina_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    identifier: Mapped[str] = mapped_column(String(255))  # CAP identifier of the version last read
    alert_identifier: Mapped[str | None] = mapped_column(String(255), default=None)
    provider: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    last_seen: Mapped[float] = mapped_column(Float)  # Unix time of the last dashboard that listed it
