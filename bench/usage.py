"""Usage ingest at scale: one million daily records pushed through the gateway in batches of
1,000, until every row is committed in PostgreSQL and announced on `usage.recorded` (the outbox
is empty); a bare asyncpg COPY of the same rows for comparison; and, under that load, the
latency of single records from the HTTP push to their committed row."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import aiohttp
import asyncpg

from bench.push import paced, post_once, push, session
from bench.report import CpuMeter, figure, progress

START = date(2024, 1, 1)
OBSERVED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class UsageFigures:
    ingest_rps: float
    copy_rps: float
    latency_p99_ms: float
    latency_p50_ms: float
    probes: int


@dataclass
class HalfLoadFigures:
    """Single-record latency while a paced load offers half the measured throughput."""

    offered_rps: float
    taken_rps: float
    latency_p99_ms: float
    latency_p50_ms: float
    probes: int


OUTBOX_CHANNEL = "usage_outbox"
"""Notified by the usage service's outbox trigger at each commit that stages an event."""


def figures(n: int, d: int) -> tuple[str, str, str, str]:
    priority = Decimal((n * 37 + d * 11) % 5000) / 100
    return (str(priority), str(priority / 4), str(Decimal(d % 9) / 2), "0")


def bodies(lines: int, days: int, batch: int, pattern: str = "AST-{n:06d}-10000-01") -> list[bytes]:
    """Records in feed order (a line's days together), `batch` per request."""
    out, chunk = [], []
    for n in range(lines):
        sln = pattern.format(n=n)
        for d in range(days):
            p, o, s, nb = figures(n, d)
            chunk.append(
                {
                    "service_line_number": sln,
                    "date": (START + timedelta(d)).isoformat(),
                    "priority_gb": p,
                    "opt_in_priority_gb": o,
                    "standard_gb": s,
                    "non_billable_gb": nb,
                    "observed_at": OBSERVED.isoformat(),
                }
            )
            if len(chunk) == batch:
                out.append(json.dumps({"records": chunk}).encode())
                chunk = []
    if chunk:
        out.append(json.dumps({"records": chunk}).encode())
    return out


async def ingest(
    gateway_url: str,
    token: str,
    dsn: str,
    lines: int,
    days: int,
    meter: CpuMeter,
    concurrency: int = 4,
) -> UsageFigures:
    payloads = bodies(lines, days, 1000)
    total = lines * days
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    db = await asyncpg.create_pool(dsn, min_size=3, max_size=3)
    assert db is not None
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in payloads:
        queue.put_nowait(body)
    latencies: list[float] = []
    loading = True
    refused = 0

    taken = 0
    # The COPY reference before the ingest and again after it, their mean the reference: on
    # this shared machine a single COPY swung 77,000-113,000 rows/s from run to run, and
    # bracketing the ingest in time cancels a drift of the machine's speed during the part.
    async with db.acquire() as conn:
        copy_before = await bare_copy(conn, lines, days)
    meter.start()

    async def pusher(client: aiohttp.ClientSession) -> None:
        nonlocal refused, taken
        while not queue.empty():
            refused += await push(client, queue.get_nowait(), headers)
            taken += 1000

    async def prober(client: aiohttp.ClientSession) -> None:
        n = 0
        while loading:
            n += 1
            latencies.append(await probe_once(client, db, headers, f"AST-PROBE-{n:06d}"))
            await asyncio.sleep(0.1)

    async def reporter(started: float) -> None:
        """Progress from the pushes taken: counting a million rows every few seconds cost the
        database under test about 1 us a record."""
        while loading:
            await asyncio.sleep(5)
            progress(f"{taken} records taken after {time.perf_counter() - started:.0f}s")

    started = time.perf_counter()
    own_cpu = time.process_time()
    async with session(gateway_url) as client:
        probe = asyncio.create_task(prober(client))
        report = asyncio.create_task(reporter(started))
        await asyncio.gather(*(pusher(client) for _ in range(concurrency)))
        progress(
            f"{total} records pushed in {time.perf_counter() - started:.1f}s"
            f" ({refused} pushes answered 429 by the gateway's backpressure, retried)"
        )
        elapsed = await stored_and_announced(db, total) - started
        progress(f"{total} records stored and announced {elapsed:.1f}s after the first push")
        loading = False
        await probe
        report.cancel()
    progress(
        f"the load generator itself (this process, on the same cores): "
        f"{(time.process_time() - own_cpu) / total * 1e6:.1f} us of CPU a record"
    )
    async with db.acquire() as conn:
        await quiet(conn, total)
        # the processes' CPU for the ingest's whole work (the invoicing copy and autovacuum
        # included), never the COPY reference's
        meter.report("the ingest", total)
        copy_after = await bare_copy(conn, lines, days)
    await db.close()
    copy_rps = (copy_before + copy_after) / 2
    progress(
        f"the COPY reference: {copy_before:.0f} rows/s before the ingest, {copy_after:.0f}"
        f" after; their mean, {copy_rps:.0f}, is the reference"
    )
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    return UsageFigures(
        total / elapsed,
        copy_rps,
        p99,
        statistics.median(ordered) if ordered else float("nan"),
        len(ordered),
    )


