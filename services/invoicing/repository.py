"""SQL of the invoicing service (schema `invoicing`)."""

from __future__ import annotations

from datetime import date

import asyncpg

from shared.events.usage import LineDailyUsage, UsageRecorded

# A day announced again with older figures (a replayed or reordered event) changes nothing.
STORE_DAYS = """
INSERT INTO line_daily_usage AS u (service_line_number, day, priority_gb, opt_in_priority_gb,
                                   standard_gb, non_billable_gb, observed_at)
SELECT * FROM unnest($1::text[], $2::date[], $3::numeric[], $4::numeric[], $5::numeric[],
                     $6::numeric[], $7::timestamptz[])
ON CONFLICT (service_line_number, day) DO UPDATE SET
    priority_gb = excluded.priority_gb, opt_in_priority_gb = excluded.opt_in_priority_gb,
    standard_gb = excluded.standard_gb, non_billable_gb = excluded.non_billable_gb,
    observed_at = excluded.observed_at
WHERE (excluded.observed_at, excluded.priority_gb, excluded.opt_in_priority_gb,
       excluded.standard_gb, excluded.non_billable_gb)
    > (u.observed_at, u.priority_gb, u.opt_in_priority_gb, u.standard_gb, u.non_billable_gb)
"""


async def store_usage(conn: asyncpg.Connection, events: list[UsageRecorded]) -> None:
    latest: dict[tuple[str, date], LineDailyUsage] = {}
    for event in events:
        for d in event.days:
            key = (d.service_line_number, d.date)
            held = latest.get(key)
            if held is None or _precedence(d) > _precedence(held):
                latest[key] = d
    if latest:
        days = list(latest.values())
        await conn.execute(
            STORE_DAYS,
            [d.service_line_number for d in days],
            [d.date for d in days],
            [d.priority_gb for d in days],
            [d.opt_in_priority_gb for d in days],
            [d.standard_gb for d in days],
            [d.non_billable_gb for d in days],
            [d.observed_at for d in days],
        )


def _precedence(d: LineDailyUsage) -> tuple[object, ...]:
    return (d.observed_at, d.priority_gb, d.opt_in_priority_gb, d.standard_gb, d.non_billable_gb)


async def month_usage(
    conn: asyncpg.Connection, service_line_number: str, start: date, end: date
) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT count(*) AS days, coalesce(sum(priority_gb), 0) AS priority_gb,"
        " coalesce(sum(opt_in_priority_gb), 0) AS opt_in_priority_gb,"
        " coalesce(sum(standard_gb), 0) AS standard_gb,"
        " coalesce(sum(non_billable_gb), 0) AS non_billable_gb"
        " FROM line_daily_usage WHERE service_line_number = $1 AND day >= $2 AND day < $3",
        service_line_number,
        start,
        end,
    )


async def unassigned_usage(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Service lines with usage that the catalog does not know, most recent usage first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT u.service_line_number, min(u.day) AS first_day, max(u.day) AS last_day,"
        " count(*) AS days, sum(u.priority_gb) AS priority_gb"
        " FROM line_daily_usage u"
        " WHERE NOT EXISTS (SELECT 1 FROM service_lines s"
        "                   WHERE s.service_line_number = u.service_line_number)"
        " GROUP BY u.service_line_number ORDER BY max(u.day) DESC, u.service_line_number"
        " LIMIT $1",
        limit,
    )
    return rows
