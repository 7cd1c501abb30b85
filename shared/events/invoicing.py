"""Topic `invoicing.events`, key = invoice id: what happens to invoices."""

from __future__ import annotations

from datetime import date
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
    credited: Money = Decimal("0.00")
    """What credit notes took off the invoice so far, tax included (a copy of the state:
    the latest event wins)."""
    credited_tax: Money = Decimal("0.00")
    """The tax within `credited`."""
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


class InvoiceRestated(InvoiceFacts):
    """The invoice's figures stated again, unchanged: published to repair a copy found to
    differ (`payments_check` in the invoicing service); consumers copy them as the latest."""

    type: Literal["invoice.restated"] = "invoice.restated"
    reason: str


class CreditNoteIssued(InvoiceFacts):
    """A credit note issued on the invoice; the facts are the invoice's after it."""

    type: Literal["credit_note.issued"] = "credit_note.issued"
    credit_note_id: str
    issued_on: date
    reason: str
    credit_amount: Money
    """The credit note's amount, tax included (positive)."""
    credit_tax: Money
