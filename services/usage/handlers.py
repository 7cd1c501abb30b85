"""Usage consumers: `usage.raw` in, daily rows stored, `usage.recorded` staged in the outbox."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from faststream.kafka import KafkaRouter

from services.usage import repository
from shared.consumer import consume
from shared.correlation import current
from shared.errors import is_transient
from shared.events.topics import USAGE_RAW, USAGE_RECORDED
from shared.events.usage import MAX_DAYS_PER_ANNOUNCEMENT, UsageRecorded
from shared.events.usage_wire import parse_raw
from shared.kafka import partition_for
from shared.service import Runtime

CONSUMER = "usage.raw->daily_usage"


def announcements(
    changed: list[Any], correlation_id: str | None, source: str = "ingest"
) -> list[tuple[str, bytes]]:
    """One `usage.recorded` per partition (key, JSON): its lines' written days, in order."""
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for row in sorted(changed, key=lambda r: (r["service_line_number"], r["date"])):
        by_partition[partition_for(row["service_line_number"])].append(row)
    step = MAX_DAYS_PER_ANNOUNCEMENT
    return [
        (
            days[i]["service_line_number"],
            UsageRecorded.serialize(days[i : i + step], correlation_id, source),
        )
        for _, days in sorted(by_partition.items())
        for i in range(0, len(days), step)
    ]


def by_lane(records: list[Any], lanes: int) -> list[list[Any]]:
    """The records split into at most `lanes` lists by partition, each in its order."""
    split: dict[int, list[Any]] = defaultdict(list)
    for r in records:
        split[r.partition % lanes].append(r)
    return [split[k] for k in sorted(split)]


def router(runtime: Runtime) -> KafkaRouter:
    kafka = KafkaRouter()

    lanes = max(1, int(getattr(runtime.settings, "apply_concurrency", 1)))

    async def store(records: list[Any], correlation_id: str | None) -> None:
        # msgspec structs, not models (a million records); a refusal keeps the model's reason.
        events = [parse_raw(r.value) for r in records]
        async with runtime.pool.acquire() as conn:  # one statement: its own transaction
            await repository.store_and_announce(
                conn, CONSUMER, events, USAGE_RECORDED.name, correlation_id
            )

    async def process(records: list[Any]) -> None:
        """The batch in up to `lanes` transactions at once, split by partition (a line's
        records stay in one, in order). Each runs to its end; if one failed, its error is the
        batch's (a transient one first: then the batch is delivered again), and what the
        others committed is claimed already, so applying it again changes nothing."""
        parts = by_lane(records, lanes)
        correlation_id = current()
        outcomes = await asyncio.gather(
            *(store(part, correlation_id) for part in parts), return_exceptions=True
        )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise next((e for e in failed if is_transient(e)), failed[0])

    consume(
        kafka,
        USAGE_RAW,
        runtime.settings.group_id,
        process,
        runtime.dead_letters,
        runtime.settings.consumer_max_attempts,
    )
    return kafka
