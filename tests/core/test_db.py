"""SQLite for one writer and several processes: WAL and a busy timeout let concurrent writers wait their
turn instead of failing, and a loop that meets the expected "database is locked" logs one line."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.db import create_engine, is_busy, log_retry


async def _write(path: Path, who: str, rows: int, hold: float) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        for _ in range(rows):
            async with engine.begin() as connection:
                # read, then write in the same transaction (the pattern of the scheduler and the import)
                count = (await connection.execute(text("SELECT COUNT(*) FROM t"))).scalar()
                await connection.execute(
                    text("INSERT INTO t (who, seen) VALUES (:who, :seen)"), {"who": who, "seen": count}
                )
                if hold:
                    await asyncio.sleep(hold)  # keep the write lock, like a bulk import
    finally:
        await engine.dispose()


def _writer_process(path: Path, who: str, rows: int, hold: float) -> None:
    asyncio.run(_write(path, who, rows, hold))


def _table(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, seen INTEGER)")


@pytest.mark.processes
def test_two_processes_writing_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    _table(path)
    fork = multiprocessing.get_context("fork")  # the children start with everything imported
    writers = [
        fork.Process(target=_writer_process, args=(path, who, rows, hold))
        for who, rows, hold in (("slow", 3, 0.3), ("fast", 40, 0.0), ("fast2", 40, 0.0))
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0, f"{writer.name} failed (see its traceback above)"
    with sqlite3.connect(path) as connection:
        counts = dict(connection.execute("SELECT who, COUNT(*) FROM t GROUP BY who").fetchall())
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert counts == {"slow": 3, "fast": 40, "fast2": 40}


async def test_a_writer_waits_for_the_lock_and_a_longer_wait_is_recognised_as_busy(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    _table(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the one write lock
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_busy_seconds=0.3)
    try:
        with pytest.raises(OperationalError) as raised:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t (who) VALUES ('x')"))
        assert is_busy(raised.value)
        holder.execute("COMMIT")
        async with engine.begin() as connection:  # the lock is free: the same write goes through
            await connection.execute(text("INSERT INTO t (who) VALUES ('x')"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() == 300
    finally:
        holder.close()
        await engine.dispose()
    assert not is_busy(RuntimeError("database is locked"))  # only the driver's error counts


def test_log_retry_is_one_line_for_busy_and_a_traceback_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.retry")
    busy = OperationalError("UPDATE t", {}, sqlite3.OperationalError("database is locked"))
    try:
        raise busy
    except OperationalError as error:
        log_retry(log, "scheduler round", error, 1.0)
    try:
        raise ValueError("a bug")
    except ValueError as error:
        log_retry(log, "scheduler round", error, 1.0)
    first, second = caplog.records
    assert first.levelno == logging.WARNING and first.exc_info is None
    assert first.getMessage() == (
        "scheduler round: the database is busy (another process is writing); retrying in 1 s"
    )
    assert "\n" not in logging.Formatter("%(levelname)s %(name)s: %(message)s").format(first)
    assert second.levelno == logging.ERROR and second.exc_info is not None
    assert "Traceback" in caplog.text and "ValueError: a bug" in caplog.text
