"""What the exports carry: an invoice's posting transactions (IPT) and the invoice report (the
list's rows under its filters, every page)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.invoicing import listing
from shared.errors import NotFound

IPT_COLUMNS = ("posted_on", "type", "reference", "description", "debit", "credit", "balance")
REPORT_COLUMNS = (
    "invoice_id",
    "kind",
    "org_id",
    "org_name",
    "period",
    "issued_on",
    "payable_on",
    "regular_charges",
    "additional_charges",
    "tax",
    "tax_rate",
    "amount",
    "payments",
    "balance",
    "status",
    "approved",
    "sent",
    "revision",
)
REPORT_PAGE = 500


def _day(value: date | datetime) -> str:
    return (value.date() if isinstance(value, datetime) else value).isoformat()


async def ipt(conn: asyncpg.Connection, invoice_id: str) -> list[dict[str, str]]:
    """Every movement of the invoice's balance in order: the invoice issued (debit), each
    revision (debit or credit by its difference), each applied payment (credit), each
    reversal of one (debit) and each credit note (credit), with the running balance."""
    invoice = await conn.fetchrow(
        "SELECT invoice_id, issued_on, amount FROM invoices WHERE invoice_id = $1", invoice_id
    )
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}")
    revisions = await conn.fetch(
        "SELECT revision, at, reason, amount_before, amount_after FROM invoice_revisions"
        " WHERE invoice_id = $1 ORDER BY revision",
        invoice_id,
    )
    first_amount = revisions[0]["amount_before"] if revisions else invoice["amount"]
    # Corrections of earlier periods and carried credit on the invoice as issued: each its own
    # posting, so the journal shows what the issued amount is made of.
    settled = await conn.fetch(
        "SELECT position, description, amount FROM invoice_lines WHERE invoice_id = $1"
        " AND revision = 1 AND type = 'ADJUSTMENT' AND (description LIKE 'Correction %'"
        " OR description LIKE 'Credit carried forward%'"
        " OR description LIKE 'Credit brought forward%')"
        " ORDER BY position",
        invoice_id,
    )
    charged = first_amount - sum((r["amount"] for r in settled), Decimal(0))
    day = _day(invoice["issued_on"])
    moves: list[tuple[str, int, str, str, str, Decimal]] = [
        (day, 0, "INVOICE", invoice_id, "Invoice issued", charged)
    ]
    for r in settled:
        kind = "CORRECTION" if r["description"].startswith("Correction") else "CREDIT"
        moves.append(
            (day, 0, kind, f"{invoice_id}/l{r['position']}", r["description"], r["amount"])
        )
    for r in revisions:
        moves.append(
            (
                _day(r["at"]),
                1,
                "REVISION",
                f"{invoice_id}/r{r['revision']}",
                f"Revision {r['revision']}: {r['reason']}",
                r["amount_after"] - r["amount_before"],
            )
        )
    payments = await conn.fetch(
        "SELECT payment_id, amount, received_on, method, reference, reversed, reversal_reason,"
        " reversed_at FROM invoice_payments WHERE invoice_id = $1 AND applied ORDER BY seq",
        invoice_id,
    )
    for p in payments:
        about = f"Payment {p['method']}" + (f" {p['reference']}" if p["reference"] else "")
        moves.append((_day(p["received_on"]), 2, "PAYMENT", p["payment_id"], about, -p["amount"]))
        if p["reversed"]:
            when = p["reversed_at"] or p["received_on"]
            reason = f"Reversal: {p['reversal_reason']}"
            moves.append((_day(when), 3, "REVERSAL", p["payment_id"], reason, p["amount"]))
    for c in await conn.fetch(
        "SELECT id, issued_on, reason, amount FROM credit_notes WHERE invoice_id = $1 ORDER BY id",
        invoice_id,
    ):
        about = f"Credit note {c['id']}: {c['reason']}"
        moves.append((_day(c["issued_on"]), 2, "CREDIT", c["id"], about, -c["amount"]))
    moves.sort(key=lambda m: (m[0], m[1]))
    rows, balance = [], Decimal(0)
    for posted_on, _, kind, reference, description, change in moves:
        balance += change
        rows.append(
            {
                "posted_on": posted_on,
                "type": kind,
                "reference": reference,
                "description": description,
                "debit": f"{change:.2f}" if change > 0 else "",
                "credit": f"{-change:.2f}" if change < 0 else "",
                "balance": f"{balance:.2f}",
            }
        )
    return rows


async def report(
    conn: asyncpg.Connection,
    filters: dict[str, Any],
    org_ids: list[str] | None,
    sort: str | None = None,
) -> dict[str, Any]:
    """Every row the list's filters select (page after page), with the totals and counts."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await listing.search(conn, filters, org_ids, REPORT_PAGE, cursor, sort)
        rows += [{k: item[k] for k in REPORT_COLUMNS} for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return {
                "columns": list(REPORT_COLUMNS),
                "rows": rows,
                "totals": page["totals"],
                "counts": page["counts"],
            }
