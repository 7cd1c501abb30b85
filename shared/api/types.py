"""Dates and periods as every request takes them: plain ASCII `YYYY-MM-DD` / `YYYY-MM`, years
1900 to 2999. Amounts are `shared.money.Money` (and `GB`), read from plain decimal text only.

pydantic alone takes a date as a Unix timestamp, as a datetime at midnight, and any year from 1
to 9999: none of that is a billing date, and years PostgreSQL or the invoice numbering cannot
hold only fail later, deeper and with someone else's message."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
DATE_TEXT = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
MONTH_TEXT = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"
_DATE = re.compile(DATE_TEXT)
DATE_HINT = "must be a date YYYY-MM-DD between 1900-01-01 and 2999-12-31"
MONTH_HINT = "must be a month YYYY-MM between 1900-01 and 2999-12"


def _date_text(value: Any) -> Any:
    """Text must be exactly `YYYY-MM-DD`; a date object (from our own code) goes on; numbers
    (Unix timestamps to pydantic) are refused."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        return value
    raise ValueError(DATE_HINT)


Day = Annotated[
    date,
    BeforeValidator(_date_text),
    Field(ge=FIRST_DAY, le=LAST_DAY),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_TEXT}),
]
"""A calendar day of a request: `YYYY-MM-DD` in ASCII digits, 1900-01-01 to 2999-12-31."""

RecordDay = Annotated[
    date,
    Field(ge=FIRST_DAY, le=LAST_DAY),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_TEXT}),
]
"""The day of a usage record, checked in pydantic-core alone (usage arrives by the million; the
Python check of `Day` triples the cost of a date): the same years, and pydantic-core reads ASCII
digits only; it would also take a datetime at midnight or a Unix timestamp of one."""

Month = Annotated[str, Field(pattern=MONTH_TEXT, examples=["2026-11"])]
"""A billing period `YYYY-MM`, 1900-01 to 2999-12 (`[0-9]`, not `\\d`: pydantic-core's `\\d`
matches any script's digits)."""
