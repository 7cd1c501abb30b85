"""The load of one fault run, sent as a careful client would: every request retried until it
is answered, with the same body and the same Idempotency-Key, so a retry never doubles."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx

RETRY_FOR = 240.0  # seconds a request keeps being retried through an outage
LINES, DAYS = 1000, 200  # 200,000 usage records
PAYMENT_INVOICES, POSTINGS_EACH = 100, 50  # 5,000 postings
SEND_INVOICES, SENDS_EACH = 50, 10  # 500 send requests


async def until_answered(
    client: httpx.AsyncClient, method: str, url: str, ok: tuple[int, ...], **kw: Any
) -> httpx.Response:
    deadline = time.monotonic() + RETRY_FOR
    last = "no answer"
    while True:
        try:
            r = await client.request(method, url, **kw)
            if r.status_code in ok:
                return r
            if r.status_code not in (429, 502, 503, 504):
                raise AssertionError(f"{method} {url}: {r.status_code} {r.text[:300]}")
            last = f"{r.status_code} {r.text[:300]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        if time.monotonic() > deadline:  # the last answer says which part did not heal
            raise AssertionError(f"{method} {url} not answered within {RETRY_FOR}s; last: {last}")
        await asyncio.sleep(0.25)


def line(run: str, i: int) -> str:
    return f"AST-{run}-{i:05d}-01"


def day(n: int) -> str:
    return f"2026-{1 + n // 28:02d}-{1 + n % 28:02d}"


def gb(i: int, n: int) -> str:
    return f"{i % 97 + 1}.{n % 1000:03d}"


def expected_usage(run: str) -> tuple[int, Decimal]:
    total = sum((Decimal(gb(i, n)) for i in range(LINES) for n in range(DAYS)), Decimal(0))
    return LINES * DAYS, total


async def push_usage(client: httpx.AsyncClient, run: str) -> None:
    async def batch(n: int) -> None:
        records = [
            {
                "service_line_number": line(run, i),
                "date": day(n),
                "priority_gb": gb(i, n),
                "observed_at": "2026-11-01T00:00:00Z",
            }
            for i in range(LINES)
        ]
        await until_answered(
            client, "POST", "/api/v1/usage/records", (202,), json={"records": records}
        )

    for start in range(0, DAYS, 4):
        await asyncio.gather(*(batch(n) for n in range(start, min(DAYS, start + 4))))


async def invoices_for(client: httpx.AsyncClient, run: str, count: int, contact: bool) -> list[str]:
    t = uuid.uuid4().hex[:6]
    body: dict[str, Any] = {"name": f"Fault {run} {t}"}
    if contact:
        body["customer_emails"] = [f"ap-{run.lower()}-{t}@example.com"]
    org = (await until_answered(client, "POST", "/api/v1/organizations", (201,), json=body)).json()
    product = (
        await until_answered(
            client,
            "POST",
            "/api/v1/products",
            (201,),
            json={"name": f"Kit {run} {t}", "unit_price": "50"},
        )
    ).json()
    numbers = []
    for _ in range(count):
        r = await until_answered(
            client,
            "POST",
            "/api/v1/product-orders",
            (201,),
            json={
                "org_id": org["id"],
                "ordered_on": "2026-11-03",
                "items": [{"product_id": product["id"], "quantity": 2}],
            },
        )
        numbers.append(r.json()["invoice_id"])
    return numbers


async def post_payments(client: httpx.AsyncClient, run: str, invoices: list[str]) -> None:
    async def worker(part: list[str]) -> None:
        for n in range(POSTINGS_EACH):
            for number in part:
                await until_answered(
                    client,
                    "POST",
                    f"/api/v1/invoices/{number}/payments",
                    (201,),
                    json={"amount": "2.00", "received_on": "2026-11-20", "method": "ACH"},
                    headers={"Idempotency-Key": f"{run}-{number}-{n}"},
                )

    await asyncio.gather(*(worker(invoices[w::8]) for w in range(8)))


async def request_sends(client: httpx.AsyncClient, run: str, invoices: list[str]) -> list[str]:
    ids: list[str] = []
    for number in invoices:
        await until_answered(client, "POST", f"/api/v1/invoices/{number}/approve", (200, 409))
    for n in range(SENDS_EACH):
        for number in invoices:
            r = await until_answered(
                client,
                "POST",
                f"/api/v1/invoices/{number}/send",
                (202,),
                json={"to": "customer"},
                headers={"Idempotency-Key": f"{run}-{number}-{n}"},
            )
            ids.append(r.json()["request_id"])
    return ids
