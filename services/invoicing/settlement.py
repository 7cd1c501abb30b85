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
    return await payments_posted(conn, [e])


async def payments_posted(conn: asyncpg.Connection, events: list[PaymentPosted]) -> list[Event]:
    """A run of postings in two statements, whatever their number: their invoices locked (in
    invoice order, as every batch locks them), then the postings inserted with the invoices
    updated.
    Each is applied in order to its invoice's aggregate, as one at a time would: a posting that
    no longer fits (a revision lowered the amount meanwhile) is kept unapplied, and the payments
    service, seeing the revision, reverses it; each status change is announced with the figures
    of that moment."""
    rows = {
        r["invoice_id"]: r
        for r in await conn.fetch(
            "SELECT * FROM invoices WHERE invoice_id = ANY($1::text[])"
            " ORDER BY invoice_id FOR UPDATE",
            sorted({e.invoice_id for e in events}),
        )
    }
    aggregates: dict[str, Invoice] = {}
    applied_flags, out = [], []
    for e in events:
        if e.invoice_id not in rows:
            raise PermanentError(f"no invoice {e.invoice_id}")
        invoice = aggregates.setdefault(e.invoice_id, invoices.load(rows[e.invoice_id]))
        applied = invoice.fits(e.amount)
        applied_flags.append(applied)
        if applied:
            before = invoice.status
            invoice.apply_payment(e.amount)
            if invoice.status != before:
                out.append(_status_changed(rows[e.invoice_id], invoice, before))
    changed = [aggregates[i] for i in sorted(aggregates) if _moved(rows[i], aggregates[i])]
    await _record_postings(conn, events, applied_flags, changed)
    return out


def _moved(row: asyncpg.Record, invoice: Invoice) -> bool:
    return (invoice.payments, invoice.status, invoice.sent) != (
        row["payments"],
        row["status"],
        row["sent"],
    )


def _status_changed(row: asyncpg.Record, invoice: Invoice, before: str) -> Event:
    """The status event of `invoice` as it stands now, its other figures those of its row (a
    posting moves only payments, balance and status)."""
    log.info(
        "%s: %s -> %s (balance %s)", invoice.invoice_id, before, invoice.status, invoice.balance
    )
    now = {
        **dict(row),
        "payments": invoice.payments,
        "balance": invoice.balance,
        "status": invoice.status,
    }
    return InvoiceStatusChanged(
        **invoices.facts_of(invoices.as_summary(now)), previous_status=before
    )


_RECORD_POSTINGS = """
WITH posted AS (
    INSERT INTO invoice_payments (payment_id, invoice_id, amount, received_on, method,
        reference, note, posted_by, applied)
    SELECT p, i, a, r, m, ref, n, b, ap FROM unnest($1::text[], $2::text[], $3::numeric[],
        $4::date[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[])
        WITH ORDINALITY AS x (p, i, a, r, m, ref, n, b, ap, o) ORDER BY o
)
UPDATE invoices i SET payments = u.payments, balance = u.balance, status = u.status, sent = u.sent
FROM unnest($10::text[], $11::numeric[], $12::numeric[], $13::text[], $14::boolean[])
    AS u (invoice_id, payments, balance, status, sent)
WHERE i.invoice_id = u.invoice_id
"""


async def _record_postings(
    conn: asyncpg.Connection,
    events: list[PaymentPosted],
    applied: list[bool],
    changed: list[Invoice],
) -> None:
    """The postings inserted and the invoices they moved updated, in one round trip (a
    data-modifying CTE: both or neither). The statement sits on the path from a posting to
    its balance showing, run in the consumer's transaction: one round trip less there."""
    await conn.execute(
        _RECORD_POSTINGS,
        [e.payment_id for e in events],
        [e.invoice_id for e in events],
        [e.amount for e in events],
        [e.received_on for e in events],
        [e.method for e in events],
        [e.reference for e in events],
        [e.note for e in events],
        [e.posted_by for e in events],
        applied,
        [x.invoice_id for x in changed],
        [x.payments for x in changed],
        [x.balance for x in changed],
        [x.status for x in changed],
        [x.sent for x in changed],
    )


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


async def apply_all(conn: asyncpg.Connection, events: list[Event]) -> list[Event]:
    """Apply `events` in order, each once (a message delivered twice in one fetch appears twice
    in the batch, and its claim counts it once); consecutive postings together
    (`payments_posted`)."""
    out: list[Event] = []
    run: list[PaymentPosted] = []
    for event in {e.event_id: e for e in events}.values():
        if isinstance(event, PaymentPosted):
            run.append(event)
            continue
        if run:
            out += await payments_posted(conn, run)
            run = []
        out += await APPLY[type(event)](conn, event)
    if run:
        out += await payments_posted(conn, run)
    return out


APPLY: dict[type[Event], Any] = {
    PaymentPosted: payment_posted,
    PaymentReversed: payment_reversed,
    InvoiceSent: invoice_sent,
    InvoiceSendFailed: send_failed,
}
