"""Signed webhooks as an outbound channel: every receiver in ``KOBLENZ_BOT_WEBHOOKS`` (the city app's push
service, a partner's system, ...) gets one JSON POST per event it subscribed to (``alert.issued``,
``alert.updated``, ``alert.cancelled``, ``post.published``), signed with its own secret.

Modules: ``signing`` (the HMAC-SHA256 signature over ``"<timestamp>." + body``, the alert API's scheme),
``publisher`` (``WebhookPublisher``: payload, headers, one POST per delivery, the mapping of answers to the
engine's ``PublishError`` tree), ``channel_spec`` (the channel as the registry knows it; on when
``webhooks`` is not empty). What receivers get is documented for their developers in
``docs/channels/webhook.md``.

Errors are the engine's (``broadcasts.publishers``): 5xx, 408, timeouts and connection errors →
``Transient`` (the worker retries with backoff; the retry carries the same ``X-Koblenz-Delivery``), 429 →
``RetryAfter``, any other 3xx/4xx → ``Rejected``, an event the receiver did not subscribe to →
``Unsupported`` (recorded as not applicable). The package raises nothing of its own.
"""
