"""Where a message went on the channels that post once per message (X, Mastodon, Facebook, Instagram,
the Telegram channel, webhooks): per message and channel its state, attempts, the provider's id and the
public link to the live post. Read by ``koblenz-bot deliveries --posts``, the API and the console."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Alert, Delivery, OutboundMessage


async def live_posts(
    sessions: async_sessionmaker[AsyncSession],
    broadcast_id: int | None = None,
    alert_identifier: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Per message and channel that posts once (X, Mastodon, Facebook, the Telegram channel, webhooks):
    state, attempts, the provider's id and the public link to the live post, newest first."""
    async with sessions() as session:
        query = (
            select(Delivery, OutboundMessage.kind, OutboundMessage.broadcast_id, OutboundMessage.alert_id)
            .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
            .where(Delivery.subscriber_id.is_(None))
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
        if broadcast_id is not None:
            query = query.where(OutboundMessage.broadcast_id == broadcast_id)
        if alert_identifier is not None:
            head = await session.scalar(select(Alert).where(Alert.identifier == alert_identifier))
            query = query.where(OutboundMessage.alert_id == ((head.root_id or head.id) if head else -1))
        rows = (await session.execute(query)).all()
    return [
        {
            "message": d.message_id,
            "kind": str(kind),
            "broadcast": broadcast,
            "alert": alert,
            "channel": d.channel,
            "target": d.chat_id,
            "state": str(d.state),
            "attempts": d.attempts,
            "provider_id": d.provider_message_id,
            "url": d.public_url,
            "error": d.last_error,
        }
        for d, kind, broadcast, alert in rows
    ]
