"""The lifecycle enums (broadcasts/states.py): the stored values are those migration 0004's rows already
hold, the ORM writes and reads them as plain strings, and nothing outside the enums slips in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.models import Broadcast
from broadcasts.states import (
    CANCELLABLE,
    ENDED,
    FINAL,
    OPEN,
    SCHEDULABLE,
    AlertState,
    AuditOutcome,
    DeliveryState,
    FanoutState,
    MessageKind,
    PostState,
    sql_list,
)
from core.db import create_engine, migrate, sessionmaker

# the strings in the databases before the enums (migration 0004 has no CHECK constraint, so these
# values are the whole contract): an enum value must never change without a data migration
STORED = {
    PostState: ("draft", "scheduled", "sending", "sent", "partly_failed", "cancelled"),
    AlertState: ("active", "updated", "cancelled", "expired"),
    MessageKind: ("post", "alert", "update", "allclear"),
    FanoutState: ("chain", "subscribers", "done"),
    DeliveryState: ("pending", "in_flight", "sent", "failed", "deactivated", "cancelled"),
    AuditOutcome: ("ok", "rejected"),
}


@pytest.mark.parametrize("enum", list(STORED), ids=lambda e: e.__name__)
def test_values_are_the_stored_strings(enum: type) -> None:
    assert tuple(member.value for member in enum) == STORED[enum]
    assert all(len(value) <= 16 for value in STORED[enum])  # the VARCHAR(16) columns


def test_groups_partition_the_states() -> None:
    assert set(OPEN) | set(FINAL) == set(DeliveryState) and not set(OPEN) & set(FINAL)
    assert set(SCHEDULABLE) < set(CANCELLABLE)
    assert set(ENDED) == {AlertState.CANCELLED, AlertState.EXPIRED}
    assert sql_list(OPEN) == "('pending', 'in_flight')"


def test_a_member_is_its_string() -> None:
    assert PostState.SENT == "sent" and f"{DeliveryState.IN_FLIGHT}" == "in_flight"
    assert {"sent": 1}[DeliveryState.SENT] == 1  # counts keyed by the raw strings of a GROUP BY


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'states.sqlite3'}")
    await migrate(db)
    yield db
    await db.dispose()


async def test_the_orm_stores_plain_strings_and_reads_members(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        session.add(Broadcast(topic="presse", text="Hallo", created_by="t", role="presse"))
    async with engine.connect() as connection:
        raw = (await connection.execute(text("SELECT state FROM broadcasts"))).scalar_one()
        await connection.execute(text("UPDATE broadcasts SET state = 'partly_failed'"))
        await connection.commit()
    assert raw == "draft" and type(raw) is str
    async with sessions() as session:
        row = await session.get(Broadcast, 1)
    assert row is not None and row.state is PostState.PARTLY_FAILED


async def test_a_value_outside_the_enum_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(StatementError, match="is not a valid PostState"):
        async with sessionmaker(engine).begin() as session:
            session.add(
                Broadcast(topic="presse", text="x", created_by="t", role="presse", state="verschickt")
            )
