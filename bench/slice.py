"""Records per second through the whole slice: HTTP push to the gateway, `usage.raw`, the usage
service, PostgreSQL, the outbox, `usage.recorded`, the invoicing service's committed copy."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date, timedelta

import aiohttp
import asyncpg

from bench.push import push, session
from bench.report import progress


def payloads(lines: int, days: int, batch: int) -> list[bytes]:
    start = date(2025, 1, 1)
    records = [
        {
            "service_line_number": f"AST-{n:06d}-00000-01",
            "date": (start + timedelta(days=d)).isoformat(),
            "priority_gb": f"{(n * 7 + d) % 50}.{d % 1000:03d}",
            "opt_in_priority_gb": f"{(n * 7 + d) % 50}",
            "standard_gb": "1.25",
            "observed_at": "2026-01-01T00:00:00Z",
        }
        for d in range(days)
        for n in range(lines)
    ]
    return [
        json.dumps({"records": records[i : i + batch]}).encode()
        for i in range(0, len(records), batch)
    ]


async def run(
    gateway_url: str,
    token: str,
    dsn: str,
    lines: int,
    days: int,
    batch: int = 1000,
    concurrency: int = 4,
) -> float:
    bodies = payloads(lines, days, batch)
    total = lines * days
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def pusher(client: aiohttp.ClientSession) -> None:
        while not queue.empty():
            await push(client, queue.get_nowait(), headers)

    db = await asyncpg.connect(dsn)
    started = time.perf_counter()
    async with session(gateway_url) as client:
        await asyncio.gather(*(pusher(client) for _ in range(concurrency)))
    pushed = time.perf_counter() - started
    progress(f"{total} records pushed in {pushed:.1f}s; waiting for the invoicing service")
    while True:
        done = await db.fetchval(
            "SELECT coalesce(sum(days_with_usage), 0) FROM invoicing.line_month_usage"
        )
        if done >= total:
            break
        if time.perf_counter() - started > 600:
            raise RuntimeError(f"only {done} of {total} records arrived within 600 s")
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - started
    await db.close()
    return total / elapsed
