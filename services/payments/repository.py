"""SQL of the payments schema: the invoice view, postings, and ledger entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from services.payments.domain import Entry, Posting
from shared.events.invoicing import InvoiceFacts

PAYMENT_COLUMNS = (
    "payment_id, invoice_id, org_id, amount, received_on, method, reference, note, posted_by,"
    " posted_at, client_addr, balance_after, reversed_at, reversed_by, reversal_reason,"
    " request_hash"
)


async def lock_invoice(conn: asyncpg.Connection, invoice_id: str) -> asyncpg.Record | None:
    """The invoice row, locked: postings on one invoice happen one after the other."""
    return await conn.fetchrow(
        "SELECT invoice_id, org_id, amount, tax, credited, credited_tax, paid FROM invoices"
        " WHERE invoice_id = $1"
        " FOR UPDATE",
        invoice_id,
    )


_FOR_POSTING = (
    "SELECT invoice_id, org_id, amount, tax, credited, credited_tax, paid,"
    " EXISTS (SELECT FROM payments WHERE idempotency_key = $2) AS key_used"
    " FROM invoices WHERE invoice_id = $1"
)


async def read_for_posting(
    conn: asyncpg.Connection, invoice_id: str, key: str
) -> asyncpg.Record | None:
    """The invoice row as committed now, unlocked, and whether `key` was used already: what an
    optimistic posting checks, then writes guarded by (`write_posting(…, expected=…)`)."""
    return await conn.fetchrow(_FOR_POSTING, invoice_id, key)


async def lock_for_posting(
    conn: asyncpg.Connection, invoice_id: str, key: str
) -> asyncpg.Record | None:
    """The invoice row, locked, and whether `key` was used already, in one round trip. The key
    is read in the statement's snapshot, before the lock was granted: a posting with the same
    key that committed meanwhile shows up as the key's unique violation (`postings.post`)."""
    return await conn.fetchrow(_FOR_POSTING + " FOR UPDATE", invoice_id, key)


_WRITE_POSTING = f"""
WITH posted AS (
    INSERT INTO payments (payment_id, invoice_id, org_id, amount, received_on, method, reference,
        note, posted_by, client_addr, balance_after, idempotency_key, request_hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING {PAYMENT_COLUMNS}
), paid AS (
    UPDATE invoices SET paid = $14, updated_at = now() WHERE invoice_id = $2
), entries AS (
    INSERT INTO ledger_entries (txn_id, org_id, invoice_id, account, amount)
    SELECT $15, $3, $2, e.account, e.amount
    FROM unnest($16::text[], $17::numeric[]) AS e (account, amount)
), event AS (
    INSERT INTO outbox (topic, key, payload) VALUES ($18, $19, $20)
)
SELECT * FROM posted
"""

# The same writes, each drawn from the invoice's update, which happens only if the figures the
# posting was checked against still stand: otherwise nothing is written (all the CTEs see one
# snapshot and the update re-reads a row changed meanwhile), and the caller takes the lock.
_WRITE_POSTING_IF_UNCHANGED = f"""
WITH paid AS (
    UPDATE invoices SET paid = $14, updated_at = now()
    WHERE invoice_id = $2 AND paid = $21 AND amount = $22 AND credited = $23
    RETURNING invoice_id
), posted AS (
    INSERT INTO payments (payment_id, invoice_id, org_id, amount, received_on, method, reference,
        note, posted_by, client_addr, balance_after, idempotency_key, request_hash)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM paid
    RETURNING {PAYMENT_COLUMNS}
), entries AS (
    INSERT INTO ledger_entries (txn_id, org_id, invoice_id, account, amount)
    SELECT $15, $3, $2, e.account, e.amount
    FROM paid, unnest($16::text[], $17::numeric[]) AS e (account, amount)
), event AS (
    INSERT INTO outbox (topic, key, payload) SELECT $18, $19, $20 FROM paid
)
SELECT * FROM posted
"""


@dataclass(frozen=True)
class NewPosting:
    """Everything one posting writes: its row, the invoice's new paid, its ledger transaction
    and its event (outbox), in one statement (`write_posting`)."""

    payment: dict[str, Any]
    paid: Decimal
    txn_id: str
    entries: Sequence[Entry]
    topic: str
    key: str
    payload: bytes


async def write_posting(
    conn: asyncpg.Connection, new: NewPosting, expected: asyncpg.Record | None = None
) -> asyncpg.Record | None:
    """Write a posting in one round trip (a statement of data-modifying CTEs, all or nothing):
    the payment, the invoice's paid, the balanced ledger entries and the outbox row. With
    `expected` (the invoice as read, unlocked), only while its paid, amount and credited are
    still those: None when they moved."""
    _check_balanced(new.txn_id, new.entries)
    p = new.payment
    args = [
        *(p[c] for c in POSTING_INSERT),
        new.paid,
        new.txn_id,
        [e.account for e in new.entries],
        [e.amount for e in new.entries],
        new.topic,
        new.key,
        new.payload,
    ]
    if expected is None:
        row = await conn.fetchrow(_WRITE_POSTING, *args)
        assert row is not None
        return row
    figures = (expected["paid"], expected["amount"], expected["credited"])
    return await conn.fetchrow(_WRITE_POSTING_IF_UNCHANGED, *args, *figures)


