"""Tax on an invoice, pure (no I/O): one rate per invoice, applied once to the taxable base.

EN 16931 (BR-CO-17) computes the VAT of a category as base x rate / 100, rounded to the cent
once per rate, never line by line: summing rounded line taxes drifts by a cent per line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.money import round_cents

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TaxTerms:
    """What an organization's invoices are taxed at: a rate in percent, or an exemption reason
    (then no tax, whatever the rate), or neither (no tax and nothing shown)."""

    rate: Decimal | None = None
    exempt_reason: str | None = None

    @classmethod
    def of(cls, row: Any) -> TaxTerms:
        """The terms of an `organizations` or `invoices` row (both have `tax_rate` and
        `tax_exempt_reason`); an exemption wins over a rate."""
        reason = row["tax_exempt_reason"]
        return cls(None if reason else row["tax_rate"], reason)

    @property
    def applied_rate(self) -> Decimal | None:
        """The rate the invoice records: none when exempt, so a document never shows both."""
        return None if self.exempt_reason else self.rate

    def tax_on(self, base: Decimal) -> Decimal:
        """`base` x rate / 100, half-up to the cent, once. Exact: Decimal multiplication of a
        2-decimal base by a 4-decimal rate keeps every digit before the one rounding."""
        rate = self.applied_rate
        if rate is None or rate == 0:
            return ZERO
        return round_cents(base * rate / HUNDRED)


NO_TAX = TaxTerms()


def taxable_base(amounts: Iterable[Decimal]) -> Decimal:
    """Every line that carries an amount is taxed at the invoice's one rate; negative lines
    (corrections, credit brought forward) lower the base."""
    return sum(amounts, ZERO)
