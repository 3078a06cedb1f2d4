"""Helpers for the outbox and worker unit tests: a publisher that records and fails on request, messages
fanned out without a running scheduler, a worker running inside a block, the deliveries as rows."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts.cap import reference_of, to_cap_xml
from broadcasts.capmodel import CapAlert
from broadcasts.engine import Scheduler
from broadcasts.models import Delivery
from broadcasts.publishers import Capabilities, Checked, PublishError
from broadcasts.ratelimit import LocalSlots, Slots
from broadcasts.worker import Worker, WorkerConfig
from core.db import sessionmaker
from tests import broadcasting as h


class Recording(Checked):
    """A push channel named "telegram" that records what it was asked to do; ``fail(chat, error, ...)``
    makes the next sends to that chat raise those errors, ``fail_edit`` the next edit."""

    name = "telegram"
    label = "Telegram"
    capabilities = Capabilities(
        send=True,
        edit=True,
        delete=True,
        push=True,
        max_text=4096,
        rate_per_second=1000.0,
        edit_window=dt.timedelta(hours=48),
    )

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None, float]] = []  # chat, text, reply_to, time
        self.edited: list[tuple[str, str, str]] = []
        self.attempts: list[str] = []
        self._errors: dict[str, list[PublishError]] = {}
        self._edit_errors: list[PublishError] = []

    def fail(self, chat: str, *errors: PublishError) -> None:
        self._errors.setdefault(chat, []).extend(errors)

    def fail_edit(self, error: PublishError) -> None:
        self._edit_errors.append(error)

    async def send(self, target: str, text: str, reply_to: str | None = None, outgoing: Any = None) -> str:
        self.attempts.append(target)
        errors = self._errors.get(target)
        if errors:
            raise errors.pop(0)
        self.sent.append((target, text, reply_to, time.time()))
        return str(len(self.sent))

    async def edit(self, target: str, message_id: str, text: str, outgoing: Any = None) -> None:
        if self._edit_errors:
            raise self._edit_errors.pop(0)
        self.edited.append((target, message_id, text))

    async def delete(self, target: str, message_id: str) -> None:
        return None

    def to(self, chat: str) -> list[str]:
        return [text for target, text, _reply, _at in self.sent if target == chat]


async def fan_out_all(engine: AsyncEngine) -> None:
    """Start due posts and create every pending fan-out, as the scheduler's rounds do."""
    scheduler = Scheduler(engine, dt.timedelta(days=30))
    while await scheduler.run_once():
        pass


async def issue(engine: AsyncEngine, alert: CapAlert) -> None:
    await h.service(engine).submit_alert(h.FIRE, alert, to_cap_xml(alert).decode())
    await fan_out_all(engine)


async def update_of(engine: AsyncEngine, first: CapAlert, identifier: str, headline: str) -> CapAlert:
    update = h.cap_alert(identifier, headline, msg_type="Update", references=[reference_of(first)])
    await issue(engine, update)
    return update


async def post(engine: AsyncEngine, text: str) -> None:
    service = h.service(engine)
    broadcast = await service.create(h.PRESS, "presse", text)
    await service.schedule(h.PRESS, broadcast)
    await fan_out_all(engine)


async def deliveries(engine: AsyncEngine, chat: str | None = None) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.id)
    if chat is not None:
        query = query.where(Delivery.chat_id == chat)
    async with sessionmaker(engine)() as session:
        return list((await session.scalars(query)).all())


@contextlib.asynccontextmanager
async def working(
    engine: AsyncEngine, publisher: Recording, slots: Slots | None = None, **config: Any
) -> AsyncIterator[Worker]:
    """One outbox worker running until the block ends (no rate limit unless ``slots`` says so)."""
    settings = {"lease": 30.0, "poll": 0.05, "backoff": 0.01, **config}
    worker = Worker(
        engine,
        {"telegram": publisher},
        {"telegram": slots or LocalSlots(1e6)},
        WorkerConfig(**settings),
        name="test-worker",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def subscribed(engine: AsyncEngine, chats: Sequence[int], topic: str = "warnungen") -> None:
    await h.add_subscribers(engine, chats, topic=topic)
