"""Use cases that create invoices: the monthly billing run and product orders. Each runs in
one transaction with its `invoice.generated` events (outbox)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from services.invoicing import catalog, composing, invoices
from services.invoicing.billing import (
    Assignment,
    Draft,
    Period,
    PlanTerms,
    PoolTerms,
    Segment,
    Span,
    UsageOf,
    product_invoice,
    segments,
    subscription_invoice,
)
from services.invoicing.repository import DAYS_GB
from services.invoicing.tax import TaxTerms
from shared.api.catalog import ProductOrderIn
from shared.db import outbox
from shared.errors import ValidationFailed
from shared.events.envelope import Event
from shared.events.invoicing import InvoiceGenerated
from shared.events.topics import INVOICING_EVENTS

ASSIGNMENTS = """
SELECT sl.service_line_number, sl.name, sl.org_id, sl.active_from, sl.active_to,
       p.id AS plan_id, p.name AS plan_name, p.monthly_price AS plan_price,
       p.allowance_gb AS plan_allowance,
       p.overage_price_per_gb AS plan_rate, p.overage_block_gb, p.overage_block_price,
       sp.id AS pool_id, sp.org_id AS pool_org_id, sp.name AS pool_name,
       sp.monthly_price AS pool_price, sp.allowance_gb AS pool_allowance,
       sp.overage_price_per_gb AS pool_rate
FROM service_lines sl
LEFT JOIN plans p ON p.id = sl.plan_id
LEFT JOIN sub_pools sp ON sp.id = sl.sub_pool_id
WHERE daterange(sl.active_from, sl.active_to, '[]') && daterange($1, $2, '[]')
  AND ($3::text[] IS NULL OR sl.org_id = ANY($3) OR sp.org_id = ANY($3))
"""


def _assignment(r: asyncpg.Record, terms: dict[str, Any]) -> Assignment:
    """An assignment row as the billing rules take it; `terms` keeps one PlanTerms or
    PoolTerms per plan or pool (a run reads a hundred thousand rows)."""
    plan = pool = None
    if r["plan_name"] is not None:
        plan = terms.get(r["plan_id"])
        if plan is None:
            plan = terms[r["plan_id"]] = _plan(r)
    if r["pool_id"] is not None:
        pool = terms.get(r["pool_id"])
        if pool is None:
            pool = terms[r["pool_id"]] = PoolTerms(
                r["pool_id"], r["pool_name"], r["pool_price"], r["pool_allowance"], r["pool_rate"]
            )
    return Assignment(
        r["service_line_number"],
        r["name"],
        r["active_from"],
        r["active_to"],
        plan=plan,
        pool=pool,
        org_id=r["org_id"],
    )


def _plan(r: asyncpg.Record) -> PlanTerms:
    return PlanTerms(
        r["plan_name"],
        r["plan_price"],
        r["plan_allowance"],
        r["plan_rate"],
        r["overage_block_gb"],
        r["overage_block_price"],
        id=r["plan_id"],
    )


def _lock_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


async def drafts_for(
    conn: asyncpg.Connection,
    period: Period,
    org_id: str | None = None,
    orgs: set[str] | None = None,
) -> dict[str, Draft]:
    """Every organization's subscription draft for `period` from the current catalog and
    usage (only `org_id`'s, or those in `orgs`, when given)."""
    previous = period.previous()
    wanted_orgs = sorted(orgs) if orgs is not None else ([org_id] if org_id else None)
    rows = await conn.fetch(ASSIGNMENTS, previous.first_day, period.last_day, wanted_orgs)
    versions = await PriceVersions.load(conn)
    by_org: dict[str, list[Assignment]] = defaultdict(list)
    terms: dict[str, Any] = {}
    for r in rows:  # a pool's charges belong to the pool's organization
        by_org[r["pool_org_id"] or r["org_id"]].append(_assignment(r, terms))
    wanted = {
        o: a
        for o, a in by_org.items()
        if (org_id is None or o == org_id) and (orgs is None or o in orgs)
    }
    earlier = {o: [versions.in_force(a, previous) for a in group] for o, group in wanted.items()}
    usage = await usage_of_segments(
        conn, segments((a for group in earlier.values() for a in group), previous), previous
    )
    return {
        org: subscription_invoice(
            period, [versions.in_force(a, period) for a in group], usage, earlier[org]
        )
        for org, group in wanted.items()
    }


class PriceVersions:
    """Price versions of plans and pools (few rows): the terms in force in a period."""

    def __init__(self, plans: dict[str, list[Any]], pools: dict[str, list[Any]]) -> None:
        self._plans, self._pools = plans, pools

    @classmethod
    async def load(cls, conn: asyncpg.Connection) -> PriceVersions:
        plans: dict[str, list[Any]] = defaultdict(list)
        pools: dict[str, list[Any]] = defaultdict(list)
        for r in await conn.fetch("SELECT * FROM plan_versions ORDER BY effective_from"):
            plans[r["plan_id"]].append(r)
        for r in await conn.fetch("SELECT * FROM sub_pool_versions ORDER BY effective_from"):
            pools[r["sub_pool_id"]].append(r)
        return cls(plans, pools)

    def in_force(self, a: Assignment, period: Period) -> Assignment:
        plan, pool = a.plan, a.pool
        if plan is not None and self._plans.get(plan.id):
            v = _latest(self._plans[plan.id], period)
            if v is not None:
                plan = dataclasses.replace(
                    plan,
                    monthly_price=v["monthly_price"],
                    allowance_gb=v["allowance_gb"],
                    overage_price_per_gb=v["overage_price_per_gb"],
                    overage_block_gb=v["overage_block_gb"],
                    overage_block_price=v["overage_block_price"],
                )
        if pool is not None and self._pools.get(pool.id):
            v = _latest(self._pools[pool.id], period)
            if v is not None:
                pool = dataclasses.replace(
                    pool,
                    monthly_price=v["monthly_price"],
                    allowance_gb=v["allowance_gb"],
                    overage_price_per_gb=v["overage_price_per_gb"],
                )
        return (
            a if (plan, pool) == (a.plan, a.pool) else dataclasses.replace(a, plan=plan, pool=pool)
        )


def _latest(versions: list[Any], period: Period) -> Any:
    found = None
    for v in versions:
        if v["effective_from"] <= period.first_day:
            found = v
    return found


def corrections_by_credit_note(settings: Any) -> bool:
    """Whether the reseller settles corrections that lower a sent period by credit notes
    (`BILLPORT_INVOICING_CORRECTIONS_AS=credit_note`)."""
    return getattr(settings, "corrections_as", "next_invoice") == "credit_note"


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ValidationFailed("bad period", fields={"period": str(exc)}) from None


async def billing_run(
    conn: asyncpg.Connection,
    period_text: str,
    trigger: str = "api",
    window: int = 3,
    credit_notes_for_corrections: bool = False,
) -> dict[str, Any]:
    """Generate the period's subscription invoices, with the corrections of the `window`
    months before (those lowering a sent period as credit notes on it, when the reseller
    prefers so); a period run twice creates nothing new."""
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
        due = await composing.corrections_due(
            conn, period, window, recompute_with(conn), only=None, excluding=[]
        )
        events: list[Event] = []
        if credit_notes_for_corrections:
            due, events = await composing.credit_lowered_periods(
                conn, {o: x for o, x in due.items() if o not in existing}, f"billing run {period}"
            )
        credit = await composing.open_credit(conn, None, [])
        candidates = set(drafts) | set(due) | set(credit)
        orgs = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, payment_terms_days, tax_rate, tax_exempt_reason FROM organizations"
                " WHERE id = ANY($1)",
                list(candidates),
            )
        }
        to_store: list[tuple[str, composing.Composition]] = []
        for org_id in sorted(candidates):
            if org_id in existing:
                skipped.append(
                    {"org_id": org_id, "reason": f"already generated as {existing[org_id]}"}
                )
                continue
            composition = composing.Composition(
                drafts.get(org_id, Draft()), due.get(org_id, []), credit.get(org_id, [])
            )
            if not composition.bills_anything():
                skipped.append({"org_id": org_id, "reason": "nothing to bill in the period"})
                continue
            to_store.append((org_id, composition))
        summaries = await invoices.store_many(
            conn,
            str(period),
            period.first_day,
            [(orgs[o], c.draft().taxed(TaxTerms.of(orgs[o]))) for o, c in to_store],
        )
        stored = [
            (org_id, summary["invoice_id"], c)
            for (org_id, c), summary in zip(to_store, summaries, strict=True)
        ]
        generated = [s["invoice_id"] for s in summaries]
        events += [generated_event(s) for s in summaries]
        await composing.store(conn, str(period), stored)
        await composing.forget_old_marks(conn, period, window)
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


