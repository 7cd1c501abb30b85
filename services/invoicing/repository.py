"""SQL of the invoicing service (schema `invoicing`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

import asyncpg

from shared.db.text import storable
from shared.events.usage_wire import Day, as_json, text_columns

# Two services touching the same line at once is rare (a line's events share a partition), but
# a rebalance or a resync can do it: each transaction locks its lines first, in one order, so
# the monthly sums below always read every committed day of the month they rebuild.
LOCK_LINES = """
SELECT pg_advisory_xact_lock(1201, k)
FROM (SELECT DISTINCT hashtext(line) AS k FROM unnest(string_to_array($1, ',')) AS t(line)) keys
ORDER BY k
"""

# Latest wins, by the usage service's rule (`shared.events.usage.day_precedence`): the newest
# observed_at, equal instants ordered by the figures; a tie keeps the stored day. The days live
# in rows per (line, month) as arrays (migration 0024): each month the message touches is
# merged (its stored days unnested beside the incoming ones, the best of each day kept) and
# written once, its sums rebuilt from the merged days: a copy of state, whatever the sums held
# before (so a resync also repairs them). Every aggregate of a group reads the same rows in the
# same order, so the arrays stay aligned day by day. Answers the (line, month) pairs whose
# priority GB rose: only those can have crossed an alert threshold. `touched` reads the rows as
# they were when the statement began (every part of a statement sees the same snapshot).
APPLY_DAYS = """
WITH incoming AS (
    SELECT line, day, date_trunc('month', day)::date AS month, p::numeric(20,9) AS p,
           o::numeric(20,9) AS o, s::numeric(20,9) AS s, n::numeric(20,9) AS n, at
    FROM unnest(string_to_array($1, ','), string_to_array($2, ',')::date[],
                string_to_array($3, ','), string_to_array($4, ','), string_to_array($5, ','),
                string_to_array($6, ','), string_to_array($7, ',')::timestamptz[])
        AS t(line, day, p, o, s, n, at)
), touched AS (
    SELECT t.line, t.month, m.priority_gb AS before_gb, m.day_numbers, m.day_priority_gb,
           d.day_opt_in_priority_gb, d.day_standard_gb, d.day_non_billable_gb, d.day_observed_at
    FROM (SELECT DISTINCT line, month FROM incoming) t
    LEFT JOIN line_month_usage m ON m.service_line_number = t.line AND m.month = t.month
    LEFT JOIN line_month_days d ON d.service_line_number = t.line AND d.month = t.month
), best AS (
    SELECT DISTINCT ON (line, day) line, day, month, p, o, s, n, at, fresh
    FROM (SELECT line, day, month, p, o, s, n, at, true AS fresh FROM incoming
          UNION ALL
          SELECT t.line, t.month + x.d - 1, t.month, x.p, x.o, x.s, x.n, x.at, false
          FROM touched t
          CROSS JOIN LATERAL unnest(t.day_numbers, t.day_priority_gb, t.day_opt_in_priority_gb,
                                    t.day_standard_gb, t.day_non_billable_gb,
                                    t.day_observed_at) AS x(d, p, o, s, n, at)
          WHERE t.day_numbers IS NOT NULL AND t.day_observed_at IS NOT NULL) u
    ORDER BY line, day, at DESC, p DESC, o DESC, s DESC, n DESC, fresh
), merged AS (
    SELECT line, month, sum(p) AS p, sum(o) AS o, sum(s) AS s, sum(n) AS n, count(*) AS days,
           min(day) AS first_day, max(day) AS last_day,
           array_agg(extract(day FROM day)::smallint) AS day_numbers, array_agg(p) AS ps,
           array_agg(o) AS os, array_agg(s) AS ss, array_agg(n) AS ns, array_agg(at) AS ats
    FROM best GROUP BY line, month
), days_written AS (
INSERT INTO line_month_days AS d (service_line_number, month, day_opt_in_priority_gb,
                                  day_standard_gb, day_non_billable_gb, day_observed_at)
SELECT line, month, os, ss, ns, ats FROM merged
ON CONFLICT (service_line_number, month) DO UPDATE SET
    day_opt_in_priority_gb = excluded.day_opt_in_priority_gb,
    day_standard_gb = excluded.day_standard_gb,
    day_non_billable_gb = excluded.day_non_billable_gb,
    day_observed_at = excluded.day_observed_at
), sums_written AS (
INSERT INTO line_month_usage AS m (service_line_number, month, priority_gb, opt_in_priority_gb,
                                   standard_gb, non_billable_gb, days_with_usage, first_day,
                                   last_day, day_numbers, day_priority_gb)
SELECT line, month, p, o, s, n, days, first_day, last_day, day_numbers, ps FROM merged
ON CONFLICT (service_line_number, month) DO UPDATE SET
    priority_gb = excluded.priority_gb,
    opt_in_priority_gb = excluded.opt_in_priority_gb,
    standard_gb = excluded.standard_gb,
    non_billable_gb = excluded.non_billable_gb,
    days_with_usage = excluded.days_with_usage,
    first_day = excluded.first_day,
    last_day = excluded.last_day,
    day_numbers = excluded.day_numbers,
    day_priority_gb = excluded.day_priority_gb
RETURNING m.service_line_number, m.month, m.priority_gb
), marked AS (
-- Late usage: a day of a month whose overage was already invoiced (the next month has had a
-- billing run) marks the organizations billed for it, so the next invoice corrects it. Only
-- days this message changed (its own snapshot won) count.
INSERT INTO correction_marks (org_id, period)
SELECT DISTINCT coalesce(sp.org_id, sl.org_id), r.period
FROM best w
JOIN (SELECT DISTINCT period FROM billing_runs) r
  ON r.period = to_char(w.day + interval '1 month', 'YYYY-MM')
JOIN service_lines sl ON sl.service_line_number = w.line
                     AND w.day >= sl.active_from AND (sl.active_to IS NULL OR w.day <= sl.active_to)
LEFT JOIN sub_pools sp ON sp.id = sl.sub_pool_id
WHERE w.fresh
ON CONFLICT (org_id, period) DO UPDATE SET marked_at = now()
)
SELECT r.service_line_number, r.month
FROM sums_written r JOIN touched t ON t.line = r.service_line_number AND t.month = r.month
WHERE r.priority_gb > coalesce(t.before_gb, 0)
"""

# A line's priority GB on the days `first`..`last` of one month: its month row's days (one index
# read, an array unnested), a template filled with the caller's SQL expressions.
DAYS_GB = """(SELECT coalesce(sum(x.gb), 0) FROM line_month_usage mu
  CROSS JOIN LATERAL unnest(mu.day_numbers, mu.day_priority_gb) AS x(n, gb)
  WHERE mu.service_line_number = {line} AND mu.month = {month}
    AND x.n BETWEEN extract(day FROM {first}) AND extract(day FROM {last}))"""

# A failure is resolved once every day it held is stored with a snapshot at least as new.
RESOLVE_FAILURES = """
UPDATE usage_apply_failures f SET resolved_at = now(), resolution = 'applied'
WHERE f.resolved_at IS NULL AND f.service_line_number = ANY($1::text[])
  AND NOT EXISTS (
      SELECT 1 FROM jsonb_to_recordset(f.days) AS x(date date, observed_at timestamptz)
      LEFT JOIN line_daily_usage d ON d.service_line_number = f.service_line_number
                                  AND d.month = date_trunc('month', x.date)::date
                                  AND d.day = x.date
      WHERE d.observed_at IS NULL OR d.observed_at < x.observed_at)
