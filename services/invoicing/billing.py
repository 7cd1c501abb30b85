"""Pure billing rules: a subscription invoice of one organization for one period (no I/O).

The rules (../shared/design/api.md, "Rules the numbers follow"):
- A service line on a plan is charged, in advance for month M, the plan's monthly price x
  active days in M / days in M, half-up to the cent (a full month is the full price).
- A sub-pool is charged its monthly price (when at least one member is active in M).
- Overage billed on M's invoice is for usage in M-1: for a line on a plan, priority GB in M-1
  above the allowance prorated by its active days in M-1 (exact, not rounded); for a sub-pool,
  its members' priority GB in M-1 above the pool's allowance. Per GB: GB over x price, half-up
  to the cent; per block: started blocks x block price. Opt-in priority is part of priority;
  standard and non-billable GB are not billed.
- Sub-pool members get USAGE_INFO lines (amount 0) with their usage of M-1, for monitoring.
- A line's usage of M-1 belongs to its assignment active last in M-1 (a line that moved between
  plans mid-month is billed its overage on the plan it ended the month on).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

from shared.money import round_cents

ZERO = Decimal(0)


@dataclass(frozen=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        year, _, month = text.partition("-")
        if len(text) != 7 or not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
            raise ValueError("must be a period YYYY-MM")
        if not 1901 <= int(year) <= 9998:  # a month before and after it must exist too
            raise ValueError("must be a period between 1901-01 and 9998-12")
        return cls(int(year), int(month))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    def previous(self) -> Period:
        day = self.first_day - timedelta(days=1)
        return Period(day.year, day.month)


@dataclass(frozen=True)
class PlanTerms:
    name: str
    monthly_price: Decimal
    allowance_gb: Decimal
    overage_price_per_gb: Decimal | None = None
    overage_block_gb: Decimal | None = None
    overage_block_price: Decimal | None = None


@dataclass(frozen=True)
class PoolTerms:
    id: str
    name: str
    monthly_price: Decimal
    allowance_gb: Decimal
    overage_price_per_gb: Decimal


@dataclass(frozen=True)
class Assignment:
    """One service line on a plan or in a pool, from `active_from` to `active_to` (inclusive)."""

    service_line_number: str
    name: str
    active_from: date
    active_to: date | None
    plan: PlanTerms | None = None
    pool: PoolTerms | None = None

    def active_days(self, period: Period) -> int:
        start = max(self.active_from, period.first_day)
        end = min(self.active_to or period.last_day, period.last_day)
        return max(0, (end - start).days + 1)


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

    @property
    def regular_charges(self) -> Decimal:
        """Recurring charges, and the products of a one-time invoice."""
        return sum((x.amount for x in self.lines if x.type in ("REGULAR", "PRODUCT")), ZERO)

    @property
    def additional_charges(self) -> Decimal:
        return sum((x.amount for x in self.lines if x.type in ("OVERAGE", "ADJUSTMENT")), ZERO)

    @property
    def amount(self) -> Decimal:
        return self.regular_charges + self.additional_charges


def prorated_price(price: Decimal, active: int, days: int) -> Decimal:
    return price if active == days else round_cents(price * active / days)


def overage_charge(
    over_gb: Decimal, plan: PlanTerms | PoolTerms
) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, unit price, amount) for `over_gb` GB above the allowance."""
    if isinstance(plan, PlanTerms) and plan.overage_block_gb is not None:
        assert plan.overage_block_price is not None
        blocks = (over_gb / plan.overage_block_gb).to_integral_value(rounding=ROUND_CEILING)
        return blocks, plan.overage_block_price, blocks * plan.overage_block_price
    rate = plan.overage_price_per_gb
    assert rate is not None
    return over_gb, rate, round_cents(over_gb * rate)


def usage_owner(assignments: list[Assignment], period: Period) -> dict[str, Assignment]:
    """Per service line, the assignment its usage of `period` belongs to (active last in it)."""
    owner: dict[str, Assignment] = {}
    for a in assignments:
        if a.active_days(period) == 0:
            continue
        held = owner.get(a.service_line_number)
        if held is None or a.active_from > held.active_from:
            owner[a.service_line_number] = a
    return owner


