from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.invoicing.usage import month_deltas
from shared.events.usage import LineDailyUsage


def day(d: date, p: str, prev: str | None, line: str = "AST-1-1-1") -> LineDailyUsage:
    return LineDailyUsage(
        service_line_number=line, date=d, priority_gb=p, opt_in_priority_gb="0",
        standard_gb="1", non_billable_gb="0", observed_at="2026-12-01T00:00:00Z",
        previous_priority_gb=prev, previous_opt_in_priority_gb=None if prev is None else "0",
        previous_standard_gb=None if prev is None else "1",
        previous_non_billable_gb=None if prev is None else "0",
    )


def test_new_days_add_and_revisions_move_by_the_difference() -> None:
    deltas = month_deltas([
        day(date(2026, 10, 31), "2.5", None),
        day(date(2026, 11, 1), "4", None),
        day(date(2026, 11, 30), "1", None),
        day(date(2026, 11, 1), "3.25", "4"),
    ])
    october, november = deltas[("AST-1-1-1", date(2026, 10, 1))], deltas[("AST-1-1-1",
                                                                            date(2026, 11, 1))]
    assert october.figures[0] == Decimal("2.5") and october.new_days == 1
    assert november.figures[0] == Decimal("4.25") and november.new_days == 2
    assert november.figures[2] == Decimal("2")  # standard: 1 + 1, the revision moved it by 0
    assert (november.first_day, november.last_day) == (date(2026, 11, 1), date(2026, 11, 30))


@given(st.lists(st.tuples(st.integers(1, 28), st.integers(0, 10_000)), max_size=40))
def test_sum_of_deltas_is_the_sum_of_the_latest_figures(revisions: list[tuple[int, int]]) -> None:
    latest: dict[int, Decimal] = {}
    days = []
    for d, centi in revisions:
        value = Decimal(centi) / 100
        prev = latest.get(d)
        days.append(day(date(2028, 2, d), str(value), None if prev is None else str(prev)))
        latest[d] = value
    deltas = month_deltas(days)
    if latest:
        total = deltas[("AST-1-1-1", date(2028, 2, 1))]
        assert total.figures[0] == sum(latest.values())
        assert total.new_days == len(latest)
