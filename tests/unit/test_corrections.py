"""Corrections, pure: what each period was billed (computed, plus corrections issued on later
invoices) always ends equal to a from-scratch computation of that period, whatever changed in
between (back-dated changes, ends, late activations, late usage), and no day's GB is counted
twice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from services.invoicing.billing import (
    Assignment,
    Draft,
    Line,
    Period,
    PlanTerms,
    PoolTerms,
    Span,
    UsageOf,
    segments,
    subscription_invoice,
)
from services.invoicing.corrections import (
    Charge,
    carried_forward,
    charges,
    differences,
    is_system_adjustment,
)
from services.invoicing.timeline import uncovered

A = PlanTerms("Plan A", D("150.00"), D("50"), overage_price_per_gb=D("2.125"), id="a")
B = PlanTerms("Plan B", D("100.00"), D("40"), None, D("25"), D("30.00"), id="b")
P = PoolTerms("pool", "Fleet pool", D("300.00"), D("60"), D("1.50"))
PERIODS = [Period(2026, m) for m in range(1, 6)]
START, END = date(2025, 12, 1), date(2026, 5, 31)


def daily(values: dict[tuple[str, date], D]) -> UsageOf:
    return lambda line, span: sum(
        (gb for (n, d), gb in values.items() if n == line and span.start <= d <= span.end), D(0)
    )


@st.composite
def history(draw: st.DrawFn) -> list[Assignment]:
    """Assignments of three lines, each a run of non-overlapping stints with gaps."""
    found = []
    for n in range(3):
        day = START + timedelta(days=draw(st.integers(0, 60)))
        for _ in range(draw(st.integers(1, 4))):
            length = draw(st.integers(0, 70))
            terms = draw(st.sampled_from([A, B, P]))
            found.append(
                Assignment(
                    f"AST-{n}",
                    f"Line {n}",
                    day,
                    day + timedelta(days=length),
                    plan=terms if isinstance(terms, PlanTerms) else None,
                    pool=terms if isinstance(terms, PoolTerms) else None,
                    org_id="org_1",
                )
            )
            day += timedelta(days=length + 1 + draw(st.integers(0, 20)))
    return found


usage_strategy = st.dictionaries(
    st.tuples(
        st.sampled_from(["AST-0", "AST-1", "AST-2"]),
        st.dates(min_value=START, max_value=END),
    ),
    st.integers(0, 20_000).map(lambda n: D(n) / 1000),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(history(), usage_strategy), min_size=len(PERIODS), max_size=len(PERIODS)))
def test_billed_plus_corrections_equals_a_computation_from_scratch(
    states: list[tuple[list[Assignment], dict[tuple[str, date], D]]],
) -> None:
    """Run k sees catalog and usage state k (each later state may differ anywhere in the past);
    every earlier invoice is final, so run k corrects every earlier period. After the last
    run, what each period was billed equals what the last state computes for it."""
    billed: dict[str, dict[str, D]] = {}
    for k, period in enumerate(PERIODS):
        assignments, usage = states[k]
        for earlier in PERIODS[:k]:
            now = charges(subscription_invoice(earlier, assignments, daily(usage)))
            was = {key: Charge("", amount) for key, amount in billed[str(earlier)].items()}
            for key, line in differences(str(earlier), now, was):
                billed[str(earlier)][key] = billed[str(earlier)].get(key, D(0)) + line.amount
        computed = charges(subscription_invoice(period, assignments, daily(usage)))
        billed[str(period)] = {key: c.amount for key, c in computed.items()}
    last_assignments, last_usage = states[-1]
    for period in PERIODS:
        scratch = charges(subscription_invoice(period, last_assignments, daily(last_usage)))
        assert {k: v for k, v in billed[str(period)].items() if v} == {
            k: c.amount for k, c in scratch.items() if c.amount
        }


@given(history(), usage_strategy)
def test_no_day_is_counted_twice_and_unassigned_days_are_never_billed(
    assignments: list[Assignment], usage: dict[tuple[str, date], D]
) -> None:
    for period in PERIODS:
        used = daily(usage)
        found = segments(assignments, period)
        for n in ("AST-0", "AST-1", "AST-2"):
            mine = [s for s in found if s.assignment.service_line_number == n]
            counted = sum((used(n, s.span) for s in mine), D(0))
            stints = [a.stint() for a in assignments if a.service_line_number == n]
            gaps = (
                uncovered(stints, period) if stints else [Span(period.first_day, period.last_day)]
            )
            left_out = sum((used(n, g) for g in gaps), D(0))
            whole = used(n, Span(period.first_day, period.last_day))
            assert counted + left_out == whole  # each day once: in a segment or unassigned


def test_a_negative_total_is_kept_at_zero_and_the_rest_carried() -> None:
    line = carried_forward(D("41.61"))
    assert line.amount == D("41.61") and is_system_adjustment(line)
    manual = Line("ADJUSTMENT", "Goodwill discount", D("-5.00"))
    assert not is_system_adjustment(manual)
    assert Draft([Line("REGULAR", "x", D("60.00")), line]).amount == D("101.61")
