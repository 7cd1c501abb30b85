"""SQL of the notifier schema: the document cache and the send queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from shared.events.alerts import UsageThresholdCrossed
from shared.events.notifier import InvoiceSendRequested

ALERT_PURPOSE = "usage_alert"


async def cached_pdf(conn: asyncpg.Connection, fingerprint: str) -> bytes | None:
    pdf: bytes | None = await conn.fetchval(
        "SELECT pdf FROM documents WHERE fingerprint = $1", fingerprint
    )
    return pdf


async def keep_pdf(
    conn: asyncpg.Connection, fingerprint: str, invoice_id: str, revision: int, pdf: bytes
) -> None:
    await conn.execute(
        "INSERT INTO documents (fingerprint, invoice_id, revision, pdf) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (fingerprint) DO NOTHING",
        fingerprint,
        invoice_id,
        revision,
        pdf,
    )


async def enqueue(conn: asyncpg.Connection, request: InvoiceSendRequested, domain: str) -> bool:
    """Queue a send once per request id; answers whether it was new."""
    created = await conn.fetchval(
        "INSERT INTO sends"
        " (request_id, invoice_id, purpose, recipients, document, message_id, credit_note)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb) ON CONFLICT (request_id) DO NOTHING"
        " RETURNING true",
        request.request_id,
        request.invoice_id,
        request.purpose,
        request.recipients,
        request.document.model_dump_json(),
        f"<{request.request_id}@{domain}>",
        request.credit_note.model_dump_json() if request.credit_note is not None else None,
    )
    return bool(created)


async def enqueue_alert(
    conn: asyncpg.Connection, alert: UsageThresholdCrossed, domain: str
) -> bool:
    """Queue a usage alert's e-mail once per alert (an alert read twice is queued once)."""
    request_id = f"usage-alert-{alert.alert_id}"
    created = await conn.fetchval(
        "INSERT INTO sends (request_id, purpose, recipients, alert, message_id)"
        " VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (request_id) DO NOTHING RETURNING true",
        request_id,
        ALERT_PURPOSE,
        alert.recipients,
        alert.model_dump_json(),
        f"<{request_id}@{domain}>",
    )
    return bool(created)


async def lease_due(conn: asyncpg.Connection, lease_seconds: float, limit: int) -> list[Any]:
    """Take due sends for `lease_seconds`: pending ones whose time came, and sending ones whose
    lease ran out (their sender died). Replicas take different rows (SKIP LOCKED)."""
    rows: list[Any] = await conn.fetch(
        "UPDATE sends SET state = 'SENDING', attempts = attempts + 1,"
        "  lease_until = now() + make_interval(secs => $1)"
        " WHERE request_id IN ("
        "   SELECT request_id FROM sends"
        "   WHERE (state = 'PENDING' AND next_attempt_at <= now())"
        "      OR (state = 'SENDING' AND lease_until < now())"
        "   ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
        " RETURNING request_id, invoice_id, purpose, recipients, document, credit_note,"
        "  alert, message_id, attempts",
        lease_seconds,
        limit,
    )
    return rows


async def finish(
    conn: asyncpg.Connection, request_id: str, state: str, error: str | None = None
) -> None:
    await conn.execute(
        "UPDATE sends SET state = $2, last_error = $3, finished_at = now(), lease_until = NULL"
        " WHERE request_id = $1",
        request_id,
        state,
        error,
    )


async def retry_later(
    conn: asyncpg.Connection, request_id: str, delay: timedelta, error: str
) -> None:
    await conn.execute(
        "UPDATE sends SET state = 'PENDING', lease_until = NULL, last_error = $3,"
        " next_attempt_at = now() + $2::interval WHERE request_id = $1",
        request_id,
        delay,
        error,
    )
