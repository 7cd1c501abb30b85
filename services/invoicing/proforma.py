"""Proforma invoices: per organization, the next subscription invoice computed from the
catalog and the usage so far. Never numbered, never stored, clearly marked."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.invoicing import composing, runs
from services.invoicing.billing import Draft, Period
from services.invoicing.invoices import format_line
from services.invoicing.tax import TaxTerms
from shared.money import format_percent


def next_period(today: date) -> Period:
    following = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return Period(following.year, following.month)


async def proformas(
    conn: asyncpg.Connection, today: date, org_ids: list[str] | None, window: int = 3
) -> dict[str, Any]:
    """The next invoice of each organization as it would be generated now: its charges, the
    corrections of earlier periods and the credit it would bring forward."""
    period = next_period(today)
    only = set(org_ids) if org_ids is not None else None
    drafts = await runs.drafts_for(conn, period, orgs=only)
    due = await composing.corrections_due(
        conn, period, window, runs.recompute_with(conn), only=only, excluding=[]
    )
    credit = await composing.open_credit(conn, only, [])
    wanted = {}
    for org in set(drafts) | set(due) | set(credit):
        composition = composing.Composition(
            drafts.get(org, Draft()), due.get(org, []), credit.get(org, [])
        )
        if composition.bills_anything() and (org_ids is None or org in org_ids):
            wanted[org] = composition.draft()
    orgs = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, name, payment_terms_days, tax_rate, tax_exempt_reason FROM organizations"
            " WHERE id = ANY($1)",
            list(wanted),
        )
    }
    # The organization's rate as it is now: the one a run today would record.
    wanted = {o: d.taxed(TaxTerms.of(orgs[o])) for o, d in wanted.items()}
    items = [_item(orgs[o], period, d) for o, d in sorted(wanted.items())]
    invoiced = sum((Decimal(i["amount"]) for i in items), Decimal(0))
    return {
        "items": items,
        "totals": {"invoiced": format(invoiced, ".2f"), "balance": format(invoiced, ".2f")},
        "counts": {"generated": 0, "sent": 0, "partial": 0, "paid": 0},
        "next_cursor": None,
    }


def _item(org: asyncpg.Record, period: Period, draft: Draft) -> dict[str, Any]:
    issued_on = period.first_day
    amount = format(draft.amount, ".2f")
    return {
        "invoice_id": f"PROFORMA-{period.year:04d}{period.month:02d}-{org['id']}",
        "proforma": True,
        "kind": "SUBSCRIPTION",
        "org_id": org["id"],
        "org_name": org["name"],
        "period": str(period),
        "issued_on": issued_on.isoformat(),
        "payable_on": (issued_on + timedelta(days=org["payment_terms_days"])).isoformat(),
        "regular_charges": format(draft.regular_charges, ".2f"),
        "additional_charges": format(draft.additional_charges, ".2f"),
        "tax": format(draft.tax, ".2f"),
        "tax_rate": format_percent(draft.terms.applied_rate),
        "tax_exempt_reason": draft.terms.exempt_reason,
        "amount": amount,
        "payments": "0.00",
        "balance": amount,
        "status": "PROFORMA",
        "approved": False,
        "sent": False,
        "revision": 0,
        "lines": [format_line(x) for x in draft.lines],
    }
