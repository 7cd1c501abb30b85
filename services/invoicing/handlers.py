"""Invoicing consumers. For now: `usage.recorded` folded into monthly usage per service line."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from services.invoicing import repository
from shared.consumer import consume
from shared.db import processed
from shared.events.topics import USAGE_RECORDED
from shared.service import Runtime

USAGE_CONSUMER = "usage.recorded->line_month_usage"


def router(runtime: Runtime) -> KafkaRouter:
    kafka = KafkaRouter()

    async def store_usage(records: list[Any]) -> None:
        events = [USAGE_RECORDED.parse(r.value) for r in records]
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await processed.claim(conn, USAGE_CONSUMER, [e.event_id for e in events])
            days = [d for e in events if e.event_id in fresh for d in e.days]
            await repository.add_days_to_months(conn, days)

    consume(
        kafka,
        USAGE_RECORDED,
        runtime.settings.group_id,
        store_usage,
        runtime.dead_letters,
        runtime.settings.consumer_max_attempts,
    )
    return kafka
