"""The assignment timeline: a month cut into segments, each day in at most one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.invoicing.timeline import Period, Span, Stint, cut, uncovered

OCT = Period(2026, 10)


def stint(owner: str, start: str, end: str | None = None, org: str = "org_1") -> Stint:
    return Stint((org, owner), date.fromisoformat(start), date.fromisoformat(end) if end else None)


def test_a_month_is_cut_at_each_change_and_touching_same_owner_merges() -> None:
    history = [
        stint("plan:A", "2026-09-01", "2026-10-09"),
        stint("plan:B", "2026-10-10", "2026-10-19"),
        stint("plan:B", "2026-10-20", "2026-10-24"),  # touching, same owner: one segment
        stint("plan:A", "2026-10-25"),
    ]
    assert cut(history, OCT) == [
        (("org_1", "plan:A"), Span(date(2026, 10, 1), date(2026, 10, 9))),
        (("org_1", "plan:B"), Span(date(2026, 10, 10), date(2026, 10, 24))),
        (("org_1", "plan:A"), Span(date(2026, 10, 25), date(2026, 10, 31))),
    ]
    assert uncovered(history, OCT) == []


def test_same_plan_in_another_organization_is_another_segment() -> None:
    history = [
        stint("plan:A", "2026-10-01", "2026-10-15", org="org_1"),
        stint("plan:A", "2026-10-16", org="org_2"),
    ]
    assert [owner for owner, _ in cut(history, OCT)] == [("org_1", "plan:A"), ("org_2", "plan:A")]


def test_days_without_an_assignment_are_uncovered() -> None:
    history = [stint("pool:P", "2026-10-05", "2026-10-10"), stint("plan:A", "2026-10-21")]
    assert uncovered(history, OCT) == [
        Span(date(2026, 10, 1), date(2026, 10, 4)),
        Span(date(2026, 10, 11), date(2026, 10, 20)),
    ]


def test_overlapping_assignments_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        cut([stint("plan:A", "2026-10-01"), stint("plan:B", "2026-10-05")], OCT)


def test_leap_february_and_period_arithmetic() -> None:
    feb = Period(2028, 2)
    assert cut([stint("plan:A", "2028-01-15")], feb)[0][1].days == 29
    assert Period(2026, 1).previous() == Period(2025, 12)
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2026, 2).back(3) == Period(2025, 11)


@st.composite
def histories(draw: st.DrawFn) -> list[Stint]:
    """Non-overlapping stints around October 2026, some touching, some with gaps."""
    day, found = date(2026, 9, 20), []
    for _ in range(draw(st.integers(0, 6))):
        day += timedelta(days=draw(st.integers(0, 6)))
        length = draw(st.integers(0, 15))
        owner = draw(st.sampled_from(["plan:A", "plan:B", "pool:P"]))
        found.append(Stint(("org_1", owner), day, day + timedelta(days=length)))
        day += timedelta(days=length + 1)
    if found and draw(st.booleans()):
        found[-1] = Stint(found[-1].owner, found[-1].active_from, None)
    return found


@given(histories())
def test_every_day_of_the_month_is_in_one_segment_or_uncovered(history: list[Stint]) -> None:
    seen: dict[date, int] = {}
    for _, span in cut(history, OCT) + [(None, gap) for gap in uncovered(history, OCT)]:
        for n in range(span.days):
            day = span.start + timedelta(days=n)
            seen[day] = seen.get(day, 0) + 1
    assert set(seen.values()) == {1}
    assert sorted(seen) == [OCT.first_day + timedelta(days=n) for n in range(OCT.days)]
