"""Pure billing rules: a subscription invoice of one organization for one period (no I/O).

The rules (../shared/design/api.md, "Rules the numbers follow" and "Rules for a changing
catalog"):
- A line's month is cut into segments by its assignments (`timeline.cut`). Each segment on a
  plan is charged, in advance for month M, the plan's monthly price x segment days / days in M,
  half-up to the cent (a full month is the full price).
- A sub-pool is charged its monthly price when at least one member is in it in M.
- Overage billed on M's invoice is for usage in M-1, per segment of M-1: for a segment on a
  plan, the priority GB of the segment's days above the allowance x segment days / days in M-1
  (exact, not rounded), at that segment's plan; for a sub-pool, its members' priority GB on the
  days each was a member, above the pool's allowance. Per GB: GB over x price, half-up to the
  cent; per block: started blocks x block price. Opt-in priority is part of priority; standard
  and non-billable GB are not billed. A day's usage belongs to the segment of its assignment
  and to no other; usage on days without an assignment is never billed.
- Sub-pool members get USAGE_INFO lines (amount 0) with their usage in the pool in M-1.
- Prorations stay exact fractions until their one rounding; no line of 0.00 is made except
  USAGE_INFO; quantities are kept in their stored form (9 decimals), so a recomputation gives
  byte-identical lines.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from services.invoicing.tax import NO_TAX, TaxTerms, taxable_base
from services.invoicing.timeline import Period, Span, Stint, cut
from shared.money import format_gb, round_cents, round_cents_exact

__all__ = ["Period", "Span"]

ZERO = Decimal(0)
STORED = Decimal("0.000000001")
"""Quantities and GB are stored with 9 decimals (one byte)."""

UsageOf = Callable[[str, Span], Decimal]
"""Priority GB of a service line over a span of days."""


@dataclass(frozen=True)
class PlanTerms:
    name: str
    monthly_price: Decimal
    allowance_gb: Decimal
    overage_price_per_gb: Decimal | None = None
    overage_block_gb: Decimal | None = None
    overage_block_price: Decimal | None = None
    id: str = ""

    @property
    def key(self) -> str:
        return f"plan:{self.id or self.name}"


@dataclass(frozen=True)
class PoolTerms:
    id: str
    name: str
    monthly_price: Decimal
    allowance_gb: Decimal
    overage_price_per_gb: Decimal

    @property
    def key(self) -> str:
        return f"pool:{self.id}"


@dataclass(frozen=True)
class Assignment:
    """One service line on a plan or in a pool for an organization, from `active_from` to
    `active_to` (inclusive)."""

    service_line_number: str
    name: str
    active_from: date
    active_to: date | None
    plan: PlanTerms | None = None
    pool: PoolTerms | None = None
    org_id: str = ""

    @property
    def owner(self) -> tuple[str, str]:
        terms = self.plan or self.pool
        assert terms is not None, "an assignment is on a plan or in a pool"
        return (self.org_id, terms.key)

    def stint(self) -> Stint:
        return Stint(self.owner, self.active_from, self.active_to)

    def active_days(self, period: Period) -> int:
        span = self.stint().span().clip(period)
        return span.days if span else 0


@dataclass(frozen=True)
class Segment:
    """A line's days in one month under one owner (organization and plan or pool)."""

    assignment: Assignment
    span: Span


@dataclass(frozen=True)
class Line:
    type: str  # REGULAR | OVERAGE | USAGE_INFO | ADJUSTMENT | PRODUCT
    description: str
    amount: Decimal
    quantity: Decimal = Decimal(1)
    unit_price: Decimal = ZERO
    usage_gb: Decimal | None = None
    service_line_number: str | None = None
    service_line_name: str | None = None
    plan_name: str | None = None
    sub_pool_name: str | None = None


