"""SQL of invoices (schema `invoicing`): numbering, storing drafts, reading them back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from services.invoicing.billing import Draft, Line
from services.invoicing.domain import Invoice
from shared.documents import (
    Buyer,
    CreditNoteRef,
    DocumentLine,
    DocumentPayment,
    InvoiceDocument,
    PostalAddress,
)
from shared.money import format_gb, format_percent, format_rate

SUMMARY = (
    "invoice_id, kind, i.org_id, o.name AS org_name, period, issued_on, payable_on,"
    " regular_charges, additional_charges, i.tax, i.tax_rate, i.tax_exempt_reason, amount,"
    " payments, i.credited, i.credited_tax, balance, status, approved, sent, revision"
)
SUMMARY_FIELDS = frozenset(c.strip().split(" AS ")[-1].split(".")[-1] for c in SUMMARY.split(","))
"""The keys of a summary row (`o.name AS org_name` is `org_name`)."""
LINE_COLUMNS = (
    "type, description, service_line_number, service_line_name, plan_name, sub_pool_name,"
    " quantity, unit_price, usage_gb, amount"
)


async def next_number(conn: asyncpg.Connection, issued_on: date) -> str:
    """`INV-YYYYMM-NNNNNN`: sequential per month of issue, never reused (row lock)."""
    month = issued_on.strftime("%Y%m")
    n = await conn.fetchval(
        "INSERT INTO invoice_numbers (month, last) VALUES ($1, 1)"
        " ON CONFLICT (month) DO UPDATE SET last = invoice_numbers.last + 1 RETURNING last",
        month,
    )
    return f"INV-{month}-{n:06d}"


def searchable_names(lines: list[Line]) -> tuple[str, str]:
    """The service-line names and the plan (or sub-pool) names of these lines, one per text
    line: what the list's name filters search."""
    line_names = {x.service_line_name for x in lines if x.service_line_name}
    plan_names = {n for x in lines for n in (x.plan_name, x.sub_pool_name) if n}
    return "\n".join(sorted(line_names)), "\n".join(sorted(plan_names))


async def store(
    conn: asyncpg.Connection,
    kind: str,
    org: asyncpg.Record,
    period: str | None,
    issued_on: date,
    draft: Draft,
) -> dict[str, Any]:
    invoice_id = await next_number(conn, issued_on)
    payable_on = issued_on + timedelta(days=org["payment_terms_days"])
    await conn.execute(
        "INSERT INTO invoices (invoice_id, kind, org_id, period, issued_on, payable_on,"
        " regular_charges, additional_charges, tax, tax_rate, tax_exempt_reason, amount, balance,"
        " service_line_names, plan_names)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)",
        invoice_id,
        kind,
        org["id"],
        period,
        issued_on,
        payable_on,
        draft.regular_charges,
        draft.additional_charges,
        draft.tax,
        draft.terms.applied_rate,
        draft.terms.exempt_reason,
        draft.amount,
        *searchable_names(draft.lines),
    )
    await store_lines(conn, invoice_id, 1, draft.lines)
    summary = await get_summary(conn, invoice_id)
    assert summary is not None
    return summary


async def store_many(
    conn: asyncpg.Connection,
    period: str,
    issued_on: date,
    items: list[tuple[asyncpg.Record, Draft]],
) -> list[dict[str, Any]]:
    """A billing run's SUBSCRIPTION invoices, (organization, draft) each, in a handful of
    statements for all of them: numbers reserved as one block (consecutive, per month of
    issue), invoices and lines inserted from arrays, summaries read back at once."""
    if not items:
        return []
    month = issued_on.strftime("%Y%m")
    last = await conn.fetchval(
        "INSERT INTO invoice_numbers (month, last) VALUES ($1, $2)"
        " ON CONFLICT (month) DO UPDATE SET last = invoice_numbers.last + $2 RETURNING last",
        month,
        len(items),
    )
    ids = [f"INV-{month}-{n:06d}" for n in range(last - len(items) + 1, last + 1)]
    names = [searchable_names(draft.lines) for _, draft in items]
    await conn.execute(
        "INSERT INTO invoices (invoice_id, kind, org_id, period, issued_on, payable_on,"
        " regular_charges, additional_charges, tax, tax_rate, tax_exempt_reason, amount, balance,"
        " service_line_names, plan_names)"
        " SELECT i, 'SUBSCRIPTION', o, $1, $2, p, r, a, x.tax, x.rate, x.exempt, t, t, n, m"
        " FROM unnest($3::text[], $4::text[], $5::date[], $6::numeric[], $7::numeric[],"
        " $8::numeric[], $9::text[], $10::text[], $11::numeric[], $12::numeric[], $13::text[])"
        " AS x(i, o, p, r, a, t, n, m, tax, rate, exempt)",
        period,
        issued_on,
        ids,
        [org["id"] for org, _ in items],
        [issued_on + timedelta(days=org["payment_terms_days"]) for org, _ in items],
        [draft.regular_charges for _, draft in items],
        [draft.additional_charges for _, draft in items],
        [draft.amount for _, draft in items],
        [n[0] for n in names],
        [n[1] for n in names],
        [draft.tax for _, draft in items],
        [draft.terms.applied_rate for _, draft in items],
        [draft.terms.exempt_reason for _, draft in items],
    )
    await conn.copy_records_to_table(
        "invoice_lines",
        columns=["invoice_id", "revision", "position", *LINE_COLUMNS.replace(" ", "").split(",")],
        records=[
            (invoice_id, 1, i, *line_values(x))
            for invoice_id, (_, draft) in zip(ids, items, strict=True)
            for i, x in enumerate(draft.lines, start=1)
        ],
    )
    rows = await conn.fetch(
        f"SELECT {SUMMARY} FROM invoices i JOIN organizations o ON o.id = i.org_id"
        " WHERE invoice_id = ANY($1)",
        ids,
    )
    by_id = {r["invoice_id"]: as_summary(r) for r in rows}
    return [by_id[i] for i in ids]


