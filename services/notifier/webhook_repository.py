"""SQL of webhooks and their delivery queue (notifier schema, `0003_webhooks.sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

WEBHOOK_COLUMNS = "id, url, events, state, disabled_reason, disabled_at, created_at"
"""What a webhook shows: never its secret."""

DELIVERY_COLUMNS = (
    "id, event_id, event_type, resource, state, attempts, last_status_code, last_error,"
    " occurred_at, created_at, last_attempt_at, next_attempt_at, finished_at"
)


@dataclass(frozen=True)
class After:
    """Where the partner topic of a delivery's topic ended when the delivery was read: the
    delivery waits until the notifier has read that far (`partition` is the resource's)."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class NewDelivery:
    """An event to fan out to the webhooks that ask for it."""

    event_id: UUID
    event_type: str
    resource: str
    body: bytes
    occurred_at: datetime
    topic: str
    after: After | None = None


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def create(
    conn: asyncpg.Connection,
    webhook_id: str,
    url: str,
    events: list[str],
    secret: str,
    created_by: str,
    max_count: int,
) -> Any | None:
    """Register a webhook, unless `max_count` exist (None then). Creations are serialized by a
    transaction-scoped lock so that two at once cannot pass the cap together."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('notifier.webhooks'))")
        if await conn.fetchval("SELECT count(*) FROM webhooks") >= max_count:
            return None
        return await conn.fetchrow(
            "INSERT INTO webhooks (id, url, events, secret, created_by)"
            f" VALUES ($1, $2, $3, $4, $5) RETURNING {WEBHOOK_COLUMNS}",
            webhook_id,
            url,
            events,
            secret,
            created_by,
        )


async def page(conn: asyncpg.Connection, limit: int, cursor: str | None) -> list[Any]:
    """Webhooks, oldest first, from after `cursor` (a webhook id); `limit + 1` rows so that the
    caller knows whether more follow."""
    rows: list[Any] = await conn.fetch(
        f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE $1::text IS NULL"
        " OR (created_at, id) > (SELECT created_at, id FROM webhooks WHERE id = $1)"
        " ORDER BY created_at, id LIMIT $2",
        cursor,
        limit + 1,
    )
    return rows


async def delete(conn: asyncpg.Connection, webhook_id: str) -> Any | None:
    """Remove a webhook with its queue and log; the webhook as it was, or None."""
    return await conn.fetchrow(
        f"DELETE FROM webhooks WHERE id = $1 RETURNING {WEBHOOK_COLUMNS}", webhook_id
    )


async def enable(conn: asyncpg.Connection, webhook_id: str) -> Any | None:
    """Active again, its count of failures cleared, what it held back due at once."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE webhooks SET state = 'active', failures_in_row = 0, disabled_reason = NULL,"
            f" disabled_at = NULL WHERE id = $1 RETURNING {WEBHOOK_COLUMNS}",
            webhook_id,
        )
        if row is not None:
            await conn.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = now()"
                " WHERE webhook_id = $1 AND state = 'PENDING'",
                webhook_id,
            )
    return row


async def exists(conn: asyncpg.Connection, webhook_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM webhooks WHERE id = $1", webhook_id))


async def deliveries(
    conn: asyncpg.Connection, webhook_id: str, limit: int, before: int | None
) -> tuple[list[Any], list[Any]]:
    """A page of a webhook's deliveries, newest event first (after the delivery id `before` in
    that order), and the attempts of those deliveries. The events' order, not the queueing order:
    two topics' consumers may queue their events in either order."""
    rows: list[Any] = await conn.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"
        " WHERE webhook_id = $1 AND ($2::bigint IS NULL OR (occurred_at, id) <"
        "   (SELECT occurred_at, id FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2))"
        " ORDER BY occurred_at DESC, id DESC LIMIT $3",
        webhook_id,
        before,
        limit + 1,
    )
    ids = [r["id"] for r in rows[:limit]]
    attempts: list[Any] = await conn.fetch(
        "SELECT delivery_id, attempt, at, status_code, error, duration_ms FROM webhook_attempts"
        " WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, attempt",
        ids,
    )
    return rows, attempts


