"""Exact amounts: money in cents and data volumes in GB, both Decimal, never float.

Rounding rule (documented in README): amounts are rounded half-up to the cent at line level,
with `round_cents`. Inputs that already carry more than two decimals are refused as Money
rather than silently rounded; GB values keep every decimal they arrive with (up to 9, one byte).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Any, overload

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

CENT = Decimal("0.01")
MAGNITUDE_LIMIT = Decimal(10) ** 15
"""No amount, rate or volume reaches a quadrillion; refusing them keeps every quantize exact."""
GB_MAX_DECIMALS = 9
DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
"""The only text read as an amount: ASCII digits, an optional minus and fraction. Python's
Decimal would also take "1e3", " 12", "1_000" and Arabic-Indic or fullwidth digits."""
_DECIMAL_TEXT = re.compile(DECIMAL_TEXT)
_DECIMAL_HINT = 'must be a decimal string such as "12.34"'
_TEXT_HINT = 'is not a decimal number written as "12.34" (ASCII digits, no exponent or spaces)'
_TEXT_MAX = 40
"""Longer than any amount below MAGNITUDE_LIMIT with its decimals: a 100,000-digit text is
refused before anything converts it."""


def round_cents(value: Decimal) -> Decimal:
    """Half-up to the cent: the one rounding step of every invoice line."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round_cents_exact(value: Fraction) -> Decimal:
    """Half-up to the cent of an exact fraction: the one rounding of a prorated figure, taken
    before any digit is lost (Decimal division would round at 28 digits first, and a figure
    exactly on a half cent, such as 0.005, could come out 0.00499… and round down)."""
    cents = abs(value) * 100
    rounded = (2 * cents.numerator + cents.denominator) // (2 * cents.denominator)
    return (Decimal(rounded) / 100 * (1 if value >= 0 else -1)).quantize(CENT)


def to_decimal(value: Any, from_json: bool = False) -> Decimal:
    """Decimal from a string, int or Decimal.

    A binary float is refused, except one just read from JSON text: its shortest repr is the
    number as written when it has at most 15 significant digits; a longer one may already have
    been rounded by the float, so it is refused too (send it as a decimal string)."""
    if isinstance(value, bool):
        raise ValueError(_DECIMAL_HINT)
    if isinstance(value, float):
        text = repr(value)
        if not from_json or "e" in text or "inf" in text or "nan" in text:
            raise ValueError('must be a decimal string such as "12.34", not a binary float')
        if len(text.replace(".", "").replace("-", "").lstrip("0")) > 15:
            raise ValueError("has too many digits for a JSON number; send it as a decimal string")
        value = text
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        result = decimal_text(value)
    else:
        raise ValueError("must be a decimal string")
    if not result.is_finite():
        raise ValueError("must be a finite decimal number")
    if abs(result) >= MAGNITUDE_LIMIT:
        raise ValueError("is too large")
    return result


def decimal_text(value: str) -> Decimal:
    """A Decimal from plain decimal text only (see `DECIMAL_TEXT`), checked before converting."""
    if len(value) > _TEXT_MAX:
        raise ValueError("has too many characters for an amount")
    if not _DECIMAL_TEXT.fullmatch(value):
        raise ValueError(_TEXT_HINT)
    try:
        return Decimal(value)
    except InvalidOperation:  # unreachable after the pattern; kept so no text escapes as 500
        raise ValueError(_TEXT_HINT) from None


def _decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def parse_money(value: Any, from_json: bool = False) -> Decimal:
    amount = to_decimal(value, from_json)
    if _decimal_places(amount.normalize()) > 2:
        raise ValueError("must have at most two decimal places")
    return amount.quantize(CENT)


def parse_gb(value: Any, from_json: bool = False) -> Decimal:
    gb = to_decimal(value, from_json)
    if gb < 0:
        raise ValueError("must not be negative")
    if _decimal_places(gb.normalize()) > GB_MAX_DECIMALS:
        raise ValueError(f"must have at most {GB_MAX_DECIMALS} decimal places (one byte)")
    return gb


def format_decimal(value: Decimal) -> str:
    """Plain notation, never exponent form ("0E-9" becomes "0.000000000")."""
    return format(value, "f")


def format_gb(value: Decimal) -> str:
    """GB as people write it, on the API and on documents: without padding zeros, every
    decimal it has kept (never rounded): numeric(20,9) "72.345000000" reads "72.345",
    "70.000000000" reads "70", zero reads "0"."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def format_rate(value: Decimal) -> str:
    """A unit price: every decimal it has, at least two ("0.125", "12.50", "0.00")."""
    text = format_gb(value)
    return text if len(text.partition(".")[2]) >= 2 else format(value, ".2f")


@overload
def format_percent(rate: Decimal) -> str: ...
@overload
def format_percent(rate: None) -> None: ...
def format_percent(rate: Decimal | None) -> str | None:
    """A tax rate as people write it: numeric(7,4) 20.0000 reads "20", 8.8750 reads "8.875"."""
    return None if rate is None else format_gb(rate)


def format_money(value: Decimal) -> str:
    """Always two decimals: "4082.35", "12.00"."""
    return format(value.quantize(CENT), "f")


_money_as_string = PlainSerializer(format_money, return_type=str, when_used="json")
_string_schema = WithJsonSchema({"type": "string", "pattern": DECIMAL_TEXT})


def _money_field(value: Any, info: ValidationInfo) -> Decimal:
    return parse_money(value, from_json=info.mode == "json")


Money = Annotated[Decimal, BeforeValidator(_money_field), _money_as_string, _string_schema]
"""An amount of money: exact to the cent, JSON as a decimal string ("4082.35")."""

GB_TEXT_PATTERN = r"^[0-9]{1,11}(\.[0-9]{1,9})?$"
r"""ASCII digits only: pydantic-core's `\d` would match any script's digits."""
GB_TEXT_HINT = 'a non-negative decimal with at most 9 decimal places, e.g. "12.5"'

GBText = Annotated[
    str,
    StringConstraints(pattern=GB_TEXT_PATTERN, max_length=21),
    WithJsonSchema({"type": "string", "pattern": GB_TEXT_PATTERN}),
]
"""GB as exact decimal text, for usage on the wire (by the million): checked by pattern in
pydantic-core without becoming a number, stored by PostgreSQL as `numeric`. Models using it set
`coerce_numbers_to_str`, so a JSON number is taken as written (a body with numbers a float
cannot hold goes to the exact parser first: `shared.events.envelope.has_long_number`). Code
that computes converts it with `Decimal(text)`."""


def _gb_text(value: Any) -> Any:
    """Text must be plain decimal text before pydantic-core makes it a Decimal (which would take
    "1e3", " 12" or "١٢"); numbers and Decimals go on as they are."""
    if isinstance(value, str) and (len(value) > _TEXT_MAX or not _DECIMAL_TEXT.fullmatch(value)):
        raise ValueError(f"must be {GB_TEXT_HINT}")
    return value


GB = Annotated[
    Decimal,
    BeforeValidator(_gb_text),
    Field(ge=0, decimal_places=GB_MAX_DECIMALS, max_digits=20, allow_inf_nan=False),
    _string_schema,
]
"""A data volume in decimal GB (10^9 bytes): non-negative, exact (at most 9 decimals, one byte),
JSON as a decimal string. Validated natively by pydantic-core: usage arrives by the million.
A JSON number is taken as written; `shared.events.envelope.has_long_number` sends a body whose
numbers a float could not hold to the exact parser first."""
