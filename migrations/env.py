"""Alembic environment: runs on a connection handed over by core.db.migrate, or on the settings' URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import bot.models  # noqa: F401  (conversations and turns)
import broadcasts.models  # broadcast engine: posts, alerts, outbox, audit
import broadcasts.subscribers  # noqa: F401  (registers the models on Base.metadata)
import catalog.revisions  # noqa: F401  (editors' revisions of catalog services)
import connectors.console.models  # noqa: F401  (staff console: users, sessions, approvals)
import connectors.ingest.models  # noqa: F401  (inbound feeds: feed state, entries, suggestions)
import connectors.nina.models  # noqa: F401  (NINA: warnings seen)
import connectors.web.models  # noqa: F401  (web widget: feedback on answers)
from core.db import Base, create_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    from core.settings import load_settings

    engine = create_engine(load_settings().database_url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `koblenz-bot db upgrade`")

provided = context.config.attributes.get("connection")
if provided is not None:
    _run(provided)
else:
    asyncio.run(_run_online())
