"""Pure: folding `usage.recorded` days into monthly sums per service line (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from shared.events.usage import LineDailyUsage

FIGURES = ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")


@dataclass
class MonthDelta:
    """How much one service line's month moves: per figure, days gained, days seen."""

    figures: list[Decimal] = field(default_factory=lambda: [Decimal(0)] * 4)
    new_days: int = 0
    first_day: date = date.max
    last_day: date = date.min


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_deltas(days: Iterable[LineDailyUsage]) -> dict[tuple[str, date], MonthDelta]:
    """New figures minus previous ones, summed per (service line, month)."""
    deltas: dict[tuple[str, date], MonthDelta] = {}
    for d in days:
        key = (d.service_line_number, month_of(d.date))
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = MonthDelta()
        for i, name in enumerate(FIGURES):
            previous = getattr(d, f"previous_{name}")
            change = Decimal(getattr(d, name))
            delta.figures[i] += change - Decimal(previous) if previous is not None else change
        if d.previous_priority_gb is None:
            delta.new_days += 1
        delta.first_day = min(delta.first_day, d.date)
        delta.last_day = max(delta.last_day, d.date)
    return deltas
