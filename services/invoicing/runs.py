"""Use cases that create invoices: the monthly billing run and product orders. Each runs in
one transaction with its `invoice.generated` events (outbox)."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from decimal import Decimal
from typing import Any

import asyncpg

from services.invoicing import catalog, invoices
from services.invoicing.billing import (
    Assignment,
    Draft,
    Period,
    PlanTerms,
    PoolTerms,
    product_invoice,
    subscription_invoice,
)
from shared.api.catalog import ProductOrderIn
from shared.db import outbox
from shared.errors import ValidationFailed
from shared.events.invoicing import InvoiceGenerated
from shared.events.topics import INVOICING_EVENTS

ASSIGNMENTS = """
SELECT sl.service_line_number, sl.name, sl.org_id, sl.active_from, sl.active_to,
       p.name AS plan_name, p.monthly_price AS plan_price, p.allowance_gb AS plan_allowance,
       p.overage_price_per_gb AS plan_rate, p.overage_block_gb, p.overage_block_price,
       sp.id AS pool_id, sp.org_id AS pool_org_id, sp.name AS pool_name,
       sp.monthly_price AS pool_price, sp.allowance_gb AS pool_allowance,
       sp.overage_price_per_gb AS pool_rate
FROM service_lines sl
LEFT JOIN plans p ON p.id = sl.plan_id
LEFT JOIN sub_pools sp ON sp.id = sl.sub_pool_id
WHERE daterange(sl.active_from, sl.active_to, '[]') && daterange($1, $2, '[]')
"""


def _assignment(r: asyncpg.Record) -> Assignment:
    plan = pool = None
    if r["plan_name"] is not None:
        plan = PlanTerms(
            r["plan_name"],
            r["plan_price"],
            r["plan_allowance"],
            r["plan_rate"],
            r["overage_block_gb"],
            r["overage_block_price"],
        )
    if r["pool_id"] is not None:
        pool = PoolTerms(
            r["pool_id"], r["pool_name"], r["pool_price"], r["pool_allowance"], r["pool_rate"]
        )
    return Assignment(
        r["service_line_number"], r["name"], r["active_from"], r["active_to"], plan=plan, pool=pool
    )


def _lock_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


async def drafts_for(
    conn: asyncpg.Connection, period: Period, org_id: str | None = None
) -> dict[str, Draft]:
    """Every organization's subscription draft for `period` from the current catalog and
    usage (only `org_id`'s when given)."""
    previous = period.previous()
    rows = await conn.fetch(ASSIGNMENTS, previous.first_day, period.last_day)
    by_org: dict[str, list[Assignment]] = defaultdict(list)
    for r in rows:  # a pool's charges belong to the pool's organization
        by_org[r["pool_org_id"] or r["org_id"]].append(_assignment(r))
    usage = await _usage(conn, previous, {r["service_line_number"] for r in rows})
    return {
        org: subscription_invoice(period, assignments, usage)
        for org, assignments in by_org.items()
        if org_id is None or org == org_id
    }


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ValidationFailed("bad period", fields={"period": str(exc)}) from None


async def billing_run(
    conn: asyncpg.Connection, period_text: str, trigger: str = "api"
) -> dict[str, Any]:
    """Generate the period's subscription invoices; a period run twice creates nothing new."""
    period = parse_period(period_text)
    generated: list[str] = []
    skipped: list[dict[str, str]] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(f"run:{period}"))
        drafts = await drafts_for(conn, period)
        existing = {
            r["org_id"]: r["invoice_id"]
            for r in await conn.fetch(
                "SELECT org_id, invoice_id FROM invoices WHERE kind = 'SUBSCRIPTION'"
                " AND period = $1",
                str(period),
            )
        }
        orgs = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, payment_terms_days FROM organizations WHERE id = ANY($1)", list(drafts)
            )
        }
        events = []
        for org_id in sorted(drafts):
            draft = drafts[org_id]
            if org_id in existing:
                skipped.append(
                    {"org_id": org_id, "reason": f"already generated as {existing[org_id]}"}
                )
                continue
            if not draft.lines:
                skipped.append({"org_id": org_id, "reason": "no billable lines in the period"})
                continue
            summary = await invoices.store(
                conn, "SUBSCRIPTION", orgs[org_id], str(period), period.first_day, draft
            )
            generated.append(summary["invoice_id"])
            events.append(generated_event(summary))
        await outbox.stage(conn, INVOICING_EVENTS, events)
        await conn.execute(
            "INSERT INTO billing_runs (period, trigger, generated, skipped)"
            " VALUES ($1, $2, $3, $4)",
            str(period),
            trigger,
            len(generated),
            len(skipped),
        )
    return {"generated": generated, "skipped": skipped}


async def _usage(conn: asyncpg.Connection, month: Period, lines: set[str]) -> dict[str, Decimal]:
    rows = await conn.fetch(
        "SELECT service_line_number, priority_gb FROM line_month_usage"
        " WHERE month = $1 AND service_line_number = ANY($2)",
        month.first_day,
        list(lines),
    )
    return {r["service_line_number"]: r["priority_gb"] for r in rows}


def generated_event(summary: dict[str, Any]) -> InvoiceGenerated:
    return InvoiceGenerated(**invoices.facts_of(summary))


async def product_order(conn: asyncpg.Connection, body: ProductOrderIn) -> dict[str, Any]:
    """A product order creates its ONE_TIME invoice at once (issued on the order date)."""
    async with conn.transaction():
        org = await catalog.require(conn, "organizations", body.org_id, "org_id")
        lines = []
        for i, item in enumerate(body.items):
            product = await catalog.require(
                conn, "products", item.product_id, f"items.{i}.product_id"
            )
            lines.append((product["name"], product["unit_price"], Decimal(item.quantity)))
        summary = await invoices.store(
            conn, "ONE_TIME", org, None, body.ordered_on, product_invoice(lines)
        )
        await conn.execute(
            "INSERT INTO product_orders (id, org_id, ordered_on, invoice_id)"
            " VALUES ($1, $2, $3, $4)",
            f"order_{secrets.token_hex(6)}",
            org["id"],
            body.ordered_on,
            summary["invoice_id"],
        )
        await outbox.stage(conn, INVOICING_EVENTS, [generated_event(summary)])
    detail = await invoices.get_detail(conn, summary["invoice_id"])
    assert detail is not None
    return detail
