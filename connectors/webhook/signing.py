"""The signature of a webhook delivery, the same scheme the alert API accepts from senders
(``broadcasts.api.authenticate``): ``X-Koblenz-Timestamp`` is the Unix time in seconds and
``X-Koblenz-Signature`` is ``sha256=`` + the hex HMAC-SHA256 of ``"<timestamp>." + body`` (the exact
bytes of the body) with the receiver's secret (UTF-8). Receivers check it in constant time and refuse a
timestamp more than ``TOLERANCE`` seconds from their clock (docs/channels/webhook.md)."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="
TOLERANCE = (
    300  # seconds a receiver should accept between X-Koblenz-Timestamp and its clock (alert API: 5 min)
)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` for ``body`` sent at ``timestamp`` (Unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
