"""After start-up, garbage collections leave start-up's objects alone (they held the worker's loop for
hundreds of milliseconds), and start-up's own garbage is gone first."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from core import heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def restore() -> Iterator[None]:
    yield
    gc.unfreeze()  # give the rest of the test process its collector back


def test_settle_frees_startup_garbage_and_freezes_what_lives(restore: None) -> None:
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    kept = [_Node() for _ in range(1000)]
    heap.settle()
    assert gone() is None  # collected before the freeze, not frozen for ever
    assert gc.get_freeze_count() >= len(kept)
    assert all(not gc.is_finalized(node) for node in kept)
