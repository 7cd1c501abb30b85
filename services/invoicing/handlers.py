"""Invoicing consumers: usage copied day by day (latest wins); payments and sending applied to
invoices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka import KafkaRouter

from services.invoicing import settlement, usage_copy
from shared.consumer import consume
from shared.db import outbox, processed
from shared.events.topics import (
    INVOICING_EVENTS,
    NOTIFIER_EVENTS,
    PAYMENTS_EVENTS,
    USAGE_RECORDED,
    Topic,
)
from shared.service import Runtime


def router(runtime: Runtime) -> KafkaRouter:
    kafka = KafkaRouter()

    async def store_usage(records: list[Any]) -> None:
        await usage_copy.store_usage(runtime, records)

    consume(
        kafka,
        USAGE_RECORDED,
        runtime.settings.group_id,
        store_usage,
        runtime.dead_letters,
        runtime.settings.consumer_max_attempts,
    )
    for topic in (PAYMENTS_EVENTS, NOTIFIER_EVENTS):
        consume(
            kafka,
            topic,
            runtime.settings.group_id,
            settle(runtime, topic),
            runtime.dead_letters,
            runtime.settings.consumer_max_attempts,
            max_records=100,
            prompt_wait_ms=SETTLE_WAIT_MS if topic is PAYMENTS_EVENTS else None,
        )
    return kafka


SETTLE_WAIT_MS = 100
"""The broker's wait for an empty fetch of payments: a posting is what a payer waits to see
in the invoice's balance, and a record arriving on a partition that the fetch in flight left
out (its records were still being read) waits until that fetch returns (see PROMPT_WAIT_MS).
Ten fetches a second at rest instead of two, for one consumer. In alternating payments bench
runs (`bench.payments_ab`, with the invoice detail written as bytes) the p99 at half load went
183 → 152 ms."""


def settle(runtime: Runtime, topic: Topic[Any]) -> Callable[[list[Any]], Awaitable[None]]:
    """Apply payment and sending events in order, each once, with their status events."""
    consumer = f"{topic.name}->invoices"

    async def process(records: list[Any]) -> None:
        events = [topic.parse(r.value) for r in records]
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await processed.claim(conn, consumer, [e.event_id for e in events])
            out = await settlement.apply_all(conn, [e for e in events if e.event_id in fresh])
            await outbox.stage(conn, INVOICING_EVENTS, out)

    return process
