"""Notifier consumer: send requests from `notifier.commands` into the durable send queue, each
request once (its id is the queue's key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faststream.kafka import KafkaRouter

from services.notifier import repository
from shared.consumer import consume
from shared.db import processed
from shared.events.topics import NOTIFIER_COMMANDS
from shared.service import Runtime

CONSUMER = "notifier.commands->sends"


def router(runtime: Runtime, domain: str, woken: Callable[[], None]) -> KafkaRouter:
    kafka = KafkaRouter()

    async def enqueue(records: list[Any]) -> None:
        requests = [NOTIFIER_COMMANDS.parse(r.value) for r in records]
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await processed.claim(conn, CONSUMER, [e.event_id for e in requests])
            for request in requests:
                if request.event_id in fresh:
                    await repository.enqueue(conn, request, domain)
        woken()

    consume(
        kafka,
        NOTIFIER_COMMANDS,
        runtime.settings.group_id,
        enqueue,
        runtime.dead_letters,
        runtime.settings.consumer_max_attempts,
        max_records=100,
    )
    return kafka
