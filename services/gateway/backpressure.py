"""Backpressure for usage pushes: when the consumers on the way from a push to the invoicing
copy (where thresholds are checked) lag too far behind, the gateway answers 429 (retry shortly)
instead of queueing more. A feed then waits a second, and what it pushed before reaches the
copy within a bounded time instead of behind an ever-growing backlog.

Two lags are watched: the usage service's on `usage.raw`, and the invoicing service's on
`usage.recorded` (bounding only the first let the second grow under a saturating load, and an
alert waited behind it). Each is read from Kafka (end offsets minus the group's committed
offsets) off the request path: every `BILLPORT_GATEWAY_USAGE_LAG_INTERVAL_SECONDS` (0.1 s) while
pushes arrive, once a second when none came for a few seconds (reading ten times a second
for nothing cost Kafka CPU), and at once when the first push after a quiet spell arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

log = logging.getLogger(__name__)
LAG = Gauge("billport_consumer_lag", "Messages not yet processed", ["group", "topic"])
BUSY_SECONDS = 5.0
"""Pushes this recent keep the readings at the short interval."""
IDLE_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class Watched:
    """A consumer group's reading of a topic, and the lag (messages) beyond which pushes wait
    (0: never)."""

    group: str
    topic: str
    max_lag: int


class LagMonitor:
    def __init__(
        self, bootstrap: str, watched: list[Watched], interval_seconds: float = 0.1
    ) -> None:
        self._watched = [w for w in watched if w.max_lag > 0]
        self._interval = interval_seconds
        self.lags: dict[Watched, int] = dict.fromkeys(self._watched, 0)
        self._task: asyncio.Task[None] | None = None
        self._last_push = -math.inf  # no push yet
        self._wake = asyncio.Event()
        self._partitions: dict[str, list[TopicPartition]] = {}
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    def pushed(self) -> None:
        """A push arrived: read at the short interval for a while (at once after a quiet spell)."""
        self._last_push = time.monotonic()
        self._wake.set()

    def over(self) -> Watched | None:
        """The first watched reading that lags beyond its limit, if any."""
        return next((w for w, lag in self.lags.items() if lag > w.max_lag), None)

    async def start(self) -> None:
        if not self._watched:
            return
        await self._admin.start()
        await self._offsets.start()
        self._task = asyncio.create_task(self._run(), name="usage-lag-monitor")

    async def stop(self) -> None:
        if not self._task:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._offsets.stop()
        await self._admin.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            for watched in self._watched:
                try:
                    self.lags[watched] = lag = await self._measure(watched)
                    LAG.labels(watched.group, watched.topic).set(lag)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the broker away: keep the last figure, say so
                    log.warning("cannot read the lag of %s: %s", watched.group, exc)
            if time.monotonic() - self._last_push < BUSY_SECONDS:
                await asyncio.sleep(self._interval)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_INTERVAL_SECONDS)

    async def _measure(self, watched: Watched) -> int:
        tps = self._partitions.get(watched.topic)
        if not tps:
            described = await self._admin.describe_topics([watched.topic])
            tps = [
                TopicPartition(watched.topic, p["partition"]) for p in described[0]["partitions"]
            ]
            self._partitions[watched.topic] = tps
        ends = await self._offsets.end_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(watched.group, partitions=tps)
        done = {tp: max(0, meta.offset) for tp, meta in committed.items()}  # -1: none yet
        return sum(max(0, ends[tp] - done.get(tp, 0)) for tp in tps)
