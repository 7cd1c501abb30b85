"""Topics of the notifier: send requests in (`notifier.commands`), outcomes out
(`notifier.events`), both keyed by invoice id."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.events.envelope import Event


class InvoiceSendRequested(Event):
    type: Literal["invoice.send_requested"] = "invoice.send_requested"
    request_id: str
    invoice_id: str
    to: Literal["customer", "finance"]
    emails: list[str] = Field(default_factory=list)
    requested_by: str


class InvoiceSent(Event):
    type: Literal["invoice.sent"] = "invoice.sent"
    request_id: str
    invoice_id: str
    recipients: list[str]
    message_id: str


class InvoiceSendFailed(Event):
    type: Literal["invoice.send_failed"] = "invoice.send_failed"
    request_id: str
    invoice_id: str
    reason: str
