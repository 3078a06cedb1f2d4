"""Inbound news feeds (issue 11, "Feeds"): RSS 2.0 and Atom feeds of the health office, the police, the
city's press office, traffic news, events, polled and turned into suggestions or posts.

- ``config``: the configured feeds (``FEEDS``, validated in ``core.settings`` via ``core.news.FeedSpec``).
- ``fetch``: one conditional GET through the project's aiohttp session (ETag / Last-Modified, 304 = nothing
  to do), with a timeout, a size limit (streamed, aborted beyond ``FEED_MAX_BYTES``) and redirects followed
  by hand (at most five, loops detected, the final URL reported); feedparser only parses the bytes.
- ``html``: feed HTML → safe plain text (nh3, a maintained sanitiser) and dates in Europe/Berlin.
- ``poller``: one task per feed on its own interval; a broken feed (404, 5xx, timeout, not XML, bozo,
  enormous, redirect loop) records its error and never stops the others. New entries are de-duplicated by
  id or link across restarts (unique key per feed); a feed's first round takes only entries younger than
  ``FEED_MAX_AGE``. Mode "draft": a suggestion for the console's "Vorschläge"; mode "publish": a post to
  the topic's subscribers and channels through ``broadcasts.service.Broadcasts``, the source named.
- ``models``: the tables ``feed_state`` and ``feed_entries`` (migration 0008).
- ``news``: ``core.news.NewsSource`` over the sent posts and feed entries, for the chat.
- ``suggestions``: the console's view of draft entries (list, dismiss, mark used).

Errors (``ConnectorError`` subclasses)::

    FeedError            a feed could not be read; its German reason is the feed's last_error (never leaves
                         the poller)
    SuggestionNotFound   404: no such suggestion
    SuggestionClosed     409: the suggestion was already used or dismissed
"""

from __future__ import annotations

from connectors import ConnectorError


class FeedError(ConnectorError):
    """A feed could not be read: the German ``message`` is the feed's ``last_error``."""

    code = "feed_error"


class SuggestionNotFound(ConnectorError):
    status = 404
    code = "not_found"


class SuggestionClosed(ConnectorError):
    status = 409
    code = "conflict"