async def stored_and_announced(db: asyncpg.Pool, total: int) -> float:
    """When every record was stored and announced (`perf_counter`): one statement sees both,
    the rows complete and the outbox empty, in one snapshot, taken as it starts: the time read
    just before it is the end (not its answer, which a count over a million rows delays by a
    few hundred ms). Polled every 0.1 s; that count only once the outbox looks empty, so
    the database does not count while it is still taking the last batches."""
    while True:
        await asyncio.sleep(0.1)
        if await db.fetchval("SELECT count(*) FROM usage.outbox"):
            continue
        asked = time.perf_counter()
        done = await db.fetchval(
            "SELECT (SELECT count(*) FROM usage.daily_usage"
            " WHERE service_line_number LIKE 'AST-%-10000-01') >= $1"
            " AND NOT EXISTS (SELECT 1 FROM usage.outbox)",
            total,
        )
        if done:
            return asked


async def probe_once(
    client: aiohttp.ClientSession, db: asyncpg.Pool, headers: dict[str, str], sln: str
) -> float:
    """One record pushed on a line of its own; ms from the push that is taken to its row."""
    body = json.dumps(
        {
            "records": [
                {
                    "service_line_number": sln,
                    "date": "2026-01-01",
                    "priority_gb": "1",
                    "observed_at": OBSERVED.isoformat(),
                }
            ]
        }
    ).encode()
    committed = asyncio.Event()

    def on_commit(*_: object) -> None:
        committed.set()

    async with db.acquire() as conn:
        # Looked for at each commit of the usage service (its outbox's notification comes with
        # the commit that makes the row visible), not every few ms: a poll every 5 ms cost the
        # database under test ~5 % of a core during the ingest. The 50 ms timeout only bounds
        # a notification lost between the look and the wait.
        await conn.add_listener(OUTBOX_CHANNEL, on_commit)
        try:
            sent = time.perf_counter()
            status, _, text = await post_once(client, body, headers)
            while status == 429:  # timed from the push that is taken
                await asyncio.sleep(0.05)
                sent = time.perf_counter()
                status, _, text = await post_once(client, body, headers)
            if status != 202:
                raise RuntimeError(f"probe push failed: {status} {text[:300]}")
            while True:
                committed.clear()
                if await conn.fetchval(
                    "SELECT 1 FROM usage.daily_usage WHERE service_line_number = $1", sln
                ):
                    return (time.perf_counter() - sent) * 1000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(committed.wait(), 0.05)
        finally:
            await conn.remove_listener(OUTBOX_CHANNEL, on_commit)


async def at_half(
    gateway_url: str, token: str, dsn: str, measured_rps: float, seconds: float = 30.0
) -> HalfLoadFigures:
    """A paced load offering half of `measured_rps` (batches of 1,000 on a fixed schedule, on
    lines of their own) for about `seconds`, and single-record probes every 100 ms under it:
    the latency a feed sees when the pipeline is not already pushing back."""
    rate = measured_rps / 2
    lines = max(1, int(rate * seconds / 100))
    payloads = bodies(lines, 100, 1000, pattern="AST-{n:06d}-10000-03")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    db = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
    assert db is not None
    latencies: list[float] = []
    loading = True

    async def prober(client: aiohttp.ClientSession) -> None:
        n = 0
        await asyncio.sleep(2)  # the paced load is under way
        while loading:
            n += 1
            latencies.append(await probe_once(client, db, headers, f"AST-HALF-{n:06d}"))
            await asyncio.sleep(0.1)

    async with session(gateway_url) as client:
        probing = asyncio.create_task(prober(client))
        started = time.perf_counter()
        await paced(client, payloads, headers, rate / 1000)
        elapsed = time.perf_counter() - started
        loading = False
        await probing
    await db.close()
    ordered = sorted(latencies)
    return HalfLoadFigures(
        rate,
        lines * 100 / elapsed,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan"),
        statistics.median(ordered) if ordered else float("nan"),
        len(ordered),
    )


