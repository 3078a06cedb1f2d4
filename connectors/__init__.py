"""One package per outside system (Telegram, web widget, feeds, ...); inbound → events, outbound → publishers.

Exception tree: errors a connector raises itself derive from ``ConnectorError`` (and so from
``core.KoblenzError``; ``core.http.error_middleware`` answers them as JSON). Failures of a channel while
publishing are the broadcast engine's ``PublishError`` tree (``broadcasts.publishers``)::

    ConnectorError
    ├── FeedbackError      web: 429 too many ratings, 404 nothing left to rate (connectors.web.routes)
    ├── WebhookRefused     telegram: 403, the webhook secret does not match
    └── ChannelStarting    telegram: 503, the channel is not running yet
"""

from __future__ import annotations

from core import KoblenzError


class ConnectorError(KoblenzError):
    """Root of the errors the connectors raise themselves."""
