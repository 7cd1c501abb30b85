"""The invoice document: what an invoice's HTML view, PDF and e-mail show, as one frozen, typed
model. The invoicing service builds it from the invoice as it stands; the notifier renders it
(the templates read its fields and properties, amounts through `money_text`). It holds nothing
else, so the rendered-document cache, which keys on it, does not render anew when something the
document does not show changes.

Field names are those of the invoice detail of the API (`org_name`, `balance`, …): templates
overridden by a deployment read them, and a document can be read from a detail as it stands
(extra fields are ignored; postings the invoicing service did not apply are left out).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import pycountry
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.events.invoicing import InvoiceStatus
from shared.events.payments import PaymentMethod
from shared.money import Money, format_gb, format_percent, format_rate

InvoiceKind = Literal["SUBSCRIPTION", "ONE_TIME"]
LineType = Literal["REGULAR", "OVERAGE", "ADJUSTMENT", "PRODUCT", "USAGE_INFO"]

STATUS_TEXT: dict[str, str] = {
    "GENERATED": "Issued",
    "SENT_FOR_PAYMENT": "Awaiting payment",
    "PARTIAL_PAID": "Partly paid",
    "PAYMENT_DONE": "Paid",
}
REGULAR: frozenset[str] = frozenset({"REGULAR", "PRODUCT"})
ADDITIONAL: frozenset[str] = frozenset({"OVERAGE", "ADJUSTMENT"})


def money_text(amount: Decimal) -> str:
    """An amount as a reader expects it: two decimals, thousands grouped ("4,592.30")."""
    return f"{amount:,.2f}"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


_PADDED_GB = re.compile(r"\b(\d+\.\d+) GB\b")


def tidy_gb(text: str) -> str:
    """GB figures in a stored description as people write them: lines generated before
    descriptions were written with `format_gb` read "70.000000000 GB used"; they read "70 GB
    used" (no decimal is dropped but padding zeros)."""
    return _PADDED_GB.sub(lambda m: f"{format_gb(Decimal(m.group(1)))} GB", text)


def country_name(code: str) -> str:
    """A country code as a reader expects it on an address: "GB" reads "United Kingdom"."""
    found = pycountry.countries.get(alpha_2=code)
    return str(found.name) if found is not None else code


class PostalAddress(_Part):
    line1: str
    line2: str | None = None
    city: str
    postal_code: str | None = None
    region: str | None = None
    country: str

    @property
    def lines(self) -> tuple[str, ...]:
        """The address as printed: street lines, "city, region postal code", the country."""
        place = ", ".join(x for x in (self.city, self.region) if x)
        if self.postal_code:
            place = f"{place} {self.postal_code}"
        return tuple(x for x in (self.line1, self.line2, place, country_name(self.country)) if x)


class Buyer(_Part):
    """The organization billed, as its billing details name it (any of them may be unset:
    organizations from before billing details show their name only)."""

    legal_name: str
    address: PostalAddress | None = None
    tax_id: str | None = None
    tax_exempt_reason: str | None = None
    peppol_id: str | None = None
    """Its Peppol electronic address, `scheme:id` (e.g. "0088:5790000435975")."""


class DocumentLine(_Part):
    """One line of the invoice (defaults as the invoicing service stores a line without them)."""

    type: LineType
    description: str
    service_line_number: str | None = None
    service_line_name: str | None = None
    plan_name: str | None = None
    sub_pool_name: str | None = None
    quantity: Decimal = Decimal(1)
    unit_price: Decimal = Decimal(0)
    """A rate: it may have more than two decimals (a price per GB)."""
    usage_gb: Decimal | None = None
    amount: Money

    @property
    def description_text(self) -> str:
        return tidy_gb(self.description)

    @property
    def quantity_text(self) -> str:
        return format_gb(self.quantity)

    @property
    def unit_price_text(self) -> str:
        return format_rate(self.unit_price)

    @property
    def usage_gb_text(self) -> str | None:
        return None if self.usage_gb is None else format_gb(self.usage_gb)

    @property
    def usage_text(self) -> str | None:
        """ "22.58 GB over" on an overage line (its usage is what went over), "3.5 GB" else."""
        if self.usage_gb is None:
            return None
        return f"{format_gb(self.usage_gb)} GB{' over' if self.type == 'OVERAGE' else ''}"


class DocumentPayment(_Part):
    """A posting the invoice's balance counts (reversed ones are shown struck through)."""

    received_on: date
    method: PaymentMethod
    reference: str | None = None
    amount: Money
    reversed: bool = False


class CreditNoteRef(_Part):
    """A credit note as the invoice it credits lists it."""

    id: str
    issued_on: date
    reason: str
    amount: Money


class InvoiceDocument(_Part):
    invoice_id: str
    kind: InvoiceKind
    org_id: str
    org_name: str
    period: str | None = None
    issued_on: date
    payable_on: date
    revision: int = Field(default=1, ge=1)
    status: InvoiceStatus
    regular_charges: Money
    additional_charges: Money
    tax: Money = Decimal(0)
    tax_rate: Decimal | None = None
    """The percent the invoice was taxed at, fixed when it was generated (none: untaxed)."""
    tax_exempt_reason: str | None = None
    amount: Money
    payments_total: Money = Decimal(0)
    credited: Money = Decimal(0)
    """What credit notes took off the invoice (tax included); the balance counts it."""
    credit_notes: tuple[CreditNoteRef, ...] = ()
    balance: Money
    lines: tuple[DocumentLine, ...] = ()
    payments: tuple[DocumentPayment, ...] = ()
    buyer: Buyer | None = None
    """None on a document read from an invoice detail: the bill-to shows `org_name`."""

    @field_validator("payments", mode="before")
    @classmethod
    def _applied_only(cls, value: Any) -> Any:
        """A posting the invoicing service left unapplied (it raced a lowering revision) is
        not shown as paid."""
        if isinstance(value, (list, tuple)):
            return [p for p in value if not isinstance(p, dict) or p.get("applied", True)]
        return value

    @property
    def buyer_name(self) -> str:
        return self.buyer.legal_name if self.buyer is not None else self.org_name

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]

    @property
    def tax_rate_text(self) -> str | None:
        return format_percent(self.tax_rate)

    @property
    def regular_lines(self) -> tuple[DocumentLine, ...]:
        return tuple(x for x in self.lines if x.type in REGULAR)

    @property
    def additional_lines(self) -> tuple[DocumentLine, ...]:
        return tuple(x for x in self.lines if x.type in ADDITIONAL)

    @property
    def usage_lines(self) -> tuple[DocumentLine, ...]:
        """Sub-pool members' usage, shown for monitoring and not billed."""
        return tuple(x for x in self.lines if x.type == "USAGE_INFO")


class CreditNoteDocument(_Part):
    """A credit note: what its HTML view, PDF, e-mail and e-invoice show. Amounts are positive
    (what is credited); `amount` = `net` + `tax`, the tax at the rate of the invoice credited."""

    id: str
    """CN-YYYYMM-NNNNNN, in its own gap-free series."""
    invoice_id: str
    invoice_issued_on: date
    org_id: str
    org_name: str
    period: str | None = None
    issued_on: date
    reason: str
    lines: tuple[DocumentLine, ...]
    net: Money
    tax: Money = Decimal(0)
    tax_rate: Decimal | None = None
    tax_exempt_reason: str | None = None
    amount: Money
    buyer: Buyer | None = None

    @property
    def buyer_name(self) -> str:
        return self.buyer.legal_name if self.buyer is not None else self.org_name

    @property
    def tax_rate_text(self) -> str | None:
        return format_percent(self.tax_rate)
