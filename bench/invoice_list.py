"""The invoice list over 1,000,000 invoices, through HTTP: the default page (every organization
or one organization tree; All, This Month and As of Today) with its totals and counts, and
arbitrary filter combinations. The invoices (and a line each, for the service-line and plan
filters) are seeded straight into the invoicing schema with COPY, numbered as the service
numbers them (INV-YYYYMM-NNNNNN by month of issue, after the numbers already given)."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from bench.report import progress

PARENTS, CHILDREN = 10_000, 7  # 80,000 organizations in 10,000 trees of 8
STATUSES = ("GENERATED", "SENT_FOR_PAYMENT", "PARTIAL_PAID", "PAYMENT_DONE")


def months_back(today: date, count: int) -> list[date]:
    first, out = today.replace(day=1), []
    for _ in range(count):
        out.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return out[::-1]


async def seed(db: asyncpg.Connection, invoices: int, today: date) -> list[str]:
    await db.execute("SET search_path TO invoicing")
    orgs, parents = [], []
    for p in range(PARENTS):
        parent = f"org_l{p:04d}"
        parents.append(parent)
        orgs.append((parent, f"List fleet {p}", None, 30))
        orgs += [(f"{parent}_{c}", f"List fleet {p}.{c}", parent, 30) for c in range(CHILDREN)]
    rng_orgs = random.Random(3)
    rng_orgs.shuffle(orgs)  # children and parents spread over the numbers
    await db.copy_records_to_table(
        "organizations", columns=["id", "name", "parent_id", "payment_terms_days"], records=orgs
    )
    org_ids = [o[0] for o in orgs]
    months = months_back(today, 13)
    per_month = invoices // len(months)
    rng = random.Random(7)
    rows, lines = [], []
    for month in months:
        key = f"{month:%Y%m}"
        start = await db.fetchval("SELECT last FROM invoice_numbers WHERE month = $1", key) or 0
        for n in range(per_month):
            number = f"INV-{key}-{start + n + 1:06d}"
            one_time = n % 10 == 0
            issued = month + timedelta(days=rng.randrange(27)) if one_time else month
            amount = Decimal(rng.randrange(1_000, 500_000)) / 100
            status = rng.choice(STATUSES)
            paid = {"PAYMENT_DONE": amount, "PARTIAL_PAID": (amount / 2).quantize(Decimal("0.01"))}
            payments = paid.get(status, Decimal(0))
            org = org_ids[n % len(org_ids)]
            period = None if one_time else f"{month:%Y-%m}"  # one per organization and month
            rows.append(
                (
                    number,
                    "ONE_TIME" if one_time else "SUBSCRIPTION",
                    org,
                    period,
                    issued,
                    issued + timedelta(days=30),
                    amount,
                    Decimal(0),
                    amount,
                    payments,
                    amount - payments,
                    status,
                    status != "GENERATED",
                    status != "GENERATED",
                )
            )
            lines.append(
                (
                    number,
                    1,
                    1,
                    "REGULAR",
                    "Monthly service",
                    f"AST-{n:07d}-00000-01",
                    f"Vessel {n % 5000}",
                    f"Plan {n % 40}",
                    Decimal(1),
                    amount,
                    amount,
                )
            )
        await db.execute(
            "INSERT INTO invoice_numbers (month, last) VALUES ($1, $2)"
            " ON CONFLICT (month) DO UPDATE SET last = $2",
            key,
            start + per_month,
        )
        progress(f"list: seeding {month:%Y-%m} ({len(rows):,} invoices so far)")
    await db.copy_records_to_table(
        "invoices",
        columns=[
            "invoice_id",
            "kind",
            "org_id",
            "period",
            "issued_on",
            "payable_on",
            "regular_charges",
            "additional_charges",
            "amount",
            "payments",
            "balance",
            "status",
            "approved",
            "sent",
        ],
        records=rows,
    )
    await db.copy_records_to_table(
        "invoice_lines",
        columns=[
            "invoice_id",
            "revision",
            "position",
            "type",
            "description",
            "service_line_number",
            "service_line_name",
            "plan_name",
            "quantity",
            "unit_price",
            "amount",
        ],
        records=lines,
    )
    await db.execute("ANALYZE invoices; ANALYZE invoice_lines")
    await db.execute("SELECT compact_invoice_totals()")
    return parents


async def timed(client: httpx.AsyncClient, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    r = await client.get("/api/v1/invoices", params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{params}: {r.status_code} {r.text[:200]}")
    return elapsed


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(
    gateway_url: str, token: str, dsn: str, invoices: int = 1_000_000
) -> tuple[float, float]:
    today = date.today()
    db = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        parents = await seed(db, invoices, today)
        progress(f"list: {invoices:,} invoices seeded in {time.perf_counter() - started:.0f}s")
    finally:
        await db.close()
    rng = random.Random(11)
    async with httpx.AsyncClient(
        base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        await timed(client, {})  # warm the connection and the caches
        default = []
        for _ in range(20):
            for view in (None, "this_month", "as_of_today"):
                for org in (None, rng.choice(parents)):
                    params = {k: v for k, v in (("view", view), ("org_id", org)) if v}
                    default.append(await timed(client, params))
        progress(f"list: {len(default)} default pages timed")
        filtered = []
        for _ in range(150):
            filtered.append(await timed(client, random_filters(rng, parents, today)))
        progress(f"list: {len(filtered)} filtered pages timed")
    return p99(default), p99(filtered)


def random_filters(rng: random.Random, parents: list[str], today: date) -> dict[str, Any]:
    """Two to four filters of the seed's menu, with a view and an order now and then."""
    choices: list[tuple[str, Any]] = [
        ("status", rng.choice(STATUSES)),
        ("min_amount", rng.randrange(0, 4000)),
        ("max_amount", rng.randrange(1000, 5000)),
        ("min_balance", rng.randrange(1, 2000)),
        ("min_regular_charges", rng.randrange(0, 3000)),
        ("payable_from", (today - timedelta(days=rng.randrange(30, 300))).isoformat()),
        ("payable_to", (today - timedelta(days=rng.randrange(0, 30))).isoformat()),
        ("plan_name", f"Plan {rng.randrange(40)}"),
        ("service_line_name", f"Vessel {rng.randrange(5000)}"),
        ("org_id", rng.choice(parents)),
        ("kind", "one_time"),
        ("view", rng.choice(["this_month", "as_of_today"])),
        ("sort", rng.choice(["-amount", "payable_on", "-balance", "org_name"])),
    ]
    return dict(rng.sample(choices, rng.randrange(2, 5)))