@dataclass
class Draft:
    lines: list[Line] = field(default_factory=list)
    terms: TaxTerms = NO_TAX
    """The tax in force for the invoice (none unless the caller sets the organization's)."""

    @property
    def regular_charges(self) -> Decimal:
        """Recurring charges, and the products of a one-time invoice."""
        return sum((x.amount for x in self.lines if x.type in ("REGULAR", "PRODUCT")), ZERO)

    @property
    def additional_charges(self) -> Decimal:
        return sum((x.amount for x in self.lines if x.type in ("OVERAGE", "ADJUSTMENT")), ZERO)

    @property
    def tax(self) -> Decimal:
        return self.terms.tax_on(taxable_base(x.amount for x in self.lines))

    @property
    def amount(self) -> Decimal:
        return self.regular_charges + self.additional_charges + self.tax

    def taxed(self, terms: TaxTerms) -> Draft:
        """The same lines under `terms`."""
        return Draft(self.lines, terms)


def stored(value: Fraction | Decimal) -> Decimal:
    """A quantity in its stored form (9 decimals, half-up)."""
    if value == 1:
        return Decimal(1)
    exact = value if isinstance(value, Fraction) else Fraction(value)
    return (
        (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            STORED, rounding=ROUND_HALF_UP
        )
        if exact.denominator != 1
        else Decimal(exact.numerator)
    )


def prorated_price(price: Decimal, active: int, days: int) -> Decimal:
    return price if active == days else round_cents_exact(Fraction(price) * active / days)


def overage_charge(
    over_gb: Fraction, plan: PlanTerms | PoolTerms
) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, unit price, amount) for `over_gb` GB above the allowance."""
    if isinstance(plan, PlanTerms) and plan.overage_block_gb is not None:
        assert plan.overage_block_price is not None
        blocks = Decimal(math.ceil(over_gb / Fraction(plan.overage_block_gb)))
        return blocks, plan.overage_block_price, blocks * plan.overage_block_price
    rate = plan.overage_price_per_gb
    assert rate is not None
    return stored(over_gb), rate, round_cents_exact(over_gb * Fraction(rate))


def segments(assignments: Iterable[Assignment], period: Period) -> list[Segment]:
    """Every line's segments of `period`, by line number then day."""
    by_line: dict[str, list[Assignment]] = defaultdict(list)
    for a in assignments:
        by_line[a.service_line_number].append(a)
    found = []
    first, last = period.first_day, period.last_day
    for number in sorted(by_line):
        group = by_line[number]
        if len(group) == 1:  # most lines: one assignment, clipped to the month
            a = group[0]
            start, end = max(a.active_from, first), min(a.active_to or last, last)
            if start <= end:
                found.append(Segment(a, Span(start, end)))
            continue
        terms = {a.owner: a for a in sorted(group, key=lambda a: a.active_from)}
        for owner, span in cut([a.stint() for a in group], period):
            found.append(Segment(terms[owner], span))
    return found


def subscription_invoice(
    period: Period,
    assignments: list[Assignment],
    usage: UsageOf,
    earlier: list[Assignment] | None = None,
) -> Draft:
    """The lines of one organization's invoice for `period`. `assignments` are the
    organization's own (active in `period` or the month before) with the terms in force in
    `period`; `earlier`, the same with the terms of the month before (default: the same);
    `usage` gives a line's priority GB over a span of the month before."""
    draft = Draft()
    previous = period.previous()
    pools: dict[str, PoolTerms] = {}
    for seg in segments(assignments, period):
        a = seg.assignment
        if a.plan:
            line = _regular(period, a, a.plan, seg.span.days)
            if line.amount:
                draft.lines.append(line)
        if a.pool:
            pools[a.pool.id] = a.pool
    past = segments(earlier if earlier is not None else assignments, previous)
    draft.lines += _plan_overage(previous, past, usage)
    for pool in sorted(pools.values(), key=lambda p: p.name):
        if pool.monthly_price:
            draft.lines.append(
                Line(
                    type="REGULAR",
                    description=f"Sub-pool {pool.name}: {period}",
                    amount=pool.monthly_price,
                    unit_price=pool.monthly_price,
                    sub_pool_name=pool.name,
                )
            )
    draft.lines += _pool_overage_and_members(previous, past, usage)
    return draft