def subscription_invoice(
    period: Period, assignments: list[Assignment], usage: dict[str, Decimal]
) -> Draft:
    """The lines of one organization's invoice for `period`. `assignments` are the
    organization's own (active in `period` or the month before); `usage` is priority GB of the
    month before, per service line number."""
    draft = Draft()
    previous = period.previous()
    pools: dict[str, PoolTerms] = {}
    for a in sorted(assignments, key=lambda a: (a.service_line_number, a.active_from)):
        active = a.active_days(period)
        if a.plan and active:
            draft.lines.append(
                Line(
                    type="REGULAR",
                    description=f"{a.plan.name}: {active} of {period.days} days of {period}",
                    amount=prorated_price(a.plan.monthly_price, active, period.days),
                    quantity=Decimal(active) / period.days if active != period.days else Decimal(1),
                    unit_price=a.plan.monthly_price,
                    service_line_number=a.service_line_number,
                    service_line_name=a.name,
                    plan_name=a.plan.name,
                )
            )
        if a.pool and active:
            pools[a.pool.id] = a.pool
    owners = usage_owner(assignments, previous)
    draft.lines += _plan_overage(previous, owners, usage)
    for pool in sorted(pools.values(), key=lambda p: p.name):
        draft.lines.append(
            Line(
                type="REGULAR",
                description=f"Sub-pool {pool.name}: {period}",
                amount=pool.monthly_price,
                unit_price=pool.monthly_price,
                sub_pool_name=pool.name,
            )
        )
    draft.lines += _pool_overage_and_members(previous, owners, usage)
    return draft


def _plan_overage(
    previous: Period, owners: dict[str, Assignment], usage: dict[str, Decimal]
) -> list[Line]:
    lines = []
    for number, a in sorted(owners.items()):
        if a.plan is None:
            continue
        used = usage.get(number, ZERO)
        allowance = a.plan.allowance_gb * a.active_days(previous) / previous.days
        over = used - allowance
        if over <= 0:
            continue
        quantity, unit_price, amount = overage_charge(over, a.plan)
        lines.append(
            Line(
                type="OVERAGE",
                description=f"Overage {previous}: {used} GB used, {_gb(allowance)} GB included",
                amount=amount,
                quantity=quantity,
                unit_price=unit_price,
                usage_gb=over,
                service_line_number=number,
                service_line_name=a.name,
                plan_name=a.plan.name,
            )
        )
    return lines


def _pool_overage_and_members(
    previous: Period, owners: dict[str, Assignment], usage: dict[str, Decimal]
) -> list[Line]:
    members: dict[str, list[Assignment]] = defaultdict(list)
    terms: dict[str, PoolTerms] = {}
    for a in owners.values():
        if a.pool is not None:
            members[a.pool.id].append(a)
            terms[a.pool.id] = a.pool
    lines = []
    for pool_id, pool_members in sorted(members.items(), key=lambda kv: terms[kv[0]].name):
        pool = terms[pool_id]
        used = sum((usage.get(m.service_line_number, ZERO) for m in pool_members), ZERO)
        over = used - pool.allowance_gb
        if over > 0:
            quantity, unit_price, amount = overage_charge(over, pool)
            lines.append(
                Line(
                    type="OVERAGE",
                    description=f"Sub-pool {pool.name} overage {previous}: {used} GB used,"
                    f" {_gb(pool.allowance_gb)} GB included",
                    amount=amount,
                    quantity=quantity,
                    unit_price=unit_price,
                    usage_gb=over,
                    sub_pool_name=pool.name,
                )
            )
        for m in sorted(pool_members, key=lambda m: m.service_line_number):
            lines.append(
                Line(
                    type="USAGE_INFO",
                    description=f"Usage {previous} (sub-pool {pool.name}, for monitoring)",
                    amount=ZERO,
                    quantity=ZERO,
                    usage_gb=usage.get(m.service_line_number, ZERO),
                    service_line_number=m.service_line_number,
                    service_line_name=m.name,
                    sub_pool_name=pool.name,
                )
            )
    return lines


def _gb(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.001")).normalize(), "f")


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


def allowed_actions(status: str, approved: bool, sent: bool, balance: Decimal) -> list[str]:
    """What an admin may do with an invoice now (the page's action icons)."""
    actions = ["view", "download", "export_ipt"]
    if status != "PAYMENT_DONE":
        actions.append("edit")
    if not approved and status == "GENERATED":
        actions.append("approve")
    if approved:
        actions.append("send")
    if balance > 0:
        actions.append("post_payment")
    return actions
