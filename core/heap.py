"""The garbage collector in long-running processes (``serve``, ``worker``).

Python's cyclic collector now and then examines every tracked object ("generation 2"). After start-up
the bot holds some hundreds of thousands of them (modules, SQLAlchemy's and pydantic's metadata, the
catalog, the search index), and such a collection held the worker's event loop for up to 362 ms in a
40,000-message fan-out (``bench/broadcast_bench.py fanout --trace``, ``gc_ms``): send turns lost, and
chat answers waiting. ``settle()`` after start-up moves everything that exists then into the permanent
generation (``gc.freeze``), so later collections only look at objects made while running. What start-up
made lives as long as the process anyway.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect start-up's garbage once, then exempt the survivors from future collections."""
    gc.collect()
    gc.freeze()
