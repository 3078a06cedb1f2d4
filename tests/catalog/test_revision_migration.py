"""Migration 0011 (revisions of offices): the service revisions written under 0010 keep working (they
become ``kind = 'service'`` and the overlay still applies them), office revisions can be stored, and the
way back to 0010 keeps the service revisions. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.model import Catalog, load_catalog
from catalog.revisions import OFFICE, SERVICE, base_of, newest_revisions, office_json, overlay, service_json
from core.db import alembic_config, create_engine, sessionmaker
from tests.catalog.catalog_files import write_catalog
from tests.conftest import PG_ADMIN_DSN


def _fresh_postgres() -> Iterator[str]:
    import asyncpg

    name = f"koblenz_migration_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is required for this test and is not usable: {exc!r}")
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (not migrated): the parameter "postgres" marks the test as needing PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    else:
        yield from _fresh_postgres()


@pytest.fixture
async def engine(blank_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(blank_url)
    yield engine
    await engine.dispose()


async def to(engine: AsyncEngine, target: str, down: bool = False) -> None:
    def run(connection: object) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)

    async with engine.begin() as connection:
        await connection.run_sync(run)


@pytest.fixture
def seed(tmp_path: Path) -> Catalog:
    return load_catalog(write_catalog(tmp_path / "data", fees=[{"item": "Antrag", "amount": "10,00 €"}]))


async def test_service_revisions_of_0010_become_service_revisions_and_still_apply(
    engine: AsyncEngine, seed: Catalog
) -> None:
    await to(engine, "0010")
    record = service_json(seed.services["test-dienst"])
    record["fees"][0]["amount"] = "12,00 €"
    stored = {
        "service": record,
        "phrasings": ["eine frage"],
        "base": base_of(seed.services["test-dienst"], ()),
    }
    insert = text(
        "INSERT INTO catalog_revisions (service_id, created_at, author, role, comment, record) "
        "VALUES (:id, :at, 'anna', 'redaktion', 'alt', :record)"
    )

    async with engine.begin() as connection:
        await connection.execute(
            insert, {"id": "test-dienst", "at": dt.datetime.now(dt.UTC), "record": json.dumps(stored)}
        )
    await to(engine, "head")
    sessions = sessionmaker(engine)
    newest = await newest_revisions(sessions)
    assert list(newest) == [(SERVICE, "test-dienst")]
    applied = overlay(seed, {}, newest)
    assert applied.catalog.services["test-dienst"].fees[0].amount == "12,00 €"
    assert applied.phrasings["test-dienst"] == ("eine frage",)
    # an office revision beside it, with the same id space
    office = office_json(seed.offices["testamt"]) | {"phone": "0261 129-0"}
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO catalog_revisions (kind, record_id, created_at, author, role, comment, record) "
                "VALUES ('office', 'testamt', :at, 'anna', 'redaktion', '', :record)"
            ),
            {"at": dt.datetime.now(dt.UTC), "record": json.dumps({"office": office, "base": {}})},
        )
    assert set(await newest_revisions(sessions)) == {(SERVICE, "test-dienst"), (OFFICE, "testamt")}
    # back to 0010: the service revision stays, the office revision has no place there
    await to(engine, "0010", down=True)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT service_id FROM catalog_revisions"))).all()
    assert [row[0] for row in rows] == ["test-dienst"]
    await to(engine, "head")
    assert list(await newest_revisions(sessions)) == [(SERVICE, "test-dienst")]
