"""The outbox: creating the fan-out (idempotent, resumable) and claiming, finishing and reclaiming rows.

Fan-out runs in chunks, each its own transaction, with a cursor on the message row: a crash in the middle
resumes where it stopped, and the unique constraint (message, channel, chat) with ON CONFLICT DO NOTHING
means a chunk done twice creates nothing twice. Phases of a message's fan-out (``fanout_state``):

- ``subscribers``: every active subscriber of the topic whose Stadtteile the message covers
  (``broadcasts.subscribers.covers``; city-wide messages reach everyone with the topic);
- ``chain`` (updates and all-clears first): everyone who got an earlier message of the alert; an update
  edits their message (``ref_delivery_id``), an all-clear answers it;
- ``done``.

Claiming is by lease. PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so any number of workers on any
machines take disjoint rows. SQLite (one in-process worker): an UPDATE ... WHERE state = 'pending'
RETURNING, atomic in SQLite's single writer. A claimed row is ``in_flight`` with ``locked_until``; a
worker that dies leaves it to be reclaimed after the lease. Per chat, a row is only claimable when no
other row of the same chat is in flight, none goes before it, and the last message to the chat is at
least the chat's interval ago (1 s private, 3 s groups: 20 per minute), so these limits also hold across
workers.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Integer, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from broadcasts.models import Delivery
from broadcasts.states import FINAL, OPEN, DeliveryState, FanoutState, MessageKind, sql_list
from broadcasts.subscribers import Subscriber
from core.time import utcnow

PRIVATE_INTERVAL = 1.05  # Telegram: 1 message per second per chat, plus a little for clock jitter
GROUP_INTERVAL = 3.1  # Telegram: 20 messages per minute per group or channel
FANOUT_CHUNK = 2000
FANOUT_LEASE = 60.0
PUSH_CHANNELS = ("telegram",)
_FIRSTS = (MessageKind.ALERT, MessageKind.UPDATE)  # messages an update edits and an all-clear answers
# The raw SQL below names states through the enums (f-strings of our own constants, never user input).
_PENDING = f"'{DeliveryState.PENDING}'"
_IN_FLIGHT = f"'{DeliveryState.IN_FLIGHT}'"
_SENT = f"'{DeliveryState.SENT}'"
_DONE = f"'{FanoutState.DONE}'"


@dataclasses.dataclass(frozen=True)
class Claimed:
    id: int
    message_id: int
    channel: str
    chat_id: str
    is_group: bool
    subscriber_id: int | None
    ref_delivery_id: int | None
    priority: int
    attempts: int


def _insert(connection: AsyncConnection, rows: list[dict[str, Any]]) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Delivery).on_conflict_do_nothing(
        index_elements=["message_id", "channel", "chat_id"]
    )
    return connection.execute(statement, rows)


async def _lease_message(engine: AsyncEngine, message_id: int) -> dict[str, Any] | None:
    now = time.time()
    async with engine.begin() as connection:
        result = await connection.execute(
            text(
                "UPDATE outbound_messages SET fanout_locked_until = :until "
                f"WHERE id = :id AND fanout_state != {_DONE} AND fanout_locked_until < :now"
            ),
            {"id": message_id, "until": now + FANOUT_LEASE, "now": now},
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        row = (
            await connection.execute(
                text(
                    "SELECT id, kind, topic, stadtteile, priority, alert_id, fanout_state, fanout_cursor, "
                    "meta FROM outbound_messages WHERE id = :id"
                ),
                {"id": message_id},
            )
        ).one()
    return dict(row._mapping)


def json_dict(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        value = json.loads(value)
    return {str(k): str(v) for k, v in (value or {}).items()}


def _json_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value)
    return [str(v) for v in value or []]


def json_meta(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})


def _subscriber_channels(message: dict[str, Any]) -> list[str]:
    """The subscriber channels a message goes to (``meta["channels"]``; older messages: Telegram)."""
    meta = json_meta(message.get("meta"))
    return list(meta["channels"]) if "channels" in meta else list(PUSH_CHANNELS)


async def _once_rows(connection: AsyncConnection, message: dict[str, Any]) -> int:
    """One delivery per target of the channels that post once per message (X, Mastodon, the Telegram
    channel, each webhook), created with the first chunk; the unique key makes a repeat a no-op."""
    targets = json_meta(message.get("meta")).get("targets") or {}
    now = time.time()
    rows = [
        {
            "message_id": message["id"],
            "channel": str(channel),
            "chat_id": str(target),
            "is_group": str(channel) == "telegram_channel",  # Telegram: 20 per minute per channel
            "subscriber_id": None,
            "ref_delivery_id": None,
            "priority": message["priority"],
            "state": DeliveryState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": utcnow(),
        }
        for channel, names in sorted(targets.items())
        for target in names
    ]
    if not rows:
        return 0
    result = await _insert(connection, rows)
    return max(0, getattr(result, "rowcount", len(rows)))


async def _subscriber_chunk(connection: AsyncConnection, message: dict[str, Any]) -> tuple[int, int, bool]:
    """Insert deliveries for the next chunk of subscribers; return (inserted, new cursor, finished).

    Set-based (``INSERT … SELECT`` in the database): the chunk's rows never pass through Python. The
    worker that sends shares this process's event loop, and building 2,000 rows there held the loop for
    ~100 ms per chunk, i.e. lost send turns (measured: the first ~12 s of a 100,000-message fan-out ran
    at 600–800 messages/s instead of 975)."""
    once = await _once_rows(connection, message) if message["fanout_cursor"] == 0 else 0
    channels = _subscriber_channels(message)
    if not channels:
        return once, 0, True
    areas = _json_list(message["stadtteile"])
    chosen = (
        "FROM subscribers s JOIN subscriptions sub ON sub.subscriber_id = s.id "
        "WHERE sub.topic = :topic AND s.active AND s.id > :cursor AND s.channel IN :channels"
    )
    params: dict[str, Any] = {
        "topic": message["topic"],
        "cursor": message["fanout_cursor"],
        "channels": channels,
    }
    bounds = (
        await connection.execute(
            text(
                f"SELECT count(*) AS n, max(id) AS last FROM (SELECT s.id AS id {chosen} "
                "ORDER BY s.id LIMIT :limit) AS chunk"
            ).bindparams(_expanding("channels")),
            {**params, "limit": FANOUT_CHUNK},
        )
    ).one()
    if not bounds.n:
        return once, message["fanout_cursor"], True
    covered = ""  # an alert for some Stadtteile reaches subscriptions to the whole city or to one of them
    if areas:
        elements = (
            "SELECT 1 FROM json_array_elements_text(sub.stadtteile) AS area(name) WHERE area.name IN :areas"
            if connection.dialect.name == "postgresql"
            else "SELECT 1 FROM json_each(sub.stadtteile) AS area WHERE area.value IN :areas"
        )
        covered = (
            f" AND (sub.stadtteile IS NULL OR json_array_length(sub.stadtteile) = 0 OR EXISTS ({elements}))"
        )
    statement = text(
        "INSERT INTO deliveries (message_id, channel, chat_id, is_group, subscriber_id, ref_delivery_id, "
        "priority, state, attempts, next_attempt_at, created_at) "
        f"SELECT :message_id, s.channel, s.chat_id, COALESCE(s.chat_type, '') <> 'private', s.id, NULL, "
        f":priority, {_PENDING}, 0, :now, :created {chosen} AND s.id <= :last{covered} "
        "ON CONFLICT (message_id, channel, chat_id) DO NOTHING"
    ).bindparams(
        _expanding("channels"),
        *([_expanding("areas")] if areas else []),
        bindparam("created", type_=Delivery.__table__.c.created_at.type),
        bindparam("now", type_=Float()),
    )
    result = await connection.execute(
        statement,
        {
            **params,
            **({"areas": areas} if areas else {}),
            "message_id": message["id"],
            "priority": message["priority"],
            "now": time.time(),
            "created": utcnow(),
            "last": bounds.last,
        },
    )
    inserted = once + max(0, int(getattr(result, "rowcount", 0) or 0))
    return inserted, int(bounds.last), bounds.n < FANOUT_CHUNK


async def _chain_chunk(connection: AsyncConnection, message: dict[str, Any]) -> tuple[int, int, bool]:
    """Updates and all-clears: one row per chat that got (or is getting) a first message of the alert."""
    firsts = (
        await connection.execute(
            text(
                "SELECT d.id, d.channel, d.chat_id, d.is_group, d.subscriber_id, d.state FROM deliveries d "
                "JOIN outbound_messages m ON m.id = d.message_id "
                f"WHERE m.alert_id = :root AND m.id != :id AND m.kind IN {sql_list(_FIRSTS)} "
                "AND d.ref_delivery_id IS NULL AND d.id > :cursor "
                f"AND d.state IN ({_PENDING}, {_IN_FLIGHT}, {_SENT}) ORDER BY d.id LIMIT :limit"
            ),
            {
                "root": message["alert_id"],
                "id": message["id"],
                "cursor": message["fanout_cursor"],
                "limit": FANOUT_CHUNK,
            },
        )
    ).all()
    pending = [r.id for r in firsts if r.state == DeliveryState.PENDING]
    superseded: set[int] = set()
    if pending:
        # not sent yet: the older text is dropped; an update sends its own text, an all-clear nothing
        result = await connection.execute(
            text(
                f"UPDATE deliveries SET state = '{DeliveryState.CANCELLED}', last_error = 'superseded' "
                f"WHERE id IN :ids AND state = {_PENDING} RETURNING id"
            ).bindparams(_expanding("ids")),
            {"ids": pending},
        )
        superseded = {int(r[0]) for r in result.all()}
    now = time.time()
    new = []
    for r in firsts:
        if r.id in superseded and message["kind"] == MessageKind.ALLCLEAR:
            continue
        new.append(
            {
                "message_id": message["id"],
                "channel": r.channel,
                "chat_id": r.chat_id,
                "is_group": r.is_group,
                "subscriber_id": r.subscriber_id,
                "ref_delivery_id": None if r.id in superseded else r.id,
                "priority": message["priority"],
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": utcnow(),
            }
        )
    inserted = 0
    if new:
        result = await _insert(connection, new)
        inserted = max(0, getattr(result, "rowcount", len(new)))
    cursor = firsts[-1].id if firsts else message["fanout_cursor"]
    return inserted, cursor, len(firsts) < FANOUT_CHUNK


async def fan_out(engine: AsyncEngine, message_id: int, max_chunks: int | None = None) -> bool:
    """Create the deliveries of a message chunk by chunk; return True when its fan-out is complete.

    Returns False at once when another process holds the fan-out lease of this message."""
    message = await _lease_message(engine, message_id)
    if message is None:
        return False
    chunks = 0
    while message["fanout_state"] != FanoutState.DONE:
        async with engine.begin() as connection:
            # the message may have been stopped (cancelled, superseded) meanwhile
            state = (
                await connection.execute(
                    text("SELECT fanout_state FROM outbound_messages WHERE id = :id"), {"id": message_id}
                )
            ).scalar_one()
            if state != message["fanout_state"]:
                return bool(state == FanoutState.DONE)
            next_state: FanoutState
            if message["fanout_state"] == FanoutState.CHAIN:
                inserted, cursor, finished = await _chain_chunk(connection, message)
                after_chain = (
                    FanoutState.DONE if message["kind"] == MessageKind.ALLCLEAR else FanoutState.SUBSCRIBERS
                )
                next_state = after_chain if finished else FanoutState.CHAIN
            else:
                inserted, cursor, finished = await _subscriber_chunk(connection, message)
                next_state = FanoutState.DONE if finished else FanoutState.SUBSCRIBERS
            if next_state != message["fanout_state"]:
                cursor = 0
            await connection.execute(
                text(
                    "UPDATE outbound_messages SET fanout_state = :state, fanout_cursor = :cursor, "
                    "total = total + :inserted, fanout_locked_until = :until WHERE id = :id"
                ),
                {
                    "state": next_state.value,
                    "cursor": cursor,
                    "inserted": inserted,
                    "until": 0.0 if next_state == FanoutState.DONE else time.time() + FANOUT_LEASE,
                    "id": message_id,
                },
            )
        message["fanout_state"], message["fanout_cursor"] = next_state, cursor
        chunks += 1
        if max_chunks is not None and chunks >= max_chunks and next_state != FanoutState.DONE:
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE outbound_messages SET fanout_locked_until = 0 WHERE id = :id"),
                    {"id": message_id},
                )
            return False
    return True


# -- claiming ------------------------------------------------------------------------------------------

_ELIGIBLE = f"""
    d.state = {_PENDING} AND d.next_attempt_at <= :now
    AND NOT EXISTS (
        SELECT 1 FROM deliveries o
        WHERE o.channel = d.channel AND o.chat_id = d.chat_id AND o.id != d.id AND (
            o.state = {_IN_FLIGHT}
            OR (o.state = {_PENDING} AND (o.priority < d.priority OR (o.priority = d.priority AND o.id < d.id)))
            OR (o.state = {_SENT} AND o.sent_at > :now - CASE WHEN d.is_group THEN :group_gap ELSE :chat_gap END)
        )
    )
    AND (d.ref_delivery_id IS NULL OR EXISTS (
        SELECT 1 FROM deliveries r WHERE r.id = d.ref_delivery_id AND r.state NOT IN {sql_list(OPEN)}
    ))
