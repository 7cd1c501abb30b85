"""The usage consumer's lanes: a batch split by partition into transactions run at once. A line
is always in one partition, so its records stay in one lane, in their order."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from services.usage.handlers import by_lane
from services.usage.main import UsageSettings


@given(
    partitions=st.lists(st.integers(0, 11), max_size=60),
    lanes=st.integers(1, 5),
)
def test_each_partition_stays_whole_and_in_order_in_one_lane(
    partitions: list[int], lanes: int
) -> None:
    records = [SimpleNamespace(partition=p, offset=i) for i, p in enumerate(partitions)]
    split = by_lane(records, lanes)
    assert len(split) <= lanes and all(split)
    assert sorted(r.offset for lane in split for r in lane) == list(range(len(records)))
    for lane in split:
        assert [r.offset for r in lane] == sorted(r.offset for r in lane)
    homes = {r.partition: i for i, lane in enumerate(split) for r in lane}
    assert all(homes[r.partition] == i for i, lane in enumerate(split) for r in lane)


def test_one_lane_is_the_batch_as_it_came() -> None:
    records = [SimpleNamespace(partition=p, offset=i) for i, p in enumerate([3, 0, 3, 5])]
    assert by_lane(records, 1) == [records]
    assert by_lane([], 2) == []


def test_two_lanes_unless_set() -> None:
    assert UsageSettings(internal_secret="x" * 32).apply_concurrency == 2
