"""Posting and reversing payments, and following the invoices' amounts. Each change writes the
payment, its balanced ledger entries and its event (outbox) together: a posting in one
statement guarded by the invoice figures it was checked against (or, when they moved, in a
transaction holding the invoice row's lock), the others in a transaction holding that lock."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Request:
    invoice_id: str
    body: PaymentIn
    key: str
    digest: str
    actor: str
    client_addr: str | None


class _Moved:
    """What an unlocked posting answers when its invoice changed between the read and the
    write."""


Posted = tuple[dict[str, Any], bool] | None


async def post(
    conn: asyncpg.Connection,
    invoice_id: str,
    body: PaymentIn,
    key: str,
    actor: str,
    client_addr: str | None,
) -> Posted:
    """Post once per Idempotency-Key; answers (the posting, whether it was created now), or
    None when this service does not know the invoice (yet: the caller may wait for it).

    Unlocked first: the invoice read as committed, the posting checked against it, then written
    in one statement only while the invoice's figures are still those — two round trips, where
    the lock takes four (BEGIN, lock, write, COMMIT), each a wait on a busy service. A posting
    that raced another change of its invoice is done again under the invoice's lock, so
    postings on one invoice never retry in turn."""
    digest = domain.request_hash(invoice_id, body)
    request = _Request(invoice_id, body, key, digest, actor, client_addr)
    try:
        invoice = await repository.read_for_posting(conn, invoice_id, key)
        done = await _post_on(conn, invoice, request, guarded=True)
        if not isinstance(done, _Moved):
            return done
        async with conn.transaction():
            invoice = await repository.lock_for_posting(conn, invoice_id, key)
            locked = await _post_on(conn, invoice, request, guarded=False)
        assert not isinstance(locked, _Moved)  # under the lock nothing moves
        return locked
    except asyncpg.UniqueViolationError:
        # The same key committed first, on another invoice's lock or while this one waited for
        # the lock (the key was read before it was granted): answer with it.
        return _replay(await repository.by_key(conn, key), digest), False


async def _post_on(
    conn: asyncpg.Connection, invoice: asyncpg.Record | None, request: _Request, guarded: bool
) -> Posted | _Moved:
    """Post `request` on `invoice` as read (locked, or unlocked when `guarded`)."""
    if invoice is None or invoice["key_used"]:
        first = await repository.by_key(conn, request.key)
        if first is not None:
            return _replay(first, request.digest), False
    if invoice is None:
        return None
    body = request.body
    domain.check_posting(
        request.invoice_id, body.amount, invoice["amount"], invoice["paid"], invoice["credited"]
    )
    row = await repository.write_posting(
        conn, _new_posting(invoice, request), invoice if guarded else None
    )
    if row is None:
        return _Moved()
    log.info("posted %s on %s as %s", body.amount, request.invoice_id, row["payment_id"])
    return as_json(row), True


def _new_posting(invoice: asyncpg.Record, request: _Request) -> repository.NewPosting:
    """Everything the posting writes, its invoice's figures taken from `invoice`."""
    body, invoice_id = request.body, request.invoice_id
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
        posted_by=request.actor,
    )
    return repository.NewPosting(
        payment={
            "payment_id": payment_id,
            "invoice_id": invoice_id,
            "org_id": invoice["org_id"],
            "amount": body.amount,
            "received_on": body.received_on,
            "method": body.method,
            "reference": body.reference,
            "note": body.note,
            "posted_by": request.actor,
            "client_addr": request.client_addr,
            "balance_after": invoice["amount"] - invoice["credited"] - paid,
            "idempotency_key": request.key,
            "request_hash": request.digest,
        },
        paid=paid,
        txn_id=f"pay:{payment_id}",
        entries=domain.posting_entries(body.amount),
        topic=PAYMENTS_EVENTS.name,
        key=PAYMENTS_EVENTS.key_of(event).decode(),
        payload=event.to_json(),
    )


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
