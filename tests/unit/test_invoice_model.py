"""The Invoice aggregate's transitions, without a database."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.invoicing.domain import Invoice
from shared.errors import Conflict, PermanentError, ValidationFailed


def fresh(amount: str = "100.00") -> Invoice:
    return Invoice("INV-202611-000001", D(amount))


def test_a_generated_invoice_may_be_approved_edited_paid_but_not_sent() -> None:
    invoice = fresh()
    assert invoice.allowed_actions() == [
        "view",
        "download",
        "export_ipt",
        "edit",
        "approve",
        "post_payment",
    ]
    with pytest.raises(Conflict, match="not approved"):
        invoice.check_sendable()


def test_paid_in_part_before_sending_it_can_still_be_approved_and_sent() -> None:
    invoice = fresh()
    invoice.apply_payment(D("40.00"))
    assert invoice.status == "PARTIAL_PAID"
    assert "approve" in invoice.allowed_actions()
    invoice.approve()
    invoice.check_sendable()
    invoice.mark_sent()
    assert invoice.status == "PARTIAL_PAID" and invoice.sent  # sending never moves it back
    assert "send" in invoice.allowed_actions() and "approve" not in invoice.allowed_actions()


def test_approve_is_refused_twice_and_once_paid_in_full() -> None:
    invoice = fresh()
    invoice.approve()
    with pytest.raises(Conflict, match="already approved"):
        invoice.approve()
    paid = fresh()
    paid.apply_payment(D("100.00"))
    assert paid.status == "PAYMENT_DONE"
    with pytest.raises(Conflict, match="paid in full"):
        paid.approve()
    assert paid.allowed_actions() == ["view", "download", "export_ipt"]


def test_a_revision_clears_approval_and_never_goes_below_payments() -> None:
    invoice = fresh()
    invoice.apply_payment(D("30.00"))
    invoice.approve()
    invoice.revise(D("120.00"))
    assert (invoice.revision, invoice.approved, invoice.balance) == (2, False, D("90.00"))
    with pytest.raises(ValidationFailed, match=r"below the 30\.00 already paid"):
        invoice.revise(D("29.99"))
    invoice.revise(D("30.00"))
    assert invoice.status == "PAYMENT_DONE"


def test_status_follows_the_money_forward_and_back_on_reversal() -> None:
    invoice = fresh()
    invoice.approve()
    invoice.mark_sent()
    assert invoice.status == "SENT_FOR_PAYMENT"
    invoice.apply_payment(D("100.00"))
    assert invoice.status == "PAYMENT_DONE"
    invoice.reverse_payment(D("100.00"))
    assert invoice.status == "SENT_FOR_PAYMENT"
    assert [kind for kind, _ in invoice.events] == [
        "approved",
        "status_changed",
        "status_changed",
        "status_changed",
    ]
    with pytest.raises(PermanentError):
        invoice.apply_payment(D("100.01"))
    assert not invoice.fits(D("100.01")) and invoice.fits(D("100.00"))


def test_only_an_uncommitted_invoice_is_regenerated() -> None:
    assert fresh().why_not_regenerated() is None
    approved = fresh()
    approved.approve()
    assert "approved" in (approved.why_not_regenerated() or "")
    paid = fresh()
    paid.apply_payment(D("1.00"))
    assert "PARTIAL_PAID" in (paid.why_not_regenerated() or "")
