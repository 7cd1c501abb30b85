"""Watching usage (pure): what a line or a sub-pool has used of its allowance in a period, the
percent, the month-end forecast, and the alert thresholds crossed. No I/O: the SQL that feeds
these is in `consumption`.

Allowances prorate exactly (a line's plan allowance * days on that plan / days in the month,
summed over its plan segments), so they are fractions; they are shown to the byte (9 decimals,
half-up) and compared exactly.

The forecast must not swing on the first days of a month, and Starlink revises a day for up to
24 hours after it ends, so only *settled* days set the pace:

- on day `as_of`, the days up to `as_of` - 2 are settled (24 hours have passed since they
  ended, whatever the hour of `as_of`); `as_of` - 1 and `as_of` may still change;
- the daily rate is the mean of the last (up to) 7 settled days the subject is active in the
  period; with fewer than 7, the missing days are taken at the previous month's daily mean of
  the same subject (so day 3 of a month leans on last month, day 9 no longer does); without a
  previous month, the settled days' mean alone; with neither, 0;
- forecast = max(used, settled used + rate * the active days after the last settled one), to
  the byte: never below what is already used;
- a period already over (`as_of` after its last day) forecasts what it used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from services.invoicing.timeline import Period, Span
from shared.money import round_cents_exact

SETTLE_DAYS = 2
"""On day D, the days up to D - 2 are settled (a day is revised for up to 24 h after it ends)."""
WINDOW = 7
"""How many settled days set the daily rate."""
BYTE = Decimal("0.000000001")


def gb(value: Fraction | Decimal) -> Decimal:
    """GB to the byte, half-up (an exact fraction is rounded once)."""
    exact = Fraction(value)
    sign = -1 if exact < 0 else 1
    scaled = abs(exact) * 10**9
    rounded = (2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator)
    return (Decimal(sign * rounded) * BYTE).quantize(BYTE, rounding=ROUND_HALF_UP)


def days_of(spans: Iterable[Span]) -> list[date]:
    """Every day of these spans, in order."""
    found = {s.start + timedelta(days=i) for s in spans for i in range(s.days)}
    return sorted(found)


def prorated(segments: Iterable[tuple[Decimal, int]], period: Period) -> Fraction:
    """A line's allowance for the period: each plan segment's allowance * its days / days in
    the month, summed (exact)."""
    return sum(
        (Fraction(allowance) * days / period.days for allowance, days in segments), Fraction(0)
    )


def percent_used(used: Decimal, allowance: Fraction) -> Decimal | None:
    """used / allowance * 100, half-up to 2 decimals; None without an allowance."""
    if allowance == 0:
        return None
    return round_cents_exact(Fraction(used) * 100 / allowance)


def remaining(used: Decimal, allowance: Fraction) -> Decimal:
    """What is left of the allowance, never below 0 (going over shows in the percent)."""
    return gb(max(Fraction(0), allowance - Fraction(used)))


def crossed(thresholds: Iterable[int], used: Decimal, allowance: Fraction) -> list[int]:
    """The thresholds (percent of the allowance) the usage has reached, exactly: used ≥ t % of
    the allowance. None without an allowance."""
    if allowance <= 0:
        return []
    return sorted({t for t in thresholds if Fraction(used) * 100 >= allowance * t})


def daily_mean(daily: Mapping[date, Decimal], active: Sequence[date]) -> Fraction | None:
    """The mean GB per active day (days without a row count as 0); None with no active day."""
    if not active:
        return None
    return sum((Fraction(daily.get(d, Decimal(0))) for d in active), Fraction(0)) / len(active)


def needs_previous(period: Period, active: Sequence[date], as_of: date) -> bool:
    """Whether the forecast on `as_of` takes the previous month's mean into account."""
    last_settled = as_of - timedelta(days=SETTLE_DAYS)
    return as_of <= period.last_day and sum(1 for d in active if d <= last_settled) < WINDOW


def forecast(
    period: Period,
    daily: Mapping[date, Decimal],
    active: Sequence[date],
    previous_mean: Fraction | None,
    as_of: date,
) -> Decimal:
    """The month-end projection of the priority GB used on the `active` days of `period` (see
    the module's description)."""
    used = sum((daily.get(d, Decimal(0)) for d in active), Decimal(0))
    if as_of > period.last_day:
        return used
    last_settled = as_of - timedelta(days=SETTLE_DAYS)
    settled = [d for d in active if d <= last_settled]
    window = settled[-WINDOW:]
    window_gb = sum((Fraction(daily.get(d, Decimal(0))) for d in window), Fraction(0))
    if len(window) >= WINDOW or (window and previous_mean is None):
        rate = window_gb / len(window)
    elif window:
        assert previous_mean is not None
        rate = (window_gb + previous_mean * (WINDOW - len(window))) / WINDOW
    else:
        rate = previous_mean or Fraction(0)
    settled_gb = sum((Fraction(daily.get(d, Decimal(0))) for d in settled), Fraction(0))
    ahead = sum(1 for d in active if d > last_settled)
    return max(used, gb(settled_gb + rate * ahead))
