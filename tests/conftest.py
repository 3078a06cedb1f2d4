"""Shared fixtures: loopback-only network guard, SQLite and PostgreSQL databases, the real Rasa server."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.model import Catalog, load_catalog
from core.net import free_port
from core.paths import PROJECT_ROOT
from core.settings import Settings, load_settings
from nlu import rasa_env
from tests.fakes.rasa import FakeRasa

PG_ADMIN_DSN = os.environ.get("KOBLENZ_BOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FAST = os.environ.get("KOBLENZ_BOT_FAST_TESTS") == "1"  # set by `make test-fast`


def examples(count: int) -> int:
    """Hypothesis examples for a property: all of them in `make test`, a tenth in `make test-fast`."""
    return max(10, count // 10) if FAST else count


# -- no outside network in tests ------------------------------------------------------------------


def _guard(original: Any) -> Any:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
            raise RuntimeError(f"test tried to reach {address[0]}: tests only talk to 127.0.0.1")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guard(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guard(socket.socket.connect_ex))


# -- catalog --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(PROJECT_ROOT / "data")


# -- databases ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session. PostgreSQL is required: no silent skip."""
    import asyncpg

    name = f"koblenz_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is required for the test suite and is not usable: {exc!r}")
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.db import create_engine, migrate

    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        async with engine.begin() as connection:  # one file, no WAL side files to copy
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        # a copy of a database migrated once per session: Alembic per test was most of the unit tests' time
        shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), tmp_path / "bot.sqlite3")
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    url = request.getfixturevalue("postgres_url")
    # Empty every table BEFORE the test: at that point every app of earlier tests is shut down. (At
    # teardown an app of this test may still hold connections: aiohttp_client can be finalised after us.)
    asyncio.run(_empty_postgres(url))
    yield url


async def _empty_postgres(url: str) -> None:
    from sqlalchemy import text

    from core.db import create_engine, migrate

    engine = create_engine(url)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            tables = (
                (
                    await connection.execute(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                        )
                    )
                )
                .scalars()
                .all()
            )
            if tables:
                await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
        "state_dir": tmp_path / "state",
        "pseudonym_key": "test-key",
        "rasa_manage": False,
        "rasa_url": "http://127.0.0.1:9",
        "nina_url": "",  # no NINA polling unless a test starts the double
    }
    values.update(overrides)
    return load_settings(**values)


# -- Rasa -----------------------------------------------------------------------------------------


@pytest.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    fake = FakeRasa()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def rasa_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Rasa server with the production pipeline, trained once (cached by a hash of its inputs)."""
    model = rasa_env.train(
        PROJECT_ROOT / "nlu" / "config.yml", PROJECT_ROOT / "nlu" / "models", progress=rasa_env.print_progress
    )
    port = free_port()
    log_path = tmp_path_factory.mktemp("rasa") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            rasa_env.server_command(model, "127.0.0.1", port),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=rasa_env.rasa_environ(),
            cwd=log_path.parent,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"Rasa server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/status", timeout=2) as response:
                    if b"model_file" in response.read():
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Rasa server not ready after 300 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


# -- test kinds: `make test-fast` runs the unit tests only (-m "not integration") ---------------------

_INTEGRATION_FIXTURES = {"postgres_url": "postgres", "rasa_url": "rasa", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs PostgreSQL, the real Rasa server, Chromium, other processes, or runs the assembled
    app or engine end to end (``functional``) as ``integration``,
    so that the fast target never needs them; ``make test`` runs everything and never skips them."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = list(callspec.params.values()) if callspec is not None else []  # values may be unhashable
        kinds = {kind for fixture, kind in _INTEGRATION_FIXTURES.items() if fixture in names}
        if "postgres" in params:
            kinds.add("postgres")
        kinds |= {kind for kind in ("rasa", "processes", "functional") if item.get_closest_marker(kind)}
        for kind in kinds:
            item.add_marker(getattr(pytest.mark, kind))
        if kinds:
            item.add_marker(pytest.mark.integration)
