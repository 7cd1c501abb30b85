"""The garbage collector as a service leaves it after startup: startup's objects frozen, the
young generation collected every YOUNG_COLLECTION_THRESHOLD net allocations."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.service import YOUNG_COLLECTION_THRESHOLD, freeze_startup_objects


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    made_at_startup = [[n] for n in range(1000)]
    _, middle, old = gc.get_threshold()
    freeze_startup_objects()
    assert gc.get_freeze_count() >= len(made_at_startup)
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, middle, old)


@pytest.mark.usefixtures("collector")
def test_cycles_are_still_collected() -> None:
    freeze_startup_objects()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect(0) >= 2
