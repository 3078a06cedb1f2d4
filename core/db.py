"""Storage: the SQLAlchemy 2 (async) declarative base, the engine, sessions and Alembic migrations.

Each package declares its own tables on ``Base`` (``bot.models``, ``broadcasts.models``, ...).

SQLite (aiosqlite) is the embedded default; PostgreSQL (asyncpg) works the same. The schema is owned by
Alembic (``migrations/``); ``migrate()`` brings any database to the newest revision at start-up.

SQLite with several processes (``serve`` plus a CLI import, ``koblenz-bot worker``): WAL lets readers go on
while one process writes; a writer waits up to ``SQLITE_BUSY_SECONDS`` for the one write lock (the busy
handler). pysqlite begins a transaction only at its first write, so a transaction never holds a read
snapshot that it must later upgrade (that upgrade would fail at once, without waiting). A writer that
still waits longer - a bulk job holding the lock - gets "database is locked"; the background loops retry
the round and log that expected condition as one line (``log_retry``), other errors with their traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from core.paths import PROJECT_ROOT

SQLITE_BUSY_SECONDS = 30


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


def create_engine(url: str, sqlite_busy_seconds: float = SQLITE_BUSY_SECONDS) -> AsyncEngine:
    """The async engine for ``url``; SQLite with WAL, foreign keys and a busy timeout (seconds)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": sqlite_busy_seconds})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={round(sqlite_busy_seconds * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across app crashes, fast commits
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def is_busy(error: BaseException) -> bool:
    """SQLite's "database is locked"/"busy": another connection held the write lock longer than the busy
    timeout. Expected while a bulk job writes; the statement can simply be tried again."""
    if not isinstance(error, OperationalError):
        return False
    message = str(error.orig).lower()
    return "database is locked" in message or "database is busy" in message


def log_retry(logger: logging.Logger, what: str, error: BaseException, retry_in: float) -> None:
    """Log a failed round of a loop that will try again: one WARNING line for a busy database, the
    full traceback (ERROR) for anything unexpected."""
    if is_busy(error):
        logger.warning(
            "%s: the database is busy (another process is writing); retrying in %.0f s", what, retry_in
        )
    else:
        logger.error("%s failed; retrying in %.0f s", what, retry_in, exc_info=error)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


@functools.cache
def _heads() -> frozenset[str]:
    """The newest revisions of the migrations shipped with this code (read once per process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to the newest Alembic revision (a database already there is left as it is,
    without loading the migration scripts: every start of the app, and of every test app, asks)."""

    def _upgrade(connection: Connection) -> None:
        if frozenset(MigrationContext.configure(connection).get_current_heads()) == _heads():
            return
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
