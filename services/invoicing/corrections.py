"""Corrections, pure: what an invoice can no longer take is settled on the next one.

When what an organization's invoice for a period should bill changes after that invoice can no
longer be regenerated (approved, sent or paid), the next subscription invoice carries an
ADJUSTMENT line per charge that differs, described `Correction YYYY-MM: …`. The comparison is
with what was computed for that period before (its generated charges and the corrections
issued since), never with manual edits, so each difference is billed once. An invoice that
would come out below zero carries the credit forward to the next one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from services.invoicing.billing import Draft, Line

ZERO = Decimal(0)
SYSTEM_PREFIXES = ("Correction ", "Credit carried forward", "Credit brought forward")


@dataclass(frozen=True)
class Charge:
    label: str
    amount: Decimal


def key_of(line: Line) -> str:
    """A charge's identity across recomputations: its type, line and plan or pool."""
    return "|".join(
        (line.type, line.service_line_number or "", line.plan_name or "", line.sub_pool_name or "")
    )


def label_of(line: Line) -> str:
    where = (
        f" of {line.service_line_name} ({line.service_line_number})"
        if line.service_line_number
        else ""
    )
    if line.type == "REGULAR":
        what = (
            f"{line.plan_name} regular charge"
            if line.plan_name
            else f"Sub-pool {line.sub_pool_name}"
        )
    else:
        what = (
            f"overage on {line.plan_name}"
            if line.plan_name
            else f"Sub-pool {line.sub_pool_name} overage"
        )
    return what + where


def charges(draft: Draft) -> dict[str, Charge]:
    """The computed charges of a draft by key (regular and overage; several segments on one
    plan add up)."""
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    labels: dict[str, str] = {}
    for line in draft.lines:
        if line.type in ("REGULAR", "OVERAGE"):
            amounts[key_of(line)] += line.amount
            labels.setdefault(key_of(line), label_of(line))
    return {k: Charge(labels[k], v) for k, v in amounts.items()}


def differences(
    period: str, now: dict[str, Charge], billed: dict[str, Charge]
) -> list[tuple[str, Line]]:
    """(key, ADJUSTMENT line) for every charge whose amount now differs from what was billed
    for `period` (computed then, plus corrections since)."""
    found = []
    for key in sorted(now.keys() | billed.keys()):
        due = now[key].amount if key in now else ZERO
        was = billed[key].amount if key in billed else ZERO
        if due == was:
            continue
        label = (now.get(key) or billed[key]).label
        found.append(
            (
                key,
                Line(
                    type="ADJUSTMENT",
                    description=f"Correction {period}: {label} (billed {was:.2f}, due {due:.2f})",
                    amount=due - was,
                    unit_price=abs(due - was),
                    service_line_number=key.split("|")[1] or None,
                    plan_name=key.split("|")[2] or None,
                    sub_pool_name=key.split("|")[3] or None,
                ),
            )
        )
    return found


def is_system_adjustment(line: Line) -> bool:
    return line.type == "ADJUSTMENT" and line.description.startswith(SYSTEM_PREFIXES)


def brought_forward(amount: Decimal, from_invoice: str) -> Line:
    return Line(
        type="ADJUSTMENT",
        description=f"Credit brought forward from {from_invoice}",
        amount=-amount,
        unit_price=amount,
    )


def carried_forward(amount: Decimal) -> Line:
    """The line that keeps an invoice at zero; the credit goes to the next invoice."""
    return Line(
        type="ADJUSTMENT",
        description="Credit carried forward to the next invoice",
        amount=amount,
        unit_price=amount,
    )


def billable(draft: Draft) -> bool:
    """Whether a draft bills anything (USAGE_INFO lines alone do not make an invoice)."""
    return any(line.amount != 0 for line in draft.lines)
