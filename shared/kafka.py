"""Kafka helpers: the idempotent producer, the broker factory with an explicit ack policy,
dead-lettering with the reason, and topic creation.

Consumer contract (every subscriber goes through `guarded`):
- the handler's effect and its processed-event claim commit in one database transaction;
- the offset is committed only after that (AckPolicy.NACK_ON_ERROR, auto-commit off);
- a transient failure (database or broker away) is retried in place with backoff, then the
  message is left unacknowledged: it is delivered again, nothing is skipped;
- a permanent failure (a message that can never be valid), or any failure repeated
  `max_attempts` times, goes to `<topic>.dlq` with the reason, and only then is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from shared.errors import PermanentError, is_transient
from shared.events.dead_letter import DeadLetter
from shared.events.topics import PARTITIONS, all_topic_names
from shared.metrics import DEAD_LETTERED, FAILED, PRODUCED

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024 - 64 * 1024
"""Largest payload a producer sends (the broker takes 8 MiB messages; headroom for the batch)."""

ACK_POLICY = AckPolicy.NACK_ON_ERROR
"""Commit after processing; on an unhandled error seek back so the message comes again."""


@functools.lru_cache(maxsize=262_144)
def partition_for(key: str, partitions: int = PARTITIONS) -> int:
    """The partition Kafka's default partitioner gives `key` (murmur2, as the Java client).

    Records of several keys may share one message when they share this partition: their order
    per key is then the same as if each had been sent on its own."""
    index: int = (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    return index


class KafkaProducer:
    """aiokafka's idempotent producer (acks=all): `send_all` returns once every record is
    acknowledged by the broker, so a caller may then commit or answer its client."""

    def __init__(self, bootstrap: str, client_id: str, linger_ms: int = 5) -> None:
        """`linger_ms`: how long a batch waits for more records. The gateway's usage pushes,
        sent by concurrent requests, share batches that way; an outbox relay sends a whole
        round at once and waits for it, so for it lingering only delays every event (0)."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
            # zstd at its default level: aiokafka's lz4 is LZ4-HC (level 9), 1.6 us of CPU per
            # usage record in the producer; zstd takes 0.13 us and writes 11 KB where lz4
            # wrote 17 KB (a 1,000-record usage.raw message).
            compression_type="zstd",
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, records: Iterable[tuple[str, bytes | None, bytes]]) -> int:
        futures = []
        for topic, key, value in records:
            futures.append(await self._producer.send(topic, value=value, key=key))
            PRODUCED.labels(topic).inc()
        await asyncio.gather(*futures)
        return len(futures)

    async def healthy(self) -> bool:
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=2)
        except Exception:
            return False
        return True


def make_broker(bootstrap: str, client_id: str) -> KafkaBroker:
    """The FastStream broker of a service; subscribers choose ACK_POLICY explicitly."""
    # Per-message "Received/Processed" lines at DEBUG: at thousands a second they drown the log.
    return KafkaBroker(
        bootstrap, client_id=client_id, enable_idempotence=True, logger=log, log_level=logging.DEBUG
    )


async def raw_decoder(msg: Any) -> Any:
    """Hand handlers FastStream's message itself, records unparsed (its `raw_message`): parsing
    (and refusing) is the handler's job, so that a poison message reaches the dead-letter path
    instead of failing inside the framework.

    A coroutine: FastStream runs a plain function given as a decoder on its thread pool, a
    thread hand-off per batch (~6 % of the usage service's CPU during the ingest, per py-spy).
    The message arrives as the body rather than through a `KafkaMessage` parameter for the
    same reason: fast_depends resolves such a context parameter with a plain function, on the
    thread pool, once per batch on every consumer."""
    return msg


class DeadLetterer:
    def __init__(self, producer: KafkaProducer, consumer_group: str) -> None:
        self._producer = producer
        self._group = consumer_group

    def for_group(self, consumer_group: str) -> DeadLetterer:
        """The same producer, naming another consumer group on its letters (a service that
        reads one topic in two groups of its own: each letter says which one refused)."""
        return DeadLetterer(self._producer, consumer_group)

    async def send(
        self,
        record: Any,
        reason: str,
        error_type: str,
        attempts: int,
        payload: bytes | None = None,
    ) -> None:
        """Dead-letter `record` (or, when given, the part of it that failed: `payload`)."""
        value: bytes = payload if payload is not None else (record.value or b"")
        letter = DeadLetter(
            original_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode("utf-8", "replace") if record.key else None,
            payload=value.decode("utf-8", "replace"),
            reason=reason[:2000],
            error_type=error_type,
            consumer_group=self._group,
            attempts=attempts,
        )
        await self._producer.send_all([(f"{record.topic}.dlq", record.key, letter.to_json())])
        DEAD_LETTERED.labels(record.topic).inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason
        )


def describe(exc: BaseException) -> str:
    if isinstance(exc, PermanentError):
        fields = "; ".join(f"{k}: {v}" for k, v in (exc.fields or {}).items())
        return f"{exc.message}" + (f" ({fields})" if fields else "")
    return f"{type(exc).__name__}: {exc}"


async def guarded(
    records: list[Any],
    process: Callable[[list[Any]], Awaitable[None]],
    dead_letters: DeadLetterer,
    max_attempts: int,
    transient_retries: int = 5,
) -> None:
    """Run `process` on a batch of ConsumerRecords under the consumer contract above.

    A batch that fails permanently is split: each record is tried on its own, so one poison
    record goes to the DLQ and its neighbours are still applied (idempotently)."""
    for attempt in range(1, max_attempts + 1):
        try:
            await _with_transient_retries(lambda: process(records), transient_retries)
            return
        except Exception as exc:
            if is_transient(exc):
                FAILED.labels(records[0].topic, "transient").inc()
                raise  # unacknowledged: delivered again once the world heals
            FAILED.labels(records[0].topic, "permanent").inc()
            if len(records) > 1:
                for record in records:
                    await guarded([record], process, dead_letters, max_attempts, transient_retries)
                return
            if isinstance(exc, PermanentError) or attempt == max_attempts:
                await dead_letters.send(records[0], describe(exc), type(exc).__name__, attempt)
                return
            log.warning("attempt %s of %s failed: %s", attempt, max_attempts, describe(exc))
            await asyncio.sleep(0.05 * attempt)


async def _with_transient_retries(call: Callable[[], Awaitable[None]], retries: int) -> None:
    delay = 0.2
    for attempt in range(retries + 1):
        try:
            await call()
            return
        except Exception as exc:
            if not is_transient(exc) or attempt == retries:
                raise
            log.warning("transient failure, retrying in %.1fs: %s", delay, describe(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def ensure_topics(bootstrap: str, partitions: int = PARTITIONS) -> list[str]:
    """Create every topic and its DLQ if absent; returns the ones created now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="billport-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in all_topic_names() if n not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in wanted]
                )
        return wanted
    finally:
        await admin.close()
