"""The website banner as an outbound channel (``banner``): the active alerts, most severe first, shown on
koblenz.de and in the chat widget.

A pull channel: the website's script reads ``GET /api/alerts`` (served by ``bot.http`` from the
``core.alerts.AlertSource`` the root hands it, the same list the chat answers from), so an alert is on
the banner as soon as it is accepted, changes with its updates and disappears with its all-clear or
expiry. Always on; it carries alerts only, never press posts, and the outbox never sends to it.
"""
