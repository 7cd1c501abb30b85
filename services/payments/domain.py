"""The rules of postings, pure: what may be posted, the ledger entries of each money movement,
and which postings a downward revision of an invoice takes back.

Ledger sign convention: a debit is positive, a credit negative; every transaction sums to zero.
Accounts per organization: `receivable` (what it owes), `cash` (what it paid), `revenue`
(what it was invoiced, net of tax), `tax_payable` (the tax invoiced, owed to the tax office).
A credit note takes back revenue and tax and lowers the receivable."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from shared.api.payments import PaymentIn
from shared.errors import Conflict, ValidationFailed


@dataclass(frozen=True)
class Entry:
    account: str
    amount: Decimal


@dataclass(frozen=True)
class Posting:
    payment_id: str
    amount: Decimal


def posting_entries(amount: Decimal) -> list[Entry]:
    """Money received: cash up, the receivable down."""
    return [Entry("cash", amount), Entry("receivable", -amount)]


def reversal_entries(amount: Decimal) -> list[Entry]:
    """A posting taken back: the exact opposite of its entries."""
    return [Entry("cash", -amount), Entry("receivable", amount)]


def invoiced_entries(delta: Decimal, tax_delta: Decimal = Decimal(0)) -> list[Entry]:
    """An invoice issued or revised by `delta`, of which `tax_delta` is tax: the receivable
    follows the amount, against revenue for the net and tax payable for the tax."""
    entries = [
        Entry("receivable", delta),
        Entry("revenue", -(delta - tax_delta)),
        Entry("tax_payable", -tax_delta),
    ]
    return [e for e in entries if e.amount != 0]


def credited_entries(delta: Decimal, tax_delta: Decimal) -> list[Entry]:
    """Credit notes of `delta` (tax `tax_delta` of it): the exact opposite of invoicing it."""
    return [Entry(e.account, -e.amount) for e in invoiced_entries(delta, tax_delta)]


def check_posting(
    invoice_id: str,
    amount: Decimal,
    invoice_amount: Decimal,
    paid: Decimal,
    credited: Decimal = Decimal(0),
) -> None:
    """Refuse a posting the invoice cannot take; the message gives the balance."""
    balance = invoice_amount - credited - paid
    if balance <= 0:
        raise Conflict(
            f"invoice {invoice_id} is PAYMENT_DONE: its balance is {balance:.2f}, nothing is"
            " left to pay",
            fields={"invoice_id": "is fully paid or credited"},
        )
    if amount > balance:
        raise ValidationFailed(
            f"amount {amount:.2f} is above the balance {balance:.2f} of invoice {invoice_id}",
            fields={"amount": f"must not exceed the balance {balance:.2f}"},
        )


def request_hash(invoice_id: str, body: PaymentIn) -> str:
    """The fingerprint a repeated Idempotency-Key is compared with: the same key must come with
    the same invoice and the same figures (amounts compared as numbers: "5" equals "5.00")."""
    canonical = {
        "invoice_id": invoice_id,
        "amount": f"{body.amount:.2f}",
        "received_on": body.received_on.isoformat(),
        "method": body.method,
        "reference": body.reference,
        "note": body.note,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def reversals_for(live: Sequence[Posting], new_amount: Decimal) -> list[Posting]:
    """The postings to take back when an invoice is revised below what was posted on it (a
    revision and a posting that raced): keep the longest prefix, in posting order, that fits
    the new amount, and reverse the rest, newest first. The invoicing service applied postings
    in the same order and left the ones that did not fit unapplied, so both end up agreeing."""
    kept = Decimal(0)
    for index, posting in enumerate(live):
        if kept + posting.amount > new_amount:
            return list(reversed(live[index:]))
        kept += posting.amount
    return []
