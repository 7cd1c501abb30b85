"""The invoice list: orders with keyset cursors, and totals and counts that agree with the
invoices themselves, whether they come from the maintained day totals or from the rows."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.payments_helpers import pay, settled

pytestmark = pytest.mark.integration
STATUS_KEY = {
    "GENERATED": "generated",
    "SENT_FOR_PAYMENT": "sent",
    "PARTIAL_PAID": "partial",
    "PAYMENT_DONE": "paid",
}


async def every_page(gateway: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await gateway.get("/api/v1/invoices", params=query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_sorted_pages_with_cursors(gateway: httpx.AsyncClient) -> None:
    t = uuid.uuid4().hex[:6]
    org = (await gateway.post("/api/v1/organizations", json={"name": f"Sorted {t}"})).json()
    prices = ["30.00", "10.00", "50.00", "20.00", "40.00", "20.00"]
    for n, price in enumerate(prices):
        product = (
            await gateway.post("/api/v1/products", json={"name": f"P{n} {t}", "unit_price": price})
        ).json()
        await gateway.post(
            "/api/v1/product-orders",
            json={
                "org_id": org["id"],
                "ordered_on": f"2026-10-{n + 1:02d}",
                "items": [{"product_id": product["id"], "quantity": 1}],
            },
        )
    base = {"kind": "one_time", "org_id": org["id"], "limit": 2}
    by_amount = await every_page(gateway, {**base, "sort": "-amount"})
    assert [x["amount"] for x in by_amount] == sorted(prices, key=Decimal, reverse=True)
    ties = [x["invoice_id"] for x in by_amount if x["amount"] == "20.00"]
    assert ties == sorted(ties, reverse=True)  # the invoice id breaks ties, same direction
    by_date = await every_page(gateway, {**base, "sort": "payable_on"})
    assert [x["payable_on"] for x in by_date] == sorted(x["payable_on"] for x in by_date)
    assert len({x["invoice_id"] for x in by_date}) == len(prices)

    bad = await gateway.get("/api/v1/invoices", params={**base, "sort": "colour"})
    assert bad.status_code == 422 and "sort" in bad.json()["error"]["fields"]
    page = (await gateway.get("/api/v1/invoices", params={**base, "sort": "amount"})).json()
    mixed = await gateway.get(
        "/api/v1/invoices", params={**base, "sort": "payable_on", "cursor": page["next_cursor"]}
    )
    assert mixed.status_code == 422
    garbage = await gateway.get("/api/v1/invoices", params={**base, "cursor": "%%%"})
    assert garbage.status_code == 422


def expected(items: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, int]]:
    counts = Counter(STATUS_KEY[x["status"]] for x in items)
    return (
        {
            "invoiced": f"{sum((Decimal(x['amount']) for x in items), Decimal(0)):.2f}",
            "balance": f"{sum((Decimal(x['balance']) for x in items), Decimal(0)):.2f}",
        },
        {k: counts.get(k, 0) for k in ("generated", "sent", "partial", "paid")},
    )


@pytest.mark.parametrize("view", [None, "this_month", "as_of_today"])
async def test_totals_over_every_organization_match_the_invoices(
    gateway: httpx.AsyncClient, view: str | None
) -> None:
    t = uuid.uuid4().hex[:6]
    org = (await gateway.post("/api/v1/organizations", json={"name": f"Totals {t}"})).json()
    product = (
        await gateway.post("/api/v1/products", json={"name": f"Kit {t}", "unit_price": "75.5"})
    ).json()
    r = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org["id"],
            "ordered_on": "2026-11-02",
            "items": [{"product_id": product["id"], "quantity": 2}],
        },
    )
    number = r.json()["invoice_id"]
    await pay(gateway, number, "51")
    await settled(gateway, number, Decimal(51))  # a status change after the insert
    for kind in ("one_time", "subscription"):
        params = {"kind": kind, "limit": 500, **({"view": view} if view else {})}
        first = (await gateway.get("/api/v1/invoices", params=params)).json()
        items = await every_page(gateway, params)
        assert (first["totals"], first["counts"]) == expected(items), (kind, view)
        partial = {**params, "status": "PARTIAL_PAID"}
        only = (await gateway.get("/api/v1/invoices", params=partial)).json()
        assert only["counts"]["partial"] == first["counts"]["partial"]
        assert sum(only["counts"].values()) == only["counts"]["partial"]
