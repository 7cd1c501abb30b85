"""Shared steps of the payments tests: invoices to pay, postings with keys, figures to compare."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx

from tests.integration.helpers import eventually


async def one_time_invoice(gateway: httpx.AsyncClient, price: str, label: str = "") -> str:
    """A ONE_TIME invoice of `price` for a new organization; answers its number."""
    t = uuid.uuid4().hex[:8]
    org = (await gateway.post("/api/v1/organizations", json={"name": f"Payer {label}{t}"})).json()
    product = (
        await gateway.post("/api/v1/products", json={"name": f"Kit {t}", "unit_price": price})
    ).json()
    r = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org["id"],
            "ordered_on": "2026-11-05",
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["invoice_id"])


async def pay(
    gateway: httpx.AsyncClient, invoice_id: str, amount: str, key: str | None = None, **more: Any
) -> httpx.Response:
    body = {"amount": amount, "received_on": "2026-11-20", "method": "WIRE", **more}
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return await gateway.post(f"/api/v1/invoices/{invoice_id}/payments", json=body, headers=headers)


async def figures(gateway: httpx.AsyncClient, invoice_id: str) -> tuple[str, str, str, str]:
    """(status, amount, payments, balance) as the invoice shows them."""
    d = (await gateway.get(f"/api/v1/invoices/{invoice_id}")).json()
    return d["status"], d["amount"], d["payments_total"], d["balance"]


async def settled(
    gateway: httpx.AsyncClient, invoice_id: str, payments: Decimal, timeout: float = 30
) -> tuple[str, str, str, str]:
    """Wait until the invoice shows these payments; answers its figures."""
    return await eventually(
        lambda: figures(gateway, invoice_id),
        lambda f: Decimal(f[2]) == payments,
        timeout=timeout,
    )


async def ledger_balanced(gateway: httpx.AsyncClient) -> dict[str, Any]:
    check = (await gateway.get("/api/v1/payments/ledger-check")).json()
    assert check["balanced"], check["problems"]
    assert check["ledger_total"] == "0.00"
    return dict(check)


async def payments_view(gateway: httpx.AsyncClient, invoice_id: str) -> list[dict[str, Any]]:
    r = await gateway.get(f"/api/v1/invoices/{invoice_id}/payments")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])
