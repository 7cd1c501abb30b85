"""Topic `payments.events`, key = invoice id: postings and reversals, exactly once in effect."""

from __future__ import annotations

from datetime import date
from typing import Literal

from shared.events.envelope import Event
from shared.money import Money

PaymentMethod = Literal["ACH", "WIRE", "CARD", "CHECK", "OTHER"]


class PaymentPosted(Event):
    type: Literal["payment.posted"] = "payment.posted"
    payment_id: str
    invoice_id: str
    org_id: str | None = None
    amount: Money
    received_on: date
    method: PaymentMethod
    reference: str | None = None
    note: str | None = None
    posted_by: str


class PaymentReversed(Event):
    type: Literal["payment.reversed"] = "payment.reversed"
    payment_id: str
    invoice_id: str
    org_id: str | None = None
    amount: Money
    reason: str
    reversed_by: str
