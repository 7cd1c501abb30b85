"""SQL of the invoicing service (schema `invoicing`)."""

from __future__ import annotations

from datetime import date

import asyncpg

from shared.events.usage import LineDailyUsage

# The differences are summed per (service line, month) by PostgreSQL, from the days' decimal
# text: new figures minus the ones they replace (none for a day not known before).
ADD_DAYS_TO_MONTHS = """
INSERT INTO line_month_usage AS m (service_line_number, month, priority_gb, opt_in_priority_gb,
                                   standard_gb, non_billable_gb, days_with_usage, first_day,
                                   last_day)
SELECT line, date_trunc('month', day)::date,
       sum(p::numeric - coalesce(pp::numeric, 0)), sum(o::numeric - coalesce(po::numeric, 0)),
       sum(s::numeric - coalesce(ps::numeric, 0)), sum(n::numeric - coalesce(pn::numeric, 0)),
       count(*) FILTER (WHERE pp IS NULL), min(day), max(day)
FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::text[])
     AS t(line, day, p, o, s, n, pp, po, ps, pn)
GROUP BY 1, 2
ON CONFLICT (service_line_number, month) DO UPDATE SET
    priority_gb = m.priority_gb + excluded.priority_gb,
    opt_in_priority_gb = m.opt_in_priority_gb + excluded.opt_in_priority_gb,
    standard_gb = m.standard_gb + excluded.standard_gb,
    non_billable_gb = m.non_billable_gb + excluded.non_billable_gb,
    days_with_usage = m.days_with_usage + excluded.days_with_usage,
    first_day = least(m.first_day, excluded.first_day),
    last_day = greatest(m.last_day, excluded.last_day)
"""


async def add_days_to_months(conn: asyncpg.Connection, days: list[LineDailyUsage]) -> None:
    """Move each service line's monthly sums by what these days changed."""
    if not days:
        return
    columns = (
        "service_line_number",
        "date",
        "priority_gb",
        "opt_in_priority_gb",
        "standard_gb",
        "non_billable_gb",
        "previous_priority_gb",
        "previous_opt_in_priority_gb",
        "previous_standard_gb",
        "previous_non_billable_gb",
    )
    await conn.execute(ADD_DAYS_TO_MONTHS, *[[getattr(d, c) for d in days] for c in columns])


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
