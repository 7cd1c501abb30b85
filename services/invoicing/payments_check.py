"""Proof that the payments service's copy of the invoices agrees with the invoices here: each
invoice's amount, tax and credit (copied there from `invoicing.events`, the latest wins) and
what was paid (applied here from `payments.events`). `GET /api/v1/invoices/payments-check`
shows every difference; `POST …/repair` restates the invoices whose copy differs
(`invoice.restated` through the outbox), which the payments service copies like any invoice
event. A difference in what was paid is shown, not repaired: it is a payment event not applied
here yet (lag), which its consumer will apply."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from services.invoicing import invoices
from services.invoicing.notifier_client import clients_for
from shared.db import outbox
from shared.events.invoicing import InvoiceRestated
from shared.events.topics import INVOICING_EVENTS
from shared.service import Runtime

COPIED = ("amount", "tax", "credited", "credited_tax")
"""Figures the payments service copies from here; `paid` there is `payments` here."""
PAGE = 5000
SHOWN = 200
CHECK_TIMEOUT_SECONDS = 60.0


def differences(
    ours: Mapping[str, Mapping[str, Any]], theirs: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Every (invoice, figure) that differs; an invoice missing there differs in all figures.
    Figures compare as numbers."""
    found = []
    for invoice_id in sorted(ours.keys() | theirs.keys()):
        here, there = ours.get(invoice_id), theirs.get(invoice_id)
        pairs = [(f, f) for f in COPIED] + [("payments", "paid")]
        for mine, copy in pairs:
            want = _value(here, mine)
            have = _value(there, copy)
            if want != have:
                found.append(
                    {
                        "invoice_id": invoice_id,
                        "figure": mine,
                        "invoicing": "missing" if here is None else f"{want:.2f}",
                        "payments": "missing" if there is None else f"{have:.2f}",
                    }
                )
    return found


def _value(row: Mapping[str, Any] | None, figure: str) -> Decimal:
    return Decimal(str(row[figure])) if row is not None else Decimal(0)


async def check(runtime: Runtime, repair: bool = False) -> dict[str, Any]:
    """Compare page by page (invoice order) so that memory stays bounded."""
    client = clients_for(runtime, "payments", CHECK_TIMEOUT_SECONDS)
    after, compared, found, restated = "", 0, [], []
    while True:
        page = await client.get(
            "payments", "/internal/invoice-figures", params={"after": after, "limit": PAGE}
        )
        theirs = {r["invoice_id"]: r for r in page["items"]}
        last = max(theirs) if len(theirs) == PAGE else None
        async with runtime.pool.acquire() as conn:
            ours = await _ours(conn, after, last)
            differ = differences(ours, theirs)
            if repair:
                restated += await _restate(
                    conn,
                    sorted(
                        {
                            d["invoice_id"]
                            for d in differ
                            if d["figure"] in COPIED and d["invoicing"] != "missing"
                        }
                    ),
                )
        compared += len(ours.keys() | theirs.keys())
        found += differ
        if last is None:
            break
        after = last
    return {
        "consistent": not found,
        "invoices_compared": compared,
        "differences": found[:SHOWN],
        "differences_total": len(found),
        "restated": restated,
    }


def _copy_differs(found: list[dict[str, str]]) -> list[str]:
    """Invoices whose copied figures differ there (not only what was paid)."""
    return sorted(
        {d["invoice_id"] for d in found if d["figure"] in COPIED and d["invoicing"] != "missing"}
    )


async def _ours(
    conn: asyncpg.Connection, after: str, last: str | None
) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT invoice_id, amount, tax, credited, credited_tax, payments FROM invoices"
        " WHERE invoice_id > $1 AND ($2::text IS NULL OR invoice_id <= $2)",
        after,
        last,
    )
    return {r["invoice_id"]: r for r in rows}


async def _restate(conn: asyncpg.Connection, invoice_ids: list[str]) -> list[str]:
    if not invoice_ids:
        return []
    async with conn.transaction():
        events = []
        for invoice_id in invoice_ids:
            summary = await invoices.get_summary(conn, invoice_id)
            assert summary is not None
            events.append(
                InvoiceRestated(
                    **invoices.facts_of(summary),
                    reason="the payments service's copy differed (payments check)",
                )
            )
        await outbox.stage(conn, INVOICING_EVENTS, events)
    return invoice_ids
