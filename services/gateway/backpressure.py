"""Backpressure for usage pushes: when the usage service lags too far behind `usage.raw`, the
gateway answers 429 (retry shortly) instead of queueing more. A feed then waits a second, and
what it pushed before is committed within a bounded time instead of behind an ever-growing
backlog. The lag is read from Kafka (end offsets minus the group's committed offsets) twice a
second, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from shared.events.topics import USAGE_RAW

log = logging.getLogger(__name__)
LAG = Gauge("billport_consumer_lag", "Messages not yet processed", ["group", "topic"])


class LagMonitor:
    def __init__(self, bootstrap: str, group: str, interval_seconds: float = 0.5) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._interval = interval_seconds
        self.lag = 0
        self._task: asyncio.Task[None] | None = None
        self._partitions: list[TopicPartition] = []
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        await self._admin.start()
        await self._offsets.start()
        self._task = asyncio.create_task(self._run(), name="usage-lag-monitor")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._offsets.stop()
        await self._admin.close()

    async def _run(self) -> None:
        while True:
            try:
                self.lag = await self._measure()
                LAG.labels(self._group, USAGE_RAW.name).set(self.lag)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker away: keep the last figure, say so
                log.warning("cannot read the usage consumer lag: %s", exc)
            await asyncio.sleep(self._interval)

    async def _measure(self) -> int:
        if not self._partitions:
            described = await self._admin.describe_topics([USAGE_RAW.name])
            self._partitions = [
                TopicPartition(USAGE_RAW.name, p["partition"]) for p in described[0]["partitions"]
            ]
        tps = self._partitions
        ends = await self._offsets.end_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(self._group, partitions=tps)
        done = {tp: max(0, meta.offset) for tp, meta in committed.items()}  # -1: none yet
        return sum(max(0, ends[tp] - done.get(tp, 0)) for tp in tps)
