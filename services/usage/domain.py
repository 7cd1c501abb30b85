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
from typing import Protocol, TypeVar

from shared.events.usage import day_precedence


class DaySnapshot(Protocol):
    """Anything shaped like a snapshot: `Snapshot` here, or the wire model `LineSnapshot`
    (whose figures are exact decimal text)."""

    @property
    def service_line_number(self) -> str: ...
    @property
    def date(self) -> dt.date: ...
    @property
    def priority_gb(self) -> Decimal | str: ...
    @property
    def opt_in_priority_gb(self) -> Decimal | str: ...
    @property
    def standard_gb(self) -> Decimal | str: ...
    @property
    def non_billable_gb(self) -> Decimal | str: ...
    @property
    def observed_at(self) -> dt.datetime: ...


S = TypeVar("S", bound=DaySnapshot)


def figures(s: DaySnapshot) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (
        Decimal(s.priority_gb),
        Decimal(s.opt_in_priority_gb),
        Decimal(s.standard_gb),
        Decimal(s.non_billable_gb),
    )


def precedence(s: DaySnapshot) -> tuple[dt.datetime, Decimal, Decimal, Decimal, Decimal]:
    """Newest first; equal instants ordered by the figures, so arrival order never matters
    (the one rule every copy of days follows: `shared.events.usage.day_precedence`)."""
    return day_precedence(
        s.observed_at,
        str(s.priority_gb),
        str(s.opt_in_priority_gb),
        str(s.standard_gb),
        str(s.non_billable_gb),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    service_line_number: str
    date: dt.date
    priority_gb: Decimal | str
    opt_in_priority_gb: Decimal | str
    standard_gb: Decimal | str
    non_billable_gb: Decimal | str
    observed_at: dt.datetime


def newest_per_day(snapshots: Iterable[S]) -> list[S]:
    """One snapshot per (service line, day): the one with the highest precedence."""
    best: dict[tuple[str, dt.date], S] = {}
    for snap in snapshots:
        key = (snap.service_line_number, snap.date)
        current = best.get(key)
        if current is None or precedence(snap) > precedence(current):
            best[key] = snap
    return list(best.values())


def apply(current: dict[tuple[str, dt.date], S], incoming: Iterable[S]) -> list[S]:
    """Fold snapshots into the current daily rows; returns the rows whose figures changed."""
    changed = []
    for snap in newest_per_day(incoming):
        key = (snap.service_line_number, snap.date)
        existing = current.get(key)
        if existing is None or precedence(snap) > precedence(existing):
            current[key] = snap
            if existing is None or figures(existing) != figures(snap):
                changed.append(snap)
    return changed
