"""Transactional outbox: events are rows written with the state change, then relayed to Kafka.

`stage` writes events inside the caller's transaction; `OutboxRelay` publishes committed rows in
id order and deletes them once Kafka acknowledged every one. A crash between the two publishes
again (at-least-once); consumers are idempotent by `event_id`, so the effect is exactly once.
One relay per schema works at a time (a transaction-scoped advisory lock), which keeps the
per-key order of events even with several replicas of a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg

from shared.events.envelope import Event
from shared.events.topics import Topic
from shared.kafka import MAX_MESSAGE_BYTES, KafkaProducer
from shared.metrics import OUTBOX_DEAD, OUTBOX_PUBLISHED, OUTBOX_RELISTENS

log = logging.getLogger(__name__)


async def stage(conn: asyncpg.Connection, topic: Topic[Any], events: Iterable[Event]) -> int:
    rows = [(topic.name, topic.key_of(e).decode(), e.to_json()) for e in events]
    if rows:
        await conn.executemany("INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)", rows)
    return len(rows)


async def stage_serialized(
    conn: asyncpg.Connection, topic: Topic[Any], messages: Iterable[tuple[str, bytes]]
) -> int:
    """Like `stage`, for events already serialized (key, JSON) on a hot path."""
    rows = [(topic.name, key, payload) for key, payload in messages]
    if rows:
        await conn.executemany("INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)", rows)
    return len(rows)


def _relay_lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"outbox:{schema}".encode()).digest()[:7], "big")


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool, producer: KafkaProducer, schema: str, batch: int = 500
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = schema
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    @property
    def _channel(self) -> str:
        return f"{self._schema}_outbox"

    async def start(self) -> None:
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(self._channel, self._on_notify)
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._schema}")

    def _listening(self) -> bool:
        """Whether the connection NOTIFY comes on is still open. When PostgreSQL closes a
        pooled connection, asyncpg's pool takes it back and the proxy the relay holds then
        refuses every call (InterfaceError), `is_closed` included: that is closed too."""
        if self._listener is None:
            return True  # not started (tests drive `_run` alone): nothing to reopen
        try:
            return not self._listener.is_closed()
        except asyncpg.InterfaceError:
            return False

    async def _keep_listening(self) -> None:
        """Open a new listening connection when PostgreSQL closed the one NOTIFY came on (a
        restart, a failover, an idle-session kill): no notification arrives on a closed one, so
        without this every event would wait for the 1 s poll until the service restarted.
        Never in the way of publishing: failing (PostgreSQL still away), it is tried again at
        the next round and the poll goes on."""
        if self._listening():
            return
        try:
            fresh = await self._pool.acquire()
            try:
                await fresh.add_listener(self._channel, self._on_notify)
            except BaseException:
                await self._pool.release(fresh)
                raise
        except Exception as exc:
            log.warning("outbox relay of %s cannot listen yet: %r", self._schema, exc)
            return
        lost, self._listener = self._listener, fresh
        with contextlib.suppress(Exception):  # the pool may have taken it back already
            await self._pool.release(lost)
        OUTBOX_RELISTENS.labels(self._schema).inc()
        log.info("outbox relay of %s listens again: its connection was closed", self._schema)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            with contextlib.suppress(Exception):  # closed, or taken back by the pool
                await self._listener.remove_listener(self._channel, self._on_notify)
            with contextlib.suppress(Exception):
                await self._pool.release(self._listener)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            # Cleared before the round, not after it: a NOTIFY that arrives while a round runs
            # (rows committed after its SELECT) must start the next round at once; cleared
            # after, it was lost and those rows waited for the 1 s poll.
            self._wake.clear()
            await self._keep_listening()
            try:
                published = await self.publish_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Nothing was deleted: the rows stay and are published on the next round.
                log.exception("outbox relay round failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if published < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    async def publish_once(self) -> int:
        """Publish one batch of committed rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", _relay_lock_key(self._schema)
            )
            if not locked:
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, payload FROM outbox ORDER BY id LIMIT $1", self._batch
            )
            if not rows:
                return 0
            fits = [r for r in rows if len(r["payload"]) <= MAX_MESSAGE_BYTES]
            if len(fits) < len(rows):
                too_large = [r for r in rows if len(r["payload"]) > MAX_MESSAGE_BYTES]
                await self._set_aside(conn, too_large)
            await self._producer.send_all(
                (r["topic"], r["key"].encode() if r["key"] else None, r["payload"]) for r in fits
            )
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        OUTBOX_PUBLISHED.labels(self._schema).inc(len(rows))
        return len(rows)

    async def _set_aside(self, conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> None:
        """Rows no Kafka message can carry go to `outbox_dead` with the reason, in the relay's
        transaction, so they do not block every event behind them."""
        for r in rows:
            reason = f"payload of {len(r['payload'])} bytes exceeds {MAX_MESSAGE_BYTES}"
            await conn.execute(
                "INSERT INTO outbox_dead (id, topic, key, payload, created_at, reason)"
                " SELECT id, topic, key, payload, created_at, $2 FROM outbox WHERE id = $1",
                r["id"],
                reason,
            )
            await conn.execute("DELETE FROM outbox WHERE id = $1", r["id"])
            log.error("outbox row %s set aside: %s", r["id"], reason)
        OUTBOX_DEAD.labels(self._schema).inc(len(rows))