def recompute_with(conn: asyncpg.Connection) -> Any:
    async def recompute(period: Period, orgs: set[str]) -> dict[str, Draft]:
        return await drafts_for(conn, period, orgs=orgs)

    return recompute


# Each part of a month ($4): a line's priority GB on its days first..last.
PART_USAGE = (
    "SELECT t.line, t.first, t.last, "
    + DAYS_GB.format(line="t.line", month="$4", first="t.first", last="t.last")
    + " AS gb FROM unnest($1::text[], $2::date[], $3::date[]) AS t(line, first, last)"
)


async def usage_of_segments(
    conn: asyncpg.Connection, found: list[Segment], month: Period
) -> UsageOf:
    """Priority GB of each segment of `month`: a whole month from the monthly sums, part of one
    from the days (both the invoicing service's own copy of usage)."""
    whole = sorted({s.assignment.service_line_number for s in found if s.span.covers(month)})
    part = [s for s in found if not s.span.covers(month)]
    sums: dict[tuple[str, date, date], Decimal] = {}
    for r in await conn.fetch(
        "SELECT service_line_number, priority_gb FROM line_month_usage"
        " WHERE month = $1 AND service_line_number = ANY($2)",
        month.first_day,
        whole,
    ):
        sums[(r["service_line_number"], month.first_day, month.last_day)] = r["priority_gb"]
    if part:
        for r in await conn.fetch(
            PART_USAGE,
            [s.assignment.service_line_number for s in part],
            [s.span.start for s in part],
            [s.span.end for s in part],
            month.first_day,
        ):
            sums[(r["line"], r["first"], r["last"])] = r["gb"]

    def usage(line: str, span: Span) -> Decimal:
        return sums.get((line, span.start, span.end), Decimal(0))

    return usage


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
            conn,
            "ONE_TIME",
            org,
            None,
            body.ordered_on,
            product_invoice(lines).taxed(TaxTerms.of(org)),
        )
        await conn.execute(
            "INSERT INTO product_orders (id, org_id, ordered_on, invoice_id, product_ids)"
            " VALUES ($1, $2, $3, $4, $5)",
            f"order_{secrets.token_hex(6)}",
            org["id"],
            body.ordered_on,
            summary["invoice_id"],
            sorted({item.product_id for item in body.items}),
        )
        await outbox.stage(conn, INVOICING_EVENTS, [generated_event(summary)])
    detail = await invoices.get_detail(conn, summary["invoice_id"])
    assert detail is not None
    return detail