POSTING_INSERT = (
    "payment_id",
    "invoice_id",
    "org_id",
    "amount",
    "received_on",
    "method",
    "reference",
    "note",
    "posted_by",
    "client_addr",
    "balance_after",
    "idempotency_key",
    "request_hash",
)


async def known_invoice(conn: asyncpg.Connection, invoice_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM invoices WHERE invoice_id = $1", invoice_id))


async def upsert_invoice(conn: asyncpg.Connection, facts: InvoiceFacts) -> asyncpg.Record:
    """Create or lock the invoice row; answers its previous amount and paid (0 when new)."""
    await conn.execute(
        "INSERT INTO invoices (invoice_id, org_id, kind, revision, amount)"
        " VALUES ($1, $2, $3, $4, 0) ON CONFLICT (invoice_id) DO NOTHING",
        facts.invoice_id,
        facts.org_id,
        facts.kind,
        facts.revision,
    )
    row = await lock_invoice(conn, facts.invoice_id)
    assert row is not None
    return row


async def set_invoice(conn: asyncpg.Connection, facts: InvoiceFacts, paid: Decimal) -> None:
    """The invoice's figures as the event states them (the latest wins) and what is paid."""
    await conn.execute(
        "UPDATE invoices SET amount = $2, tax = $3, paid = $4, revision = greatest(revision, $5),"
        " credited = $6, credited_tax = $7, updated_at = now() WHERE invoice_id = $1",
        facts.invoice_id,
        facts.amount,
        facts.tax,
        paid,
        facts.revision,
        facts.credited,
        facts.credited_tax,
    )


FIGURES = ("amount", "tax", "credited", "credited_tax", "paid")


async def invoice_figures(conn: asyncpg.Connection, after: str, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT invoice_id, amount, tax, credited, credited_tax, paid FROM invoices"
            " WHERE invoice_id > $1 ORDER BY invoice_id LIMIT $2",
            after,
            limit,
        )
    )


def figures_json(row: asyncpg.Record) -> dict[str, str]:
    return {"invoice_id": row["invoice_id"], **{k: f"{row[k]:.2f}" for k in FIGURES}}


async def set_paid(conn: asyncpg.Connection, invoice_id: str, paid: Decimal) -> None:
    await conn.execute(
        "UPDATE invoices SET paid = $2, updated_at = now() WHERE invoice_id = $1", invoice_id, paid
    )


async def by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE idempotency_key = $1", key
    )


async def by_id(
    conn: asyncpg.Connection, payment_id: str, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1"
        + (" FOR UPDATE" if lock else ""),
        payment_id,
    )


async def of_invoice(conn: asyncpg.Connection, invoice_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE invoice_id = $1 ORDER BY seq", invoice_id
    )
    return rows


async def live_postings(conn: asyncpg.Connection, invoice_id: str) -> list[Posting]:
    rows = await conn.fetch(
        "SELECT payment_id, amount FROM payments"
        " WHERE invoice_id = $1 AND reversed_at IS NULL ORDER BY seq",
        invoice_id,
    )
    return [Posting(r["payment_id"], r["amount"]) for r in rows]


async def insert_payment(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO payments ({columns}) VALUES ({params}) RETURNING {PAYMENT_COLUMNS}",
        *values.values(),
    )
    assert row is not None
    return row


async def mark_reversed(
    conn: asyncpg.Connection, payment_id: str, reason: str, by: str
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE payments SET reversed_at = now(), reversed_by = $2, reversal_reason = $3"
        f" WHERE payment_id = $1 RETURNING {PAYMENT_COLUMNS}",
        payment_id,
        by,
        reason,
    )
    assert row is not None
    return row


async def add_entries(
    conn: asyncpg.Connection, txn_id: str, org_id: str, invoice_id: str, entries: Sequence[Entry]
) -> None:
    _check_balanced(txn_id, entries)
    await conn.executemany(
        "INSERT INTO ledger_entries (txn_id, org_id, invoice_id, account, amount)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(txn_id, org_id, invoice_id, e.account, e.amount) for e in entries],
    )


def _check_balanced(txn_id: str, entries: Sequence[Entry]) -> None:
    if sum(e.amount for e in entries) != 0:
        raise AssertionError(f"unbalanced ledger transaction {txn_id}: {entries}")
