"""Pure rules of usage: which snapshot of a day wins. No I/O here.

A snapshot is what a feed knew about one UTC day of one service line at `observed_at`.
The newest snapshot of a day replaces older ones (figures are revised during and after the
day, never added up); an older one arriving late changes nothing; an identical one is a no-op.
Ties on `observed_at` are broken by the figures themselves, so the outcome never depends on
arrival order (the SQL upsert uses the same ordering: `precedence`). A newer snapshot with the
same figures is kept (its `observed_at`) but is not a change worth announcing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Snapshot:
    service_line_number: str
    date: dt.date
    priority_gb: Decimal
    opt_in_priority_gb: Decimal
    standard_gb: Decimal
    non_billable_gb: Decimal
    observed_at: dt.datetime

    @property
    def key(self) -> tuple[str, dt.date]:
        return (self.service_line_number, self.date)

    def figures(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        return (self.priority_gb, self.opt_in_priority_gb, self.standard_gb, self.non_billable_gb)

    def precedence(self) -> tuple[dt.datetime, Decimal, Decimal, Decimal, Decimal]:
        return (self.observed_at, *self.figures())


def newest_per_day(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """One snapshot per (service line, day): the one with the highest precedence."""
    best: dict[tuple[str, dt.date], Snapshot] = {}
    for snap in snapshots:
        current = best.get(snap.key)
        if current is None or snap.precedence() > current.precedence():
            best[snap.key] = snap
    return list(best.values())


def apply(
    current: dict[tuple[str, dt.date], Snapshot], incoming: Iterable[Snapshot]
) -> list[Snapshot]:
    """Fold snapshots into the current daily rows; returns the rows whose figures changed."""
    changed = []
    for snap in newest_per_day(incoming):
        existing = current.get(snap.key)
        if existing is None or snap.precedence() > existing.precedence():
            current[snap.key] = snap
            if existing is None or existing.figures() != snap.figures():
                changed.append(snap)
    return changed