def _regular(period: Period, a: Assignment, plan: PlanTerms, active: int) -> Line:
    return Line(
        type="REGULAR",
        description=f"{plan.name}: {active} of {period.days} days of {period}",
        amount=prorated_price(plan.monthly_price, active, period.days),
        quantity=stored(Fraction(active, period.days)),
        unit_price=plan.monthly_price,
        service_line_number=a.service_line_number,
        service_line_name=a.name,
        plan_name=plan.name,
    )


def _plan_overage(previous: Period, past: list[Segment], usage: UsageOf) -> list[Line]:
    lines = []
    for seg in past:
        a, plan = seg.assignment, seg.assignment.plan
        if plan is None:
            continue
        used = usage(a.service_line_number, seg.span)
        if used * previous.days <= plan.allowance_gb * seg.span.days:  # exact: no division
            continue
        allowance = Fraction(plan.allowance_gb) * seg.span.days / previous.days
        over = Fraction(used) - allowance
        quantity, unit_price, amount = overage_charge(over, plan)
        if not amount:
            continue
        lines.append(
            Line(
                type="OVERAGE",
                description=f"Overage {previous}: {format_gb(used)} GB used,"
                f" {_gb(allowance)} GB included",
                amount=amount,
                quantity=quantity,
                unit_price=unit_price,
                usage_gb=stored(over),
                service_line_number=a.service_line_number,
                service_line_name=a.name,
                plan_name=plan.name,
            )
        )
    return lines


def _pool_overage_and_members(previous: Period, past: list[Segment], usage: UsageOf) -> list[Line]:
    members: dict[str, list[Segment]] = defaultdict(list)
    terms: dict[str, PoolTerms] = {}
    for seg in past:
        if seg.assignment.pool is not None:
            members[seg.assignment.pool.id].append(seg)
            terms[seg.assignment.pool.id] = seg.assignment.pool
    lines = []
    for pool_id, pool_members in sorted(members.items(), key=lambda kv: terms[kv[0]].name):
        pool = terms[pool_id]
        used_by = [(m, usage(m.assignment.service_line_number, m.span)) for m in pool_members]
        used = sum((gb for _, gb in used_by), ZERO)
        over = Fraction(used) - Fraction(pool.allowance_gb)
        if over > 0:
            quantity, unit_price, amount = overage_charge(over, pool)
            if amount:
                lines.append(
                    Line(
                        type="OVERAGE",
                        description=f"Sub-pool {pool.name} overage {previous}:"
                        f" {format_gb(used)} GB used, {_gb(Fraction(pool.allowance_gb))} GB"
                        " included",
                        amount=amount,
                        quantity=quantity,
                        unit_price=unit_price,
                        usage_gb=stored(over),
                        sub_pool_name=pool.name,
                    )
                )
        for m, gb in sorted(
            used_by, key=lambda x: (x[0].assignment.service_line_number, x[0].span.start)
        ):
            lines.append(
                Line(
                    type="USAGE_INFO",
                    description=f"Usage {previous} (sub-pool {pool.name}, for monitoring)",
                    amount=ZERO,
                    quantity=ZERO,
                    usage_gb=gb,
                    service_line_number=m.assignment.service_line_number,
                    service_line_name=m.assignment.name,
                    sub_pool_name=pool.name,
                )
            )
    return lines


def _gb(value: Fraction) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return format(exact.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP).normalize(), "f")


def product_invoice(items: list[tuple[str, Decimal, Decimal]]) -> Draft:
    """A one-time invoice: per (product name, unit price, quantity), quantity x price rounded
    half-up to the cent at line level."""
    return Draft(
        [
            Line(
                type="PRODUCT",
                description=name,
                amount=round_cents(price * quantity),
                quantity=quantity,
                unit_price=price,
            )
            for name, price, quantity in items
        ]
    )
