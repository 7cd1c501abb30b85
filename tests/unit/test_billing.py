"""Golden invoices, computed by hand, for the pure billing rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.invoicing.billing import (
    Assignment,
    Draft,
    Period,
    PlanTerms,
    PoolTerms,
    UsageOf,
    prorated_price,
)
from services.invoicing.billing import subscription_invoice as invoice

A = PlanTerms("Plan A", D("150.00"), D("50"), overage_price_per_gb=D("2.125"))
B = PlanTerms(
    "Plan B", D("100.00"), D("100"), overage_block_gb=D("50"), overage_block_price=D("25.00")
)
P = PoolTerms("pool_1", "Fleet pool", D("999.99"), D("1000"), D("1.50"))
NOV = Period(2026, 11)


def on(plan: PlanTerms, start: str, end: str | None = None, number: str = "AST-1") -> Assignment:
    return Assignment(
        number,
        f"Line {number}",
        date.fromisoformat(start),
        date.fromisoformat(end) if end else None,
        plan=plan,
    )


def in_pool(number: str, start: str = "2026-01-01") -> Assignment:
    return Assignment(number, f"Line {number}", date.fromisoformat(start), None, pool=P)


def per_month(values: dict[str, D]) -> UsageOf:
    """Usage of the month before as one figure per line (each line has one segment)."""
    return lambda line, span: values.get(line, D(0))


def daily(values: dict[tuple[str, str], D]) -> UsageOf:
    """Usage per (line, day): a segment's usage is the sum of its days."""
    return lambda line, span: sum(
        (
            gb
            for (n, d), gb in values.items()
            if n == line and span.start <= date.fromisoformat(d) <= span.end
        ),
        D(0),
    )


def subscription_invoice(
    period: Period, assignments: list[Assignment], usage: dict[str, D] | UsageOf
) -> Draft:
    return invoice(period, assignments, per_month(usage) if isinstance(usage, dict) else usage)


def amounts(draft: object) -> list[tuple[str, D]]:
    return [(x.type, x.amount) for x in draft.lines]  # type: ignore[attr-defined]


def test_full_month_with_per_gb_overage_of_the_month_before() -> None:
    draft = subscription_invoice(NOV, [on(A, "2026-10-01")], {"AST-1": D("62.5")})
    # 62.5 - 50 = 12.5 GB over x 2.125 = 26.5625 -> 26.56
    assert amounts(draft) == [("REGULAR", D("150.00")), ("OVERAGE", D("26.56"))]
    assert (draft.regular_charges, draft.additional_charges, draft.amount) == (
        D("150.00"),
        D("26.56"),
        D("176.56"),
    )
    assert draft.lines[1].usage_gb == D("12.5")


@pytest.mark.parametrize(
    ("period", "start", "end", "expected"),
    [
        (Period(2026, 12), "2026-12-10", None, D("106.45")),  # 22/31 x 150 = 106.4516
        (Period(2026, 11), "2026-11-16", None, D("75.00")),  # 15/30
        (Period(2027, 2), "2027-02-15", None, D("75.00")),  # 14/28
        (Period(2028, 2), "2028-02-15", None, D("77.59")),  # 15/29 x 150 = 77.5862
        (Period(2026, 11), "2026-09-01", "2026-11-10", D("50.00")),  # ends mid-month: 10/30
        (Period(2026, 11), "2026-11-30", "2026-11-30", D("5.00")),  # last day only: 1/30
        (Period(2026, 11), "2026-11-01", None, D("150.00")),  # first day: the full price
    ],
)
def test_regular_charge_is_prorated_by_active_days(
    period: Period, start: str, end: str | None, expected: D
) -> None:
    draft = subscription_invoice(period, [on(A, start, end)], {})
    assert amounts(draft) == [("REGULAR", expected)]


def test_first_invoice_has_no_overage() -> None:
    draft = subscription_invoice(NOV, [on(A, "2026-11-01")], {"AST-1": D("500")})
    assert amounts(draft) == [("REGULAR", D("150.00"))]


def test_allowance_is_prorated_exactly_for_a_partial_month_before() -> None:
    draft = subscription_invoice(NOV, [on(A, "2026-10-17")], {"AST-1": D("30")})
    # allowance 50 x 15/31 = 24.1935...; 5.80645... GB over x 2.125 = 12.3387 -> 12.34
    assert amounts(draft) == [("REGULAR", D("150.00")), ("OVERAGE", D("12.34"))]


def test_block_overage_counts_started_blocks() -> None:
    draft = subscription_invoice(NOV, [on(B, "2026-01-01")], {"AST-1": D("181")})
    assert amounts(draft) == [("REGULAR", D("100.00")), ("OVERAGE", D("50.00"))]
    assert draft.lines[1].quantity == 2 and draft.lines[1].unit_price == D("25.00")
    exact = subscription_invoice(NOV, [on(B, "2026-01-01")], {"AST-1": D("200")})
    assert amounts(exact)[1] == ("OVERAGE", D("50.00"))  # 100 over: exactly two blocks
    within = subscription_invoice(NOV, [on(B, "2026-01-01")], {"AST-1": D("100")})
    assert amounts(within) == [("REGULAR", D("100.00"))]


