"""A line's or a sub-pool's consumption of a period, read from the invoicing service's own copy
of daily usage (`line_daily_usage`, kept current from `usage.recorded`) with a few indexed
queries, never a scan; the rules are in `watching` (pure).

- A line: its allowance is the sum over its plan segments of the plan's allowance (the price
  version in force for the period) * segment days / days in the month; `used` is its priority
  GB on those days (opt-in is part of it). Days in a sub-pool or without an assignment count
  in the pool or nowhere.
- A sub-pool: its allowance (the version in force); `used` is its members' priority GB on the
  days each was a member.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import asyncpg

from services.invoicing import catalog
from services.invoicing.repository import DAYS_GB
from services.invoicing.timeline import Period, Span
from services.invoicing.watching import (
    daily_mean,
    days_of,
    forecast,
    gb,
    needs_previous,
    percent_used,
    prorated,
    remaining,
)
from shared.errors import NotFound
from shared.internal_auth import Caller
from shared.money import format_gb

# The line's assignments with each plan's allowance in force for the period ($2: its first day).
LINE_ASSIGNMENTS = """
SELECT sl.org_id, sl.plan_id, sl.sub_pool_id, sl.active_from, sl.active_to, sl.name,
       coalesce(v.allowance_gb, p.allowance_gb) AS allowance_gb
FROM service_lines sl
LEFT JOIN plans p ON p.id = sl.plan_id
LEFT JOIN LATERAL (
    SELECT allowance_gb FROM plan_versions pv
    WHERE pv.plan_id = sl.plan_id AND pv.effective_from <= $2
    ORDER BY pv.effective_from DESC LIMIT 1) v ON true
WHERE sl.service_line_number = $1
ORDER BY sl.active_from
"""

LINE_DAYS = """
SELECT mu.month + x.n - 1 AS day, x.gb AS priority_gb FROM line_month_usage mu
CROSS JOIN LATERAL unnest(mu.day_numbers, mu.day_priority_gb) AS x(n, gb)
WHERE mu.service_line_number = $1 AND mu.month BETWEEN date_trunc('month', $2::date) AND $3
  AND mu.month + x.n - 1 BETWEEN $2 AND $3
"""

POOL = """
SELECT p.id, p.org_id, p.name, coalesce(v.allowance_gb, p.allowance_gb) AS allowance_gb
FROM sub_pools p
LEFT JOIN LATERAL (
    SELECT allowance_gb FROM sub_pool_versions pv
    WHERE pv.sub_pool_id = p.id AND pv.effective_from <= $2
    ORDER BY pv.effective_from DESC LIMIT 1) v ON true
WHERE p.id = $1
"""

# The pool's member assignments overlapping the period (index service_lines_sub_pool).
POOL_MEMBERS = """
SELECT service_line_number, name, active_from, active_to FROM service_lines
WHERE sub_pool_id = $1 AND active_from <= $3 AND (active_to IS NULL OR active_to >= $2)
ORDER BY service_line_number, active_from
"""

# Each member's GB on its member days of the period, and the pool's GB per day: one month row
# per member (`line_month_usage` keeps the month's days as arrays), its days cut to the
# member's days; $2 is the period's first day, $3 its last.
POOL_USAGE = """
WITH m AS (
    SELECT service_line_number AS line,
           extract(day FROM greatest(active_from, $2::date))::smallint AS s,
           extract(day FROM least(coalesce(active_to, $3::date), $3::date))::smallint AS e
    FROM service_lines
    WHERE sub_pool_id = $1 AND active_from <= $3 AND (active_to IS NULL OR active_to >= $2)
)
SELECT m.line, u.n, GROUPING(m.line) AS per_day, sum(u.gb) AS gb
FROM m
JOIN line_month_usage mu ON mu.service_line_number = m.line AND mu.month = $2
CROSS JOIN LATERAL unnest(mu.day_numbers, mu.day_priority_gb) AS u(n, gb)
WHERE u.n BETWEEN m.s AND m.e
GROUP BY GROUPING SETS ((m.line), (u.n))
"""

# The pool's GB in a month (for the previous month's daily mean): a member there all month
# is its monthly sum (one row), another the sum of its member days.
POOL_MONTH_GB = f"""
SELECT coalesce(sum(CASE
    WHEN greatest(active_from, $2::date) = $2 AND least(coalesce(active_to, $3::date), $3) = $3
    THEN coalesce((SELECT mu.priority_gb FROM line_month_usage mu
                   WHERE mu.service_line_number = sl.service_line_number AND mu.month = $2), 0)
    ELSE {
    DAYS_GB.format(
        line="sl.service_line_number",
        month="$2",
        first="greatest(sl.active_from, $2)",
        last="least(coalesce(sl.active_to, $3), $3)",
    )
}
    END), 0) AS gb, count(*) AS members
