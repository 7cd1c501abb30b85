"""A consumer that stopped reading while its topic holds records for it: seen, counted, restarted.

An aiokafka group member can stay alive without consuming after a broker restart: its
coordination loop never rejoins the group and no public state says so (reported as
aio-libs/aiokafka#1154; nothing in the 0.14.0 changelog fixes it). The fault suite met a stall
of this kind once in CI: after the Kafka restart the payments service no longer followed
`invoicing.events`, and every posting on an invoice made afterwards was answered 503 for four
minutes (CI keeps no service logs, and 60 Kafka restarts here did not bring it back, so its
exact cause is not known). Nothing inside a member reports it, so the watch judges by the outcome
an operator cares about: the group's committed offsets are behind the topic's end and have not
moved for `stall_seconds`. This process's subscriber of that topic is then stopped and started
again: a new consumer rejoins the group and resumes at the committed offsets (handlers are
idempotent: a batch read twice changes nothing). Every member of the group sees the same stall
and restarts its own, which also frees partitions a stuck peer held.

A stall has other causes (PostgreSQL away, a handler waiting on a lock); restarting costs a
rebalance and cures none of them, so the alarm is the error log line and
`billport_consumer_restarts_total`, not the restart itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.metrics import CONSUMER_RESTARTS, CONSUMER_STALLED
from shared.offsets import OffsetProbe

log = logging.getLogger(__name__)
CHECK_SECONDS = 5.0
RESTART_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Watch:
    """What was last seen of one group on one topic."""

    committed: dict[int, int]
    moving_since: float
    """When the group was last seen caught up or moving: a `time.monotonic()` instant in
    seconds, not money."""


def judge(
    previous: Watch | None, committed: dict[int, int], ends: dict[int, int], now: float
) -> Watch:
    """The group's watch after one more look: the clock restarts whenever nothing is waiting
    for it or its committed offsets moved."""
    waiting = waiting_records(committed, ends) > 0
    if not waiting or previous is None or committed != previous.committed:
        return Watch(committed, now)
    return previous


def waiting_records(committed: dict[int, int], ends: dict[int, int]) -> int:
    """Records on the topic the group has not committed past (a partition never committed
    counts from 0)."""
    return sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())


class ConsumerWatch:
    def __init__(
        self,
        subscribers: Callable[[], list[Any]],
        offsets: OffsetProbe,
        stall_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._subscribers = subscribers
        self._offsets = offsets
        self._stall = stall_seconds
        self._clock = clock
        self._watches: dict[tuple[str, str], Watch] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            await self.look()

    async def look(self) -> None:
        for subscriber in self._subscribers():
            try:
                await self._look_at(subscriber)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka away: judged again at the next look
                log.warning("consumer watch could not look at a subscriber: %r", exc)

    async def _look_at(self, subscriber: Any) -> None:
        group = subscriber.group_id
        for topic in subscriber.topic_names_for_subscribe:
            ends = await self._offsets.end_offsets(topic)
            committed = await self._offsets.committed(group, topic)
            now = self._clock()
            watch = judge(self._watches.get((group, topic)), committed, ends, now)
            self._watches[(group, topic)] = watch
            stalled = now - watch.moving_since
            CONSUMER_STALLED.labels(topic).set(stalled)
            if stalled >= self._stall:
                waiting = waiting_records(committed, ends)
                log.error(
                    "the consumer group %s made no progress on %s for %.0f s (records"
                    " waiting: %d); restarting this process's consumer",
                    group,
                    topic,
                    stalled,
                    waiting,
                )
                CONSUMER_RESTARTS.labels(topic).inc()
                self._watches[(group, topic)] = Watch(committed, now)
                try:
                    await restart(subscriber)
                except Exception:  # tried again once the group has stalled that long again
                    log.exception("restarting the consumer of %s failed", topic)
                return


async def restart(subscriber: Any) -> None:
    """Stop the subscriber (its consumer leaves the group; a handler running gets FastStream's
    graceful wait) and start it again with a new consumer."""
    await asyncio.wait_for(subscriber.stop(), RESTART_TIMEOUT_SECONDS)
    await asyncio.wait_for(subscriber.start(), RESTART_TIMEOUT_SECONDS)
    log.warning("consumer of %s restarted", ", ".join(subscriber.topic_names_for_subscribe))
