"""Usage consumers: `usage.raw` in, daily rows stored, `usage.recorded` staged in the outbox."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from faststream.kafka import KafkaRouter

from services.usage import repository
from shared.consumer import consume
from shared.correlation import current
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


def router(runtime: Runtime) -> KafkaRouter:
    kafka = KafkaRouter()

    async def process(records: list[Any]) -> None:
        # msgspec structs, not models (a million records); a refusal keeps the model's reason.
        events = [parse_raw(r.value) for r in records]
        async with runtime.pool.acquire() as conn:  # one statement: its own transaction
            await repository.store_and_announce(
                conn, CONSUMER, events, USAGE_RECORDED.name, current()
            )

    consume(
        kafka,
        USAGE_RAW,
        runtime.settings.group_id,
        process,
        runtime.dead_letters,
        runtime.settings.consumer_max_attempts,
    )
    return kafka
