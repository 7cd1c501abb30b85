"""Nothing is lost or doubled when a service is killed (SIGKILL) mid-stream and restarted."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration

LINES = [f"AST-900{n:03d}-00000-01" for n in range(40)]
DAYS = [f"2026-09-{d:02d}" for d in range(1, 31)]


def batch(n: int) -> list[dict[str, str]]:
    """Batch n: one day for every line; each value is known, so totals are exact."""
    day = DAYS[n % len(DAYS)]
    return [
        {
            "service_line_number": sln,
            "date": day,
            "priority_gb": f"{i + 1}.{n:03d}",
            "observed_at": "2026-10-01T00:00:00Z",
        }
        for i, sln in enumerate(LINES)
    ]


def expected_total() -> Decimal:
    return sum(
        (Decimal(f"{i + 1}.{n:03d}") for n in range(len(DAYS)) for i in range(len(LINES))),
        Decimal(0),
    )


async def push(gateway: httpx.AsyncClient, n: int) -> None:
    for _ in range(50):  # the gateway stays up; retry only if it answers 503
        r = await gateway.post("/api/v1/usage/records", json={"records": batch(n)})
        if r.status_code == 202:
            assert r.json()["accepted"] == len(LINES)
            return
        await asyncio.sleep(0.2)
    raise AssertionError(r.text)


async def invoicing_totals(db: Any) -> tuple[int, Decimal]:
    row = await db.fetchrow(
        "SELECT coalesce(sum(days_with_usage), 0) AS n, coalesce(sum(priority_gb), 0) AS total"
        " FROM invoicing.line_month_usage WHERE service_line_number = ANY($1)",
        LINES,
    )
    return row["n"], row["total"]


async def test_kill_usage_and_invoicing_mid_stream(
    stack: Stack, gateway: httpx.AsyncClient, db: Any
) -> None:
    for n in range(10):
        await push(gateway, n)
    stack.kill("usage-0")
    for n in range(10, 18):
        await push(gateway, n)  # accepted into Kafka while the usage service is down
    stack.restart("usage-0")
    for n in range(18, 24):
        await push(gateway, n)
    stack.kill("invoicing-0")
    for n in range(24, 30):
        await push(gateway, n)
    stack.restart("invoicing-0")
    for n in range(0, 30, 7):
        await push(gateway, n)  # repeats: must not be counted twice

    want = (len(LINES) * len(DAYS), expected_total())
    got = await eventually(lambda: invoicing_totals(db), lambda t: t == want, timeout=90)
    assert got == want
    usage_rows = await db.fetchval(
        "SELECT count(*) FROM usage.daily_usage WHERE service_line_number = ANY($1)", LINES
    )
    assert usage_rows == len(LINES) * len(DAYS)
    outbox_left = await eventually(
        lambda: db.fetchval("SELECT count(*) FROM usage.outbox"), lambda n: n == 0
    )
    assert outbox_left == 0
