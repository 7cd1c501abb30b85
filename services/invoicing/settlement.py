"""Applying what other services report: payments posted or reversed (payments service) and
invoices sent or not (notifier). Each event once (processed_events); status and balance follow
the money: balance = amount - payments - credited, always (a database constraint)."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from services.invoicing import invoices
from services.invoicing.domain import Invoice
from shared.errors import PermanentError
from shared.events.envelope import Event
from shared.events.invoicing import InvoiceStatusChanged
from shared.events.notifier import InvoiceSendFailed, InvoiceSent
from shared.events.payments import PaymentPosted, PaymentReversed

log = logging.getLogger(__name__)


async def _locked(conn: asyncpg.Connection, invoice_id: str) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM invoices WHERE invoice_id = $1 FOR UPDATE", invoice_id)
    if row is None:
        raise PermanentError(f"no invoice {invoice_id}")
    return row


async def _store(conn: asyncpg.Connection, row: asyncpg.Record, invoice: Invoice) -> list[Event]:
    """Store the money and sending state of `invoice`; its status event if the status moved."""
    payments, balance, status, sent = (
        invoice.payments,
        invoice.balance,
        invoice.status,
        invoice.sent,
    )
    await conn.execute(
        "UPDATE invoices SET payments = $2, balance = $3, status = $4, sent = $5"
        " WHERE invoice_id = $1",
        row["invoice_id"],
        payments,
        balance,
        status,
        sent,
    )
    if status == row["status"]:
        return []
    log.info("%s: %s -> %s (balance %s)", row["invoice_id"], row["status"], status, balance)
    summary = await invoices.get_summary(conn, row["invoice_id"])
    assert summary is not None
    return [InvoiceStatusChanged(**invoices.facts_of(summary), previous_status=row["status"])]


async def payment_posted(conn: asyncpg.Connection, e: PaymentPosted) -> list[Event]:
    row = await _locked(conn, e.invoice_id)
    invoice = invoices.load(row)
    # It fits unless a revision lowered the amount while it was being posted; then it is kept
    # unapplied and the payments service, seeing the revision, reverses it.
    applied = invoice.fits(e.amount)
    await conn.execute(
        "INSERT INTO invoice_payments (payment_id, invoice_id, amount, received_on, method,"
        " reference, note, posted_by, applied) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        e.payment_id,
        e.invoice_id,
        e.amount,
        e.received_on,
        e.method,
        e.reference,
        e.note,
        e.posted_by,
        applied,
    )
    if not applied:
        return []
    invoice.apply_payment(e.amount)
    return await _store(conn, row, invoice)


async def payment_reversed(conn: asyncpg.Connection, e: PaymentReversed) -> list[Event]:
    row = await _locked(conn, e.invoice_id)
    applied = await conn.fetchval(
        "UPDATE invoice_payments SET reversed = true, reversal_reason = $2, reversed_at = now()"
        " WHERE payment_id = $1 AND NOT reversed RETURNING applied",
        e.payment_id,
        e.reason,
    )
    if applied is None:
        raise PermanentError(f"payment {e.payment_id} is unknown or already reversed")
    if not applied:
        return []
    invoice = invoices.load(row)
    invoice.reverse_payment(e.amount)
    return await _store(conn, row, invoice)


async def invoice_sent(conn: asyncpg.Connection, e: InvoiceSent) -> list[Event]:
    row = await _locked(conn, e.invoice_id)
    await _finish_request(conn, e.request_id, "SENT", e.message_id, None)
    if e.purpose != "invoice":  # a reminder or a credit note: the invoice itself is unchanged
        return []
    await conn.execute(
        "UPDATE invoices SET sent_to = $2, last_send_error = NULL WHERE invoice_id = $1",
        e.invoice_id,
        e.recipients,
    )
    invoice = invoices.load(row)
    invoice.mark_sent()
    return await _store(conn, row, invoice)


async def send_failed(conn: asyncpg.Connection, e: InvoiceSendFailed) -> list[Event]:
    await _locked(conn, e.invoice_id)
    await _finish_request(conn, e.request_id, "FAILED", None, e.reason)
    if e.purpose == "invoice":
        await conn.execute(
            "UPDATE invoices SET last_send_error = $2 WHERE invoice_id = $1",
            e.invoice_id,
            e.reason,
        )
    return []


async def _finish_request(
    conn: asyncpg.Connection, request_id: str, state: str, message_id: str | None, error: str | None
) -> None:
    await conn.execute(
        "UPDATE send_requests SET state = $2, message_id = $3, error = $4, finished_at = now()"
        " WHERE request_id = $1",
        request_id,
        state,
        message_id,
        error,
    )


APPLY: dict[type[Event], Any] = {
    PaymentPosted: payment_posted,
    PaymentReversed: payment_reversed,
    InvoiceSent: invoice_sent,
    InvoiceSendFailed: send_failed,
}