"""
_RETURNING = "id, message_id, channel, chat_id, is_group, subscriber_id, ref_delivery_id, priority, attempts"


async def claim(engine: AsyncEngine, worker: str, limit: int, lease: float) -> list[Claimed]:
    """Take up to ``limit`` due rows, alerts first, for ``lease`` seconds."""
    now = time.time()
    params = {
        "now": now,
        "limit": limit,
        "worker": worker,
        "until": now + lease,
        "chat_gap": PRIVATE_INTERVAL,
        "group_gap": GROUP_INTERVAL,
    }
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            sql = (
                f"WITH picked AS (SELECT d.id FROM deliveries d WHERE {_ELIGIBLE} "
                "ORDER BY d.priority, d.id LIMIT :limit FOR UPDATE OF d SKIP LOCKED) "
                f"UPDATE deliveries SET state = {_IN_FLIGHT}, locked_by = :worker, locked_until = :until, "
                f"attempts = attempts + 1 FROM picked WHERE deliveries.id = picked.id RETURNING "
                + ", ".join(f"deliveries.{c.strip()}" for c in _RETURNING.split(","))
            )
        else:
            sql = (
                f"UPDATE deliveries SET state = {_IN_FLIGHT}, locked_by = :worker, locked_until = :until, "
                f"attempts = attempts + 1 WHERE id IN (SELECT d.id FROM deliveries d WHERE {_ELIGIBLE} "
                f"ORDER BY d.priority, d.id LIMIT :limit) AND state = {_PENDING} RETURNING {_RETURNING}"
            )
        statement = text(sql).bindparams(
            *(bindparam(n, type_=Float()) for n in ("now", "until", "chat_gap", "group_gap")),
            bindparam("limit", type_=Integer()),
        )
        rows = (await connection.execute(statement, params)).all()
    claimed = [Claimed(**dict(r._mapping)) for r in rows]
    claimed.sort(key=lambda c: (c.priority, c.id))
    return claimed


async def reclaim_expired(engine: AsyncEngine) -> int:
    """Rows whose worker died (lease over) go back to pending; they may have been sent: the bound on
    duplicates is the number of rows a worker holds in flight."""
    async with engine.begin() as connection:
        result = await connection.execute(
            text(
                f"UPDATE deliveries SET state = {_PENDING}, locked_by = NULL, locked_until = NULL, "
                f"last_error = 'lease expired (worker gone)' WHERE state = {_IN_FLIGHT} AND locked_until < :now"
            ),
            {"now": time.time()},
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def release(engine: AsyncEngine, worker: str, ids: Sequence[int]) -> None:
    """Give claimed rows back untouched (worker shutting down before sending them)."""
    if not ids:
        return
    async with engine.begin() as connection:
        await connection.execute(
            text(
                f"UPDATE deliveries SET state = {_PENDING}, locked_by = NULL, locked_until = NULL, "
                f"attempts = attempts - 1 WHERE id IN :ids AND state = {_IN_FLIGHT} AND locked_by = :worker"
            ).bindparams(_expanding("ids")),
            {"ids": list(ids), "worker": worker},
        )


@dataclasses.dataclass
class Outcome:
    id: int
    state: DeliveryState  # sent / pending (retry) / failed / deactivated / cancelled
    provider_message_id: str | None = None
    sent_at: float | None = None
    next_attempt_at: float = 0.0
    error: str | None = None
    refund_attempt: bool = False  # a 429 is the platform's pacing, not a failure of this message
    public_url: str | None = None  # the live post, where the platform has a public page for it
    # (first delivery id, provider id, url): an update replaced the post the first delivery points at
    repoint: tuple[int, str | None, str | None] | None = None


def _driver_sql(connection: AsyncConnection, sql: str, count: int) -> str:
    """``sql`` with ``?`` placeholders in the driver's own style (SQLite qmark, asyncpg $n)."""
    if connection.dialect.paramstyle == "qmark":
        return sql
    parts = sql.split("?")
    assert len(parts) == count + 1
    return "".join(f"{part}${i}" if i <= count else part for i, part in enumerate(parts, 1))


