"""Topics of the notifier: send requests in (`notifier.commands`), outcomes out
(`notifier.events`), both keyed by invoice id."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.documents import CreditNoteDocument, InvoiceDocument
from shared.events.envelope import Event

Purpose = Literal["invoice", "reminder", "credit_note"]


class InvoiceSendRequested(Event):
    """Send an invoice's document by e-mail. `document` is the invoice as it was when the send
    was requested, so what is sent is what was approved (a request published before documents
    were typed carries the invoice detail, which reads as the same document);
    `recipients` are already resolved from the contacts."""

    type: Literal["invoice.send_requested"] = "invoice.send_requested"
    request_id: str
    invoice_id: str
    purpose: Purpose = "invoice"
    to: Literal["customer", "finance"]
    recipients: list[str] = Field(min_length=1)
    requested_by: str
    document: InvoiceDocument
    credit_note: CreditNoteDocument | None = None
    """With purpose `credit_note`: the credit note e-mailed (its PDF attached); `document` is
    then the invoice it credits, as it stands after it."""


class InvoiceSent(Event):
    type: Literal["invoice.sent"] = "invoice.sent"
    request_id: str
    invoice_id: str
    purpose: Purpose = "invoice"
    recipients: list[str]
    message_id: str


class InvoiceSendFailed(Event):
    type: Literal["invoice.send_failed"] = "invoice.send_failed"
    request_id: str
    invoice_id: str
    purpose: Purpose = "invoice"
    reason: str
