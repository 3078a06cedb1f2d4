"""The conversation: events, catalog, dialogue, HTTP app and CLI of the Koblenz citizen bot.

Exception tree (everything this package raises on purpose)::

    BotError
    ├── SettingsError      invalid configuration, raised at start-up with a readable message
    ├── CatalogError       a catalog record does not validate (file and field named)
    └── InputRejected      a citizen's message cannot be processed (too long, empty); carries a polite text
"""

from __future__ import annotations


class BotError(Exception):
    """Root of the bot package's exceptions."""


class SettingsError(BotError):
    """The configuration is invalid."""


class CatalogError(BotError):
    """A catalog record is invalid."""


class InputRejected(BotError):
    """A message was rejected; ``polite`` is the text shown to the citizen."""

    def __init__(self, reason: str, polite: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.polite = polite
