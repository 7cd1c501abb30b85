"""Payments through the gateway: the time from a posting's POST to its new balance visible in
`GET /invoices/{id}` (over 2,000 postings), and sustained postings per second across many
invoices. Every posting carries its own Idempotency-Key, as a client would send."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

import httpx

from bench.report import progress

POLL_SECONDS = 0.005


@dataclass(frozen=True)
class PaymentFigures:
    to_balance_p99_ms: float
    to_balance_p50_ms: float
    payments_per_s: float


async def invoices(client: httpx.AsyncClient, count: int, price: str) -> list[str]:
    org = (await client.post("/api/v1/organizations", json={"name": "Bench payer"})).json()
    made_product = await client.post(
        "/api/v1/products", json={"name": f"Bench kit {uuid.uuid4().hex[:6]}", "unit_price": price}
    )
    made_product.raise_for_status()
    product = made_product.json()

    async def one() -> str:
        r = await client.post(
            "/api/v1/product-orders",
            json={
                "org_id": org["id"],
                "ordered_on": "2026-11-02",
                "items": [{"product_id": product["id"], "quantity": 1}],
            },
        )
        r.raise_for_status()
        return str(r.json()["invoice_id"])

    made: list[str] = []
    for start in range(0, count, 50):
        made += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return made


async def post(client: httpx.AsyncClient, invoice_id: str, amount: str) -> None:
    r = await client.post(
        f"/api/v1/invoices/{invoice_id}/payments",
        json={"amount": amount, "received_on": "2026-11-20", "method": "ACH"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    if r.status_code != 201:
        raise RuntimeError(f"posting refused: {r.status_code} {r.text}")


async def to_balance(client: httpx.AsyncClient, owned: list[str], per_invoice: int) -> list[float]:
    """One worker: its invoices one posting at a time, each timed until the balance shows it."""
    latencies = []
    for n in range(1, per_invoice + 1):
        for invoice_id in owned:
            started = time.perf_counter()
            await post(client, invoice_id, "1.00")
            want = Decimal(n)
            while True:
                d = (await client.get(f"/api/v1/invoices/{invoice_id}")).json()
                if Decimal(d["payments_total"]) == want:
                    break
                await asyncio.sleep(POLL_SECONDS)
            latencies.append(time.perf_counter() - started)
    return latencies


async def run(
    gateway_url: str, token: str, postings: int = 2000, burst: int = 5000
) -> PaymentFigures:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        limits=limits,
    ) as client:
        workers, per_invoice = 20, 10
        owned = await invoices(client, postings // per_invoice, "9000.00")
        await asyncio.sleep(2)  # the payments service learns of new invoices from their events
        progress(f"payments: {postings} postings, each timed until its balance shows")
        parts = await asyncio.gather(
            *(to_balance(client, owned[w::workers], per_invoice) for w in range(workers))
        )
        latencies = sorted(x for part in parts for x in part)

        many = await invoices(client, 500, "9000.00")
        await asyncio.sleep(2)
        progress(f"payments: {burst} postings across {len(many)} invoices, 64 at a time")
        queue = [many[i % len(many)] for i in range(burst)]
        started = time.perf_counter()

        async def drain() -> None:
            while queue:
                await post(client, queue.pop(), "1.00")

        await asyncio.gather(*(drain() for _ in range(64)))
        rate = burst / (time.perf_counter() - started)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return PaymentFigures(pct(0.99), pct(0.50), rate)
