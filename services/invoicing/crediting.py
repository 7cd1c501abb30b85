"""What a credit note credits, pure (no I/O): the difference between what a final invoice
bills as it stands (its lines less the lines of earlier credit notes) and the lines an edit
asks for, line by line, and the tax that difference takes off.

Lines are matched by what they bill (type, description, service line, plan or sub-pool), so
an edit may drop a line or lower it; it may not raise one or add one (a sent invoice is final:
what it lacked goes on the next invoice as an adjustment). USAGE_INFO lines bill nothing and
are left out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from services.invoicing.billing import Line
from services.invoicing.tax import TaxTerms, taxable_base
from shared.errors import ValidationFailed

ZERO = Decimal(0)
Key = tuple[str, str, str | None, str | None, str | None, str | None]


def key_of(line: Line) -> Key:
    return (
        line.type,
        line.description,
        line.service_line_number,
        line.service_line_name,
        line.plan_name,
        line.sub_pool_name,
    )


def _sums(lines: Iterable[Line]) -> dict[Key, Decimal]:
    sums: dict[Key, Decimal] = {}
    for line in lines:
        if line.type != "USAGE_INFO":
            sums[key_of(line)] = sums.get(key_of(line), ZERO) + line.amount
    return sums


def standing(invoice_lines: list[Line], credited_lines: list[Line]) -> dict[Key, Decimal]:
    """What each line of the invoice still bills after its credit notes. A credited line that
    is none of the invoice's (a correction credited on it) lowers no line in particular: the
    invoice's uncredited amount still bounds what may be credited."""
    sums = _sums(invoice_lines)
    for key, amount in _sums(credited_lines).items():
        if key in sums:
            sums[key] -= amount
    return sums


def credit_lines(
    invoice_lines: list[Line], credited_lines: list[Line], edited: list[Line]
) -> list[Line]:
    """The lines of the credit note an edit of a final invoice issues (positive amounts: what
    each line is lowered by), in the invoice's order. Refused when the edit raises or adds a
    line."""
    before = standing(invoice_lines, credited_lines)
    after = _sums(edited)
    raised = [k for k in {**before, **after} if after.get(k, ZERO) > before.get(k, ZERO)]
    if raised:
        names = "; ".join(k[1] for k in raised[:3])
        raise ValidationFailed(
            f"the invoice is sent and final: an edit may only lower it ({names} would rise);"
            " bill the difference as an ADJUSTMENT line on the organization's next invoice",
            fields={"lines": "a sent invoice can only be lowered (by a credit note)"},
        )
    out: list[Line] = []
    for line in invoice_lines:
        key = key_of(line)
        if key not in before:
            continue
        difference = before.pop(key) - after.get(key, ZERO)
        if difference > 0:
            out.append(
                replace(
                    line,
                    quantity=Decimal(1),
                    unit_price=difference,
                    amount=difference,
                    usage_gb=None,
                )
            )
    return out


@dataclass(frozen=True)
class CreditFigures:
    net: Decimal
    tax: Decimal

    @property
    def amount(self) -> Decimal:
        return self.net + self.tax


def credit_figures(
    lines: list[Line], terms: TaxTerms, net_left: Decimal, tax_left: Decimal
) -> CreditFigures:
    """The credit note's net and tax. Its tax is its own lines' base x the invoice's rate,
    half-up once (EN 16931's rule for any document); a credit note that takes the last of the
    invoice's net takes the last of its tax too, so a fully credited invoice owes exactly
    nothing, and the tax credited never exceeds the tax invoiced (`net_left` and `tax_left`
    are what the invoice still bills, net and tax)."""
    net = taxable_base(line.amount for line in lines)
    if net >= net_left:
        return CreditFigures(net, tax_left)
    return CreditFigures(net, min(terms.tax_on(net), tax_left))
