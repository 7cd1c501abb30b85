"""Usage alerts: checked as usage arrives, in the transaction that copies it.

The usage copy tells which (line, month) pairs of a batch rose. Only those are looked at, in
two set-based queries (lines on a plan; the sub-pools their lines were members of), which
return the subjects that now reach a threshold of their organization with no alert yet: most
batches find none and cost two indexed lookups per pair. Each subject found is computed exactly
(`consumption`, the same figures the API shows), its thresholds reached are inserted into
`usage_alerts`, unique per (subject, period, threshold) with ON CONFLICT DO NOTHING, and each
row inserted stages one `usage.threshold_crossed` on `usage.alerts` through the outbox. So an
alert is made once even with replays, repeats and several replicas, and a revision that lowers
usage and a later rise in the same period alert no one again.

Sub-pools: two replicas may raise two members of one pool at once, each seeing the pool below
a threshold that the two together reach. The check of a pool therefore takes a lock on the
(pool, month) first; the second transaction waits for the first to commit, and its queries
(READ COMMITTED: each statement sees what is committed when it starts) then see both members.
Lines are already locked by the copy (`repository.LOCK_LINES`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import asyncpg

from services.invoicing import consumption
from services.invoicing.repository import DAYS_GB
from services.invoicing.timeline import Period
from services.invoicing.watching import crossed, gb, percent_used
from shared.db import outbox
from shared.events.alerts import UsageThresholdCrossed
from shared.events.topics import USAGE_ALERTS
from shared.money import format_gb

# Whether `used` (* days in the month) reaches t % of an allowance (* days in the month) for a
# threshold t of the organization not alerted yet: shared by both candidate queries.
UNALERTED_REACHED = """
EXISTS (SELECT 1 FROM unnest(o.usage_alert_thresholds) AS t(threshold)
        WHERE {allowance} > 0 AND {used} * 100 >= t.threshold * {allowance}
          AND NOT EXISTS (SELECT 1 FROM usage_alerts a
                          WHERE a.subject = '{subject}' AND a.subject_id = {subject_id}
                            AND a.period = to_char({month}, 'YYYY-MM')
                            AND a.threshold = t.threshold))
"""

# A segment's priority GB: the month's sum when the segment is the whole month (the common
# case, one row), else the sum of its days (the same row's arrays).
SEGMENT_GB = (
    """
CASE WHEN {s} = {month} AND {e} = {last}
     THEN coalesce((SELECT mu.priority_gb FROM line_month_usage mu
                    WHERE mu.service_line_number = {line} AND mu.month = {month}), 0)
     ELSE """
    + DAYS_GB.format(line="{line}", month="{month}", first="{s}", last="{e}")
    + " END"
)


def qualified(alias: str) -> dict[str, str]:
    """The segment's columns, qualified: inside the subqueries `month` would otherwise be
    line_month_usage's own column."""
    return {c: f"{alias}.{c}" for c in ("s", "e", "month", "last", "line")}


LINE_CANDIDATES = f"""
WITH rose AS (SELECT * FROM unnest($1::text[], $2::date[]) AS r(line, month)),
seg AS (
    SELECT r.line, r.month, x.last, sl.org_id, sl.active_from,
           greatest(sl.active_from, r.month) AS s,
           least(coalesce(sl.active_to, x.last), x.last) AS e,
           coalesce(v.allowance_gb, p.allowance_gb) AS allowance_gb
    FROM rose r
    CROSS JOIN LATERAL (SELECT (r.month + interval '1 month')::date - 1 AS last) x
    JOIN service_lines sl ON sl.service_line_number = r.line AND sl.plan_id IS NOT NULL
                         AND sl.active_from <= x.last
                         AND (sl.active_to IS NULL OR sl.active_to >= r.month)
    JOIN plans p ON p.id = sl.plan_id
    LEFT JOIN LATERAL (
        SELECT pv.allowance_gb FROM plan_versions pv
        WHERE pv.plan_id = sl.plan_id AND pv.effective_from <= r.month
        ORDER BY pv.effective_from DESC LIMIT 1) v ON true
),
use AS (
    SELECT line, month, max(last - month + 1) AS month_days,
           sum(allowance_gb * (e - s + 1)) AS allowance_days,
           sum({SEGMENT_GB.format(**qualified("seg"))}) AS used,
           (array_agg(org_id ORDER BY active_from DESC))[1] AS org_id
    FROM seg GROUP BY line, month
)
SELECT u.line AS subject_id, u.month
FROM use u JOIN organizations o ON o.id = u.org_id
WHERE {
    UNALERTED_REACHED.format(
        allowance="u.allowance_days",
        used="u.used * u.month_days",
        subject="service_line",
        subject_id="u.line",
        month="u.month",
    )
}
"""

