"""Credit notes: issued when an edit lowers a final invoice, numbered gap-free in their own
series, stored with their lines, published (`credit_note.issued`, so payments reverse revenue
and receivable) and e-mailed like the invoice, all in the transaction of the edit. Also reading
them back: one, a list, the document."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from services.invoicing import crediting, invoices
from services.invoicing.billing import Line
from services.invoicing.tax import TaxTerms
from shared.db import outbox
from shared.documents import Buyer, CreditNoteDocument, DocumentLine
from shared.events.envelope import Event
from shared.events.invoicing import CreditNoteIssued, InvoiceStatusChanged
from shared.events.notifier import InvoiceSendRequested
from shared.events.topics import NOTIFIER_COMMANDS
from shared.money import format_percent

LIST_LIMIT = 500


async def next_number(conn: asyncpg.Connection, issued_on: date) -> str:
    """`CN-YYYYMM-NNNNNN`: sequential per month of issue, gap-free (the counter row is locked
    until the credit note's transaction ends; a rollback gives the number back)."""
    month = issued_on.strftime("%Y%m")
    n = await conn.fetchval(
        "INSERT INTO credit_note_numbers (month, last) VALUES ($1, 1)"
        " ON CONFLICT (month) DO UPDATE SET last = credit_note_numbers.last + 1 RETURNING last",
        month,
    )
    return f"CN-{month}-{n:06d}"


async def credited_lines(conn: asyncpg.Connection, invoice_id: str) -> list[Line]:
    rows = await conn.fetch(
        f"SELECT {invoices.LINE_COLUMNS} FROM credit_note_lines WHERE credit_note_id IN"
        " (SELECT id FROM credit_notes WHERE invoice_id = $1)",
        invoice_id,
    )
    return [Line(**dict(r)) for r in rows]


async def issue(
    conn: asyncpg.Connection, row: asyncpg.Record, edited: list[Line], reason: str, by: str
) -> list[Event]:
    """The credit note an edit of the locked final invoice `row` issues (refused when the edit
    raises it, lowers nothing, or asks for more than is still uncredited); its events."""
    lines = crediting.credit_lines(
        await invoices.current_lines(conn, row["invoice_id"], row["revision"]),
        await credited_lines(conn, row["invoice_id"]),
        edited,
    )
    _, events = await issue_lines(conn, row, lines, reason, by)
    return events


async def issue_lines(
    conn: asyncpg.Connection, row: asyncpg.Record, lines: list[Line], reason: str, by: str
) -> tuple[str, list[Event]]:
    """A credit note of these lines (positive amounts) on the locked final invoice `row`:
    stored, numbered, its events answered and its e-mail requested."""
    invoice_id = row["invoice_id"]
    invoice = invoices.load(row)
    figures = crediting.credit_figures(
        lines,
        TaxTerms.of(row),
        net_left=row["amount"] - row["tax"] - (row["credited"] - row["credited_tax"]),
        tax_left=row["tax"] - row["credited_tax"],
    )
    invoice.credit(figures.amount)
    issued_on = datetime.now(UTC).date()
    number = await next_number(conn, issued_on)
    buyer = await invoices.frozen_buyer(conn, invoice_id, row["org_id"])
    await conn.execute(
        "INSERT INTO credit_notes (id, invoice_id, org_id, issued_on, reason, net, tax, amount,"
        " issued_by, buyer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        number,
        invoice_id,
        row["org_id"],
        issued_on,
        reason,
        figures.net,
        figures.tax,
        figures.amount,
        by,
        buyer.model_dump_json(),
    )
    await conn.executemany(
        f"INSERT INTO credit_note_lines (credit_note_id, position, {invoices.LINE_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [(number, i, *invoices.line_values(x)) for i, x in enumerate(lines, start=1)],
    )
    await conn.execute(
        "UPDATE invoices SET credited = credited + $2, credited_tax = credited_tax + $3,"
        " balance = $4, status = $5 WHERE invoice_id = $1",
        invoice_id,
        figures.amount,
        figures.tax,
        invoice.balance,
        invoice.status,
    )
    summary = await invoices.get_summary(conn, invoice_id)
    assert summary is not None
    facts = invoices.facts_of(summary)
    events: list[Event] = [
        CreditNoteIssued(
            **facts,
            credit_note_id=number,
            issued_on=issued_on,
            reason=reason,
            credit_amount=figures.amount,
            credit_tax=figures.tax,
        )
    ]
    if invoice.status != row["status"]:
        events.append(InvoiceStatusChanged(**facts, previous_status=row["status"]))
    await _request_mail(conn, invoice_id, number, by)
    return number, events


async def _request_mail(conn: asyncpg.Connection, invoice_id: str, number: str, by: str) -> None:
    """E-mail the credit note to whom the invoice was last sent (the same contacts)."""
    last = await conn.fetchrow(
        "SELECT to_whom, recipients FROM send_requests WHERE invoice_id = $1"
        " AND purpose = 'invoice' ORDER BY requested_at DESC LIMIT 1",
        invoice_id,
    )
    if last is None:  # final from before send requests were kept: nobody to tell
        return
    document = await invoices.get_document(conn, invoice_id)
    credit_note = await get_document(conn, number)
    assert document is not None and credit_note is not None
    request = InvoiceSendRequested(
        request_id=f"snd_{number}",
        invoice_id=invoice_id,
        purpose="credit_note",
        to=last["to_whom"],
        recipients=list(last["recipients"]),
        requested_by=by,
        document=document,
        credit_note=credit_note,
    )
    await conn.execute(
        "INSERT INTO send_requests (request_id, invoice_id, purpose, to_whom, recipients,"
        " requested_by, credit_note_id) VALUES ($1, $2, 'credit_note', $3, $4, $5, $6)",
        request.request_id,
        invoice_id,
        request.to,
        request.recipients,
        by,
        number,
    )
    await outbox.stage(conn, NOTIFIER_COMMANDS, [request])


COLUMNS = (
    "c.id, c.invoice_id, c.org_id, o.name AS org_name, i.period, c.issued_on, c.reason, c.net,"
    " c.tax, i.tax_rate, i.tax_exempt_reason, c.amount, c.issued_by, c.issued_at"
)
FROM = (
    " FROM credit_notes c JOIN invoices i ON i.invoice_id = c.invoice_id"
    " JOIN organizations o ON o.id = c.org_id"
)


def _as_json(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["issued_on"] = row["issued_on"].isoformat()
    out["issued_at"] = row["issued_at"].isoformat().replace("+00:00", "Z")
    for key in ("net", "tax", "amount"):
        out[key] = format(row[key], ".2f")
    out["tax_rate"] = format_percent(row["tax_rate"])
    return out


async def _lines(conn: asyncpg.Connection, number: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {invoices.LINE_COLUMNS} FROM credit_note_lines WHERE credit_note_id = $1"
            " ORDER BY position",
            number,
        )
    )


async def get(conn: asyncpg.Connection, number: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS}{FROM} WHERE c.id = $1", number)
    if row is None:
        return None
    out = _as_json(row)
    out["lines"] = [invoices.line_json(r) for r in await _lines(conn, number)]
    return out


async def search(
    conn: asyncpg.Connection,
    org_ids: list[str] | None,
    invoice_id: str | None,
    limit: int,
    after: str | None,
) -> dict[str, Any]:
    """Credit notes by number, a page at a time (`after`: the last number of the page before)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS}{FROM} WHERE ($1::text[] IS NULL OR c.org_id = ANY($1))"
        " AND ($2::text IS NULL OR c.invoice_id = $2) AND ($3::text IS NULL OR c.id > $3)"
        " ORDER BY c.id LIMIT $4",
        org_ids,
        invoice_id,
        after,
        limit + 1,
    )
    items = [_as_json(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}


def customer_view(note: dict[str, Any]) -> dict[str, Any]:
    return {**note, "issued_by": None}


async def get_document(conn: asyncpg.Connection, number: str) -> CreditNoteDocument | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, i.issued_on AS invoice_issued_on, c.buyer{FROM} WHERE c.id = $1",
        number,
    )
    if row is None:
        return None
    shown = ("id", "invoice_id", "invoice_issued_on", "org_id", "org_name", "period", "issued_on")
    return CreditNoteDocument(
        **{k: row[k] for k in shown},
        reason=row["reason"],
        lines=tuple(DocumentLine(**dict(r)) for r in await _lines(conn, number)),
        net=row["net"],
        tax=row["tax"],
        tax_rate=row["tax_rate"],
        tax_exempt_reason=row["tax_exempt_reason"],
        amount=row["amount"],
        buyer=(
            Buyer.model_validate_json(row["buyer"])
            if row["buyer"]
            else await invoices.buyer_of(conn, row["org_id"])
        ),
    )
