"""The consumer watch restarts a subscriber only when its group has records waiting and has
committed nothing for the stall time, and never dies of a failed look."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.consumer_watch import ConsumerWatch, Watch, judge, waiting_records

ENDS = {0: 10, 1: 5}


def test_the_clock_restarts_when_caught_up_or_moving() -> None:
    first = judge(None, {0: 3, 1: 5}, ENDS, now=0)
    assert first == Watch({0: 3, 1: 5}, 0)
    assert judge(first, {0: 3, 1: 5}, ENDS, now=40) is first  # waiting, unmoved: stalls
    assert judge(first, {0: 4, 1: 5}, ENDS, now=40) == Watch({0: 4, 1: 5}, 40)  # moved
    assert judge(first, {0: 10, 1: 5}, ENDS, now=40).moving_since == 40  # caught up
    assert judge(first, {0: 3, 1: 5}, {0: 3, 1: 5}, now=40).moving_since == 40  # nothing new


@given(st.dictionaries(st.integers(0, 7), st.integers(0, 1000)), st.integers(0, 7))
def test_a_caught_up_group_never_stalls(ends: dict[int, int], _: int) -> None:
    watch = judge(Watch(dict(ends), 0), dict(ends), ends, now=1000)
    assert watch.moving_since == 1000 and waiting_records(ends, ends) == 0


def test_never_committed_partitions_count_from_zero() -> None:
    assert waiting_records({0: 4}, ENDS) == 6 + 5


class _Subscriber:
    group_id = "billport-payments.invoicing.events"
    topic_names_for_subscribe = ["invoicing.events"]

    def __init__(self) -> None:
        self.stops = self.starts = 0

    async def stop(self) -> None:
        self.stops += 1

    async def start(self) -> None:
        self.starts += 1


class _Probe:
    def __init__(self) -> None:
        self.committed_now: dict[int, int] = {0: 3, 1: 5}
        self.failing = False

    async def end_offsets(self, topic: str) -> dict[int, int]:
        if self.failing:
            raise ConnectionError("broker away")
        return dict(ENDS)

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        return dict(self.committed_now)


async def test_a_stalled_group_is_restarted_once_per_stall() -> None:
    now = [0.0]
    subscriber, probe = _Subscriber(), _Probe()
    watch = ConsumerWatch(lambda: [subscriber], probe, 60, clock=lambda: now[0])  # type: ignore[arg-type]
    for t in (0, 30, 59):
        now[0] = t
        await watch.look()
    assert subscriber.stops == 0
    now[0] = 60
    await watch.look()
    assert (subscriber.stops, subscriber.starts) == (1, 1)
    now[0] = 100  # still stalled, but its clock started again at the restart
    await watch.look()
    assert subscriber.stops == 1
    now[0] = 121
    await watch.look()
    assert subscriber.stops == 2


async def test_a_moving_group_and_a_failed_look_restart_nothing() -> None:
    now = [0.0]
    subscriber, probe = _Subscriber(), _Probe()
    watch = ConsumerWatch(lambda: [subscriber], probe, 60, clock=lambda: now[0])  # type: ignore[arg-type]
    for t in range(0, 300, 20):
        now[0] = t
        probe.committed_now = {0: min(10, 3 + t // 20), 1: 5}  # one record every look
        await watch.look()
    probe.failing = True
    for t in range(300, 600, 20):
        now[0] = t
        await watch.look()  # logged, not raised
    assert subscriber.stops == 0


async def test_a_restart_that_fails_is_logged_and_tried_again(caplog: Any) -> None:
    now = [0.0]
    subscriber, probe = _Subscriber(), _Probe()

    async def broken_start() -> None:
        raise RuntimeError("cannot join")

    subscriber.start = broken_start  # type: ignore[method-assign]
    watch = ConsumerWatch(lambda: [subscriber], probe, 60, clock=lambda: now[0])  # type: ignore[arg-type]
    for t in (0, 60, 120):
        now[0] = t
        await watch.look()
    assert subscriber.stops == 2
    assert "restarting the consumer of invoicing.events failed" in caplog.text
