"""Migration 0024 on a copy holding data: an invoicing schema at 0023, its days in day rows,
moved into the month rows; every day reads back the same through the view, and applying
usage afterwards merges with the moved days. In a scratch schema of the real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from devstack.stack import Stack
from services.invoicing import repository
from shared.db.migrate import migration_files
from shared.events.usage import LineDailyUsage

pytestmark = pytest.mark.integration

SERVICE = Path(repository.__file__).parent
AT = datetime(2030, 9, 1, tzinfo=UTC)

# (line, day, priority, opt-in, standard, non-billable), as the old copy held them
DAYS = [
    ("AST-MIG-1", date(2030, 8, 31), "1.5", "0.5", "2", "0"),
    ("AST-MIG-1", date(2030, 8, 2), "3", "0", "0.25", "1"),
    ("AST-MIG-1", date(2030, 9, 1), "4", "0", "0", "0"),
    ("AST-MIG-2", date(2030, 8, 15), "7.125", "1", "0", "0"),
]


async def _migrate(conn: asyncpg.Connection, schema: str, first: str, last: str) -> list[str]:
    """The invoicing migrations from `first` to `last` by name, in `schema`; the extensions
    they create live in `invoicing`, so it is on the path too."""
    await conn.execute(f'SET search_path TO "{schema}", invoicing')
    applied = []
    for name, sql in migration_files(SERVICE):
        if first <= Path(name).name <= last:
            async with conn.transaction():
                await conn.execute(sql.read_text())
            applied.append(name)
    return applied


async def _old_copy(conn: asyncpg.Connection) -> None:
    """The days as the copy held them before 0024, and the month rows rebuilt from them."""
    await conn.executemany(
        "INSERT INTO line_daily_usage VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(line, day, *(Decimal(f) for f in figures), AT) for line, day, *figures in DAYS],
    )
    await conn.execute(
        "INSERT INTO line_month_usage SELECT service_line_number,"
        " date_trunc('month', day)::date, sum(priority_gb), sum(opt_in_priority_gb),"
        " sum(standard_gb), sum(non_billable_gb), count(*), min(day), max(day),"
        " array_agg(extract(day FROM day)::smallint ORDER BY day),"
        " array_agg(priority_gb ORDER BY day) FROM line_daily_usage GROUP BY 1, 2"
    )


async def test_the_days_move_into_the_month_rows_and_merge_afterwards(stack: Stack) -> None:
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack.config.dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await _migrate(conn, schema, "", "0023_usage_watch.sql")
        await _old_copy(conn)
        applied = await _migrate(conn, schema, "0024", "0024~")
        assert applied == ["own/0024_usage_days_in_months.sql"]
        read = "SELECT service_line_number, day, priority_gb, opt_in_priority_gb, standard_gb,"
        read += " non_billable_gb, observed_at FROM line_daily_usage ORDER BY 1, 2"
        assert [tuple(r) for r in await conn.fetch(read)] == sorted(
            (line, day, *(Decimal(f) for f in figures), AT) for line, day, *figures in DAYS
        )
        # A newer snapshot of 2 August and a new day merge with the moved days; an older
        # snapshot of 31 August changes nothing.
        newer, older = datetime(2030, 9, 2, tzinfo=UTC), datetime(2030, 8, 31, tzinfo=UTC)
        async with conn.transaction():
            rose = await repository.apply_days(
                conn,
                [
                    _day("AST-MIG-1", date(2030, 8, 2), "2", newer),
                    _day("AST-MIG-1", date(2030, 8, 20), "10", newer),
                    _day("AST-MIG-1", date(2030, 8, 31), "99", older),
                ],
            )
        assert rose == [("AST-MIG-1", date(2030, 8, 1))]
        month = await conn.fetchrow(
            "SELECT priority_gb, opt_in_priority_gb, standard_gb, non_billable_gb,"
            " days_with_usage, first_day, last_day FROM line_month_usage"
            " WHERE service_line_number = 'AST-MIG-1' AND month = '2030-08-01'"
        )
        # priority 2 + 10 + 1.5; opt-in 0 + 0 + 0.5; standard 0 + 0 + 2; non-billable 0
        assert tuple(month) == (
            Decimal("13.5"),
            Decimal("0.5"),
            Decimal("2"),
            Decimal("0"),
            3,
            date(2030, 8, 2),
            date(2030, 8, 31),
        )
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def _day(line: str, day: date, priority: str, observed_at: datetime) -> LineDailyUsage:
    return LineDailyUsage(
        service_line_number=line,
        date=day,
        priority_gb=priority,
        opt_in_priority_gb="0",
        standard_gb="0",
        non_billable_gb="0",
        observed_at=observed_at,
    )
