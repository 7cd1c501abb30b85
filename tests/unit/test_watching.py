"""Watching usage, the pure rules: prorated allowance, percent, thresholds, forecast. Every
expected figure is computed by hand in the comment beside it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from services.invoicing.timeline import Period, Span
from services.invoicing.watching import (
    crossed,
    daily_mean,
    days_of,
    forecast,
    gb,
    percent_used,
    prorated,
    remaining,
)

MARCH = Period(2042, 3)  # 31 days
ALL_MARCH = days_of([Span(MARCH.first_day, MARCH.last_day)])


def day(n: int) -> date:
    return date(2042, 3, n)


def test_a_plan_change_prorates_the_allowance_exactly() -> None:
    # 50 GB plan for 9 days, 100 GB plan for 22: 50*9/31 + 100*22/31 = 2650/31 GB
    allowance = prorated([(Decimal(50), 9), (Decimal(100), 22)], MARCH)
    assert allowance == Fraction(2650, 31)
    assert gb(allowance) == Decimal("85.483870968")  # 85.48387096774… half-up to the byte
    # 42.5 / (2650/31) * 100 = 131750/2650 = 49.7169… → 49.72
    assert percent_used(Decimal("42.5"), allowance) == Decimal("49.72")
    assert remaining(Decimal("42.5"), allowance) == Decimal("42.983870968")


def test_no_allowance_has_no_percent_and_crosses_nothing() -> None:
    assert percent_used(Decimal(5), Fraction(0)) is None
    assert crossed([80, 100], Decimal(5), Fraction(0)) == []
    assert remaining(Decimal(5), Fraction(0)) == Decimal(0)


def test_thresholds_are_crossed_exactly_at_their_share() -> None:
    allowance = Fraction(2650, 31)  # 80 % of it is 2120/31 = 68.387096…
    assert crossed([100, 80], Decimal("68.387"), allowance) == []
    assert crossed([100, 80], Decimal("68.388"), allowance) == [80]
    assert crossed([80, 100, 150], Decimal(100), Fraction(100)) == [80, 100]  # 100 % is reached
    assert remaining(Decimal(120), Fraction(100)) == Decimal(0)


def test_gb_rounds_half_up_to_the_byte() -> None:
    assert gb(Fraction(1, 2 * 10**9)) == Decimal("0.000000001")
    assert gb(Fraction(1, 3)) == Decimal("0.333333333")
    assert gb(Fraction(2, 3)) == Decimal("0.666666667")


def test_mid_month_the_last_seven_settled_days_set_the_pace() -> None:
    daily = {day(n): Decimal(2) for n in range(1, 19)} | {day(19): Decimal(5), day(20): Decimal(1)}
    # as_of 20 March: days up to the 18th are settled (36 GB); the rate is the mean of the
    # 12th..18th, 14/7 = 2; 13 days follow the 18th: 36 + 2*13 = 62 (used so far 42)
    assert forecast(MARCH, daily, ALL_MARCH, Fraction(40), day(20)) == Decimal(62)


def test_early_in_the_month_last_month_tops_up_the_window() -> None:
    daily = {day(1): Decimal(10), day(2): Decimal(10), day(3): Decimal(50), day(4): Decimal(50)}
    # as_of 4 March: settled are the 1st and 2nd (20 GB); 5 missing days at last month's mean
    # of 3: rate (20 + 3*5)/7 = 5; 29 days after the 2nd: 20 + 5*29 = 165 (used 120)
    assert forecast(MARCH, daily, ALL_MARCH, Fraction(3), day(4)) == Decimal(165)
    # without a previous month, the settled mean alone: 10/day → 20 + 10*29 = 310
    assert forecast(MARCH, daily, ALL_MARCH, None, day(4)) == Decimal(310)


def test_before_any_settled_day_the_previous_mean_or_what_is_used() -> None:
    daily = {day(1): Decimal(10)}
    # as_of 1 March: nothing settled; 31 days at last month's 3/day = 93 (used 10)
    assert forecast(MARCH, daily, ALL_MARCH, Fraction(3), day(1)) == Decimal(93)
    # nothing to go by: the forecast is what is used
    assert forecast(MARCH, daily, ALL_MARCH, None, day(1)) == Decimal(10)
    # a revision above the pace never makes the forecast fall below what is used
    big = {day(1): Decimal(500)}
    assert forecast(MARCH, big, ALL_MARCH, Fraction(3), day(2)) == Decimal(500)


def test_a_period_already_over_forecasts_what_it_used() -> None:
    daily = {day(n): Decimal("1.5") for n in range(1, 32)}
    assert forecast(MARCH, daily, ALL_MARCH, None, date(2042, 4, 1)) == Decimal("46.5")


def test_only_active_days_count_and_are_projected() -> None:
    # on a plan from the 10th: settled 10th..18th (9 days * 2 = 18); rate 12th..18th = 2;
    # active days after the 18th: 19th..31st = 13 → 18 + 26 = 44 (used 22)
    active = days_of([Span(day(10), day(31))])
    daily = {day(n): Decimal(2) for n in range(10, 21)} | {day(5): Decimal(99)}
    assert forecast(MARCH, daily, active, None, day(20)) == Decimal(44)


def test_the_previous_months_daily_mean_counts_days_without_usage() -> None:
    feb = Period(2042, 2)
    active = [feb.first_day + timedelta(days=i) for i in range(feb.days)]
    daily = {feb.first_day: Decimal(56), date(2042, 2, 10): Decimal(28)}
    assert daily_mean(daily, active) == Fraction(84, 28)  # 84 GB over 28 days: 3 a day
    assert daily_mean(daily, []) is None
