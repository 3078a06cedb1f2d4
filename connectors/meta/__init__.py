"""Meta's platforms as outbound channels, through the Graph API over the project's shared aiohttp session:

- ``facebook`` (:mod:`connectors.meta.facebook`): posts on the city's Facebook Page (``/{page-id}/feed``
  with message and link), updates edit the post, an all-clear is a new post of its own (and, as a
  courtesy, a comment under the alert's post);
- ``instagram`` (:mod:`connectors.meta.instagram`): the city's professional Instagram account; every post
  needs a picture, so each message gets an accessible card (:mod:`connectors.meta.card`) served under
  ``PUBLIC_URL`` at ``/cards/<sha256>.jpg`` (:mod:`connectors.meta.routes`); published in two steps
  (container, then ``media_publish``) within the account's daily publishing limit. Captions cannot be
  edited through the API: updates and all-clears are new posts with their own card.

Both use one page access token (``KOBLENZ_BOT_FACEBOOK_PAGE_TOKEN``) and the API version of the settings
(``{graph}/{version}/...``); :mod:`connectors.meta.graph` is the one small client and the one mapping of
the Graph API's error object to the engine's ``PublishError`` tree::

    Graph API error code                          → PublishError
    190 (and 102, 463, 467): token invalid/expired → TokenRejected (a Rejected; the channel stops: every
                                                      later call fails at once with the same operator text,
                                                      ``health()`` says "stopped" and why)
    4, 17, 32, 613, 80000-80099: rate limits       → RetryAfter (the usage headers' estimated time to
                                                      regain access, else 300 s)
    1, 2, is_transient, HTTP 5xx, timeouts         → Transient
    9007: media not ready yet                      → NotReady (a Transient)
    100 with subcode 33: the object is gone        → ObjectGone (a Rejected; an edit → EditImpossible,
                                                      a delete counts as done)
    anything else (100, 368, 200, ...)             → Rejected (only that message fails)

The channels are declared in :mod:`connectors.meta.channel_spec`; see ``docs/channels/meta.md``.
"""
