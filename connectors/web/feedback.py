"""Feedback on answers and the editors' report of unanswered and badly answered questions.

An answer is referenced by its number in the conversation (1 = the bot's first answer), which the widget
counts itself; the question stored with the rating is the citizen's message right before that answer, as
already redacted in the ``turns`` table.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Turn
from catalog.model import words
from connectors.web.models import Feedback
from core.time import utcnow

Rating = Literal["up", "down"]
MAX_COMMENT_CHARS = 500


async def record_feedback(
    sessions: async_sessionmaker[AsyncSession],
    conversation_id: str,
    answer_number: int,
    rating: Rating,
    comment: str | None,
) -> bool:
    """Store (or update) the rating of the conversation's n-th answer; False when there is no such answer."""
    async with sessions.begin() as session:
        answer = (
            await session.scalars(
                select(Turn)
                .where(Turn.conversation_id == conversation_id, Turn.role == "bot")
                .order_by(Turn.id)
                .offset(answer_number - 1)
                .limit(1)
            )
        ).first()
        if answer is None:
            return False
        question = (
            await session.scalars(
                select(Turn.text)
                .where(Turn.conversation_id == conversation_id, Turn.role == "user", Turn.id < answer.id)
                .order_by(Turn.id.desc())
                .limit(1)
            )
        ).first()
        existing = (await session.scalars(select(Feedback).where(Feedback.turn_id == answer.id))).first()
        if existing is None:
            session.add(
                Feedback(
                    conversation_id=conversation_id,
                    turn_id=answer.id,
                    rating=rating,
                    question=question or "",
                    answer_kind=answer.kind,
                    service_id=answer.service_id,
                    comment=comment or None,
                )
            )
        else:
            existing.rating = rating
            existing.created_at = utcnow()
            if comment:
                existing.comment = comment
    return True


@dataclass
class UnansweredQuestion:
    """One question (grouped by its folded words) that got a fallback answer or a thumbs-down."""

    question: str
    fallbacks: int = 0
    thumbs_down: int = 0
    services: Counter[str] = field(default_factory=Counter)
    comments: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.fallbacks + self.thumbs_down

    def as_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "total": self.total,
            "fallbacks": self.fallbacks,
            "thumbs_down": self.thumbs_down,
            "answered_with": [service for service, _ in self.services.most_common()],
            "comments": self.comments,
        }


def _key(text: str) -> str:
    return " ".join(words(text))


async def unanswered_questions(
    sessions: async_sessionmaker[AsyncSession], days: int, limit: int, now: dt.datetime | None = None
) -> list[UnansweredQuestion]:
    """Questions with fallback answers or thumbs-down in the last ``days`` days, most frequent first."""
    since = (now or utcnow()) - dt.timedelta(days=days)
    found: dict[str, UnansweredQuestion] = {}

    def entry(text: str) -> UnansweredQuestion | None:
        key = _key(text)
        if not key:
            return None
        return found.setdefault(key, UnansweredQuestion(text.strip()))

    async with sessions() as session:
        fallbacks = await session.scalars(
            select(Turn.text).where(
                and_(Turn.role == "user", Turn.kind == "fallback", Turn.created_at >= since)
            )
        )
        for text in fallbacks:
            item = entry(text)
            if item is not None:
                item.fallbacks += 1
        downs = await session.execute(
            select(Feedback.question, Feedback.service_id, Feedback.comment).where(
                Feedback.rating == "down", Feedback.created_at >= since
            )
        )
        for question, service_id, comment in downs:
            item = entry(question)
            if item is None:
                continue
            item.thumbs_down += 1
            if service_id:
                item.services[service_id] += 1
            if comment and len(item.comments) < 3:
                item.comments.append(comment)
    ranked = sorted(found.values(), key=lambda q: (-q.total, -q.thumbs_down, q.question.lower()))
    return ranked[:limit]


def format_report(rows: list[UnansweredQuestion], days: int) -> str:
    """A plain-text table for the editors (German, like everything editors read)."""
    if not rows:
        return f"In den letzten {days} Tagen gab es keine unbeantworteten oder schlecht bewerteten Fragen."
    lines = [
        f"Unbeantwortete und schlecht bewertete Fragen der letzten {days} Tage (häufigste zuerst):",
        "",
        f"{'Anzahl':>6}  {'Ohne Antwort':>12}  {'Daumen runter':>13}  Frage",
    ]
    for row in rows:
        question = row.question if len(row.question) <= 100 else row.question[:99] + "…"
        lines.append(f"{row.total:>6}  {row.fallbacks:>12}  {row.thumbs_down:>13}  {question}")
        if row.services:
            lines.append(f"{'':>37}  beantwortet mit: {', '.join(row.services)}")
        for comment in row.comments:
            lines.append(f"{'':>37}  Kommentar: {comment[:120]}")
    return "\n".join(lines)