"""


async def apply_days(conn: asyncpg.Connection, days: Sequence[Day]) -> list[tuple[str, date]]:
    """Copy these days (latest wins) and rebuild the months they fall in; in the caller's
    transaction. Answers the (line, month) pairs whose priority GB rose."""
    if not days:
        return []
    return await apply_columns(conn, text_columns(days))


async def apply_columns(conn: asyncpg.Connection, columns: list[str]) -> list[tuple[str, date]]:
    """`apply_days` for days already as the seven texts of `text_columns`."""
    await conn.execute(LOCK_LINES, columns[0])
    rose = await conn.fetch(APPLY_DAYS, *columns)
    await conn.execute(RESOLVE_FAILURES, sorted(set(columns[0].split(","))))
    return [(r["service_line_number"], r["month"]) for r in rose]


async def record_failure(
    conn: asyncpg.Connection,
    source: tuple[int, int],
    service_line_number: str,
    days: Sequence[Day],
    reason: str,
    event_id: UUID | None,
) -> bool:
    """Keep a line not applied; False if this message's failure of the line is already kept
    (the message came again after a transient error)."""
    kept = await conn.fetchval(
        "INSERT INTO usage_apply_failures (source_partition, source_offset,"
        " service_line_number, days, reason, event_id) VALUES ($1, $2, $3, $4::jsonb, $5, $6)"
        " ON CONFLICT DO NOTHING RETURNING id",
        source[0],
        source[1],
        storable(service_line_number),
        as_json(days).decode(),
        storable(reason[:2000]),
        event_id,
    )
    return kept is not None


async def open_failures(conn: asyncpg.Connection, limit: int = 1000) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, service_line_number, jsonb_array_length(days) AS days, reason, event_id,"
        " failed_at FROM usage_apply_failures WHERE resolved_at IS NULL ORDER BY id LIMIT $1",
        limit,
    )
    return rows


async def dismiss_failure(conn: asyncpg.Connection, failure_id: int, by: str, reason: str) -> bool:
    """Close an open failure an operator confirmed holds nothing to bill; False if none."""
    closed = await conn.fetchval(
        "UPDATE usage_apply_failures SET resolved_at = now(), resolution = $2"
        " WHERE id = $1 AND resolved_at IS NULL RETURNING id",
        failure_id,
        f"dismissed by {by}: {reason}"[:2000],
    )
    return closed is not None


async def count_open_failures(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM usage_apply_failures WHERE resolved_at IS NULL"
    )
    return count


async def month_figures(conn: asyncpg.Connection, first_day: date) -> list[asyncpg.Record]:
    """Each line's monthly sums from `first_day` on, as the usage service reports its own."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT service_line_number, month, days_with_usage AS days, priority_gb,"
        " opt_in_priority_gb, standard_gb, non_billable_gb FROM line_month_usage"
        " WHERE month >= $1 ORDER BY 1, 2",
        first_day,
    )
    return rows


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
    """Service lines with usage on days no assignment covers (lines the catalog does not know,
    or days before, between or after their assignments): kept, never billed. Most recent
    first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT d.service_line_number, min(d.day) AS first_day, max(d.day) AS last_day,"
        " count(*) AS days, sum(d.priority_gb) AS priority_gb"
        " FROM line_daily_usage d"
        " WHERE NOT EXISTS (SELECT 1 FROM service_lines s"
        "   WHERE s.service_line_number = d.service_line_number AND d.day >= s.active_from"
        "   AND (s.active_to IS NULL OR d.day <= s.active_to))"
        " GROUP BY d.service_line_number ORDER BY max(d.day) DESC, d.service_line_number"
        " LIMIT $1",
        limit,
    )
    return rows
