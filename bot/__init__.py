"""The conversation: typed events, the dialogue, answers from the catalog, the conversation store and
the chat's HTTP routes (handed to the composition root in ``app``).

Exception tree (everything this package raises on purpose; the root derives from ``core.KoblenzError``)::

    BotError
    └── InputRejected      a citizen's message cannot be processed (too long, empty); carries a polite text
"""

from __future__ import annotations

from core import KoblenzError


class BotError(KoblenzError):
    """Root of the bot package's exceptions."""


class InputRejected(BotError):
    """A message was rejected; ``polite`` is the text shown to the citizen."""

    status = 400
    code = "input_rejected"

    def __init__(self, reason: str, polite: str) -> None:
        super().__init__(polite)
        self.reason = reason
        self.polite = polite