def line_values(x: Line) -> tuple[Any, ...]:
    return (
        x.type,
        x.description,
        x.service_line_number,
        x.service_line_name,
        x.plan_name,
        x.sub_pool_name,
        x.quantity,
        x.unit_price,
        x.usage_gb,
        x.amount,
    )


async def store_lines(
    conn: asyncpg.Connection, invoice_id: str, revision: int, lines: list[Line]
) -> None:
    await conn.executemany(
        f"INSERT INTO invoice_lines (invoice_id, revision, position, {LINE_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        [(invoice_id, revision, i, *line_values(x)) for i, x in enumerate(lines, start=1)],
    )


async def current_lines(conn: asyncpg.Connection, invoice_id: str, revision: int) -> list[Line]:
    rows = await conn.fetch(
        f"SELECT {LINE_COLUMNS} FROM invoice_lines WHERE invoice_id = $1 AND revision = $2"
        " ORDER BY position",
        invoice_id,
        revision,
    )
    return [Line(**dict(r)) for r in rows]


async def same_lines(
    conn: asyncpg.Connection, invoice_id: str, revision: int, lines: list[Line]
) -> bool:
    """Whether `lines` are exactly the stored lines of that revision (numbers compared as
    numbers: 1.50 equals 1.5)."""
    stored = await conn.fetch(
        f"SELECT {LINE_COLUMNS} FROM invoice_lines WHERE invoice_id = $1 AND revision = $2"
        " ORDER BY position",
        invoice_id,
        revision,
    )
    return [tuple(r.values()) for r in stored] == [line_values(x) for x in lines]


FACTS = (
    "invoice_id",
    "org_id",
    "kind",
    "period",
    "revision",
    "amount",
    "tax",
    "payments",
    "credited",
    "credited_tax",
    "balance",
    "status",
)


MONEY_FIELDS = (
    "regular_charges",
    "additional_charges",
    "tax",
    "amount",
    "payments",
    "credited",
    "credited_tax",
    "balance",
)


