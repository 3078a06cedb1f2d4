"""The conversation store under load: every answer committed before it returns, few transactions, no lost
or resurrected conversations, one bad row never costs the others (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.conversations import ConversationStore
from bot.dialogue import State
from bot.events import Reply
from bot.models import Conversation, Turn
from core.db import create_engine, migrate, sessionmaker


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


def _count_commits(engine: AsyncEngine) -> list[int]:
    commits = [0]

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(_connection: Any) -> None:
        commits[0] += 1

    return commits


def _reply(text: str = "Ein Reisepass kostet 70,00 €.") -> Reply:
    return Reply(text, "service", service_id="reisepass", aspect="fees", confidence=0.97)


async def _turns(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with sessionmaker(engine)() as session:
        rows = await session.execute(select(Turn.conversation_id, Turn.role, Turn.text).order_by(Turn.id))
        return [(c, r, t) for c, r, t in rows]


async def test_concurrent_answers_are_all_committed_in_few_transactions(engine: AsyncEngine) -> None:
    store = ConversationStore(sessionmaker(engine))
    commits = _count_commits(engine)

    async def citizen(number: int) -> None:
        for question in range(3):
            state = State(last_service="reisepass", stadtteil=f"Stadtteil {number}-{question}")
            await store.record(
                f"conversation-{number:03d}", "web", state, f"Frage {question}", _reply(), None
            )

    await asyncio.gather(*(citizen(n) for n in range(60)))
    turns = await _turns(engine)
    assert len(turns) == 60 * 3 * 2
    for number in range(60):  # each conversation's turns in the order they were given
        own = [t for c, r, t in turns if c == f"conversation-{number:03d}" and r == "user"]
        assert own == ["Frage 0", "Frage 1", "Frage 2"]
    async with sessionmaker(engine)() as session:
        states = dict((await session.execute(select(Conversation.id, Conversation.state))).all())
    assert len(states) == 60
    assert all(states[f"conversation-{n:03d}"]["stadtteil"] == f"Stadtteil {n}-2" for n in range(60))
    assert commits[0] < 60  # 180 answers, grouped: far fewer transactions than answers


async def test_the_same_conversation_twice_in_one_batch_keeps_the_latest_state(engine: AsyncEngine) -> None:
    store = ConversationStore(sessionmaker(engine))
    await asyncio.gather(
        *(
            store.record("twice-in-one", "web", State(stadtteil=name), "Frage", _reply(), None)
            for name in ("Lützel", "Metternich", "Güls")
        )
    )
    async with sessionmaker(engine)() as session:
        state = await session.scalar(select(Conversation.state).where(Conversation.id == "twice-in-one"))
        count = await session.scalar(select(func.count()).select_from(Turn))
    assert state is not None and state["stadtteil"] == "Güls" and count == 6
    assert (await store.load("twice-in-one")).stadtteil == "Güls"


async def test_deleting_while_answers_are_written_leaves_nothing_behind(engine: AsyncEngine) -> None:
    store = ConversationStore(sessionmaker(engine))
    writes = [
        asyncio.create_task(store.record("delete-me-now", "web", State(), f"Frage {i}", _reply(), None))
        for i in range(20)
    ]
    await asyncio.sleep(0)  # the writes are queued (and the first batch may be on its way)
    assert await store.delete("delete-me-now")
    await asyncio.gather(*writes)
    assert await _turns(engine) == []
    assert (await store.load("delete-me-now")).stadtteil is None


async def test_a_row_the_database_refuses_costs_only_its_own_answer(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ConversationStore(sessionmaker(engine))
    original = store._write

    async def refuse_the_poisoned(batch: list[Any]) -> None:
        if any(one.conversation["id"] == "poisoned-one" for one in batch):
            raise RuntimeError("the database refused a row")
        await original(batch)

    monkeypatch.setattr(store, "_write", refuse_the_poisoned)
    results = await asyncio.gather(
        *(
            store.record(
                f"healthy-{n:03d}" if n != 7 else "poisoned-one", "web", State(), "Frage", _reply(), None
            )
            for n in range(15)
        ),
        return_exceptions=True,
    )
    assert [i for i, r in enumerate(results) if isinstance(r, Exception)] == [7]
    stored = {c for c, _, _ in await _turns(engine)}
    assert stored == {f"healthy-{n:03d}" for n in range(15) if n != 7}