async def quiet(db: asyncpg.Connection, total: int, limit: float = 180.0) -> None:
    """Wait, before the COPY reference, for the work the ingest leaves behind: the invoicing
    copy catching up on `usage.recorded` and autovacuum on the tables just filled: the
    reference is the database's speed, never its backlog (the wait is printed; usually none)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        copied = await db.fetchval(
            "SELECT coalesce(sum(days_with_usage), 0) FROM invoicing.line_month_usage"
            " WHERE service_line_number LIKE 'AST-%-10000-01'"
        )
        vacuuming = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        )
        if copied >= total and not vacuuming:
            break
        await asyncio.sleep(0.5)
    progress(
        f"the COPY reference waits {time.perf_counter() - started:.1f}s for the invoicing copy"
        " and autovacuum to finish"
    )


async def bare_copy(db: asyncpg.Connection, lines: int, days: int) -> float:
    """The same rows, COPYed by asyncpg into a scratch table shaped like `daily_usage`."""
    await db.execute("DROP TABLE IF EXISTS bench_copy_scratch")
    await db.execute("CREATE TABLE bench_copy_scratch (LIKE usage.daily_usage INCLUDING ALL)")
    rows = []
    for n in range(lines):
        sln = f"AST-{n:06d}-10000-01"
        for d in range(days):
            p, o, s, nb = figures(n, d)
            rows.append(
                (
                    sln,
                    START + timedelta(d),
                    Decimal(p),
                    Decimal(o),
                    Decimal(s),
                    Decimal(nb),
                    OBSERVED,
                )
            )
    columns = [
        "service_line_number",
        "day",
        "priority_gb",
        "opt_in_priority_gb",
        "standard_gb",
        "non_billable_gb",
        "observed_at",
    ]
    started = time.perf_counter()
    for i in range(0, len(rows), 100_000):
        await db.copy_records_to_table(
            "bench_copy_scratch", records=rows[i : i + 100_000], columns=columns
        )
    elapsed = time.perf_counter() - started
    await db.execute("DROP TABLE bench_copy_scratch")
    return len(rows) / elapsed


def measure(
    gateway_url: str, token: str, dsn: str, lines: int, days: int, pids: Mapping[str, int]
) -> UsageFigures:
    """The ingest at saturation (with each process's CPU per record), then the single-record
    latency at half its throughput; prints every figure."""
    progress(f"usage ingest: {lines * days} records through the gateway, batches of 1,000")
    meter = CpuMeter(pids)  # started by `ingest` once its first COPY reference is done
    usage = asyncio.run(ingest(gateway_url, token, dsn, lines, days, meter))
    figure("usage_ingest_rps", usage.ingest_rps, "records/s")
    figure("pg_copy_rps", usage.copy_rps, "rows/s")
    figure("usage_ingest_vs_copy", usage.ingest_rps / usage.copy_rps, "ratio")
    figure("usage_event_to_db_p99_ms", usage.latency_p99_ms, "ms")
    figure("usage_event_to_db_p50_ms", usage.latency_p50_ms, "ms")
    progress(f"usage at half load: a paced load offering {usage.ingest_rps / 2:.0f} records/s")
    half = asyncio.run(at_half(gateway_url, token, dsn, usage.ingest_rps))
    progress(f"{half.probes} probes; the paced load was taken at {half.taken_rps:.0f} records/s")
    figure("usage_event_to_db_p99_at_half_ms", half.latency_p99_ms, "ms")
    figure("usage_event_to_db_p50_at_half_ms", half.latency_p50_ms, "ms")
    return usage