async def record(engine: AsyncEngine, outcomes: Sequence[Outcome]) -> None:
    """Write the results of a batch of sends in one transaction. The rows go to the driver's executemany
    directly: SQLAlchemy's per-row parameter processing held the event loop for ~10 ms per batch, long
    enough to miss send turns at 1,000 msg/s."""
    if not outcomes:
        return
    sent = [
        (o.provider_message_id, o.public_url[:500] if o.public_url else None, o.sent_at, o.id)
        for o in outcomes
        if o.state == DeliveryState.SENT
    ]
    repointed = [(o.repoint[1], o.repoint[2], o.repoint[0]) for o in outcomes if o.repoint is not None]
    retry = [
        (o.next_attempt_at, (o.error or "")[:500], int(o.refund_attempt), o.id)
        for o in outcomes
        if o.state == DeliveryState.PENDING
    ]
    final = [
        (o.state.value, (o.error or "")[:500], o.id)
        for o in outcomes
        if o.state in FINAL and o.state != DeliveryState.SENT
    ]
    statements = (
        (
            f"UPDATE deliveries SET state = {_SENT}, provider_message_id = ?, public_url = ?, sent_at = ?, "
            f"locked_by = NULL, locked_until = NULL, last_error = NULL WHERE id = ? AND state IN {sql_list(OPEN)}",
            sent,
        ),
        ("UPDATE deliveries SET provider_message_id = ?, public_url = ? WHERE id = ?", repointed),
        (
            f"UPDATE deliveries SET state = {_PENDING}, next_attempt_at = ?, last_error = ?, "
            f"attempts = attempts - ?, locked_by = NULL, locked_until = NULL WHERE id = ? AND state = {_IN_FLIGHT}",
            retry,
        ),
        (
            "UPDATE deliveries SET state = ?, last_error = ?, locked_by = NULL, locked_until = NULL "
            f"WHERE id = ? AND state IN {sql_list(OPEN)}",
            final,
        ),
    )
    async with engine.begin() as connection:
        for sql, rows in statements:
            if rows:
                await connection.exec_driver_sql(_driver_sql(connection, sql, len(rows[0])), rows)


async def deactivate_chat(engine: AsyncEngine, channel: str, chat_id: str) -> int:
    """The recipient blocked us: deactivate the subscriber and stop everything queued for the chat."""
    async with engine.begin() as connection:
        await connection.execute(
            update(Subscriber)
            .where(Subscriber.channel == channel, Subscriber.chat_id == chat_id, Subscriber.active.is_(True))
            .values(active=False, deactivated_at=utcnow())
        )
        result = await connection.execute(
            text(
                f"UPDATE deliveries SET state = '{DeliveryState.DEACTIVATED}', last_error = 'recipient blocked "
                f"the bot' WHERE channel = :channel AND chat_id = :chat AND state = {_PENDING}"
            ),
            {"channel": channel, "chat": chat_id},
        )
    return int(getattr(result, "rowcount", 0) or 0)


def _expanding(name: str) -> Any:
    return bindparam(name, expanding=True)
