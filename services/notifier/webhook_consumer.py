"""Webhook consumers: invoice and credit note events, payments and usage alerts, each event
fanned out into the delivery queue (one row per webhook asking for it) in the transaction that
claims it, so a replayed or redelivered event adds nothing. The services that publish them never
wait for a receiver: the deliverer sends from the queue.

An invoice's events and its payments come from two topics read by two consumers, either of
which may be ahead. So each delivery of those topics notes where the partner topic ended when
it was read (`After`), each consumer notes how far it has read its topic, and the deliverer
sends a delivery only once the partner topic is read that far, in the order the events
occurred (`webhook_repository.lease_due`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaRouter

from services.notifier import webhook_repository as repository
from services.notifier.webhooks import EVENT_TYPES, PARTNERS, TOPICS, types_of
from shared.consumer import consume
from shared.db import processed
from shared.errors import TransientError
from shared.events.topics import Topic
from shared.kafka import DeadLetterer, partition_for
from shared.service import Runtime


def after_of(topic: Topic[Any], resource: str, ends: dict[int, int]) -> repository.After:
    """Where `topic` stands for `resource`: the end of the partition its key goes to (the
    partner topics are keyed alike, by the invoice id, with Kafka's default partitioner)."""
    partition = partition_for(resource, len(ends))
    return repository.After(topic.name, partition, ends.get(partition, 0))


@dataclass(frozen=True)
class Enqueued:
    wanted: int
    """Fresh events of a type webhooks receive."""
    queued: int
    """Deliveries queued for them."""


GATHER_MS = 500
"""A webhook leaves at most this much later, and a busy topic's events come in batches of that
span: one transaction and one offset commit for many (see `shared.consumer.consume`). An idle
topic costs a fetch a span: at 200 ms the three webhook consumers' empty fetches were ~20 ms
of CPU a second between the broker and the notifier, at rest."""


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
                topic=topic.name,
            )
        )
    return found


def read_up_to(records: list[Any]) -> dict[int, int]:
    """The next offset of each partition after these records."""
    ends: dict[int, int] = {}
    for record in records:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return ends


async def enqueue(
    conn: asyncpg.Connection,
    topic: Topic[Any],
    records: list[Any],
    partner: tuple[Topic[Any], dict[int, int]] | None = None,
) -> Enqueued:
    """Claim the batch's events, note how far the topic is read, and queue the deliveries, in
    one transaction. With a partner (its topic and where it ended once the batch was read),
    each delivery waits until the partner is read that far."""
    events = deliveries_of(topic, records)
    async with conn.transaction():
        fresh = await processed.claim(conn, consumer_name(topic), [e.event_id for e in events])
        wanted = [e for e in events if e.event_id in fresh and e.event_type in EVENT_TYPES]
        await repository.note_read(conn, topic.name, read_up_to(records))
        after_types: tuple[str, ...] = ()
        if partner is not None:
            other, ends = partner
            wanted = [replace(e, after=after_of(other, e.resource, ends)) for e in wanted]
            after_types = types_of(other)
        queued = await repository.fan_out(conn, wanted, after_types)
    return Enqueued(len(wanted), queued)


class NotingDeadLetters(DeadLetterer):
    """Dead-letters as usual, then notes the record as read: deliveries waiting for the
    notifier to read its topic that far are not held by a record that will never be queued."""

    def __init__(self, runtime: Runtime, consumer_group: str) -> None:
        super().__init__(runtime.producer, consumer_group)
        self._pool = runtime.pool

    async def send(
        self,
        record: Any,
        reason: str,
        error_type: str,
        attempts: int,
        payload: bytes | None = None,
    ) -> None:
        await super().send(record, reason, error_type, attempts, payload)
        async with self._pool.acquire() as conn:
            await repository.note_read(conn, record.topic, {record.partition: record.offset + 1})


def router(runtime: Runtime, woken: Callable[[], None]) -> KafkaRouter:
    kafka = KafkaRouter()

    async def ends_of(conn: asyncpg.Connection, topic: Topic[Any]) -> dict[int, int]:
        """Where `topic` ends now; a partition never noted as read (a notifier from before
        the notes) is noted at what the topic's webhook group committed, which follows its
        transactions."""
        try:
            found = await runtime.offsets.end_offsets(topic.name)
            if not found:
                raise TransientError(f"{topic.name} has no partitions yet")
            missing = set(found) - await repository.read_partitions(conn, topic.name)
            if missing:
                group = f"{group_id(runtime)}.{topic.name}"
                done = await runtime.offsets.committed(group, topic.name)
                await repository.note_read(conn, topic.name, {p: done.get(p, 0) for p in missing})
        except KafkaError as exc:
            raise TransientError(f"where {topic.name} ends is not known: {exc}") from None
        return found

    def subscribe(topic: Topic[Any]) -> None:
        other = PARTNERS.get(topic.name)
        letters = f"{group_id(runtime)}.{topic.name}"

        async def process(records: list[Any]) -> None:
            async with runtime.pool.acquire() as conn:
                partner = None
                if other is not None and await repository.any_active(conn):
                    partner = (other, await ends_of(conn, other))
                done = await enqueue(conn, topic, records, partner)
            if done.wanted:  # new deliveries, or the partner's waiting ones may go now
                woken()

        consume(
            kafka,
            topic,
            group_id(runtime),
            process,
            lambda: NotingDeadLetters(runtime, letters),
            runtime.settings.consumer_max_attempts,
            max_records=200,
            gather_ms=GATHER_MS,
        )

    for topic in TOPICS:
        subscribe(topic)
    return kafka
