"""Property (hypothesis), on the real PostgreSQL: the invoicing service's copy of usage
converges to the same days and monthly sums under any order, repetition and chunking of the
announcements, and equals a from-scratch computation (newest snapshot per day, summed)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.stack import Stack
from services.invoicing import repository
from shared.events.usage import LineDailyUsage

pytestmark = pytest.mark.integration

DAYS = [date(2029, 1, 30), date(2029, 1, 31), date(2029, 2, 1), date(2029, 2, 2)]
FIGURES = ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")

gb = st.decimals(min_value=0, max_value=50, places=3).map(lambda d: format(d, "f"))
snapshot = st.tuples(
    st.integers(0, 2),  # line
    st.sampled_from(DAYS),
    st.integers(0, 4),  # observed_at: hours after the day; ties happen on purpose
    gb,
    gb,
    gb,
)


def day_of(tag: str, raw: tuple[Any, ...]) -> LineDailyUsage:
    line, day, hours, priority, standard, non_billable = raw
    return LineDailyUsage(
        service_line_number=f"AST-PROP-{tag}-{line}",
        date=day,
        priority_gb=priority,
        opt_in_priority_gb="0",
        standard_gb=standard,
        non_billable_gb=non_billable,
        observed_at=datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours),
    )


def best_of(days: list[LineDailyUsage]) -> dict[tuple[str, date], LineDailyUsage]:
    """Each (line, day)'s winning snapshot: the newest, equal instants by the figures."""
    best: dict[tuple[str, date], LineDailyUsage] = {}
    for d in days:
        key = (d.service_line_number, d.date)
        rank = (d.observed_at, *(Decimal(getattr(d, f)) for f in FIGURES))
        if key not in best or rank > (
            best[key].observed_at,
            *(Decimal(getattr(best[key], f)) for f in FIGURES),
        ):
            best[key] = d
    return best


def from_scratch(days: list[LineDailyUsage]) -> dict[tuple[str, date], tuple[Decimal, ...]]:
    """Per (line, month): the figures of each day's winning snapshot, summed, and the count."""
    best = best_of(days)
    months: dict[tuple[str, date], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 5)
    for (line, day), d in best.items():
        sums = months[(line, day.replace(day=1))]
        for i, f in enumerate(FIGURES):
            sums[i] += Decimal(getattr(d, f))
        sums[4] += 1
    return {k: tuple(v) for k, v in months.items()}


async def apply_in_chunks(dsn: str, tag: str, chunks: list[list[LineDailyUsage]]) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET search_path TO invoicing")
        for chunk in chunks:
            async with conn.transaction():
                await repository.apply_days(conn, chunk)
        rows = await conn.fetch(
            "SELECT service_line_number, month, priority_gb, opt_in_priority_gb, standard_gb,"
            " non_billable_gb, days_with_usage FROM line_month_usage"
            " WHERE service_line_number LIKE $1",
            f"AST-PROP-{tag}-%",
        )
        days = await conn.fetch(
            "SELECT service_line_number, day, priority_gb, opt_in_priority_gb, standard_gb,"
            " non_billable_gb, observed_at FROM line_daily_usage"
            " WHERE service_line_number LIKE $1",
            f"AST-PROP-{tag}-%",
        )
        for table in ("line_month_usage", "line_month_days"):
            await conn.execute(
                f"DELETE FROM {table} WHERE service_line_number LIKE $1", f"AST-PROP-{tag}-%"
            )
    finally:
        await conn.close()
    months = {
        (r["service_line_number"], r["month"]): (
            *(r[f] for f in FIGURES),
            Decimal(r["days_with_usage"]),
        )
        for r in rows
    }
    winners = {
        (r["service_line_number"], r["day"]): (r["observed_at"], *(r[f] for f in FIGURES))
        for r in days
    }
    assert len(winners) == len(days)  # each day once
    return months, winners


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_copy_converges_under_any_order_repetition_and_chunking(
    stack: Stack, data: st.DataObject
) -> None:
    tag = uuid.uuid4().hex[:8]
    days = [day_of(tag, raw) for raw in data.draw(st.lists(snapshot, min_size=1, max_size=30))]
    repeated = days + data.draw(st.lists(st.sampled_from(days), max_size=10))
    order = data.draw(st.permutations(repeated))
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(order)), max_size=6))))
    bounds = [0, *cuts, len(order)]
    chunks = [order[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    months, winners = asyncio.run(apply_in_chunks(stack.config.dsn, tag, chunks))
    assert months == from_scratch(days)
    assert winners == {
        key: (d.observed_at, *(Decimal(getattr(d, f)) for f in FIGURES))
        for key, d in best_of(days).items()
    }
