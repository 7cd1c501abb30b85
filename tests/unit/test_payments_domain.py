"""The posting rules of the payments service, pure."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.payments.domain import (
    Posting,
    check_posting,
    invoiced_entries,
    posting_entries,
    request_hash,
    reversal_entries,
    reversals_for,
)
from shared.api.payments import PaymentIn
from shared.errors import Conflict, ValidationFailed

D = Decimal


def payment(**changes: object) -> PaymentIn:
    body = {"amount": "40.00", "received_on": "2026-11-20", "method": "ACH", **changes}
    return PaymentIn.model_validate(body)


@pytest.mark.parametrize(
    ("amount", "field_error"),
    [
        ("0", "greater than 0"),
        ("-5", "greater than 0"),
        ("1.234", "two decimal places"),
        ("abc", "not a decimal"),
        (12.5, "binary float"),
    ],
)
def test_amount_must_be_positive_with_two_decimals(amount: object, field_error: str) -> None:
    with pytest.raises(ValidationError) as info:
        PaymentIn.model_validate({"amount": amount, "received_on": "2026-11-20", "method": "ACH"})
    assert field_error in str(info.value)


def test_method_is_one_of_the_five() -> None:
    with pytest.raises(ValidationError):
        payment(method="BITCOIN")
    assert payment(method="WIRE").method == "WIRE"


def test_a_posting_above_the_balance_is_refused_with_the_balance() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_posting("INV-1", D("60.01"), D("100.00"), D("40.00"))
    assert "balance 60.00" in info.value.message
    assert info.value.fields == {"amount": "must not exceed the balance 60.00"}
    check_posting("INV-1", D("60.00"), D("100.00"), D("40.00"))  # exactly the balance fits


def test_a_paid_invoice_takes_nothing() -> None:
    with pytest.raises(Conflict, match="PAYMENT_DONE"):
        check_posting("INV-1", D("0.01"), D("100.00"), D("100.00"))


def test_every_movement_is_balanced() -> None:
    for entries in (
        posting_entries(D("12.34")),
        reversal_entries(D("12.34")),
        invoiced_entries(D("-7.00")),
        invoiced_entries(D("99.99")),
    ):
        assert sum(e.amount for e in entries) == 0
    assert invoiced_entries(D(0)) == []
    cash = {e.account: e.amount for e in posting_entries(D("5"))}
    assert cash == {"cash": D("5"), "receivable": D("-5")}


def test_the_idempotency_fingerprint_compares_figures_not_spelling() -> None:
    assert request_hash("INV-1", payment(amount="40")) == request_hash("INV-1", payment())
    assert request_hash("INV-1", payment()) != request_hash("INV-2", payment())
    assert request_hash("INV-1", payment()) != request_hash("INV-1", payment(amount="40.01"))
    assert request_hash("INV-1", payment()) != request_hash("INV-1", payment(reference="x"))


def test_a_revision_below_the_payments_reverses_the_newest_that_do_not_fit() -> None:
    live = [Posting("a", D(30)), Posting("b", D(30)), Posting("c", D(20))]
    assert reversals_for(live, D(80)) == []
    assert reversals_for(live, D(60)) == [Posting("c", D(20))]
    assert reversals_for(live, D(50)) == [Posting("c", D(20)), Posting("b", D(30))]
    assert reversals_for(live, D(0)) == list(reversed(live))


@given(
    st.lists(st.integers(min_value=1, max_value=10_000), max_size=30),
    st.integers(min_value=0, max_value=100_000),
)
def test_what_is_kept_fits_and_is_a_prefix(cents: list[int], new_cents: int) -> None:
    live = [Posting(str(i), D(c) / 100) for i, c in enumerate(cents)]
    new_amount = D(new_cents) / 100
    taken = reversals_for(live, new_amount)
    kept = live[: len(live) - len(taken)]
    assert sum((p.amount for p in kept), D(0)) <= new_amount
    assert list(reversed(taken)) == live[len(kept) :]
    if taken:  # the first posting taken back did not fit
        assert sum((p.amount for p in kept), D(0)) + taken[-1].amount > new_amount
