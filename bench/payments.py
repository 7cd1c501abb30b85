"""Payments through the gateway: the time from a posting's POST to its new balance visible in
`GET /invoices/{id}` (over 2,000 postings by 20 clients in steady use, after a warm-up: see
WARM_UP_POSTINGS), and sustained postings per second across many invoices. Every posting
carries its own Idempotency-Key, as a client would send.

The client is aiohttp: httpx's pool polls every idle connection on each request, and with 64
requests at once this bench spent more CPU than the gateway and the payments service together
(8 ms a posting), on the same two cores as the stack it measures."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from bench.report import progress

POLL_SECONDS = 0.005
WARM_UP_POSTINGS = 10
"""Each client's first postings, on an invoice of its own, before the timed ones: the stack's
cold start (new keep-alive connections at every hop, statements prepared on each pooled
connection, the interpreter's specializing) is not what a payer waits for in steady use, and
all twenty clients starting at one instant are in step for a while: on a fresh stack the
latency a second took ~3 s to settle, about ten postings a client. Each client goes on from
its warm-up straight into its timed postings, so the timed load is the same throughout. Their
latencies are shown on the progress line, not counted in the figures."""


PACED_SECONDS = 10
PACED_POLL_SECONDS = 0.02
"""The paced part offers postings at half the closed loop's own rate for PACED_SECONDS, each
polled every 20 ms: at 5 ms, the polls of the postings in flight alone (a GET costs the stack
~4 ms of CPU) would take both cores again."""


@dataclass(frozen=True)
class PaymentFigures:
    to_balance_p99_ms: float
    to_balance_p50_ms: float
    payments_per_s: float
    at_half_p99_ms: float = 0.0
    at_half_p50_ms: float = 0.0


async def created(client: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
    async with client.post(path, json=body) as r:
        r.raise_for_status()
        return await r.json()


async def invoices(client: aiohttp.ClientSession, count: int, price: str) -> list[str]:
    org = await created(client, "/api/v1/organizations", {"name": "Bench payer"})
    product = await created(
        client,
        "/api/v1/products",
        {"name": f"Bench kit {uuid.uuid4().hex[:6]}", "unit_price": price},
    )

    async def one() -> str:
        order = {
            "org_id": org["id"],
            "ordered_on": "2026-11-02",
            "items": [{"product_id": product["id"], "quantity": 1}],
        }
        return str((await created(client, "/api/v1/product-orders", order))["invoice_id"])

    made: list[str] = []
    for start in range(0, count, 50):
        made += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return made


async def known_to_payments(client: aiohttp.ClientSession, invoice_ids: list[str]) -> float:
    """Wait until the payments service knows every one of `invoice_ids` (it learns of invoices
    from their events; `GET …/payments` waits for an invoice it has not heard of yet, up to its
    patience), so that the clock measures postings, not the copy's lag; answers the seconds
    waited. Right after the bench's billing run that lag was ~1.5 s (the payments service was
    still copying the run's thousands of invoice events), and the first postings, each waiting
    for its invoice, took the p99 with them."""
    started = time.perf_counter()
    queue = list(invoice_ids)

    async def ask() -> None:
        while queue:
            invoice_id = queue.pop()
            for _ in range(20):
                async with client.get(f"/api/v1/invoices/{invoice_id}/payments") as r:
                    if r.status == 200:
                        break
            else:
                raise RuntimeError(f"the payments service never learned of {invoice_id}")

    await asyncio.gather(*(ask() for _ in range(10)))
    return time.perf_counter() - started


async def post(client: aiohttp.ClientSession, invoice_id: str, amount: str) -> None:
    async with client.post(
        f"/api/v1/invoices/{invoice_id}/payments",
        json={"amount": amount, "received_on": "2026-11-20", "method": "ACH"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    ) as r:
        if r.status != 201:
            raise RuntimeError(f"posting refused: {r.status} {await r.text()}")


async def paid_total(client: aiohttp.ClientSession, invoice_id: str) -> Decimal:
    async with client.get(f"/api/v1/invoices/{invoice_id}") as r:
        return Decimal((await r.json())["payments_total"])


async def visible(
    client: aiohttp.ClientSession, invoice_id: str, paid: Decimal, poll: float = POLL_SECONDS
) -> float:
    """Post 1.00 on the invoice and poll it until its payments total reads `paid` (or more: a
    paced posting's successor on the invoice may show with it); seconds."""
    started = time.perf_counter()
    await post(client, invoice_id, "1.00")
    while await paid_total(client, invoice_id) < paid:
        await asyncio.sleep(poll)
    return time.perf_counter() - started


async def paced(
    client: aiohttp.ClientSession, invoices: list[str], already: Decimal, rate: float
) -> list[float]:
    """Postings of 1.00 offered on a fixed schedule at `rate` a second for PACED_SECONDS, round
    the invoices (each showing `already`), each timed until its balance shows it: the latency
    of the path itself, where the closed loop of twenty clients keeps both cores busy (its
    latency is then the clients' number times the CPU of a posting over the cores)."""
    count = int(rate * PACED_SECONDS)
    start = time.perf_counter()

    async def one(k: int) -> float:
        await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
        invoice_id = invoices[k % len(invoices)]
        paid = already + k // len(invoices) + 1
        return await visible(client, invoice_id, paid, PACED_POLL_SECONDS)

    return sorted(await asyncio.gather(*(one(k) for k in range(count))))


async def to_balance(
    client: aiohttp.ClientSession, owned: list[str], per_invoice: int, warm_up: str
) -> tuple[list[float], list[float]]:
    """One worker: its warm-up postings, then its invoices one posting at a time, each timed
    until the balance shows it; answers (warm-up latencies, timed latencies)."""
    warm = [await visible(client, warm_up, Decimal(n)) for n in range(1, WARM_UP_POSTINGS + 1)]
    latencies = []
    for n in range(1, per_invoice + 1):
        for invoice_id in owned:
            latencies.append(await visible(client, invoice_id, Decimal(n)))
    return warm, latencies


async def run(
    gateway_url: str, token: str, postings: int = 2000, burst: int = 5000
) -> PaymentFigures:
    async with aiohttp.ClientSession(
        base_url=gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=aiohttp.ClientTimeout(total=60),
        connector=aiohttp.TCPConnector(limit=100),
    ) as client:
        workers, per_invoice = 20, 10
        owned = await invoices(client, postings // per_invoice + workers, "9000.00")
        waited = await known_to_payments(client, owned)
        warm_ups, owned = owned[:workers], owned[workers:]
        progress(
            f"payments: {postings} postings, each timed until its balance shows, after"
            f" {WARM_UP_POSTINGS} untimed ones per client (the payments service knew the"
            f" invoices {waited:.1f} s after they were made)"
        )
        started = time.perf_counter()
        parts = await asyncio.gather(
            *(
                to_balance(client, owned[w::workers], per_invoice, warm_ups[w])
                for w in range(workers)
            )
        )
        closed_rate = (postings + workers * WARM_UP_POSTINGS) / (time.perf_counter() - started)
        latencies = sorted(x for part in parts for x in part[1])
        warm = sorted(x for part in parts for x in part[0])
        progress(
            f"payments: warm-up ({len(warm)} postings, not counted): p50"
            f" {warm[len(warm) // 2] * 1000:.0f} ms, max {warm[-1] * 1000:.0f} ms"
        )

        many = await invoices(client, 500, "9000.00")
        waited = await known_to_payments(client, many)
        progress(
            f"payments: {burst} postings across {len(many)} invoices, 64 at a time"
            f" (known to the payments service after {waited:.1f} s)"
        )
        queue = [many[i % len(many)] for i in range(burst)]
        started = time.perf_counter()

        async def drain() -> None:
            while queue:
                await post(client, queue.pop(), "1.00")

        await asyncio.gather(*(drain() for _ in range(64)))
        rate = burst / (time.perf_counter() - started)

        progress(
            f"payments at half load: {closed_rate / 2:.0f} postings/s offered for"
            f" {PACED_SECONDS} s (the twenty clients made {closed_rate:.0f}/s) round the"
            f" {len(owned)} timed invoices, each timed until its balance shows"
        )
        half = await paced(client, owned, Decimal(per_invoice), closed_rate / 2)

    def pct(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(len(values) * p))] * 1000

    return PaymentFigures(
        pct(latencies, 0.99),
        pct(latencies, 0.50),
        rate,
        pct(half, 0.99),
        pct(half, 0.50),
    )
