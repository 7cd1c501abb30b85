"""Invariant checks of the ledger, run by tests and exposed to operators
(`GET /api/v1/payments/ledger-check`, `billport payments check`)."""

from __future__ import annotations

from typing import Any

import asyncpg

PROBLEMS_SHOWN = 100

INVOICE_MISMATCHES = """
SELECT i.invoice_id, i.amount, i.tax, i.credited, i.credited_tax, i.paid,
       coalesce(l.tax_payable, 0) AS tax_payable,
       coalesce(p.live, 0) AS live_postings,
       coalesce(l.cash, 0) AS cash, coalesce(l.receivable, 0) AS receivable
FROM invoices i
LEFT JOIN (SELECT invoice_id, sum(amount) AS live FROM payments
           WHERE reversed_at IS NULL GROUP BY invoice_id) p USING (invoice_id)
LEFT JOIN (SELECT invoice_id,
                  sum(amount) FILTER (WHERE account = 'cash') AS cash,
                  sum(amount) FILTER (WHERE account = 'receivable') AS receivable,
                  sum(amount) FILTER (WHERE account = 'tax_payable') AS tax_payable
           FROM ledger_entries GROUP BY invoice_id) l USING (invoice_id)
WHERE i.paid <> coalesce(p.live, 0)
   OR coalesce(l.cash, 0) <> i.paid
   OR coalesce(l.receivable, 0) <> i.amount - i.credited - i.paid
   OR coalesce(l.tax_payable, 0) <> -(i.tax - i.credited_tax)
   OR i.paid > i.amount
ORDER BY i.invoice_id
LIMIT $1
"""


async def check(conn: asyncpg.Connection) -> dict[str, Any]:
    """The ledger sums to zero, each transaction on its own too; for every invoice,
    payments never exceed the amount, the cash account holds its payments, the receivable its
    balance (amount - credited - paid; negative when a credit note left money owed back) and
    tax payable (a credit) its tax less the tax credited."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        accounts = {
            r["account"]: r["total"]
            for r in await conn.fetch(
                "SELECT account, sum(amount) AS total FROM ledger_entries GROUP BY account"
            )
        }
        unbalanced = await conn.fetch(
            "SELECT txn_id, sum(amount) AS total FROM ledger_entries"
            " GROUP BY txn_id HAVING sum(amount) <> 0 LIMIT $1",
            PROBLEMS_SHOWN,
        )
        mismatched = await conn.fetch(INVOICE_MISMATCHES, PROBLEMS_SHOWN)
        figures = await conn.fetchrow(
            "SELECT count(*) AS invoices, coalesce(sum(amount), 0) AS invoiced,"
            " coalesce(sum(credited), 0) AS credited, coalesce(sum(paid), 0) AS paid"
            " FROM invoices"
        )
        postings = await conn.fetchval("SELECT count(*) FROM payments")
    total = sum(accounts.values(), start=0)
    problems = [f"transaction {r['txn_id']} sums to {r['total']}" for r in unbalanced] + [
        f"invoice {r['invoice_id']}: amount {r['amount']}, paid {r['paid']}, live postings"
        f" {r['live_postings']}, cash {r['cash']}, receivable {r['receivable']},"
        f" tax {r['tax']}, credited {r['credited']} (tax {r['credited_tax']}),"
        f" tax payable {r['tax_payable']}"
        for r in mismatched
    ]
    if total != 0:
        problems.insert(0, f"the ledger sums to {total}, not 0")
    return {
        "balanced": not problems,
        "ledger_total": f"{total:.2f}",
        "accounts": {
            k: f"{accounts.get(k, 0):.2f}" for k in ("cash", "receivable", "revenue", "tax_payable")
        },
        "invoices_checked": figures["invoices"],
        "invoiced": f"{figures['invoiced']:.2f}",
        "credited": f"{figures['credited']:.2f}",
        "paid": f"{figures['paid']:.2f}",
        "balance": f"{figures['invoiced'] - figures['credited'] - figures['paid']:.2f}",
        "postings": postings,
        "problems": problems,
    }
