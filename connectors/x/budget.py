"""X's daily post budget (``KOBLENZ_BOT_X_DAILY_POSTS``), counted in memory over a rolling 24 hours.

The engine refuses press posts beyond the budget when they are scheduled (``broadcasts.service`` reads
``XPublisher.daily_posts``); this count is the publisher's own backstop at sending time: every post it made
counts (alerts too, since X counts them), and a press post beyond the budget is refused, an alert never.
It lives in the process: a restart forgets it (the engine's count from the deliveries table does not).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

DAY = 24 * 3600.0


class DailyBudget:
    def __init__(self, limit: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._sent: deque[float] = deque()

    def used(self) -> int:
        """Posts made in the last 24 hours."""
        start = self._clock() - DAY
        while self._sent and self._sent[0] <= start:
            self._sent.popleft()
        return len(self._sent)

    def left(self) -> int:
        return max(0, self.limit - self.used())

    def record(self) -> None:
        self._sent.append(self._clock())

    def next_free(self) -> float:
        """Seconds until one more post fits (0 when one fits now)."""
        if self.used() < self.limit:
            return 0.0
        return max(0.0, self._sent[len(self._sent) - self.limit] + DAY - self._clock())
