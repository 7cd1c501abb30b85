from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from shared.money import GB, Money, format_gb, parse_money, round_cents


class Line(BaseModel):
    amount: Money
    usage: GB


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("2.345", "2.35"),
        ("-2.345", "-2.35"),
        ("1234.5650", "1234.57"),
        ("0.0049999", "0.00"),
    ],
)
def test_round_cents_is_half_up(raw: str, cents: str) -> None:
    assert round_cents(Decimal(raw)) == Decimal(cents)


def test_money_and_gb_serialise_as_decimal_strings() -> None:
    line = Line(amount="4082.3", usage="72.345")
    assert line.model_dump(mode="json") == {"amount": "4082.30", "usage": "72.345"}
    assert Line.model_validate_json(line.model_dump_json()) == line


@pytest.mark.parametrize("bad", [0.1, 1.5, True, "abc", "NaN", "Infinity", None, [1]])
def test_money_refuses_floats_and_non_numbers(bad: object) -> None:
    with pytest.raises(ValidationError):
        Line(amount=bad, usage="1")


@pytest.mark.parametrize("bad", [True, "abc", "NaN", "Infinity", None, [1], "-0.5"])
def test_gb_refuses_non_numbers(bad: object) -> None:
    with pytest.raises(ValidationError):
        Line(amount="1", usage=bad)


def test_json_numbers_are_read_as_written() -> None:
    line = Line.model_validate_json('{"amount": 10.5, "usage": 72.345}')
    assert (line.amount, line.usage) == (Decimal("10.50"), Decimal("72.345"))


def test_money_refuses_fractions_of_a_cent_instead_of_rounding() -> None:
    with pytest.raises(ValueError, match="two decimal places"):
        parse_money("10.001")
    assert parse_money("10.100") == Decimal("10.10")
    assert parse_money(7) == Decimal("7.00")


def test_gb_keeps_every_decimal_up_to_a_byte_and_refuses_negative() -> None:
    assert Line(amount="1", usage="0.000000001").usage == Decimal("0.000000001")
    with pytest.raises(ValidationError, match="decimal places"):
        Line(amount="1", usage="0.0000000001")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Line(amount="1", usage="-0.5")


def test_gb_format_has_no_padding_or_exponent() -> None:
    assert format_gb(Decimal("3.250000000")) == "3.25"
    assert format_gb(Decimal("0E-9")) == "0"
    assert format_gb(Decimal("100.000000000")) == "100"
