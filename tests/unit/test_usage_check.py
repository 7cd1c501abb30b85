"""The usage check compares per (line, month, figure), as numbers; the scheduler's settle
delay."""

from __future__ import annotations

from datetime import UTC, datetime

from services.invoicing.scheduler import is_due
from services.invoicing.usage_check import differences


def row(line: str, month: str, priority: str, days: int = 3) -> dict[str, object]:
    return {
        "service_line_number": line,
        "month": month,
        "days": days,
        "priority_gb": priority,
        "opt_in_priority_gb": "0",
        "standard_gb": "1.5",
        "non_billable_gb": "0",
    }


def test_equal_figures_in_other_forms_are_no_difference() -> None:
    source = [row("AST-1", "2026-10", "12.5")]
    copy = [{**row("AST-1", "2026-10", "12.500000000"), "standard_gb": "1.500"}]
    assert differences(source, copy) == []


def test_every_differing_figure_and_missing_month_is_listed() -> None:
    source = [row("AST-1", "2026-10", "645.673", days=11), row("AST-2", "2026-10", "1")]
    copy = [row("AST-1", "2026-10", "310.438", days=5), row("AST-3", "2026-11", "2")]
    found = {
        (d["service_line_number"], d["month"], d["figure"]): d for d in differences(source, copy)
    }
    assert found[("AST-1", "2026-10", "priority_gb")]["usage"] == "645.673"
    assert found[("AST-1", "2026-10", "priority_gb")]["invoicing"] == "310.438"
    assert found[("AST-1", "2026-10", "days")]["usage"] == "11"
    assert found[("AST-2", "2026-10", "priority_gb")]["invoicing"] == "0"
    assert found[("AST-3", "2026-11", "priority_gb")]["usage"] == "0"
    assert ("AST-1", "2026-10", "standard_gb") not in found


def test_the_monthly_run_waits_the_settle_delay_into_the_first() -> None:
    assert not is_due(datetime(2026, 12, 1, 5, 59, tzinfo=UTC), 6)
    assert is_due(datetime(2026, 12, 1, 6, 0, tzinfo=UTC), 6)
    assert is_due(datetime(2026, 12, 17, tzinfo=UTC), 6)
    assert is_due(datetime(2026, 12, 1, tzinfo=UTC), 0)
