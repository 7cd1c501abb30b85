"""Every filter of the invoice list, through the gateway: each answers exactly the invoices
that satisfy it, with totals and counts over that set (checked against the invoices)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.payments_helpers import pay, settled

pytestmark = pytest.mark.integration
KEYS = {
    "GENERATED": "generated",
    "SENT_FOR_PAYMENT": "sent",
    "PARTIAL_PAID": "partial",
    "PAYMENT_DONE": "paid",
}


async def created(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def listed(gateway: httpx.AsyncClient, params: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.get("/api/v1/invoices", params={**params, "limit": 500})
    assert r.status_code == 200, r.text
    return dict(r.json())


def summed(items: list[dict[str, Any]], key: str) -> str:
    return f"{sum((Decimal(x[key]) for x in items), Decimal(0)):.2f}"


async def test_every_filter_selects_exactly_what_it_says(gateway: httpx.AsyncClient) -> None:
    t = uuid.uuid4().hex[:6]
    parent = await created(gateway, "organizations", {"name": f"Filter fleet {t}"})
    child = await created(
        gateway, "organizations", {"name": f"Filter tug {t}", "parent_id": parent["id"]}
    )
    plan = await created(
        gateway,
        "plans",
        {
            "name": f"Ocean-{t}",
            "monthly_price": "100",
            "allowance_gb": "10",
            "overage_price_per_gb": "1",
        },
    )
    other_plan = await created(
        gateway,
        "plans",
        {
            "name": f"Coast-{t}",
            "monthly_price": "40",
            "allowance_gb": "5",
            "overage_price_per_gb": "1",
        },
    )
    for org, name, plan_id, start in (
        (parent, f"Vessel-A-{t}", plan["id"], "2030-01-01"),
        (child, f"Vessel-B-{t}", plan["id"], "2030-05-16"),
        (child, f"Tender-C-{t}", other_plan["id"], "2030-01-01"),
    ):
        await created(
            gateway,
            "service-lines",
            {
                "service_line_number": f"AST-{t}-{name[-8:-7]}-{uuid.uuid4().hex[:4]}",
                "name": name,
                "org_id": org["id"],
                "plan_id": plan_id,
                "active_from": start,
            },
        )
    run = await gateway.post("/api/v1/billing-runs", json={"period": "2030-05"})
    assert run.status_code == 200, run.text
    product = await created(gateway, "products", {"name": f"Dish {t}", "unit_price": "250"})
    await created(
        gateway,
        "product-orders",
        {
            "org_id": child["id"],
            "ordered_on": "2030-05-20",
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )

    scope = {"org_id": parent["id"]}
    subscription = (await listed(gateway, scope))["items"]
    assert len(subscription) == 2
    assert {x["org_id"] for x in subscription} == {parent["id"], child["id"]}
    by_org = {x["org_id"]: x for x in subscription}
    assert by_org[parent["id"]]["amount"] == "100.00"
    assert by_org[child["id"]]["amount"] == "91.61"  # 16/31 of 100 + a full 40
    await pay(gateway, by_org[child["id"]]["invoice_id"], "41.61")
    await settled(gateway, by_org[child["id"]]["invoice_id"], Decimal("41.61"))
    subscription = (await listed(gateway, scope))["items"]
    one_time = (await listed(gateway, {**scope, "kind": "one_time"}))["items"]
    assert [x["amount"] for x in one_time] == ["250.00"]

    child_id = by_org[child["id"]]["invoice_id"]
    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        ({"service_line_name": f"vessel-a-{t}"}, lambda x: x["org_id"] == parent["id"]),
        ({"service_line_name": f"Tender-C-{t}"}, lambda x: x["org_id"] == child["id"]),
        ({"plan_name": f"ocean-{t}"}, lambda x: True),
        ({"plan_name": f"Coast-{t}"}, lambda x: x["org_id"] == child["id"]),
        ({"plan_name": "%"}, lambda x: False),  # matched as itself, not as a wildcard
        ({"invoice_id": child_id}, lambda x: x["invoice_id"] == child_id),
        ({"status": "PARTIAL_PAID"}, lambda x: x["status"] == "PARTIAL_PAID"),
        ({"status": "GENERATED"}, lambda x: x["status"] == "GENERATED"),
        ({"min_regular_charges": "95"}, lambda x: Decimal(x["regular_charges"]) >= 95),
        ({"max_regular_charges": "95"}, lambda x: Decimal(x["regular_charges"]) <= 95),
        ({"min_amount": "91.61"}, lambda x: Decimal(x["amount"]) >= Decimal("91.61")),
        ({"max_amount": "91.61"}, lambda x: Decimal(x["amount"]) <= Decimal("91.61")),
        ({"min_balance": "60"}, lambda x: Decimal(x["balance"]) >= 60),
        ({"max_balance": "60"}, lambda x: Decimal(x["balance"]) <= 60),
        (
            {"payable_from": subscription[0]["payable_on"]},
            lambda x: x["payable_on"] >= subscription[0]["payable_on"],
        ),
        ({"payable_to": "2030-05-01"}, lambda x: x["payable_on"] <= "2030-05-01"),
        ({"org_id": child["id"]}, lambda x: x["org_id"] == child["id"]),
        (
            {"min_amount": "50", "max_balance": "60", "status": "PARTIAL_PAID"},
            lambda x: x["invoice_id"] == child_id,
        ),
    ]
    for params, keep in cases:
        answer = await listed(gateway, {**scope, **params})
        want = [x for x in subscription if keep(x)]
        got = answer["items"]
        assert sorted(x["invoice_id"] for x in got) == sorted(x["invoice_id"] for x in want), params
        assert answer["totals"] == {
            "invoiced": summed(want, "amount"),
            "balance": summed(want, "balance"),
        }, params
        counts = dict.fromkeys(KEYS.values(), 0)
        for x in want:
            counts[KEYS[x["status"]]] += 1
        assert answer["counts"] == counts, params
