"""SQL of the invoicing service (schema `invoicing`)."""

from __future__ import annotations

from datetime import date

import asyncpg

from shared.events.usage import UsageRecorded

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
    latest: dict[tuple[str, date], tuple[object, ...]] = {}
    for event in events:
        for d in event.days:
            row = (
                event.service_line_number,
                d.date,
                d.priority_gb,
                d.opt_in_priority_gb,
                d.standard_gb,
                d.non_billable_gb,
                d.observed_at,
            )
            key = (event.service_line_number, d.date)
            if key not in latest or (row[6], *row[2:6]) > (latest[key][6], *latest[key][2:6]):
                latest[key] = row
    if latest:
        columns = list(zip(*latest.values(), strict=True))
        await conn.execute(STORE_DAYS, *[list(c) for c in columns])


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
