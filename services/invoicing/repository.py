"""SQL of the invoicing service (schema `invoicing`)."""

from __future__ import annotations

from datetime import date

import asyncpg

from services.invoicing.usage import MonthDelta

ADD_TO_MONTHS = """
INSERT INTO line_month_usage AS m (service_line_number, month, priority_gb, opt_in_priority_gb,
                                   standard_gb, non_billable_gb, days_with_usage, first_day,
                                   last_day)
SELECT * FROM unnest($1::text[], $2::date[], $3::numeric[], $4::numeric[], $5::numeric[],
                     $6::numeric[], $7::int[], $8::date[], $9::date[])
ON CONFLICT (service_line_number, month) DO UPDATE SET
    priority_gb = m.priority_gb + excluded.priority_gb,
    opt_in_priority_gb = m.opt_in_priority_gb + excluded.opt_in_priority_gb,
    standard_gb = m.standard_gb + excluded.standard_gb,
    non_billable_gb = m.non_billable_gb + excluded.non_billable_gb,
    days_with_usage = m.days_with_usage + excluded.days_with_usage,
    first_day = least(m.first_day, excluded.first_day),
    last_day = greatest(m.last_day, excluded.last_day)
"""


async def add_to_months(
    conn: asyncpg.Connection, deltas: dict[tuple[str, date], MonthDelta]
) -> None:
    if not deltas:
        return
    keys = list(deltas)
    values = [deltas[k] for k in keys]
    await conn.execute(
        ADD_TO_MONTHS,
        [k[0] for k in keys],
        [k[1] for k in keys],
        *[[v.figures[i] for v in values] for i in range(4)],
        [v.new_days for v in values],
        [v.first_day for v in values],
        [v.last_day for v in values],
    )


async def month_usage(
    conn: asyncpg.Connection, service_line_number: str, month: date
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT days_with_usage AS days, priority_gb, opt_in_priority_gb, standard_gb,"
        " non_billable_gb FROM line_month_usage WHERE service_line_number = $1 AND month = $2",
        service_line_number,
        month,
    )
    return row


async def unassigned_usage(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Service lines with usage that the catalog does not know, most recent usage first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT u.service_line_number, min(u.first_day) AS first_day,"
        " max(u.last_day) AS last_day, sum(u.days_with_usage) AS days,"
        " sum(u.priority_gb) AS priority_gb"
        " FROM line_month_usage u"
        " WHERE u.days_with_usage > 0 AND NOT EXISTS (SELECT 1 FROM service_lines s"
        "       WHERE s.service_line_number = u.service_line_number)"
        " GROUP BY u.service_line_number ORDER BY max(u.last_day) DESC, u.service_line_number"
        " LIMIT $1",
        limit,
    )
    return rows