async def fan_out(
    conn: asyncpg.Connection, events: Sequence[NewDelivery], after_types: Sequence[str] = ()
) -> int:
    """One delivery per (active webhook asking for the event's type, event), for webhooks that
    existed when the event occurred, in the events' order (ids rise with it: the order kept per
    topic and resource). An event seen before adds nothing (unique per webhook and event).
    `after_types` are the event types of the topics the events wait for (`NewDelivery.after`):
    a webhook that asks for none of them has nothing to wait for."""
    if not events:
        return 0
    inserted = await conn.fetch(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, resource, body,"
        "   topic, occurred_at, after_topic, after_partition, after_offset)"
        " SELECT w.id, e.event_id, e.event_type, e.resource, e.body, e.topic, e.occurred_at,"
        "   e.after_topic, e.after_partition,"
        "   CASE WHEN '*' = ANY(w.events) OR w.events && $10::text[] THEN e.after_offset END"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[],"
        "   $6::text[], $7::text[], $8::integer[], $9::bigint[])"
        "   WITH ORDINALITY AS e(event_id, event_type, resource, body, occurred_at, topic,"
        "     after_topic, after_partition, after_offset, n)"
        " JOIN webhooks w ON w.state = 'active' AND w.created_at <= e.occurred_at"
        "   AND (e.event_type = ANY(w.events) OR '*' = ANY(w.events))"
        " ORDER BY e.n, w.id"
        " ON CONFLICT (webhook_id, event_id) DO NOTHING RETURNING id",
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.resource for e in events],
        [e.body for e in events],
        [e.occurred_at for e in events],
        [e.topic for e in events],
        [e.after.topic if e.after else None for e in events],
        [e.after.partition if e.after else None for e in events],
        [e.after.offset if e.after else None for e in events],
        list(after_types),
    )
    return len(inserted)


async def any_active(conn: asyncpg.Connection) -> bool:
    """Whether some webhook may receive events now."""
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM webhooks WHERE state = 'active')")
    )


async def note_read(conn: asyncpg.Connection, topic: str, next_offsets: dict[int, int]) -> None:
    """The webhook consumers have read `topic` up to these next offsets (per partition); in the
    transaction that queues the deliveries of the records below them. Never goes back (a
    replayed record is read again below its partition's mark)."""
    if not next_offsets:
        return
    partitions = sorted(next_offsets)  # one lock order for every writer
    await conn.execute(
        "INSERT INTO webhook_topic_progress (topic, kafka_partition, next_offset)"
        " SELECT $1, r.p, r.o FROM unnest($2::integer[], $3::bigint[]) AS r(p, o) ORDER BY r.p"
        " ON CONFLICT (topic, kafka_partition) DO UPDATE SET next_offset ="
        "   GREATEST(webhook_topic_progress.next_offset, EXCLUDED.next_offset)",
        topic,
        partitions,
        [next_offsets[p] for p in partitions],
    )


async def read_partitions(conn: asyncpg.Connection, topic: str) -> set[int]:
    """The partitions of `topic` whose progress is noted."""
    rows = await conn.fetch(
        "SELECT kafka_partition FROM webhook_topic_progress WHERE topic = $1", topic
    )
    return {r["kafka_partition"] for r in rows}


async def lease_due(conn: asyncpg.Connection, lease_seconds: float, limit: int) -> list[Any]:
    """Take due deliveries for `lease_seconds`: pending ones whose time came and sending ones
    whose lease ran out (their notifier died), of active webhooks. Replicas take different rows
    (SKIP LOCKED). Of a webhook and resource, one delivery goes at a time, in the order the
    events occurred across topics:
    - a later row of the same topic waits until the earlier is DELIVERED or FAILED;
    - a row waits until the partner topic is read as far as it stood when the row was read
      (`after_offset`): what happened there before it is then queued too;
    - a row waits while the first unfinished row of another topic occurred before it
      (`occurred_at`, then id). Only those first rows are compared, so one of them can
      always go."""
    rows: list[Any] = await conn.fetch(
        "UPDATE webhook_deliveries d SET state = 'SENDING', attempts = d.attempts + 1,"
        "  lease_until = now() + make_interval(secs => $1)"
        " FROM webhooks w"
        " WHERE w.id = d.webhook_id AND d.id IN ("
        "   SELECT q.id FROM webhook_deliveries q JOIN webhooks h ON h.id = q.webhook_id"
        "   WHERE h.state = 'active'"
        "     AND ((q.state = 'PENDING' AND q.next_attempt_at <= now())"
        "       OR (q.state = 'SENDING' AND q.lease_until < now()))"
        "     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p"
        "       WHERE p.webhook_id = q.webhook_id AND p.resource = q.resource"
        "         AND p.topic = q.topic AND p.id < q.id AND p.state IN ('PENDING', 'SENDING'))"
        "     AND (q.after_offset IS NULL OR EXISTS (SELECT 1 FROM webhook_topic_progress g"
        "       WHERE g.topic = q.after_topic AND g.kafka_partition = q.after_partition"
        "         AND g.next_offset >= q.after_offset))"
        "     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o"
        "       WHERE o.webhook_id = q.webhook_id AND o.resource = q.resource"
        "         AND o.topic <> q.topic AND o.state IN ('PENDING', 'SENDING')"
        "         AND (o.occurred_at, o.id) < (q.occurred_at, q.id)"
        "         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries f"
        "           WHERE f.webhook_id = o.webhook_id AND f.resource = o.resource"
        "             AND f.topic = o.topic AND f.id < o.id"
        "             AND f.state IN ('PENDING', 'SENDING')))"
        "   ORDER BY q.next_attempt_at, q.id LIMIT $2 FOR UPDATE OF q SKIP LOCKED)"
        " RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.body, d.attempts,"
        "  w.url, w.secret",
        lease_seconds,
        limit,
    )
    return rows


