"""Starlink v2 data-usage pages to daily snapshots: the traps of domain.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.gateway.starlink import cycle_end, snapshots_of_page
from shared.errors import ValidationFailed
from shared.events.envelope import loads_exact

RECEIVED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def entry(day: str, priority: str = "1.5", opt_in: str = "0.5", **extra: Any) -> dict[str, Any]:
    return {
        "date": f"{day}T00:00:00Z",
        "priorityGB": Decimal(priority),
        "optInPriorityGB": Decimal(opt_in),
        "standardGB": Decimal("2.25"),
        "nonBillableGB": Decimal("0.01"),
        **extra,
    }


def page(*results: dict[str, Any], wrapper: bool = True) -> dict[str, Any]:
    content = {
        "pageIndex": 0,
        "limit": 250,
        "isLastPage": True,
        "totalCount": len(results),
        "results": list(results),
    }
    if not wrapper:
        return content
    return {"errors": [], "warnings": [], "information": [], "isValid": True, "content": content}


def result(
    line: str, *cycles: dict[str, Any], last_updated: str | None = "2026-11-30T06:00:00Z"
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "accountNumber": "ACC-1",
        "serviceLineNumber": line,
        "servicePlan": {"productId": "x", "usageLimitGB": 50},
        "billingCycles": list(cycles),
    }
    if last_updated:
        r["lastUpdated"] = last_updated
    return r


def cycle(start: str, end: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "startDate": start,
        "endDate": end,
        "dailyDataUsage": list(entries),
        "overageLines": [],
        "dataPoolUsage": [],
    }


NOV_INCLUSIVE = ("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z")
NOV_EXCLUSIVE = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")


@pytest.mark.parametrize("bounds", [NOV_INCLUSIVE, NOV_EXCLUSIVE])
def test_both_cycle_end_forms_take_the_first_and_last_day_of_the_month(
    bounds: tuple[str, str],
) -> None:
    p = page(result("AST-1-1-1", cycle(*bounds, entry("2026-11-01"), entry("2026-11-30"))))
    good, bad = snapshots_of_page(p, RECEIVED)
    assert bad == []
    assert [s.date for s in good] == [date(2026, 11, 1), date(2026, 11, 30)]


@pytest.mark.parametrize("bounds", [NOV_INCLUSIVE, NOV_EXCLUSIVE])
def test_a_day_outside_its_cycle_is_rejected_with_its_place(bounds: tuple[str, str]) -> None:
    p = page(result("AST-1-1-1", cycle(*bounds, entry("2026-12-01"), entry("2026-10-31"))))
    good, bad = snapshots_of_page(p, RECEIVED)
    assert good == []
    assert [b.index for b in bad] == [0, 1]
    assert "billingCycles[0].dailyDataUsage[0]" in bad[0].reason
    assert "outside its billing cycle" in bad[0].reason


def test_cycle_end_forms() -> None:
    assert cycle_end("2026-11-30T23:59:59Z") == date(2026, 12, 1)
    assert cycle_end("2026-12-01T00:00:00Z") == date(2026, 12, 1)
    assert cycle_end("2026-11-30T23:59:59.999Z") == date(2026, 12, 1)
    assert cycle_end("2026-11-30") == date(2026, 12, 1)


def test_leap_day() -> None:
    p = page(
        result(
            "AST-1-1-1", cycle("2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", entry("2028-02-29"))
        )
    )
    good, bad = snapshots_of_page(p, RECEIVED)
    assert bad == [] and good[0].date == date(2028, 2, 29)
    p = page(
        result(
            "AST-1-1-1",
            cycle(
                "2027-02-01T00:00:00Z",
                "2027-03-01T00:00:00Z",
                {**entry("2027-02-28"), "date": "2027-02-29T00:00:00Z"},
            ),
        )
    )
    good, bad = snapshots_of_page(p, RECEIVED)
    assert good == [] and "day is out of range" in bad[0].reason


def test_opt_in_is_part_of_priority_and_figures_are_exact() -> None:
    p = page(
        result(
            "AST-1-1-1",
            cycle(
                *NOV_EXCLUSIVE,
                entry("2026-11-02", "10.123456789", "4"),
                entry("2026-11-03", "1", "1.5"),
            ),
        )
    )
    good, bad = snapshots_of_page(p, RECEIVED)
    assert good[0].priority_gb == "10.123456789"
    assert good[0].opt_in_priority_gb == "4"
    assert (good[0].standard_gb, good[0].non_billable_gb) == ("2.25", "0.01")
    assert len(bad) == 1 and "cannot exceed" in bad[0].reason


def test_observed_at_is_last_updated_or_the_time_received() -> None:
    p = page(
        result("AST-1-1-1", cycle(*NOV_EXCLUSIVE, entry("2026-11-02"))),
        result("AST-2-2-2", cycle(*NOV_EXCLUSIVE, entry("2026-11-02")), last_updated=None),
    )
    good, _ = snapshots_of_page(p, RECEIVED)
    assert good[0].observed_at == datetime(2026, 11, 30, 6, tzinfo=UTC)
    assert good[1].observed_at == RECEIVED


def test_wrapper_or_content_alone_and_numbers_from_json_text() -> None:
    raw = b"""{"pageIndex": 0, "isLastPage": true, "results": [{"serviceLineNumber": "AST-3-3-3",
      "lastUpdated": "2026-11-30T06:00:00Z", "billingCycles": [{"startDate": "2026-11-01T00:00:00Z",
      "endDate": "2026-11-30T23:59:59Z", "dailyDataUsage": [{"date": "2026-11-05T00:00:00Z",
      "priorityGB": 72.345, "optInPriorityGB": 0, "standardGB": 3.5, "nonBillableGB": null}]}]}]}"""
    good, bad = snapshots_of_page(loads_exact(raw), RECEIVED)
    assert bad == []
    assert good[0].priority_gb == "72.345" and good[0].non_billable_gb == "0"
    with_wrapper = page(result("AST-3-3-3", cycle(*NOV_EXCLUSIVE, entry("2026-11-05"))))
    without = page(result("AST-3-3-3", cycle(*NOV_EXCLUSIVE, entry("2026-11-05"))), wrapper=False)
    assert snapshots_of_page(with_wrapper, RECEIVED) == snapshots_of_page(without, RECEIVED)


def test_several_cycles_and_results_are_numbered_in_page_order() -> None:
    p = page(
        result(
            "AST-1-1-1",
            cycle("2026-10-01T00:00:00Z", "2026-10-31T23:59:59Z", entry("2026-10-31")),
            cycle(*NOV_EXCLUSIVE, entry("2026-11-01"), entry("2026-13-01")),
        ),
        result("AST-2-2-2", cycle(*NOV_EXCLUSIVE, entry("2026-11-01"))),
    )
    good, bad = snapshots_of_page(p, RECEIVED)
    assert [(s.service_line_number, s.date.isoformat()) for s in good] == [
        ("AST-1-1-1", "2026-10-31"),
        ("AST-1-1-1", "2026-11-01"),
        ("AST-2-2-2", "2026-11-01"),
    ]
    assert [(b.index, b.service_line_number) for b in bad] == [(2, "AST-1-1-1")]


def test_a_date_that_is_not_utc_midnight_is_rejected() -> None:
    p = page(
        result(
            "AST-1-1-1",
            cycle(*NOV_EXCLUSIVE, {**entry("2026-11-02"), "date": "2026-11-02T05:00:00Z"}),
        )
    )
    _, bad = snapshots_of_page(p, RECEIVED)
    assert "UTC midnight" in bad[0].reason


def test_a_result_without_service_line_is_rejected_per_entry() -> None:
    r = result("x", cycle(*NOV_EXCLUSIVE, entry("2026-11-02")))
    del r["serviceLineNumber"]
    _, bad = snapshots_of_page(page(r), RECEIVED)
    assert bad[0].service_line_number is None and "serviceLineNumber" in bad[0].reason


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"content": {"results": "x"}},
        {"isValid": False, "errors": ["bad account"], "content": {"results": []}},
    ],
)
def test_pages_that_are_not_pages_are_refused_whole(body: Any) -> None:
    with pytest.raises(ValidationFailed):
        snapshots_of_page(body, RECEIVED)


@pytest.mark.parametrize(
    ("written", "exact"),
    [
        ("1E-7", "0.0000001"),
        ("2.5e-3", "0.0025"),
        ("1e+1", "10"),
        ("12345E-3", "12.345"),
        ("7.2345E1", "72.345"),
        ("0E-9", "0"),
    ],
)
def test_numbers_in_any_json_form_are_read_exactly(written: str, exact: str) -> None:
    raw = (
        b'{"results": [{"serviceLineNumber": "AST-3-3-3", "lastUpdated": "2026-11-30T06:00:00Z",'
        b' "billingCycles": [{"startDate": "2026-11-01T00:00:00Z", "endDate":'
        b' "2026-11-30T23:59:59Z", "dailyDataUsage": [{"date": "2026-11-05T00:00:00Z",'
        b' "priorityGB": ' + written.encode() + b', "optInPriorityGB": 0}]}]}]}'
    )
    good, bad = snapshots_of_page(loads_exact(raw), RECEIVED)
    assert bad == []
    assert Decimal(good[0].priority_gb) == Decimal(exact)
    assert "E" not in good[0].priority_gb.upper()