def facts_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The fields every invoicing event carries (`shared.events.invoicing.InvoiceFacts`)."""
    return {k: summary[k] for k in FACTS}


def as_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("issued_on", "payable_on"):
        out[key] = out[key].isoformat()
    for key in MONEY_FIELDS:
        out[key] = format(out[key], ".2f")
    out["tax_rate"] = format_percent(out["tax_rate"])
    return out


async def get_summary(conn: asyncpg.Connection, invoice_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {SUMMARY} FROM invoices i JOIN organizations o ON o.id = i.org_id"
        " WHERE invoice_id = $1",
        invoice_id,
    )
    return as_summary(row) if row else None


def customer_view(detail: dict[str, Any]) -> dict[str, Any]:
    """An invoice as its customer's own users see it: without the staff's internal notes and
    names (posting notes, who posted, sent or edited, send errors)."""
    view = dict(detail)
    view["payments"] = [
        {**p, "note": None, "posted_by": None, "reversal_reason": None} for p in detail["payments"]
    ]
    view["sends"] = [{**s, "requested_by": None, "error": None} for s in detail["sends"]]
    view["revisions"] = [{**r, "by": None} for r in detail["revisions"]]
    view["last_send_error"] = None
    view["credit_notes"] = [{**c, "issued_by": None} for c in detail["credit_notes"]]
    return view


DETAIL = (
    f"SELECT {SUMMARY}, i.sent_to, i.last_send_error, i.final,"
    " ARRAY(SELECT l FROM invoice_lines l"
    "  WHERE l.invoice_id = i.invoice_id AND l.revision = i.revision ORDER BY l.position)"
    "  AS line_rows,"
    " ARRAY(SELECT p FROM invoice_payments p WHERE p.invoice_id = i.invoice_id ORDER BY p.seq)"
    "  AS payment_rows,"
    " ARRAY(SELECT s FROM send_requests s WHERE s.invoice_id = i.invoice_id"
    "  ORDER BY s.requested_at) AS send_rows,"
    " ARRAY(SELECT r FROM invoice_revisions r WHERE r.invoice_id = i.invoice_id"
    "  ORDER BY r.revision) AS revision_rows,"
    " ARRAY(SELECT c FROM credit_notes c WHERE c.invoice_id = i.invoice_id ORDER BY c.id)"
    "  AS credit_rows"
    " FROM invoices i JOIN organizations o ON o.id = i.org_id WHERE invoice_id = $1"
)
"""An invoice's detail in one statement: its summary, and its lines, postings, sends,
revisions and credit notes as arrays of their rows. Six round trips cost the invoicing service
and PostgreSQL more than the rows did (the detail is what a client polls for a balance)."""
LINE_FIELDS = tuple(c.strip() for c in LINE_COLUMNS.split(","))


async def get_detail(conn: asyncpg.Connection, invoice_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(DETAIL, invoice_id)
    if row is None:
        return None
    summary = as_summary({k: v for k, v in row.items() if k in SUMMARY_FIELDS})
    final = row["final"]
    summary["lines"] = [line_json({k: r[k] for k in LINE_FIELDS}) for r in row["line_rows"]]
    # The detail's `payments` is the list of postings (api.md: `payments[]`); the summary's
    # sum of them stays readable as `payments_total`.
    summary["payments_total"] = summary["payments"]
    summary["payments"] = [
        {
            "payment_id": r["payment_id"],
            "amount": format(r["amount"], ".2f"),
            "received_on": r["received_on"].isoformat(),
            "method": r["method"],
            "reference": r["reference"],
            "posted_by": r["posted_by"],
            "note": r["note"],
            "applied": r["applied"],
            "reversed": r["reversed"],
            "reversal_reason": r["reversal_reason"],
        }
        for r in row["payment_rows"]
    ]
    summary["sent_to"] = list(row["sent_to"] or [])
    summary["sends"] = [
        {
            "request_id": r["request_id"],
            "purpose": r["purpose"],
            "to": r["to_whom"],
            "recipients": list(r["recipients"]),
            "state": r["state"],
            "message_id": r["message_id"],
            "error": r["error"],
            "requested_by": r["requested_by"],
            "requested_at": r["requested_at"].isoformat().replace("+00:00", "Z"),
        }
        for r in row["send_rows"]
    ]
    summary["last_send_error"] = row["last_send_error"]
    summary["revisions"] = [
        {
            "revision": r["revision"],
            "at": r["at"].isoformat().replace("+00:00", "Z"),
            "by": r["by"],
            "reason": r["reason"],
            "amount_before": format(r["amount_before"], ".2f"),
            "amount_after": format(r["amount_after"], ".2f"),
        }
        for r in row["revision_rows"]
    ]
    summary["credit_notes"] = [credit_note_json(r) for r in row["credit_rows"]]
    summary["allowed_actions"] = Invoice(
        invoice_id,
        Decimal(summary["amount"]),
        Decimal(summary["payments_total"]),
        summary["revision"],
        summary["approved"],
        summary["sent"],
        summary["status"],
        final,
        Decimal(summary["credited"]),
    ).allowed_actions()
    return summary


async def credit_notes_of(conn: asyncpg.Connection, invoice_id: str) -> list[dict[str, Any]]:
    """The credit notes of an invoice, oldest first, as its detail lists them."""
    rows = await conn.fetch(
        "SELECT id, issued_on, reason, net, tax, amount, issued_by FROM credit_notes"
        " WHERE invoice_id = $1 ORDER BY id",
        invoice_id,
    )
    return [credit_note_json(r) for r in rows]


def detail_json(detail: dict[str, Any]) -> bytes:
    """An invoice's detail as JSON. Every value is already a string, number, bool or None (money
    formatted to the cent, days as ISO text); anything else (a Decimal or a date left unformatted)
    is a bug and raises (TypeError) instead of leaving in some default format."""
    return orjson.dumps(detail, option=orjson.OPT_PASSTHROUGH_DATETIME)


def credit_note_json(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "issued_on": r["issued_on"].isoformat(),
        "reason": r["reason"],
        "net": format(r["net"], ".2f"),
        "tax": format(r["tax"], ".2f"),
        "amount": format(r["amount"], ".2f"),
        "issued_by": r["issued_by"],
    }


async def get_document(conn: asyncpg.Connection, invoice_id: str) -> InvoiceDocument | None:
    """The invoice as its document shows it: the current revision's lines and the postings
    applied to it."""
    row = await conn.fetchrow(
        f"SELECT {SUMMARY} FROM invoices i JOIN organizations o ON o.id = i.org_id"
        " WHERE invoice_id = $1",
        invoice_id,
    )
    if row is None:
        return None
    lines = await conn.fetch(
        f"SELECT {LINE_COLUMNS} FROM invoice_lines WHERE invoice_id = $1 AND revision = $2"
        " ORDER BY position",
        invoice_id,
        row["revision"],
    )
    payments = await conn.fetch(
        "SELECT received_on, method, reference, amount, reversed FROM invoice_payments"
        " WHERE invoice_id = $1 AND applied ORDER BY seq",
        invoice_id,
    )
    shown = ("invoice_id", "kind", "org_id", "org_name", "period", "issued_on", "payable_on")
    return InvoiceDocument(
        **{k: row[k] for k in shown},
        revision=row["revision"],
        status=row["status"],
        regular_charges=row["regular_charges"],
        additional_charges=row["additional_charges"],
        tax=row["tax"],
        tax_rate=row["tax_rate"],
        tax_exempt_reason=row["tax_exempt_reason"],
        amount=row["amount"],
        payments_total=row["payments"],
        credited=row["credited"],
        credit_notes=tuple(
            CreditNoteRef(**dict(r))
            for r in await conn.fetch(
                "SELECT id, issued_on, reason, amount FROM credit_notes WHERE invoice_id = $1"
                " ORDER BY id",
                invoice_id,
            )
        ),
        balance=row["balance"],
        lines=tuple(DocumentLine(**dict(r)) for r in lines),
        payments=tuple(DocumentPayment(**dict(r)) for r in payments),
        buyer=await frozen_buyer(conn, invoice_id, row["org_id"]),
    )


async def frozen_buyer(conn: asyncpg.Connection, invoice_id: str, org_id: str) -> Buyer:
    """The buyer as the invoice's final document names it (kept when its sending was
    requested), else as the organization's billing details stand."""
    kept = await conn.fetchval("SELECT buyer FROM invoices WHERE invoice_id = $1", invoice_id)
    return Buyer.model_validate_json(kept) if kept else await buyer_of(conn, org_id)


