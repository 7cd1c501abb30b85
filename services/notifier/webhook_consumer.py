"""Webhook consumers: invoice and credit note events, payments and usage alerts, each event
fanned out into the delivery queue (one row per webhook asking for it) in the transaction that
claims it, so a replayed or redelivered event adds nothing. The services that publish them never
wait for a receiver: the deliverer sends from the queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from faststream.kafka import KafkaRouter

from services.notifier import webhook_repository as repository
from services.notifier.webhooks import EVENT_TYPES, TOPICS
from shared.consumer import consume
from shared.db import processed
from shared.events.topics import Topic
from shared.service import Runtime


def consumer_name(topic: Topic[Any]) -> str:
    return f"{topic.name}->webhooks"


def group_id(runtime: Runtime) -> str:
    """A consumer group of its own (`billport-notifier.webhooks.<topic>`): another consumer of
    the same topic in the notifier (the alert e-mails) keeps its own offsets and partitions."""
    return f"{runtime.settings.group_id}.webhooks"


def deliveries_of(topic: Topic[Any], records: list[Any]) -> list[repository.NewDelivery]:
    """The events of a batch as queued deliveries: the body is the event's JSON as published."""
    found = []
    for record in records:
        event = topic.parse(record.value)
        found.append(
            repository.NewDelivery(
                event_id=event.event_id,
                event_type=event.type,
                resource=topic.key_of(event).decode(),
                body=bytes(record.value),
                occurred_at=event.occurred_at,
            )
        )
    return found


async def enqueue(conn: asyncpg.Connection, topic: Topic[Any], records: list[Any]) -> int:
    """Claim the batch's events and queue their deliveries, in one transaction."""
    events = deliveries_of(topic, records)
    async with conn.transaction():
        fresh = await processed.claim(conn, consumer_name(topic), [e.event_id for e in events])
        wanted = [e for e in events if e.event_id in fresh and e.event_type in EVENT_TYPES]
        return await repository.fan_out(conn, wanted)


def router(runtime: Runtime, woken: Callable[[], None]) -> KafkaRouter:
    kafka = KafkaRouter()

    def subscribe(topic: Topic[Any]) -> None:
        async def process(records: list[Any]) -> None:
            async with runtime.pool.acquire() as conn:
                queued = await enqueue(conn, topic, records)
            if queued:
                woken()

        consume(
            kafka,
            topic,
            group_id(runtime),
            process,
            lambda: runtime.dead_letters().for_group(f"{group_id(runtime)}.{topic.name}"),
            runtime.settings.consumer_max_attempts,
            max_records=200,
        )

    for topic in TOPICS:
        subscribe(topic)
    return kafka
