"""The comparison behind the payments copy check, pure: figures as numbers, missing rows."""

from __future__ import annotations

from services.invoicing.payments_check import differences

HERE = {
    "INV-1": {"amount": "120.00", "tax": "20.00", "credited": "36.00", "credited_tax": "6.00",
              "payments": "10.00"},
    "INV-2": {"amount": "5", "tax": "0", "credited": "0", "credited_tax": "0", "payments": "0"},
}  # fmt: skip


def test_equal_figures_compare_as_numbers() -> None:
    there = {
        "INV-1": {"amount": "120.0", "tax": "20", "credited": "36.00", "credited_tax": "6",
                  "paid": "10"},
        "INV-2": {"amount": "5.00", "tax": "0.00", "credited": "0.00", "credited_tax": "0.00",
                  "paid": "0.00"},
    }  # fmt: skip
    assert differences(HERE, there) == []


def test_a_lost_credit_a_lagging_payment_and_a_missing_invoice() -> None:
    there = {
        "INV-1": {"amount": "120.00", "tax": "20.00", "credited": "0", "credited_tax": "0",
                  "paid": "0"},
    }  # fmt: skip
    assert differences(HERE, there) == [
        {"invoice_id": "INV-1", "figure": "credited", "invoicing": "36.00", "payments": "0.00"},
        {"invoice_id": "INV-1", "figure": "credited_tax", "invoicing": "6.00", "payments": "0.00"},
        {"invoice_id": "INV-1", "figure": "payments", "invoicing": "10.00", "payments": "0.00"},
        {"invoice_id": "INV-2", "figure": "amount", "invoicing": "5.00", "payments": "missing"},
    ]
