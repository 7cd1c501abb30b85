"""Posting and reversing payments, and following the invoices' amounts: each change is one
transaction holding the invoice row's lock, writing the payment, its balanced ledger entries
and its event (outbox) together."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from services.payments import domain, repository
from shared.api.payments import PaymentIn
from shared.db import outbox
from shared.errors import Conflict, NotFound
from shared.events.invoicing import InvoiceFacts
from shared.events.payments import PaymentPosted, PaymentReversed
from shared.events.topics import PAYMENTS_EVENTS

SYSTEM = "system"
log = logging.getLogger(__name__)


def as_json(row: asyncpg.Record) -> dict[str, Any]:
    """A posting as the API shows it."""

    def stamp(value: Any) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": row["payment_id"],
        "payment_id": row["payment_id"],
        "invoice_id": row["invoice_id"],
        "org_id": row["org_id"],
        "amount": f"{row['amount']:.2f}",
        "received_on": row["received_on"].isoformat(),
        "method": row["method"],
        "reference": row["reference"],
        "note": row["note"],
        "status": "REVERSED" if row["reversed_at"] else "POSTED",
        "posted_by": row["posted_by"],
        "posted_at": stamp(row["posted_at"]),
        "client_addr": row["client_addr"],
        "balance_after": f"{row['balance_after']:.2f}",
        "reversed_at": stamp(row["reversed_at"]),
        "reversed_by": row["reversed_by"],
        "reversal_reason": row["reversal_reason"],
    }


async def post(
    conn: asyncpg.Connection,
    invoice_id: str,
    body: PaymentIn,
    key: str,
    actor: str,
    client_addr: str | None,
) -> tuple[dict[str, Any], bool] | None:
    """Post once per Idempotency-Key; answers (the posting, whether it was created now), or
    None when this service does not know the invoice (yet: the caller may wait for it)."""
    digest = domain.request_hash(invoice_id, body)
    try:
        async with conn.transaction():
            return await _post_locked(conn, invoice_id, body, key, digest, actor, client_addr)
    except asyncpg.UniqueViolationError:
        # The same key committed first, on another invoice's lock or while this one waited for
        # the lock (the key was read before it was granted): answer with it.
        return _replay(await repository.by_key(conn, key), digest), False


async def _post_locked(
    conn: asyncpg.Connection,
    invoice_id: str,
    body: PaymentIn,
    key: str,
    digest: str,
    actor: str,
    client_addr: str | None,
) -> tuple[dict[str, Any], bool] | None:
    # Two round trips inside the transaction: the invoice locked with its key checked, then
    # everything the posting writes in one statement.
    invoice = await repository.lock_for_posting(conn, invoice_id, key)
    if invoice is None or invoice["key_used"]:
        first = await repository.by_key(conn, key)
        if first is not None:
            return _replay(first, digest), False
    if invoice is None:
        return None
    domain.check_posting(
        invoice_id, body.amount, invoice["amount"], invoice["paid"], invoice["credited"]
    )
    paid = invoice["paid"] + body.amount
    payment_id = f"pay_{uuid.uuid4().hex}"
    event = PaymentPosted(
        payment_id=payment_id,
        invoice_id=invoice_id,
        org_id=invoice["org_id"],
        amount=body.amount,
        received_on=body.received_on,
        method=body.method,
        reference=body.reference,
        note=body.note,
        posted_by=actor,
    )
    row = await repository.write_posting(
        conn,
        repository.NewPosting(
            payment={
                "payment_id": payment_id,
                "invoice_id": invoice_id,
                "org_id": invoice["org_id"],
                "amount": body.amount,
                "received_on": body.received_on,
                "method": body.method,
                "reference": body.reference,
                "note": body.note,
                "posted_by": actor,
                "client_addr": client_addr,
                "balance_after": invoice["amount"] - invoice["credited"] - paid,
                "idempotency_key": key,
                "request_hash": digest,
            },
            paid=paid,
            txn_id=f"pay:{payment_id}",
            entries=domain.posting_entries(body.amount),
            topic=PAYMENTS_EVENTS.name,
            key=PAYMENTS_EVENTS.key_of(event).decode(),
            payload=event.to_json(),
        ),
    )
    log.info("posted %s on %s as %s", body.amount, invoice_id, payment_id)
    return as_json(row), True


def _replay(first: asyncpg.Record | None, digest: str) -> dict[str, Any]:
    if first is None:  # cannot happen: the unique key exists once its transaction committed
        raise Conflict("this Idempotency-Key is being used by another request; retry")
    if first["request_hash"] != digest:
        raise Conflict(
            "this Idempotency-Key was used with another request body;"
            " use a new key for a new payment",
            fields={"Idempotency-Key": f"already used for payment {first['payment_id']}"},
        )
    return as_json(first)


async def reverse(
    conn: asyncpg.Connection, invoice_id: str, payment_id: str, reason: str, actor: str
) -> dict[str, Any]:
    async with conn.transaction():
        found = await repository.by_id(conn, payment_id)
        if found is None or found["invoice_id"] != invoice_id:
            raise NotFound(f"no payment {payment_id} on invoice {invoice_id}")
        invoice = await repository.lock_invoice(conn, invoice_id)
        assert invoice is not None
        payment = await repository.by_id(conn, payment_id, lock=True)
        assert payment is not None
        if payment["reversed_at"] is not None:
            raise Conflict(
                f"payment {payment_id} was already reversed: {payment['reversal_reason']}"
            )
        row, event = await _reverse_one(conn, invoice, payment, reason, actor)
        await repository.set_paid(conn, invoice_id, invoice["paid"] - payment["amount"])
        await outbox.stage(conn, PAYMENTS_EVENTS, [event])
        log.info("reversed %s on %s: %s", payment_id, invoice_id, reason)
        return as_json(row)


async def _reverse_one(
    conn: asyncpg.Connection,
    invoice: asyncpg.Record,
    payment: asyncpg.Record,
    reason: str,
    actor: str,
) -> tuple[asyncpg.Record, PaymentReversed]:
    row = await repository.mark_reversed(conn, payment["payment_id"], reason, actor)
    await repository.add_entries(
        conn,
        f"rev:{payment['payment_id']}",
        invoice["org_id"],
        invoice["invoice_id"],
        domain.reversal_entries(payment["amount"]),
    )
    event = PaymentReversed(
        payment_id=payment["payment_id"],
        invoice_id=invoice["invoice_id"],
        org_id=invoice["org_id"],
        amount=payment["amount"],
        reason=reason,
        reversed_by=actor,
    )
    return row, event


async def follow_invoice(conn: asyncpg.Connection, facts: InvoiceFacts) -> list[PaymentReversed]:
    """An invoice generated or revised: its receivable follows the new amount. A revision below
    what was posted meanwhile (the two raced) takes the newest postings back, with the reason."""
    invoice = await repository.upsert_invoice(conn, facts)
    delta = facts.amount - invoice["amount"]
    await repository.add_entries(
        conn,
        f"inv:{facts.invoice_id}:{facts.event_id}",
        invoice["org_id"],
        facts.invoice_id,
        domain.invoiced_entries(delta, facts.tax - invoice["tax"])
        + domain.credited_entries(
            facts.credited - invoice["credited"], facts.credited_tax - invoice["credited_tax"]
        ),
    )
    events: list[PaymentReversed] = []
    paid: Decimal = invoice["paid"]
    if facts.amount < paid:
        live = await repository.live_postings(conn, facts.invoice_id)
        reason = (
            f"invoice {facts.invoice_id} was revised to {facts.amount:.2f}, below the payments"
            " posted meanwhile; this payment was not applied: refund it or post it again"
        )
        for posting in domain.reversals_for(live, facts.amount):
            payment = await repository.by_id(conn, posting.payment_id, lock=True)
            assert payment is not None
            _, event = await _reverse_one(conn, invoice, payment, reason, SYSTEM)
            events.append(event)
            paid -= posting.amount
    await repository.set_invoice(conn, facts, paid)
    return events
