"""Invoicing consumers. For now: `usage.recorded` kept as the billing copy of daily usage."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from services.invoicing import repository
from shared.consumer import consume
from shared.db import processed
from shared.events.topics import USAGE_RECORDED
from shared.service import Runtime

USAGE_CONSUMER = "usage.recorded->line_daily_usage"


def router(runtime: Runtime) -> KafkaRouter:
    kafka = KafkaRouter()

    async def store_usage(records: list[Any]) -> None:
        events = [USAGE_RECORDED.parse(r.value) for r in records]
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await processed.claim(conn, USAGE_CONSUMER, [e.event_id for e in events])
            await repository.store_usage(conn, [e for e in events if e.event_id in fresh])

    consume(
        kafka,
        USAGE_RECORDED,
        runtime.settings.group_id,
        store_usage,
        runtime.dead_letters,
        runtime.settings.consumer_max_attempts,
    )
    return kafka
