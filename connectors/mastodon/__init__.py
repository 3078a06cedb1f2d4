"""Mastodon as an outbound channel: press posts and alerts as public German statuses of the city's account.

On when ``KOBLENZ_BOT_MASTODON_URL`` (the account's instance) and ``KOBLENZ_BOT_MASTODON_TOKEN`` (an
access token with ``write:statuses`` and ``write:media``) are set. One status per message
(``audience="once"``): an alert carries a content warning naming the warning, its updates edit the status,
its all-clear answers it; every post sends an ``Idempotency-Key`` (the delivery's key), so a retry never
posts twice. Limits (characters, URL weight, image size, alt-text length) come from the instance
(``GET /api/v2/instance``), loaded by ``MastodonPublisher.start()`` or the first send, never assumed.

Mastodon.py is composed, never subclassed; it blocks, so every call runs in ``asyncio.to_thread``. Its
errors are mapped here, at the boundary, to the engine's ``PublishError`` tree (``errors``)::

    PublishError
    ├── RetryAfter       429 (MastodonRatelimitError): until the X-RateLimit-Reset time
    ├── Transient        network errors, timeouts, 5xx
    ├── EditImpossible   edit of a status that is gone (404)
    └── Rejected         any other 4xx (422 validation: text too long, media not processed, ...)
        ├── TokenRejected  401: KOBLENZ_BOT_MASTODON_TOKEN is wrong or revoked
        ├── Forbidden      403: the token lacks a scope (read:statuses for reading before an edit)
        └── StatusGone     404: the status to answer or delete does not exist (a delete: done)

Modules: ``counting`` (lengths as Mastodon counts them: graphemes, every URL as the instance's reserved
length, a mention as its local part), ``limits`` (the instance's limits), ``errors`` (the mapping),
``media`` (fetching an image for upload), ``publisher`` (the channel), ``channel_spec`` (the channel as the
registry knows it).
"""