POOLS_TOUCHED = """
SELECT DISTINCT sl.sub_pool_id AS pool_id, r.month
FROM unnest($1::text[], $2::date[]) AS r(line, month)
JOIN service_lines sl ON sl.service_line_number = r.line AND sl.sub_pool_id IS NOT NULL
                     AND sl.active_from < (r.month + interval '1 month')::date
                     AND (sl.active_to IS NULL OR sl.active_to >= r.month)
ORDER BY 1, 2
"""

LOCK_POOLS = """
SELECT pg_advisory_xact_lock(1202, k)
FROM (SELECT DISTINCT hashtext(p || ':' || m::text) AS k
      FROM unnest($1::text[], $2::date[]) AS t(p, m)) keys ORDER BY k
"""

POOL_CANDIDATES = f"""
WITH pm AS (SELECT * FROM unnest($1::text[], $2::date[]) AS x(pool_id, month)),
mem AS (
    SELECT pm.pool_id, pm.month, x.last, sl.service_line_number AS line,
           greatest(sl.active_from, pm.month) AS s,
           least(coalesce(sl.active_to, x.last), x.last) AS e
    FROM pm
    CROSS JOIN LATERAL (SELECT (pm.month + interval '1 month')::date - 1 AS last) x
    JOIN service_lines sl ON sl.sub_pool_id = pm.pool_id AND sl.active_from <= x.last
                         AND (sl.active_to IS NULL OR sl.active_to >= pm.month)
),
use AS (
    SELECT pool_id, month,
           sum({SEGMENT_GB.format(**qualified("mem"))}) AS used
    FROM mem GROUP BY pool_id, month
)
SELECT u.pool_id AS subject_id, u.month
FROM use u
JOIN sub_pools p ON p.id = u.pool_id
JOIN organizations o ON o.id = p.org_id
LEFT JOIN LATERAL (
    SELECT pv.allowance_gb FROM sub_pool_versions pv
    WHERE pv.sub_pool_id = p.id AND pv.effective_from <= u.month
    ORDER BY pv.effective_from DESC LIMIT 1) v ON true
WHERE {
    UNALERTED_REACHED.format(
        allowance="coalesce(v.allowance_gb, p.allowance_gb)",
        used="u.used",
        subject="sub_pool",
        subject_id="u.pool_id",
        month="u.month",
    )
}
"""

INSERT_ALERTS = """
INSERT INTO usage_alerts (subject, subject_id, period, threshold, org_id, subject_name,
                          allowance_gb, used_gb, percent_used, forecast_gb, recipients)
SELECT $1, $2, $3, t, $4, $5, $6, $7, $8, $9, $10 FROM unnest($11::int[]) AS t
ON CONFLICT (subject, subject_id, period, threshold) DO NOTHING
RETURNING id, threshold
"""


@dataclass(frozen=True)
class Subject:
    kind: Literal["service_line", "sub_pool"]
    """`service_line` or `sub_pool`"""
    id: str
    period: Period


def today() -> date:
    return datetime.now(UTC).date()


