"""X (formerly Twitter) as an outbound channel: press posts and alerts as public posts of the city's account.

On when the four OAuth 1.0a credentials are set (``KOBLENZ_BOT_X_CONSUMER_KEY``, ``_X_CONSUMER_SECRET``:
the app's keys; ``_X_ACCESS_TOKEN``, ``_X_ACCESS_TOKEN_SECRET``: the city account's token, with read and
write rights). One post per message (``audience="once"``), at most 280 characters as X counts them
(weighted: URLs 23, most non-Latin characters and emoji 2). X's API edits posts only within a short window
and only on some plans, so an update deletes the alert's post and posts the updated text ("🔄
Aktualisiert: ..."); the all-clear answers the alert's live post ("✅ Entwarnung: ..."). Press posts are
limited to ``KOBLENZ_BOT_X_DAILY_POSTS`` per rolling 24 hours (the engine refuses them at scheduling time,
the publisher again at sending time); alerts always go. Every call (posts and media) goes to
``KOBLENZ_BOT_X_API_URL``.

tweepy (API v2) is composed, never subclassed; it blocks, so every call runs in ``asyncio.to_thread``. Its
errors are mapped here, at the boundary, to the engine's ``PublishError`` tree (``errors``)::

    PublishError
    ├── RetryAfter       429: until x-rate-limit-reset (the 24-hour reset when the daily cap is spent)
    ├── Transient        5xx, timeouts, connection errors
    └── Rejected         403 (duplicate content, text too long, not allowed), 400, other 4xx,
        │                a press post beyond the daily budget
        ├── TokenRejected  401: the keys or the access token are wrong or revoked
        └── PostGone       404: the post is gone (a delete takes it as done)

Modules: ``transport`` (the session put into tweepy: the base URL and timeouts), ``errors`` (the mapping),
``media`` (fetching and uploading an image), ``budget`` (the rolling 24-hour count), ``publisher`` (the
channel), ``channel_spec`` (the channel as the registry knows it).
"""
