"""Subscribing a handler to a topic under the consumer contract of `shared.kafka`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaRouter

from shared import correlation
from shared.events.topics import Topic
from shared.kafka import ACK_POLICY, DeadLetterer, guarded, raw_decoder
from shared.metrics import CONSUMED, CONSUMER_LAG, PROCESSING

Process = Callable[[list[Any]], Awaitable[None]]
"""Applies a list of ConsumerRecords in one transaction (idempotently), or raises."""


def consume(
    router: KafkaRouter,
    topic: Topic[Any],
    group_id: str,
    process: Process,
    dead_letters: Callable[[], DeadLetterer],
    max_attempts: int,
    max_records: int = 500,
    gather_ms: int | None = None,
    prompt_wait_ms: int | None = None,
) -> None:
    """Register a batch subscriber of `topic` in the consumer group `<group_id>.<topic>`: one
    group per service and topic, so a service reading several topics does not rebalance all of
    them whenever one of its consumers joins or leaves.

    `gather_ms` is for a consumer nobody waits on (webhooks, mail): the broker holds its fetch
    until that long has passed (or a full batch's bytes are there), so a steady trickle comes
    as one batch a `gather_ms` instead of one batch a message. Each batch costs a transaction,
    an offset commit and a fetch whatever its size; under the payments bench the webhook
    consumers, fed one event at a time, spent more CPU than the posting itself. Without it,
    a fetch returns as soon as one record is there (the broker's minimum of one byte), or after
    `prompt_wait_ms` (default PROMPT_WAIT_MS) when none came.

    `dead_letters` is called at delivery time: the producer behind it opens in the lifespan."""

    subscriber = router.subscriber(
        topic.name,
        group_id=f"{group_id}.{topic.name}",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=50,  # FastStream's read, replaced by `wait_for_records`
        ack_policy=ACK_POLICY,
        auto_offset_reset="earliest",
        decoder=raw_decoder,
        fetch_max_wait_ms=gather_ms or prompt_wait_ms or PROMPT_WAIT_MS,
        fetch_min_bytes=GATHER_BYTES if gather_ms else 1,
    )
    wait_for_records(subscriber, max_records)

    @subscriber
    async def handle(message: Any) -> None:  # the message itself: see `raw_decoder`
        raw = message.raw_message
        records = list(raw) if isinstance(raw, (tuple, list)) else [raw]
        if not records:
            return
        CONSUMED.labels(topic.name).inc(len(records))
        correlation.bind(correlation.of_event(records[0].value or b""))
        started = time.perf_counter()
        await guarded(records, process, dead_letters(), max_attempts)
        PROCESSING.labels(topic.name).observe(time.perf_counter() - started)
        record_lag(message, records)


IDLE_WAIT_MS = 1000
"""How long a subscriber's read of the fetched records waits when there are none: it answers as
soon as some arrive, so this only paces the loop of an idle topic."""


def wait_for_records(subscriber: Any, max_records: int) -> None:
    """Make `subscriber` (FastStream's batch subscriber) wait for its next records without a
    nap. Its own read (`get_msg`) asks aiokafka for up to `batch_timeout_ms` (50 ms here), and
    when that found nothing it sleeps as long again: a record arriving during the sleep waited
    up to 50 ms for it, on a path with gaps between records (a posting waiting for its balance,
    any time the load is light), and each idle consumer woke ten times a second. aiokafka's
    `getmany` already waits until records are there (its background fetch keeps reading while
    the handler runs), so the read waits in it alone. A unit test holds FastStream to the
    method this replaces."""

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        fetched = await consumer.getmany(timeout_ms=IDLE_WAIT_MS, max_records=max_records)
        return tuple(chain.from_iterable(fetched.values()))

    subscriber.get_msg = get_msg


GATHER_BYTES = 1024 * 1024
"""What a gathering fetch waits for at most: a backlog is read at full speed, not a wait a batch."""
PROMPT_WAIT_MS = 500
"""How long the broker holds an empty fetch of a prompt consumer (aiokafka's default). It answers
as soon as one record is there, but only for the partitions the fetch asked for: aiokafka keeps
one fetch in flight per broker and leaves out of it the partitions whose records are still
being read, so a record arriving on one of those waits until the fetch in flight returns, up to
this long. At 5 s the idle stack spent ~30 ms of CPU a second less, and a saturating usage
ingest's single records took 4.8 s at p99 instead of ~1 s (`make bench`): not taken."""


def record_lag(message: Any, records: list[Any]) -> None:
    """Lag per partition: the partition's end (as last fetched) minus the next offset."""
    consumer = getattr(message, "consumer", None)
    highwater = getattr(consumer, "highwater", None)
    if highwater is None:  # the in-memory test broker has no partitions
        return
    last: dict[Any, int] = {}
    for r in records:
        last[TopicPartition(r.topic, r.partition)] = r.offset
    for tp, offset in last.items():
        end = highwater(tp)
        if end is not None:
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - offset - 1))
