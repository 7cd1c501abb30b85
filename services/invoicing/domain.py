"""Pure billing rules of the invoicing service. No I/O here."""

from __future__ import annotations

import re
from datetime import date

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_bounds(period: str) -> tuple[date, date]:
    """A period `YYYY-MM` as the half-open UTC date range [first day, first day of next month)."""
    match = PERIOD.match(period)
    if not match:
        raise ValueError("must be a period YYYY-MM")
    year, month = int(match[1]), int(match[2])
    start = date(year, month, 1)
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return start, end
