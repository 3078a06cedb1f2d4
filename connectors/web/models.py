"""Feedback on the bot's answers: thumbs up or down per answer, kept with the (redacted) question.

Rows hang off the conversation and the rated turn with ``ON DELETE CASCADE``, so feedback follows the
conversation's retention: it is deleted with the conversation (``DELETE /api/chat/{id}``, purge).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.time import utcnow


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rating: Mapped[str] = mapped_column(String(4))  # "up" or "down"
    question: Mapped[str] = mapped_column(Text)  # the citizen's question, already redacted in the turn
    answer_kind: Mapped[str | None] = mapped_column(String(16))
    service_id: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)  # optional, redacted like every stored text
