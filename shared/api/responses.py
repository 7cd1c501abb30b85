"""What the API answers, as models for the OpenAPI document (`/docs`). The services build the
answers; these describe them, and extra fields are passed through (`extra="allow"`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MoneyText = str  # a decimal string with two decimals, e.g. "4082.35"


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class InvoiceSummary(_Out):
    invoice_id: str = Field(examples=["INV-202611-000123"])
    kind: Literal["SUBSCRIPTION", "ONE_TIME"]
    org_id: str
    org_name: str
    period: str | None = Field(default=None, examples=["2026-11"])
    issued_on: str
    payable_on: str
    regular_charges: MoneyText
    additional_charges: MoneyText
    tax: MoneyText = "0.00"
    tax_rate: str | None = Field(default=None, examples=["20", "8.875"])
    tax_exempt_reason: str | None = None
    amount: MoneyText
    payments: MoneyText | list[dict[str, object]]
    credited: MoneyText = "0.00"
    """What credit notes took off (tax included); balance = amount - payments - credited."""
    balance: MoneyText
    status: str
    approved: bool
    sent: bool
    revision: int


class Totals(_Out):
    invoiced: MoneyText
    balance: MoneyText


class StatusCounts(_Out):
    generated: int
    sent: int
    partial: int
    paid: int


class InvoiceList(_Out):
    items: list[InvoiceSummary | dict[str, object]]
    totals: Totals | None = None
    counts: StatusCounts | None = None
    next_cursor: str | None = None


class InvoiceLine(_Out):
    type: Literal["REGULAR", "OVERAGE", "ADJUSTMENT", "PRODUCT", "USAGE_INFO"]
    description: str
    service_line_number: str | None = None
    service_line_name: str | None = None
    plan_name: str | None = None
    sub_pool_name: str | None = None
    quantity: str
    unit_price: str
    usage_gb: str | None = None
    amount: MoneyText


class InvoiceDetail(InvoiceSummary):
    """The summary with `lines`, `payments` (the postings; their sum is `payments_total`),
    `revisions`, `sends`, `sent_to`, `last_send_error` and `allowed_actions`."""

    payments: list[dict[str, object]]
    payments_total: MoneyText
    lines: list[InvoiceLine]
    revisions: list[dict[str, object]]
    credit_notes: list[dict[str, object]] = []
    allowed_actions: list[str]


class CreditNote(_Out):
    """A credit note (amounts positive: what is credited; `amount` = `net` + `tax`)."""

    id: str = Field(examples=["CN-202611-000001"])
    invoice_id: str
    org_id: str
    org_name: str
    period: str | None = None
    issued_on: str
    reason: str
    net: MoneyText
    tax: MoneyText
    tax_rate: str | None = None
    amount: MoneyText
    issued_by: str | None = None
    lines: list[InvoiceLine] = []


class CreditNoteList(_Out):
    items: list[CreditNote]
    next_cursor: str | None = None


class Payment(_Out):
    id: str
    payment_id: str
    invoice_id: str
    org_id: str
    amount: MoneyText
    received_on: str
    method: Literal["ACH", "WIRE", "CARD", "CHECK", "OTHER"]
    reference: str | None
    note: str | None
    status: Literal["POSTED", "REVERSED"]
    posted_by: str
    posted_at: str
    client_addr: str | None
    balance_after: MoneyText
    reversed_at: str | None
    reversed_by: str | None
    reversal_reason: str | None


class PaymentList(_Out):
    items: list[Payment]
    next_cursor: str | None = None


class LedgerCheck(_Out):
    balanced: bool
    ledger_total: MoneyText
    accounts: dict[str, MoneyText]
    invoices_checked: int
    invoiced: MoneyText
    paid: MoneyText
    balance: MoneyText
    postings: int
    problems: list[str]


class SendAccepted(_Out):
    request_id: str
    invoice_id: str
    purpose: Literal["invoice", "reminder"]
    to: Literal["customer", "finance"]
    recipients: list[str]
    state: str


class BillingRunResult(_Out):
    generated: list[str]
    skipped: list[dict[str, object]]


class RegenerateResult(_Out):
    regenerated: list[str]
    skipped: list[dict[str, object]]


class RemindersResult(_Out):
    reminded: list[str]
