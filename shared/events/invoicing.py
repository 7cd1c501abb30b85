"""Topic `invoicing.events`, key = invoice id: what happens to invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from shared.events.envelope import Event
from shared.money import Money

InvoiceStatus = Literal["GENERATED", "SENT_FOR_PAYMENT", "PARTIAL_PAID", "PAYMENT_DONE"]


class InvoiceFacts(Event):
    invoice_id: str
    org_id: str
    kind: Literal["SUBSCRIPTION", "ONE_TIME"]
    period: str | None = None
    revision: int
    amount: Money
    tax: Money = Decimal("0.00")
    """The tax included in `amount` (events from before taxes carry none)."""
    payments: Money
    balance: Money
    status: InvoiceStatus


class InvoiceGenerated(InvoiceFacts):
    type: Literal["invoice.generated"] = "invoice.generated"


class InvoiceRevised(InvoiceFacts):
    type: Literal["invoice.revised"] = "invoice.revised"
    reason: str


class InvoiceApproved(InvoiceFacts):
    type: Literal["invoice.approved"] = "invoice.approved"
    approved_by: str


class InvoiceStatusChanged(InvoiceFacts):
    type: Literal["invoice.status_changed"] = "invoice.status_changed"
    previous_status: InvoiceStatus