def test_sub_pool_billed_at_its_own_price_members_shown_for_monitoring() -> None:
    draft = subscription_invoice(
        NOV, [in_pool("AST-3"), in_pool("AST-4")], {"AST-3": D("700"), "AST-4": D("450.25")}
    )
    # 1150.25 - 1000 = 150.25 GB over x 1.50 = 225.375 -> 225.38 (half-up)
    assert amounts(draft) == [
        ("REGULAR", D("999.99")),
        ("OVERAGE", D("225.38")),
        ("USAGE_INFO", D(0)),
        ("USAGE_INFO", D(0)),
    ]
    assert [x.usage_gb for x in draft.lines[2:]] == [D("700"), D("450.25")]
    assert draft.amount == D("1225.37")


def test_line_moved_between_plans_is_billed_overage_per_segment_of_its_own_days() -> None:
    """Fixed: the whole month's usage was billed against the last plan's part of the allowance.
    Each segment now bills its own days' usage against its own prorated allowance."""
    moved = [on(A, "2026-10-01", "2026-10-15", "AST-5"), on(B, "2026-10-16", None, "AST-5")]
    usage = daily({("AST-5", "2026-10-10"): D("100"), ("AST-5", "2026-10-20"): D("100")})
    draft = subscription_invoice(NOV, moved, usage)
    # A, Oct 1-15: 100 GB - 50 x 15/31 (24.193548...) = 75.806451... x 2.125 = 161.0887 -> 161.09
    # B, Oct 16-31: 100 GB - 100 x 16/31 (51.612903...) = 48.387... -> 1 started block = 25.00
    assert amounts(draft) == [
        ("REGULAR", D("100.00")),
        ("OVERAGE", D("161.09")),
        ("OVERAGE", D("25.00")),
    ]
    assert [x.plan_name for x in draft.lines[1:]] == ["Plan A", "Plan B"]


def test_a_figure_exactly_on_a_half_cent_rounds_up() -> None:
    """200 GB at 1.50/GB active 10 of 30 days, 66.67 GB used: allowance 66.666... exactly,
    0.00333... GB over x 1.50 = 0.005 exactly -> 0.01 (Decimal division at 28 digits gave
    0.004999... -> 0.00)."""
    plan = PlanTerms("Tiny", D("0"), D("200"), overage_price_per_gb=D("1.50"))
    draft = subscription_invoice(
        Period(2026, 12), [on(plan, "2026-11-21", "2026-11-30")], {"AST-1": D("66.67")}
    )
    assert amounts(draft) == [("OVERAGE", D("0.01"))]


def test_no_line_of_zero_is_made_but_usage_info() -> None:
    free = PlanTerms("Free", D("0"), D("10"), overage_price_per_gb=D("0"))
    draft = subscription_invoice(NOV, [on(free, "2026-01-01")], {"AST-1": D("50")})
    assert draft.lines == []


def test_quantities_are_kept_in_their_stored_form() -> None:
    draft = subscription_invoice(Period(2026, 12), [on(A, "2026-12-17")], {})
    assert draft.lines[0].quantity == D("0.483870968")  # 15/31, 9 decimals
    assert draft.lines[0].amount == D("72.58")  # 150 x 15/31 = 72.580645...


def test_a_line_inactive_in_the_period_is_not_charged() -> None:
    assert subscription_invoice(NOV, [on(A, "2026-12-01")], {}).lines == []


@given(
    st.integers(1, 31),
    st.integers(0, 31),
    st.sampled_from([28, 29, 30, 31]),
    st.integers(0, 100_000),
)
def test_prorated_price_is_within_the_price_and_exact_at_the_ends(
    active: int, extra: int, days: int, cents: int
) -> None:
    active = min(active, days)
    price = D(cents) / 100
    charged = prorated_price(price, active, days)
    assert D(0) <= charged <= price
    assert charged == charged.quantize(D("0.01"))
    assert abs(charged - price * active / days) <= D("0.005")
    assert prorated_price(price, days, days) == price


assignment_strategy = st.builds(
    lambda n, plan, start, length, pooled: (
        in_pool(f"AST-{n}", f"2026-{start:02d}-01")
        if pooled
        else on(
            plan,
            f"2026-{start:02d}-01",
            None if length == 0 else f"2026-{min(start + length, 12):02d}-10",
            f"AST-{n}",
        )
    ),
    st.integers(0, 30),
    st.sampled_from([A, B]),
    st.integers(1, 12),
    st.integers(0, 3),
    st.booleans(),
)


@given(
    st.lists(assignment_strategy, max_size=12, unique_by=lambda a: a.service_line_number),
    st.dictionaries(
        st.sampled_from([f"AST-{n}" for n in range(31)]),
        st.integers(0, 500_000).map(lambda c: D(c) / 100),
        max_size=10,
    ),
    st.randoms(),
)
def test_recomputing_an_invoice_is_deterministic(
    assignments: list[Assignment], usage: dict[str, D], rnd: object
) -> None:
    first = subscription_invoice(NOV, assignments, usage)
    shuffled = list(assignments)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = subscription_invoice(NOV, shuffled, dict(reversed(list(usage.items()))))
    assert again.lines == first.lines
    assert again.amount == first.regular_charges + first.additional_charges
    assert all(x.amount == x.amount.quantize(D("0.01")) for x in first.lines)