async def _record(
    conn: asyncpg.Connection, delivery_id: int, attempt: int, outcome: Attempt, sql: str, *args: Any
) -> bool:
    """Apply `sql` (a change of the delivery, guarded on the lease this attempt held: a notifier
    whose lease ran out and was taken over writes nothing) and log the attempt."""
    changed = await conn.fetchval(
        sql, delivery_id, attempt, outcome.status_code, outcome.error, *args
    )
    if not changed:
        return False
    await conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        delivery_id,
        attempt,
        outcome.status_code,
        outcome.error,
        outcome.duration_ms,
    )
    return True


_GUARD = " WHERE id = $1 AND state = 'SENDING' AND attempts = $2 RETURNING true"


async def delivered(
    conn: asyncpg.Connection, webhook_id: str, delivery_id: int, attempt: int, outcome: Attempt
) -> None:
    async with conn.transaction():
        done = await _record(
            conn,
            delivery_id,
            attempt,
            outcome,
            "UPDATE webhook_deliveries SET state = 'DELIVERED', last_status_code = $3,"
            " last_error = $4, last_attempt_at = now(), finished_at = now(), lease_until = NULL"
            + _GUARD,
        )
        if done:
            await conn.execute(
                "UPDATE webhooks SET failures_in_row = 0 WHERE id = $1 AND failures_in_row > 0",
                webhook_id,
            )


async def retry_later(
    conn: asyncpg.Connection, delivery_id: int, attempt: int, outcome: Attempt, delay: timedelta
) -> None:
    async with conn.transaction():
        await _record(
            conn,
            delivery_id,
            attempt,
            outcome,
            "UPDATE webhook_deliveries SET state = 'PENDING', last_status_code = $3,"
            " last_error = $4, last_attempt_at = now(), lease_until = NULL,"
            " next_attempt_at = now() + $5::interval" + _GUARD,
            delay,
        )


async def failed(
    conn: asyncpg.Connection,
    webhook_id: str,
    delivery_id: int,
    attempt: int,
    outcome: Attempt,
    disable_after: int,
) -> str | None:
    """The delivery failed for good; the webhook's count of such failures in a row grows, and
    at `disable_after` the webhook is disabled. Answers the reason when it was disabled now."""
    async with conn.transaction():
        done = await _record(
            conn,
            delivery_id,
            attempt,
            outcome,
            "UPDATE webhook_deliveries SET state = 'FAILED', last_status_code = $3,"
            " last_error = $4, last_attempt_at = now(), finished_at = now(), lease_until = NULL"
            + _GUARD,
        )
        if not done:
            return None
        reason = (
            f"{disable_after} deliveries in a row failed after every retry; the last: "
            f"{outcome.error}"
        )
        disabled: str | None = await conn.fetchval(
            "UPDATE webhooks SET failures_in_row = failures_in_row + 1,"
            "  state = CASE WHEN failures_in_row + 1 >= $2 THEN 'disabled' ELSE state END,"
            "  disabled_reason = CASE WHEN failures_in_row + 1 >= $2 AND state = 'active'"
            "    THEN $3 ELSE disabled_reason END,"
            "  disabled_at = CASE WHEN failures_in_row + 1 >= $2 AND state = 'active'"
            "    THEN now() ELSE disabled_at END"
            " WHERE id = $1"
            " RETURNING CASE WHEN state = 'disabled' AND disabled_reason = $3 THEN $3 END",
            webhook_id,
            disable_after,
            reason,
        )
        return disabled
