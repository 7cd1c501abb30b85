"""SQL of the usage service (schema `usage`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from services.usage.domain import DaySnapshot

# One round trip: upsert where the incoming snapshot takes precedence (same order as
# domain.Snapshot.precedence), and return the stored rows whose figures changed. The outer
# SELECT reads `daily_usage` as it was before the INSERT (every part of a WITH statement sees
# the same snapshot), which is how the previous figures are compared.
UPSERT_DAYS = """
WITH incoming AS (
    SELECT line, day, p::numeric, o::numeric, s::numeric, n::numeric, observed_at
    FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::timestamptz[]) AS t(line, day, p, o, s, n, observed_at)
), stored AS (
    INSERT INTO daily_usage AS d (service_line_number, day, priority_gb, opt_in_priority_gb,
                                  standard_gb, non_billable_gb, observed_at)
    SELECT * FROM incoming
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
    RETURNING d.*
)
SELECT s.service_line_number, s.day::text AS date,
       trim_scale(s.priority_gb)::text AS priority_gb,
       trim_scale(s.opt_in_priority_gb)::text AS opt_in_priority_gb,
       trim_scale(s.standard_gb)::text AS standard_gb,
       trim_scale(s.non_billable_gb)::text AS non_billable_gb,
       to_char(s.observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS observed_at,
       trim_scale(before.priority_gb)::text AS previous_priority_gb,
       trim_scale(before.opt_in_priority_gb)::text AS previous_opt_in_priority_gb,
       trim_scale(before.standard_gb)::text AS previous_standard_gb,
       trim_scale(before.non_billable_gb)::text AS previous_non_billable_gb
FROM stored s
LEFT JOIN daily_usage before
       ON before.service_line_number = s.service_line_number AND before.day = s.day
WHERE before.service_line_number IS NULL
   OR (before.priority_gb, before.opt_in_priority_gb, before.standard_gb, before.non_billable_gb)
      IS DISTINCT FROM (s.priority_gb, s.opt_in_priority_gb, s.standard_gb, s.non_billable_gb)
"""


async def upsert_days(
    conn: asyncpg.Connection, snapshots: Sequence[DaySnapshot]
) -> list[asyncpg.Record]:
    """Store the snapshots (at most one per key); returns the days whose figures changed, as
    `LineDailyUsage` fields in JSON form (decimal text without padding zeros, UTC instants)."""
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
