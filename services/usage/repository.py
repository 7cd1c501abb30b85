"""SQL of the usage service (schema `usage`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from services.usage.domain import DaySnapshot

# One round trip: upsert where the incoming snapshot takes precedence (same order as
# `shared.events.usage.day_precedence`), and return every row written, in the form
# `usage.recorded` carries. Written rows are announced whether or not their figures moved:
# comparing with the row before would read a snapshot that a concurrent consumer of another
# partition may have changed meanwhile (a feed may spread a line over partitions), and a
# state-copying consumer takes a repeat as a no-op. Rows are inserted in key order, so two
# consumers writing the same days lock them in the same order and never deadlock.
UPSERT_DAYS = (
    """
INSERT INTO daily_usage AS d (service_line_number, day, priority_gb, opt_in_priority_gb,
                              standard_gb, non_billable_gb, observed_at)
SELECT line, day, p::numeric, o::numeric, s::numeric, n::numeric, observed_at
FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[]) AS t(line, day, p, o, s, n, observed_at)
ORDER BY line, day
ON CONFLICT (service_line_number, day) DO UPDATE SET
    priority_gb = excluded.priority_gb,
    opt_in_priority_gb = excluded.opt_in_priority_gb,
    standard_gb = excluded.standard_gb,
    non_billable_gb = excluded.non_billable_gb,
    observed_at = excluded.observed_at,
    updated_at = now()
WHERE (excluded.observed_at, excluded.priority_gb, excluded.opt_in_priority_gb,
       excluded.standard_gb, excluded.non_billable_gb)
    > (d.observed_at, d.priority_gb, d.opt_in_priority_gb, d.standard_gb, d.non_billable_gb)
RETURNING """
    + "{columns}"
    + """
"""
)

DAY_COLUMNS = """service_line_number, day::text AS date,
       trim_scale(priority_gb)::text AS priority_gb,
       trim_scale(opt_in_priority_gb)::text AS opt_in_priority_gb,
       trim_scale(standard_gb)::text AS standard_gb,
       trim_scale(non_billable_gb)::text AS non_billable_gb,
       to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS observed_at"""
"""A stored day as `usage.recorded` carries it: decimal text without padding, UTC instants."""

UPSERT_DAYS = UPSERT_DAYS.replace("{columns}", DAY_COLUMNS)


async def upsert_days(
    conn: asyncpg.Connection, snapshots: Sequence[DaySnapshot]
) -> list[asyncpg.Record]:
    """Store the snapshots (at most one per key); returns the days written (those whose
    snapshot won), as `LineDailyUsage` fields in JSON form."""
    if not snapshots:
        return []
    rows: list[asyncpg.Record] = await conn.fetch(
        UPSERT_DAYS,
        [s.service_line_number for s in snapshots],
        [s.date for s in snapshots],
        [s.priority_gb for s in snapshots],
        [s.opt_in_priority_gb for s in snapshots],
        [s.standard_gb for s in snapshots],
        [s.non_billable_gb for s in snapshots],
        [s.observed_at for s in snapshots],
    )
    return rows


async def daily_rows(
    conn: asyncpg.Connection, service_line_number: str, start: date, end: date
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT day, priority_gb, opt_in_priority_gb, standard_gb, non_billable_gb, observed_at"
        " FROM daily_usage WHERE service_line_number = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
        service_line_number,
        start,
        end,
    )
    return rows


async def days_from(
    conn: asyncpg.Connection, first_day: date, after: tuple[str, date] | None, limit: int
) -> list[asyncpg.Record]:
    """Stored days from `first_day` on, in (line, day) order after the key `after`: one page
    of a resync."""
    line, day = after if after else ("", date.min)
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {DAY_COLUMNS} FROM daily_usage"
        " WHERE day >= $1 AND (service_line_number, day) > ($2, $3)"
        " ORDER BY service_line_number, day LIMIT $4",
        first_day,
        line,
        day,
        limit,
    )
    return rows


async def month_figures(conn: asyncpg.Connection, first_day: date) -> list[asyncpg.Record]:
    """Each line's sums per month from `first_day` on: the source the invoicing service's copy
    is checked against."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT service_line_number, date_trunc('month', day)::date AS month,"
        " count(*)::int AS days, sum(priority_gb) AS priority_gb,"
        " sum(opt_in_priority_gb) AS opt_in_priority_gb, sum(standard_gb) AS standard_gb,"
        " sum(non_billable_gb) AS non_billable_gb"
        " FROM daily_usage WHERE day >= $1 GROUP BY 1, 2 ORDER BY 1, 2",
        first_day,
    )
    return rows
