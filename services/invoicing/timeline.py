"""A service line's assignment history as a timeline, cut into a month's segments (pure).

The rules (api.md, "Rules for a changing catalog"): a line's month is cut into segments by its
assignments; touching segments with the same organization and the same plan or sub-pool are
one. A day belongs to the assignment active that day and to no other; days without an
assignment belong to no segment (their usage is never billed, it is reported unassigned).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property


@dataclass(frozen=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        year, _, month = text.partition("-")
        if len(text) != 7 or not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
            raise ValueError("must be a period YYYY-MM")
        if not 1901 <= int(year) <= 9998:  # a month before and after it must exist too
            raise ValueError("must be a period between 1901-01 and 9998-12")
        return cls(int(year), int(month))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    # Cached: a run asks each of them millions of times (frozen dataclasses keep a __dict__).
    @cached_property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @cached_property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @cached_property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    def previous(self) -> Period:
        return Period.of(self.first_day - timedelta(days=1))

    def next(self) -> Period:
        return Period.of(self.last_day + timedelta(days=1))

    def back(self, months: int) -> Period:
        index = self.year * 12 + self.month - 1 - months
        return Period(index // 12, index % 12 + 1)


@dataclass(frozen=True)
class Span:
    """Days `start`..`end`, both inclusive."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def clip(self, period: Period) -> Span | None:
        start, end = max(self.start, period.first_day), min(self.end, period.last_day)
        return Span(start, end) if start <= end else None

    def covers(self, period: Period) -> bool:
        return self.start <= period.first_day and self.end >= period.last_day


@dataclass(frozen=True)
class Stint:
    """One assignment of a line: whom it bills (`owner`: the organization, and the plan or
    pool id) over which days (`active_to` None: open-ended)."""

    owner: tuple[str, str]
    active_from: date
    active_to: date | None

    def span(self) -> Span:
        return Span(self.active_from, self.active_to or date.max)


def cut(stints: list[Stint], period: Period) -> list[tuple[tuple[str, str], Span]]:
    """The segments of `period`: each stint clipped to the month, in day order, touching ones
    with the same owner merged. Overlapping stints are refused (the catalog never stores them)."""
    if len(stints) == 1:  # most lines: one assignment, at most one segment
        span = stints[0].span().clip(period)
        return [(stints[0].owner, span)] if span is not None else []
    clipped = sorted(
        ((s.owner, span) for s in stints if (span := s.span().clip(period)) is not None),
        key=lambda x: x[1].start,
    )
    merged: list[tuple[tuple[str, str], Span]] = []
    for owner, span in clipped:
        if merged and merged[-1][1].end >= span.start:
            raise ValueError(f"assignments overlap on {span.start}")
        if (
            merged
            and merged[-1][0] == owner
            and merged[-1][1].end + timedelta(days=1) == span.start
        ):
            merged[-1] = (owner, Span(merged[-1][1].start, span.end))
        else:
            merged.append((owner, span))
    return merged


def uncovered(stints: list[Stint], period: Period) -> list[Span]:
    """The days of `period` no stint covers (their usage is unassigned)."""
    gaps, cursor = [], period.first_day
    for _, span in cut(stints, period):
        if span.start > cursor:
            gaps.append(Span(cursor, span.start - timedelta(days=1)))
        cursor = span.end + timedelta(days=1)
    if cursor <= period.last_day:
        gaps.append(Span(cursor, period.last_day))
    return gaps


@dataclass(frozen=True)
class Held:
    """One stored assignment of a service line (a row of `service_lines`)."""

    id: str
    org_id: str
    plan_id: str | None
    sub_pool_id: str | None
    active_from: date
    active_to: date | None

    def contains(self, day: date) -> bool:
        return self.active_from <= day and (self.active_to is None or day <= self.active_to)

    @property
    def terms(self) -> tuple[str, str | None, str | None]:
        return (self.org_id, self.plan_id, self.sub_pool_id)


class HistoryError(ValueError):
    """A change the history cannot take; `field` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def change(
    history: list[Held],
    effective_on: date,
    terms: tuple[str, str | None, str | None],
    new_id: str,
) -> list[Held]:
    """From `effective_on` on, the line is billed on `terms` (organization, plan or pool): the
    assignment active that day ends the day before (or takes the new terms whole, if it starts
    that day) and a new one runs to its old end; later assignments stay as they are."""
    ordered = sorted(history, key=lambda h: h.active_from)
    if not ordered or effective_on < ordered[0].active_from:
        first = ordered[0].active_from if ordered else effective_on
        raise HistoryError("effective_on", f"is before the line's start ({first})")
    current = next((h for h in ordered if h.contains(effective_on)), None)
    if current is None:
        raise HistoryError(
            "effective_on", "the line is not active that day: reopen it first (active_to null)"
        )
    if current.terms == terms:
        return ordered
    if current.active_from == effective_on:
        replaced = Held(current.id, *terms, current.active_from, current.active_to)
        return [replaced if h is current else h for h in ordered]
    ended = Held(current.id, *current.terms, current.active_from, effective_on - timedelta(days=1))
    started = Held(new_id, *terms, effective_on, current.active_to)
    return sorted(
        [ended if h is current else h for h in ordered] + [started], key=lambda h: h.active_from
    )


def end(history: list[Held], active_to: date | None) -> list[Held]:
    """End the line on `active_to` (inclusive; assignments after it go), or reopen its last
    assignment (None)."""
    ordered = sorted(history, key=lambda h: h.active_from)
    if not ordered:
        return ordered
    if active_to is None:
        last = ordered[-1]
        return [*ordered[:-1], Held(last.id, *last.terms, last.active_from, None)]
    if active_to < ordered[0].active_from:
        raise HistoryError("active_to", f"is before the line's start ({ordered[0].active_from})")
    kept = []
    for h in ordered:
        if h.active_from > active_to:
            continue
        if h.active_to is None or h.active_to > active_to:
            h = Held(h.id, *h.terms, h.active_from, active_to)
        kept.append(h)
    return kept