async def freeze_buyer(conn: asyncpg.Connection, invoice_id: str, org_id: str) -> None:
    """Keep the buyer's details with a document that has become final."""
    buyer = await buyer_of(conn, org_id)
    await conn.execute(
        "UPDATE invoices SET buyer = $2 WHERE invoice_id = $1 AND buyer IS NULL",
        invoice_id,
        buyer.model_dump_json(),
    )


async def buyer_of(conn: asyncpg.Connection, org_id: str) -> Buyer:
    """The organization's billing details as they stand; its name where it has no legal name."""
    org = await conn.fetchrow(
        "SELECT name, legal_name, billing_address, tax_id, tax_exempt_reason, peppol_id"
        " FROM organizations WHERE id = $1",
        org_id,
    )
    assert org is not None  # the invoice's foreign key
    address = org["billing_address"]
    return Buyer(
        legal_name=org["legal_name"] or org["name"],
        address=PostalAddress.model_validate_json(address) if address else None,
        tax_id=org["tax_id"],
        tax_exempt_reason=org["tax_exempt_reason"],
        peppol_id=org["peppol_id"],
    )


def load(row: Any) -> Invoice:
    """The aggregate of a locked `invoices` row."""
    return Invoice(
        row["invoice_id"],
        row["amount"],
        row["payments"],
        row["revision"],
        row["approved"],
        row["sent"],
        row["status"],
        row["final"],
        row["credited"],
    )


def format_line(line: Line) -> dict[str, Any]:
    """A draft line as the API shows it (the same form as a stored one)."""
    return line_json(
        dict(zip(LINE_COLUMNS.replace(" ", "").split(","), line_values(line), strict=True))
    )


def line_json(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["amount"] = format(out["amount"], ".2f")
    out["unit_price"] = format_rate(out["unit_price"])
    out["quantity"] = format_gb(out["quantity"])
    out["usage_gb"] = format_gb(out["usage_gb"]) if out["usage_gb"] is not None else None
    return out
