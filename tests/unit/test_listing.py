"""The invoice list's pure helpers: orders, cursors, and the predicates derived from filters."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.invoicing.listing import (
    DENSE,
    decode_cursor,
    encode_cursor,
    implied,
    number_range,
    ordering,
    parse_sort,
)
from shared.errors import ValidationFailed


def test_sort_names_and_directions() -> None:
    assert parse_sort(None) == ("invoice_id", False)
    assert parse_sort("-amount") == ("amount", True)
    with pytest.raises(ValidationFailed) as info:
        parse_sort("colour")
    assert info.value.fields and "sort" in info.value.fields


@pytest.mark.parametrize(
    ("sort", "value", "typed"),
    [
        ("amount", Decimal("12.50"), Decimal("12.50")),
        ("payable_on", date(2026, 12, 1), date(2026, 12, 1)),
        ("org_name", 'Fleet, "Ltd"', 'Fleet, "Ltd"'),
    ],
)
def test_a_cursor_reads_back_its_value_as_the_column_type(
    sort: str, value: object, typed: object
) -> None:
    cursor = encode_cursor(sort, value, "INV-202611-000009")
    assert decode_cursor(cursor, sort) == (typed, "INV-202611-000009")


def test_a_cursor_from_another_order_or_tampered_is_refused() -> None:
    cursor = encode_cursor("amount", Decimal(1), "INV-1")
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, "payable_on")
    for bad in ("%%%", "e30", encode_cursor("amount", "not a number", "INV-1")):
        with pytest.raises(ValidationFailed):
            decode_cursor(bad, "amount")


def test_issue_dates_become_number_ranges() -> None:
    where = number_range({"issued_from": date(2026, 11, 1), "issued_to": date(2026, 12, 31)})
    assert where == ["i.invoice_id >= 'INV-202611-'", "i.invoice_id < 'INV-202701-'"]
    assert number_range({}) == []


def test_bounds_implied_by_balance_within_amount() -> None:
    assert implied({"max_amount": Decimal("10"), "min_balance": Decimal("2")}) == [
        ("i.balance <= ${}", Decimal("10")),
        ("i.amount >= ${}", Decimal("2")),
    ]
    assert implied({"min_amount": Decimal("5")}) == []


def test_small_filtered_sets_are_sorted_not_walked() -> None:
    assert ordering("i.amount", "numeric", DENSE) == ("i.amount", "i.invoice_id")
    assert ordering("i.amount", "numeric", 10) == ("i.amount + 0", "i.invoice_id || ''")
    assert ordering("o.name", "text", 0)[0] == "o.name || ''"
