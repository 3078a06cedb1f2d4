"""The outbox worker: claims rows by lease, sends them through the channel's publisher at the channel's
rate, records the outcome, and never lets one bad message stop the rest.

Inside one worker: a claimer keeps a small priority queue per channel filled (about half a second of the
channel's rate, so a new alert overtakes queued posts within half a second); a dispatcher per channel
takes the next slot of the rate limiter and sends the most urgent queued row; results are written in
batches. Outcomes: sent; 429 → the channel pauses for ``retry_after`` (on every worker) and the row waits;
5xx / timeout → retry with exponential backoff and jitter until ``max_attempts``, then failed; 403 → the
subscriber is deactivated; any other rejection or an unexpected error → failed at once (poison message).

Crash safety: a row is ``in_flight`` from its claim until its outcome is written. If the process dies, the
row's lease runs out and another worker (or this one after a restart) sends it again. So the only possible
duplicates are rows that were sent but whose outcome was not yet written: at most ``max_in_flight`` per
worker (queued + sending + unwritten), in practice the few in the HTTP call at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import logging
import os
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from broadcasts import outbox
from broadcasts.outbox import Claimed, Outcome
from broadcasts.publishers import (
    EditImpossible,
    Outgoing,
    Publisher,
    PublishError,
    RecipientGone,
    Rejected,
    RetryAfter,
    Sent,
    Transient,
    Unsupported,
    push_only,
)
from broadcasts.ratelimit import Slots
from broadcasts.states import DeliveryState, MessageKind
from core.background import wait_any
from core.db import log_retry

log = logging.getLogger(__name__)


def _sent(row_id: int, sent: str | Sent) -> Outcome:
    if isinstance(sent, Sent):
        return Outcome(row_id, DeliveryState.SENT, sent.id, time.time(), public_url=sent.url)
    return Outcome(row_id, DeliveryState.SENT, str(sent), time.time())


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.randrange(16**4):04x}"


@dataclass(frozen=True)
class WorkerConfig:
    lease: float = 30.0
    max_attempts: int = 8
    backoff: float = 2.0
    max_backoff: float = 600.0
    max_in_flight: int = 500
    concurrency: int = 64
    poll: float = 0.2
    flush_every: float = 0.05
    queue_seconds: float = 0.5  # how much of the channel's rate is claimed ahead
    claim_batch: int = 100  # rows per claim: small batches keep the event loop's pauses short


@dataclass(frozen=True)
class _Message:
    kind: str
    texts: dict[str, str]
    outgoing: Outgoing  # the message's facts, built once; each delivery adds its own key


@dataclass(frozen=True)
class _Ref:
    state: str
    provider_message_id: str | None
    sent_at: float | None


@dataclass
class _Channel:
    publisher: Publisher
    slots: Slots
    queue: list[tuple[int, int, Claimed]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class Worker:
    def __init__(
        self,
        engine: AsyncEngine,
        publishers: dict[str, Publisher],
        slots: dict[str, Slots],
        config: WorkerConfig | None = None,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or WorkerConfig()
        self.name = name or worker_name()
        # pull channels (feeds, banner) are read from the database by their clients: never sent to
        self.channels = {n: _Channel(p, slots[n]) for n, p in push_only(publishers).items()}
        self.stats: Counter[str] = Counter()
        self._messages: dict[int, _Message] = {}
        self._refs: dict[int, _Ref] = {}
        self._held: set[int] = set()  # claimed and not yet written back
        self._outcomes: list[Outcome] = []
        self._gone: list[tuple[str, str]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._semaphore = asyncio.Semaphore(self.config.concurrency)
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Something new is in the outbox: claim now instead of at the next poll."""
        self._wake.set()

    # -- main loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._dispatch(name), name=f"dispatch-{name}") for name in self.channels]
        tasks.append(asyncio.create_task(self._flusher(), name="outbox-flush"))
        last_renew = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    claimed = await self._claim()
                    if time.monotonic() - last_renew > self.config.lease / 3:
                        await self._renew()
                        last_renew = time.monotonic()
                except Exception as error:
                    log_retry(log, "outbox claim", error, 1.0)
                    claimed = 0
                    await asyncio.sleep(1.0)
                if claimed:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wait_any(self._wake, stop), self.config.poll)
        finally:
            # stop without cancelling anything in the middle of a database transaction
            self._stopping = True
            for channel in self.channels.values():
                channel.ready.set()
            _done, late = await asyncio.wait(tasks[:-1], timeout=5.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks[:-1], return_exceptions=True)
            if self._sending:
                await asyncio.wait(self._sending, timeout=self.config.lease / 2)
            await asyncio.gather(tasks[-1], return_exceptions=True)
            await self._flush()
            queued = [c.id for ch in self.channels.values() for _p, _i, c in ch.queue]
            with contextlib.suppress(Exception):
                await outbox.release(self.engine, self.name, queued)

    def _target(self, channel: _Channel) -> int:
        rate = channel.publisher.capabilities.rate_per_second or 30.0
        return max(10, int(rate * self.config.queue_seconds))

    async def _claim(self) -> int:
        """Top up the channel queues; return how many rows were claimed."""
        room = self.config.max_in_flight - len(self._held)
        wanted = sum(max(0, self._target(c) - len(c.queue)) for c in self.channels.values())
        low = any(len(c.queue) <= self._target(c) * 3 // 4 for c in self.channels.values())
        want = min(room, wanted, self.config.claim_batch)
        if want <= 0 or not low:
            return 0
        rows = await outbox.claim(self.engine, self.name, want, self.config.lease)
        if not rows:
            return 0
        await self._load(rows)
        for row in rows:
            self._held.add(row.id)
            channel = self.channels.get(row.channel)
            if channel is None:  # no publisher for it in this worker: give it back
                await outbox.release(self.engine, self.name, [row.id])
                self._held.discard(row.id)
                continue
            heapq.heappush(channel.queue, (row.priority, row.id, row))
            channel.ready.set()
        return len(rows)

    async def _load(self, rows: list[Claimed]) -> None:
        """Fetch message texts (cached) and the first messages that edits and all-clears refer to."""
        message_ids = {r.message_id for r in rows} - set(self._messages)
        ref_ids = {r.ref_delivery_id for r in rows if r.ref_delivery_id is not None}
        async with self.engine.connect() as connection:
            if message_ids:
                result = await connection.execute(
                    text("SELECT id, kind, texts, meta FROM outbound_messages WHERE id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": list(message_ids)},
                )
                for row in result.all():
                    texts = outbox.json_dict(row.texts)
                    meta = outbox.json_meta(row.meta)
                    facts = Outgoing.from_meta({"kind": str(row.kind), **meta}, message_id=int(row.id))
                    self._messages[int(row.id)] = _Message(str(row.kind), texts, facts)
            if ref_ids:
                result = await connection.execute(
                    text(
                        "SELECT id, state, provider_message_id, sent_at FROM deliveries WHERE id IN :ids"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"ids": list(ref_ids)},
                )
                for row in result.all():
                    self._refs[int(row.id)] = _Ref(str(row.state), row.provider_message_id, row.sent_at)
        if len(self._messages) > 1000:
            self._messages.clear()

    async def _renew(self) -> None:
        if not self._held:
            return
        async with self.engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE deliveries SET locked_until = :until "
                    "WHERE id IN :ids AND state = 'in_flight' AND locked_by = :me"
                ).bindparams(bindparam("ids", expanding=True)),
                {"until": time.time() + self.config.lease, "ids": list(self._held), "me": self.name},
            )

    # -- sending -----------------------------------------------------------------------------------

    async def _dispatch(self, name: str) -> None:
        channel = self.channels[name]
        while not self._stopping:
            if not channel.queue:
                channel.ready.clear()
                await channel.ready.wait()
                continue
            if self._stopping:
                break
            paused = channel.slots.paused_until() - time.time()
            if paused > 0:
                await asyncio.sleep(min(paused, 1.0))
                continue
            # a free connection first, then the turn: a turn taken while waiting for a connection would
            # be written late, bunched with later turns (measured: about +4 messages in a second)
            await self._semaphore.acquire()
            try:
                await channel.slots.wait_turn()
            except BaseException:
                self._semaphore.release()
                raise
            if not channel.queue:
                self._semaphore.release()
                continue
            _p, _i, row = heapq.heappop(channel.queue)
            task = asyncio.create_task(self._send(channel, row))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, channel: _Channel, row: Claimed) -> None:
        try:
            outcome = await self._deliver(channel, row)
        except RetryAfter as exc:
            until = time.time() + max(exc.seconds, 0.0)
            if exc.whole_channel:
                await channel.slots.pause(until)
            self.stats["rate_limited"] += 1
            outcome = Outcome(
                row.id, DeliveryState.PENDING, next_attempt_at=until, error=str(exc), refund_attempt=True
            )
        except Transient as exc:
            self.stats["transient"] += 1
            outcome = self._retry(row, str(exc))
        except Unsupported as exc:  # not for this recipient (a webhook that does not want the event)
            self.stats["not_applicable"] += 1
            outcome = Outcome(row.id, DeliveryState.CANCELLED, error=f"not applicable: {exc}")
        except RecipientGone as exc:
            self.stats["deactivated"] += 1
            self._gone.append((row.channel, row.chat_id))
            outcome = Outcome(row.id, DeliveryState.DEACTIVATED, error=str(exc))
        except PublishError as exc:
            self.stats["failed"] += 1
            outcome = Outcome(row.id, DeliveryState.FAILED, error=str(exc))
        except Exception as exc:  # a poison message must not stop the worker
            log.exception("delivery %s failed unexpectedly", row.id)
            self.stats["failed"] += 1
            outcome = Outcome(row.id, DeliveryState.FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._semaphore.release()
        self._outcomes.append(outcome)

    def _retry(self, row: Claimed, error: str) -> Outcome:
        if row.attempts >= self.config.max_attempts:
            self.stats["failed"] += 1
            return Outcome(row.id, DeliveryState.FAILED, error=f"after {row.attempts} attempts: {error}")
        delay = min(self.config.max_backoff, self.config.backoff * 2 ** (row.attempts - 1))
        delay *= random.uniform(0.5, 1.5)  # jitter: retries of many rows do not arrive together
        return Outcome(row.id, DeliveryState.PENDING, next_attempt_at=time.time() + delay, error=error)

    async def _deliver(self, channel: _Channel, row: Claimed) -> Outcome:
        message = self._messages.get(row.message_id)
        if message is None:
            await self._load([row])
            message = self._messages[row.message_id]
        publisher = channel.publisher
        caps = publisher.capabilities
        body = message.texts.get(row.channel)
        if not body:
            raise Rejected(f"no text for channel {row.channel}")
        outgoing = message.outgoing
        if caps.audience == "once":  # a post per target: its delivery's own idempotency key
            if row.chat_id not in publisher.targets(outgoing.event):
                return Outcome(row.id, DeliveryState.CANCELLED, error=f"not applicable: {outgoing.event}")
            outgoing = dataclasses.replace(outgoing, key=f"koblenz-{row.id}")
        ref = self._refs.get(row.ref_delivery_id) if row.ref_delivery_id is not None else None
        if row.ref_delivery_id is not None and (ref is None or ref.state != DeliveryState.SENT):
            if (
                message.kind == MessageKind.UPDATE
                and ref is not None
                and ref.state in (DeliveryState.FAILED, DeliveryState.CANCELLED)
            ):
                ref = None  # the first message never arrived: send the updated alert as a new message
            elif ref is not None and ref.state == DeliveryState.DEACTIVATED:
                return Outcome(row.id, DeliveryState.DEACTIVATED, error="recipient blocked the bot")
            else:
                return Outcome(row.id, DeliveryState.CANCELLED, error="the first message was not delivered")
        if message.kind == MessageKind.UPDATE and ref is not None and ref.provider_message_id:
            return await self._update(channel, row, message, body, ref, outgoing)
        reply_to = ref.provider_message_id if ref is not None else None
        sent = await publisher.send(row.chat_id, body, reply_to=reply_to, outgoing=outgoing)
        self.stats["sent"] += 1
        return _sent(row.id, sent)

    async def _update(
        self, channel: _Channel, row: Claimed, message: _Message, body: str, ref: _Ref, outgoing: Outgoing
    ) -> Outcome:
        """An update to a message that went out: edited where the platform can (within its window), else
        the channel's fallback: a correction as a reply, delete and post anew (X), or a new post."""
        publisher = channel.publisher
        caps = publisher.capabilities
        assert ref.provider_message_id is not None and row.ref_delivery_id is not None
        if caps.on_update == "replace":
            await publisher.delete(row.chat_id, ref.provider_message_id)
            sent = await publisher.send(row.chat_id, body, outgoing=outgoing)
            self.stats["replaced"] += 1
            outcome = _sent(row.id, sent)
            # the alert's first delivery now points at the live post: an all-clear answers that one
            outcome.repoint = (row.ref_delivery_id, outcome.provider_message_id, outcome.public_url)
            return outcome
        if caps.on_update == "new":
            sent = await publisher.send(
                row.chat_id, body, reply_to=ref.provider_message_id, outgoing=outgoing
            )
            self.stats["sent"] += 1
            return _sent(row.id, sent)
        window = caps.edit_window
        age = time.time() - (ref.sent_at or 0.0)
        if caps.edit and (window is None or age < window.total_seconds() - 60):
            try:
                await publisher.edit(row.chat_id, ref.provider_message_id, body, outgoing=outgoing)
                self.stats["edited"] += 1
                return Outcome(row.id, DeliveryState.SENT, ref.provider_message_id, time.time())
            except EditImpossible:
                pass
        correction = message.texts.get(f"{row.channel}:correction") or body
        sent = await publisher.send(
            row.chat_id, correction, reply_to=ref.provider_message_id, outgoing=outgoing
        )
        self.stats["corrections"] += 1
        return _sent(row.id, sent)

    # -- writing results ---------------------------------------------------------------------------

    async def _flusher(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.config.flush_every)
            try:
                await self._flush()
            except Exception as error:
                log_retry(log, "writing delivery results", error, 1.0)
                await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        gone, self._gone = self._gone, []
        try:
            # a blocked chat first: once its 403 row is recorded, the chat's next row would be claimable
            for channel, chat in gone:
                await outbox.deactivate_chat(self.engine, channel, chat)
            await outbox.record(self.engine, outcomes)
        except BaseException:
            self._outcomes[:0] = outcomes
            self._gone[:0] = gone
            raise
        for outcome in outcomes:
            self._held.discard(outcome.id)
        if outcomes:
            self._wake.set()  # room for more claims
