"""The month-end billing run at scale: 100,000 service lines in 5,000 organizations with 1,000
sub-pools and a month of usage, from the trigger (`POST /api/v1/billing-runs`) to every invoice
committed. The catalog and the month's usage are seeded straight into the invoicing schema.

A living catalog: the month before is billed first and its invoices approved and sent; then
10% of the lines change plan (or leave their pool) in the middle of the usage month and 1% are
ended back-dated, as `POST /service-lines/{n}/changes` and `PATCH /service-lines/{n}` would do
(the rows they write and the organizations they mark, written by SQL for speed). The timed run
bills segments from those lines' days and corrects the month before."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import httpx

from bench.report import progress

PERIOD = "2031-02"
USAGE_MONTH = date(2031, 1, 1)


async def seed(db: asyncpg.Connection, orgs: int, lines: int, pools: int) -> None:
    await db.execute("SET search_path TO invoicing")
    await db.copy_records_to_table(
        "organizations",
        columns=["id", "name", "payment_terms_days"],
        records=[(f"org_b{o:05d}", f"Bench org {o}", 30) for o in range(orgs)],
    )
    await db.copy_records_to_table(
        "plans",
        columns=[
            "id",
            "name",
            "monthly_price",
            "allowance_gb",
            "overage_price_per_gb",
            "overage_block_gb",
            "overage_block_price",
        ],
        records=[
            (
                f"plan_b{p}",
                f"Bench plan {p}",
                Decimal(50 + 25 * p),
                Decimal(50 * (p + 1)),
                Decimal("2.5") if p % 2 == 0 else None,
                None if p % 2 == 0 else Decimal(50),
                None if p % 2 == 0 else Decimal("25.00"),
            )
            for p in range(10)
        ],
    )
    await db.copy_records_to_table(
        "sub_pools",
        columns=["id", "org_id", "name", "monthly_price", "allowance_gb", "overage_price_per_gb"],
        records=[
            (
                f"pool_b{s:04d}",
                f"org_b{s:05d}",
                f"Pool {s}",
                Decimal("999.99"),
                Decimal(1000),
                Decimal("1.5"),
            )
            for s in range(pools)
        ],
    )
    per_org = lines // orgs
    rows, usage = [], []
    for n in range(lines):
        org = n // per_org
        in_pool = org < pools and n % per_org < per_org // 2
        number = f"AST-B{n:06d}-0-01"
        rows.append(
            (
                f"sl_b{n:06d}",
                number,
                f"Line {n}",
                f"org_b{org:05d}",
                None if in_pool else f"plan_b{n % 10}",
                f"pool_b{org:04d}" if in_pool else None,
                date(2030, 12, 1) if n % 7 else date(2031, 2, 10),
                None,
            )
        )
        used = Decimal((n * 37) % 20000) / 100
        usage.append((number, used))
    await db.copy_records_to_table(
        "service_lines",
        columns=[
            "id",
            "service_line_number",
            "name",
            "org_id",
            "plan_id",
            "sub_pool_id",
            "active_from",
            "active_to",
        ],
        records=rows,
    )
    await seed_month_usage(db, usage)


# Each line's month as the usage copy holds it: 31 days, the month's GB spread evenly to the
# MB with the rest on the 31st (so a part of the month sums its own days).
SEED_MONTHS = """
WITH seeded AS (
    INSERT INTO line_month_usage (service_line_number, month, priority_gb, opt_in_priority_gb,
                                  standard_gb, non_billable_gb, days_with_usage, first_day,
                                  last_day, day_numbers, day_priority_gb)
    SELECT line, $3::date, used, 0, 0, 0, 31, $3::date, $3::date + 30, x.n, x.gb
    FROM unnest($1::text[], $2::numeric[]) AS t(line, used)
    CROSS JOIN LATERAL (
        SELECT array_agg(d::smallint ORDER BY d) AS n,
               array_agg(CASE WHEN d < 31 THEN share ELSE used - 30 * share END ORDER BY d) AS gb
        FROM generate_series(1, 31) AS d,
             (SELECT floor(used * 1000 / 31) / 1000 AS share) s) x
    RETURNING service_line_number
)
INSERT INTO line_month_days
SELECT service_line_number, $3::date, z, z, z, array_fill($4::timestamptz, ARRAY[31])
FROM seeded, (SELECT array_fill(0::numeric, ARRAY[31]) AS z) zeros
"""


async def seed_month_usage(db: asyncpg.Connection, usage: list[tuple[str, Decimal]]) -> None:
    await db.execute(
        SEED_MONTHS,
        [line for line, _ in usage],
        [used for _, used in usage],
        USAGE_MONTH,
        datetime(2031, 2, 1, tzinfo=UTC),
    )


async def change_the_catalog(db: asyncpg.Connection, lines: int) -> tuple[int, int]:
    """10% of the lines change on 16 January (plan n -> n+1, a pool member onto plan n), 1%
    end back-dated on 20 January (their January days are seeded with every line's); the
    organizations marked for January's corrections. Returns (changed, ended)."""
    rows = await db.fetch(
        "SELECT sl.id, sl.service_line_number, sl.org_id, sl.plan_id, sl.sub_pool_id,"
        " u.priority_gb, sp.org_id AS pool_org"
        " FROM service_lines sl JOIN line_month_usage u USING (service_line_number)"
        " LEFT JOIN sub_pools sp ON sp.id = sl.sub_pool_id"
        " WHERE sl.active_from <= '2031-01-01' AND u.month = $1"
        " AND sl.id ~ '^sl_b[0-9]{6}$'",  # this part's lines, not the alert probes' (sl_<hex>)
        USAGE_MONTH,
    )
    changed = [r for r in rows if int(r["id"][4:]) % 10 == 3]
    ended = [r for r in rows if int(r["id"][4:]) % 100 == 7]
    await db.executemany(
        "UPDATE service_lines SET active_to = $2 WHERE id = $1",
        [(r["id"], date(2031, 1, 15)) for r in changed]
        + [(r["id"], date(2031, 1, 20)) for r in ended],
    )
    await db.copy_records_to_table(
        "service_lines",
        columns=["id", "service_line_number", "name", "org_id", "plan_id", "active_from"],
        records=[
            (
                f"sl_c{r['id'][4:]}",
                r["service_line_number"],
                "Changed line",
                r["org_id"],
                f"plan_b{(int(r['id'][4:]) + (1 if r['plan_id'] else 0)) % 10}",
                date(2031, 1, 16),
            )
            for r in changed
        ],
    )
    orgs = {r["org_id"] for r in changed + ended} | {
        r["pool_org"] for r in changed + ended if r["pool_org"]
    }
    await db.executemany(
        "INSERT INTO correction_marks (org_id, period) VALUES ($1, '2031-01')",
        [(o,) for o in sorted(orgs)],
    )
    return len(changed), len(ended)


async def run(
    gateway_url: str,
    token: str,
    dsn: str,
    orgs: int = 5000,
    lines: int = 100_000,
    pools: int = 1000,
) -> tuple[float, int, float]:
    """The run's seconds without its wait for usage, the invoices, the wait in ms."""
    db = await asyncpg.connect(dsn)
    progress(f"seeding {orgs} organizations, {pools} sub-pools, {lines} service lines")
    await seed(db, orgs, lines, pools)
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=600, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        progress("billing run 2031-01 (the month before), then approved and sent")
        r = await client.post("/api/v1/billing-runs", json={"period": "2031-01"})
        if r.status_code != 200:
            raise RuntimeError(f"billing run failed: {r.status_code} {r.text[:300]}")
        await db.execute(
            "UPDATE invoices SET approved = true, sent = true, status = 'SENT_FOR_PAYMENT'"
            " WHERE period = '2031-01'"
        )
        changed, ended = await change_the_catalog(db, lines)
        progress(f"{changed} lines changed on 2031-01-16, {ended} ended back-dated on 2031-01-20")
        await db.close()
        progress(f"billing run {PERIOD}")
        started = time.perf_counter()
        r = await client.post("/api/v1/billing-runs", json={"period": PERIOD})
        elapsed = time.perf_counter() - started
    if r.status_code != 200:
        raise RuntimeError(f"billing run failed: {r.status_code} {r.text[:300]}")
    generated = len(r.json()["generated"])
    waited = float(r.json().get("usage_wait_ms", 0.0))
    progress(
        f"{generated} invoices generated in {elapsed:.1f}s"
        f" (of which {waited:.0f} ms waiting for usage to settle)"
    )
    return elapsed - waited / 1000, generated, waited
