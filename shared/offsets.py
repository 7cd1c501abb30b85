"""How far a consumer group has read a topic: the barrier a billing run waits behind.

A record accepted (acknowledged by the broker) before a moment lies below the topic's end
offsets at that moment; a consumer group has applied it once its committed offsets reach those
ends (offsets are committed only after the effect is stored: `shared.kafka`). So "everything
accepted before now is applied" is: note the end offsets now, then wait for the group to pass
them. Opened at first use and closed with the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Pending:
    """What a group still has to read of a topic: records per partition (none when passed)."""

    topic: str
    group: str
    behind: dict[int, int]

    @property
    def records(self) -> int:
        return sum(self.behind.values())

    def describe(self) -> str:
        parts = ", ".join(f"partition {p}: {n}" for p, n in sorted(self.behind.items()) if n)
        return f"{self.records} records of {self.topic} not yet applied by {self.group} ({parts})"


class OffsetProbe:
    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()

    async def _open(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        async with self._lock:
            if self._consumer is None or self._admin is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap,
                    client_id=f"{self._client_id}-offsets",
                    enable_auto_commit=False,
                )
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self._bootstrap, client_id=f"{self._client_id}-offsets"
                )
                await consumer.start()
                try:
                    await admin.start()
                except BaseException:
                    await consumer.stop()
                    raise
                self._consumer, self._admin = consumer, admin
            return self._consumer, self._admin

    async def close(self) -> None:
        consumer, admin = self._consumer, self._admin
        self._consumer = self._admin = None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """The offset the next record of each partition will get."""
        consumer, _ = await self._open()
        try:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # a topic not yet in the metadata
                partitions = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        except KafkaError:
            await self._reset()
            raise
        return {tp.partition: offset for tp, offset in ends.items()}

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offsets on `topic` (a partition it never committed is 0)."""
        _, admin = await self._open()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        except KafkaError:
            await self._reset()
            raise
        return {
            tp.partition: max(0, meta.offset) for tp, meta in offsets.items() if tp.topic == topic
        }

    async def _reset(self) -> None:
        """Drop both clients after a failure: the next call opens new ones rather than trust
        clients that may not have recovered from a broker restart."""
        async with self._lock:
            with contextlib.suppress(Exception):
                await self.close()

    async def pending(self, group: str, topic: str, targets: dict[int, int]) -> Pending:
        done = await self.committed(group, topic)
        behind = {p: end - done.get(p, 0) for p, end in targets.items() if end > done.get(p, 0)}
        return Pending(topic, group, behind)

    async def wait_passed(
        self, group: str, topic: str, targets: dict[int, int], deadline_seconds: float
    ) -> Pending:
        """Wait until `group` has committed past `targets` or `deadline_seconds` (a monotonic
        instant, not money) comes;
        returns what is still pending (nothing when passed)."""
        while True:
            left = await self.pending(group, topic, targets)
            if not left.behind or time.monotonic() >= deadline_seconds:
                return left
            await asyncio.sleep(POLL_SECONDS)