FROM service_lines sl
WHERE sl.sub_pool_id = $1 AND sl.active_from <= $3 AND (sl.active_to IS NULL OR sl.active_to >= $2)
"""


@dataclass
class Consumption:
    """What a subject used of its allowance in a period, with what the forecast needs."""

    period: Period
    allowance: Fraction
    daily: dict[date, Decimal]
    """Priority GB per counted day with usage (plan days of a line; member days of a pool)."""
    active: list[date]
    """The days of the period the subject counts."""
    previous_mean: Fraction | None
    org_id: str | None
    name: str
    members: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def used(self) -> Decimal:
        return sum(self.daily.values(), Decimal(0))

    def forecast(self, as_of: date) -> Decimal:
        return forecast(self.period, self.daily, self.active, self.previous_mean, as_of)

    def as_api(self, as_of: date) -> dict[str, Any]:
        used = self.used
        percent = percent_used(used, self.allowance)
        shown = {
            "period": str(self.period),
            "as_of": as_of.isoformat(),
            "allowance_gb": format_gb(gb(self.allowance)),
            "used_gb": format_gb(used),
            "remaining_gb": format_gb(remaining(used, self.allowance)),
            "percent_used": None if percent is None else str(percent),
            "forecast_gb": format_gb(self.forecast(as_of)),
            "days": [
                {"date": d.isoformat(), "priority_gb": format_gb(self.daily[d])}
                for d in sorted(self.daily)
            ],
        }
        if self.members is not None:
            shown["members"] = self.members
        return {**self.extra, **shown}


def _span(row: Any) -> Span:
    return Span(row["active_from"], row["active_to"] or date.max)


async def line(conn: asyncpg.Connection, number: str, period: Period) -> Consumption:
    """A line's consumption; a line the catalog does not know has no allowance and no days."""
    previous = period.previous()
    rows = await conn.fetch(LINE_ASSIGNMENTS, number, period.first_day)
    plan_rows = [r for r in rows if r["plan_id"] is not None]
    segments = [(r, s) for r in plan_rows if (s := _span(r).clip(period)) is not None]
    active = days_of(s for _, s in segments)
    before = days_of(s for r in plan_rows if (s := _span(r).clip(previous)) is not None)
    daily: dict[date, Decimal] = {}
    counted, before_set = set(active), set(before)
    earlier: dict[date, Decimal] = {}
    if active or before:
        for r in await conn.fetch(LINE_DAYS, number, previous.first_day, period.last_day):
            if r["day"] in counted and r["priority_gb"]:
                daily[r["day"]] = r["priority_gb"]
            elif r["day"] in before_set:
                earlier[r["day"]] = r["priority_gb"]
    latest = (segments[-1][0] if segments else rows[-1]) if rows else None
    return Consumption(
        period=period,
        allowance=prorated(((r["allowance_gb"], s.days) for r, s in segments), period),
        daily=daily,
        active=active,
        previous_mean=daily_mean(earlier, before),
        org_id=latest["org_id"] if latest else None,
        name=latest["name"] if latest else number,
    )


async def pool(
    conn: asyncpg.Connection, pool_id: str, period: Period, as_of: date | None = None
) -> Consumption:
    """A sub-pool's consumption with each member's share; NotFound for an unknown pool. With
    `as_of`, the previous month is read only if the forecast on that day needs it."""
    found = await conn.fetchrow(POOL, pool_id, period.first_day)
    if found is None:
        raise NotFound(f"no sub-pool {pool_id}")
    members = await conn.fetch(POOL_MEMBERS, pool_id, period.first_day, period.last_day)
    rows = await conn.fetch(POOL_USAGE, pool_id, period.first_day, period.last_day)
    daily: dict[date, Decimal] = {}
    shares: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["per_day"]:
            if r["gb"]:
                daily[period.first_day.replace(day=r["n"])] = r["gb"]
        else:
            shares[r["line"]] += r["gb"]
    names = {m["service_line_number"]: m["name"] for m in members}
    active = days_of([Span(period.first_day, period.last_day)])
    return Consumption(
        period=period,
        allowance=Fraction(found["allowance_gb"]),
        daily=daily,
        active=active,
        previous_mean=await _pool_previous_mean(conn, pool_id, period, active, as_of),
        org_id=found["org_id"],
        name=found["name"],
        members=[
            {"service_line_number": n, "name": names[n], "used_gb": format_gb(shares[n])}
            for n in sorted(names)
        ],
        extra={"sub_pool_id": pool_id, "name": found["name"], "org_id": found["org_id"]},
    )


async def _pool_previous_mean(
    conn: asyncpg.Connection, pool_id: str, period: Period, active: list[date], as_of: date | None
) -> Fraction | None:
    """The pool's daily mean of the month before; read only when the forecast needs it (fewer
    than 7 settled days in the period)."""
    if as_of is not None and not needs_previous(period, active, as_of):
        return None
    previous = period.previous()
    row = await conn.fetchrow(POOL_MONTH_GB, pool_id, previous.first_day, previous.last_day)
    if row is None or not row["members"]:
        return None
    return Fraction(row["gb"]) / previous.days


async def within(conn: asyncpg.Connection, caller: Caller, org_id: str | None, what: str) -> None:
    """An org_user reads only its own tree: anything else (or unknown) is a 404."""
    scope = caller.org_scope
    if scope and (org_id is None or org_id not in await catalog.org_tree(conn, scope)):
        raise NotFound(f"no {what}")