async def check(conn: asyncpg.Connection, rose: list[tuple[str, date]]) -> int:
    """Alert what the rise of these (line, month) pairs made reach a threshold; in the
    caller's transaction. Returns how many alerts were made."""
    if not rose:
        return 0
    lines, months = [r[0] for r in rose], [r[1] for r in rose]
    found = [
        Subject("service_line", r["subject_id"], Period.of(r["month"]))
        for r in await conn.fetch(LINE_CANDIDATES, lines, months)
    ]
    pools = await conn.fetch(POOLS_TOUCHED, lines, months)
    if pools:
        pool_ids, pool_months = [p["pool_id"] for p in pools], [p["month"] for p in pools]
        await conn.execute(LOCK_POOLS, pool_ids, pool_months)
        found += [
            Subject("sub_pool", r["subject_id"], Period.of(r["month"]))
            for r in await conn.fetch(POOL_CANDIDATES, pool_ids, pool_months)
        ]
    made = 0
    for subject in found:
        made += await _alert(conn, subject)
    return made


async def _alert(conn: asyncpg.Connection, subject: Subject) -> int:
    if subject.kind == "sub_pool":
        used = await consumption.pool(conn, subject.id, subject.period)
    else:
        used = await consumption.line(conn, subject.id, subject.period)
    org = await conn.fetchrow(
        "SELECT id, name, customer_emails, usage_alert_thresholds FROM organizations WHERE id = $1",
        used.org_id,
    )
    if org is None:
        return 0
    reached = crossed(org["usage_alert_thresholds"], used.used, used.allowance)
    if not reached:
        return 0
    as_of = today()
    percent = percent_used(used.used, used.allowance)
    forecast_gb = used.forecast(as_of)
    allowance = gb(used.allowance)
    rows = await conn.fetch(
        INSERT_ALERTS,
        subject.kind,
        subject.id,
        str(subject.period),
        org["id"],
        used.name,
        allowance,
        used.used,
        percent,
        forecast_gb,
        list(org["customer_emails"]),
        reached,
    )
    events = [
        UsageThresholdCrossed(
            alert_id=alert_id(r["id"]),
            org_id=org["id"],
            org_name=org["name"],
            subject=subject.kind,
            subject_id=subject.id,
            subject_name=used.name,
            period=str(subject.period),
            threshold=r["threshold"],
            allowance_gb=format_gb(allowance),
            used_gb=format_gb(used.used),
            percent_used=percent,
            forecast_gb=format_gb(forecast_gb),
            recipients=list(org["customer_emails"]),
        )
        for r in sorted(rows, key=lambda r: r["threshold"])
    ]
    await outbox.stage(conn, USAGE_ALERTS, events)
    return len(events)


def alert_id(row_id: int) -> str:
    return f"alert_{row_id}"


def as_api(row: Any) -> dict[str, Any]:
    return {
        "id": alert_id(row["id"]),
        "org_id": row["org_id"],
        "org_name": row["org_name"],
        "subject": row["subject"],
        "subject_id": row["subject_id"],
        "subject_name": row["subject_name"],
        "period": row["period"],
        "threshold": row["threshold"],
        "allowance_gb": format_gb(row["allowance_gb"]),
        "used_gb": format_gb(row["used_gb"]),
        "percent_used": None if row["percent_used"] is None else str(row["percent_used"]),
        "forecast_gb": format_gb(row["forecast_gb"]),
        "recipients": list(row["recipients"]),
        "crossed_at": row["crossed_at"].isoformat().replace("+00:00", "Z"),
    }


async def listed(
    conn: asyncpg.Connection,
    orgs: list[str] | None,
    period: str | None,
    limit: int,
    before_id: int | None,
) -> dict[str, Any]:
    """Alerts newest first, of these organizations (None: all), of a period (None: all)."""
    rows = await conn.fetch(
        "SELECT a.*, o.name AS org_name FROM usage_alerts a"
        " JOIN organizations o ON o.id = a.org_id"
        " WHERE ($1::text[] IS NULL OR a.org_id = ANY($1)) AND ($2::text IS NULL OR a.period = $2)"
        " AND ($3::bigint IS NULL OR a.id < $3) ORDER BY a.id DESC LIMIT $4",
        orgs,
        period,
        before_id,
        limit + 1,
    )
    items = [as_api(r) for r in rows[:limit]]
    return {
        "items": items,
        "next_cursor": str(rows[limit - 1]["id"]) if len(rows) > limit else None,
    }
