"""Idempotent consumers: an event id is claimed in the same transaction as its effect."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
    """Record these events as processed by `consumer`; returns those not seen before.

    Call inside the transaction that applies them: if it rolls back, the claim does too."""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        "INSERT INTO processed_events (consumer, event_id)"
        " SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        list(event_ids),
    )
    return {r["event_id"] for r in rows}
