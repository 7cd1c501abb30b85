"""Payments consumers: the invoices' amounts, from `invoicing.events`, each event once."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from services.payments import postings
from shared.consumer import consume
from shared.db import outbox, processed
from shared.events.topics import INVOICING_EVENTS, PAYMENTS_EVENTS
from shared.service import Runtime

CONSUMER = "invoicing.events->invoices"


def router(runtime: Runtime) -> KafkaRouter:
    kafka = KafkaRouter()

    async def follow(records: list[Any]) -> None:
        events = [INVOICING_EVENTS.parse(r.value) for r in records]
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await processed.claim(conn, CONSUMER, [e.event_id for e in events])
            reversals = []
            for event in events:
                if event.event_id in fresh:
                    reversals += await postings.follow_invoice(conn, event)
            await outbox.stage(conn, PAYMENTS_EVENTS, reversals)

    consume(
        kafka,
        INVOICING_EVENTS,
        runtime.settings.group_id,
        follow,
        runtime.dead_letters,
        runtime.settings.consumer_max_attempts,
        max_records=200,
    )
    return kafka
