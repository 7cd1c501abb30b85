"""SQL of the usage service (schema `usage`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol
from uuid import UUID

import asyncpg

from shared.events.usage import MAX_DAYS_PER_ANNOUNCEMENT
from shared.kafka import partition_for

DAY_COLUMNS = """service_line_number, day::text AS date,
       trim_scale(priority_gb)::text AS priority_gb,
       trim_scale(opt_in_priority_gb)::text AS opt_in_priority_gb,
       trim_scale(standard_gb)::text AS standard_gb,
       trim_scale(non_billable_gb)::text AS non_billable_gb,
       to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS observed_at"""
"""A stored day as `usage.recorded` carries it: decimal text without padding, UTC instants."""


# The hot path in one statement: the batch's snapshots deduplicated (the highest precedence
# of each day wins, `shared.events.usage.day_precedence`), upserted where the incoming one
# takes precedence over the stored one (same order), and every day written staged as
# `usage.recorded` in the outbox, one message per partition (and per MAX_DAYS_PER_ANNOUNCEMENT
# days), built by PostgreSQL: no day goes back to Python. The message is schema 2 (`columns`:
# each field of the days as one comma-separated text, one pass of seven aggregates over the
# days in (line, day) order, so the i-th values of the columns are one day's). Days are
# written in key order (locks taken in one order) and announced in (line, day) order; the
# message key is the first day's line. $8/$9: each line of the batch and its Kafka partition
# (murmur2, by the caller).
# Written days are announced whether or not their figures moved: comparing with the row before
# would read a snapshot that a concurrent consumer of another partition may have changed
# meanwhile (a feed may spread a line over partitions), and a state-copying consumer takes a
# repeat as a no-op.
# One statement is one transaction: the claim of the batch's events (`processed_events`: a
# redelivered event's snapshots are left out), the days and the outbox commit together, in one
# round trip instead of five (BEGIN, claim, upsert, outbox, COMMIT). $13 the consumer, $14 the
# events, $15 each snapshot's event (its position in $14), $16 the events' correlation ids ($12
# when none). The snapshots' columns come as comma-separated texts
# (`shared.events.usage_wire.text_columns`).
STORE_AND_ANNOUNCE = f"""
WITH claimed AS (
    INSERT INTO processed_events (consumer, event_id)
    SELECT DISTINCT $13::text, e FROM unnest($14::uuid[]) AS e
    ON CONFLICT DO NOTHING RETURNING event_id
), incoming AS (
    SELECT DISTINCT ON (line, day) line, day, p::numeric AS p, o::numeric AS o,
           s::numeric AS s, n::numeric AS n, observed_at
    FROM unnest(string_to_array($1, ','), string_to_array($2, ',')::date[],
                string_to_array($3, ','), string_to_array($4, ','), string_to_array($5, ','),
                string_to_array($6, ','), string_to_array($7, ',')::timestamptz[],
                string_to_array($15, ',')::int[]) AS t(line, day, p, o, s, n, observed_at, ev)
    WHERE ($14::uuid[])[ev] IN (SELECT event_id FROM claimed)
    ORDER BY line, day, observed_at DESC, p::numeric DESC, o::numeric DESC, s::numeric DESC,
             n::numeric DESC
), written AS (
    INSERT INTO daily_usage AS d (service_line_number, day, priority_gb, opt_in_priority_gb,
                                  standard_gb, non_billable_gb, observed_at)
    SELECT line, day, p, o, s, n, observed_at FROM incoming ORDER BY line, day
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
    RETURNING {DAY_COLUMNS}
), placed AS (
    SELECT w.*, k.part,
           (row_number() OVER (PARTITION BY k.part
                               ORDER BY w.service_line_number COLLATE "C", w.date) - 1)
               / $10 AS chunk
    FROM written w JOIN unnest($8::text[], $9::int[]) AS k(line, part)
                     ON k.line = w.service_line_number
)
INSERT INTO outbox (topic, key, payload)
SELECT $11, min(service_line_number COLLATE "C"),
       convert_to(concat(
           '{{"event_id":"', gen_random_uuid(), '","type":"usage.recorded","occurred_at":"',
           to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           '","schema_version":2,"correlation_id":',
           coalesce(to_json(coalesce((
               SELECT c FROM unnest($14::uuid[], $16::text[]) WITH ORDINALITY AS y(e, c, i)
               WHERE e IN (SELECT event_id FROM claimed) ORDER BY i LIMIT 1), $12::text))::text,
               'null'),
           ',"source":"ingest","columns":{{"service_line_number":"',
           string_agg(service_line_number, ','), '","date":"', string_agg(date, ','),
           '","priority_gb":"', string_agg(priority_gb, ','),
           '","opt_in_priority_gb":"', string_agg(opt_in_priority_gb, ','),
           '","standard_gb":"', string_agg(standard_gb, ','),
           '","non_billable_gb":"', string_agg(non_billable_gb, ','),
           '","observed_at":"', string_agg(observed_at, ','), '"}}}}'), 'UTF8')
FROM (SELECT * FROM placed ORDER BY part, chunk, service_line_number COLLATE "C", date) AS p
GROUP BY part, chunk ORDER BY part, chunk
"""


class Event(Protocol):
    """A `usage.raw` event as the usage service applies it (`shared.events.usage_wire.RawEvent`)."""

    @property
    def event_id(self) -> UUID: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def columns(self) -> list[str]: ...
    @property
    def size(self) -> int: ...


async def store_and_announce(
    conn: asyncpg.Connection,
    consumer: str,
    events: Sequence[Event],
    topic: str,
    correlation_id: str | None,
) -> int:
    """Claim the events for `consumer`, store the snapshots of those not applied before (latest
    wins) and stage the days written as `usage.recorded` in the outbox: one statement, one
    transaction. Returns how many messages were staged. Each event's days come as its seven
    texts (`usage.raw` schema 2 as it came, or joined from schema 1's records): the batch's
    are the events' joined, one event after another."""
    holding = [e for e in events if e.size]
    columns = [",".join(texts) for texts in zip(*(e.columns for e in holding), strict=True)]
    lines = list(dict.fromkeys(columns[0].split(","))) if holding else []
    positions = ",".join(",".join([str(i)] * e.size) for i, e in enumerate(events, 1) if e.size)
    status: str = await conn.execute(
        STORE_AND_ANNOUNCE,
        *(columns or [""] * 7),
        lines,
        [partition_for(line) for line in lines],
        MAX_DAYS_PER_ANNOUNCEMENT,
        topic,
        correlation_id,
        consumer,
        [e.event_id for e in events],
        positions,
        [e.correlation_id for e in events],
    )
    return int(status.rsplit(" ", 1)[-1])


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
