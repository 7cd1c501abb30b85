"""Billing runs, product orders and invoice reads through the gateway on the real stack."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def created(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def usage_of(gateway: httpx.AsyncClient, line: str, days: dict[str, str]) -> None:
    records = [
        {
            "service_line_number": line,
            "date": d,
            "priority_gb": gb,
            "observed_at": "2026-11-01T06:00:00Z",
        }
        for d, gb in days.items()
    ]
    assert (
        await gateway.post("/api/v1/usage/records", json={"records": records})
    ).status_code == 202


async def test_monthly_run_bills_regular_in_advance_and_last_months_overage(
    gateway: httpx.AsyncClient,
) -> None:
    t = tag()
    org = await created(
        gateway, "organizations", {"name": f"Shipping {t}", "payment_terms_days": 20}
    )
    plan = await created(
        gateway,
        "plans",
        {
            "name": f"Maritime {t}",
            "monthly_price": "150",
            "allowance_gb": "50",
            "overage_price_per_gb": "2.125",
        },
    )
    pool = await created(
        gateway,
        "sub-pools",
        {
            "org_id": org["id"],
            "name": f"Pool {t}",
            "monthly_price": "999.99",
            "allowance_gb": "100",
            "overage_price_per_gb": "1.5",
        },
    )
    on_plan, member = f"AST-{t}-1", f"AST-{t}-2"
    await created(
        gateway,
        "service-lines",
        {
            "service_line_number": on_plan,
            "name": "Vessel",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": "2026-10-01",
        },
    )
    await created(
        gateway,
        "service-lines",
        {
            "service_line_number": member,
            "name": "Rig",
            "org_id": org["id"],
            "sub_pool_id": pool["id"],
            "active_from": "2026-10-01",
        },
    )
    await usage_of(
        gateway, on_plan, {"2026-10-05": "40", "2026-10-20": "22.5", "2026-11-02": "999"}
    )
    await usage_of(gateway, member, {"2026-10-07": "120.25"})

    async def october(line: str) -> dict[str, Any]:
        r = await gateway.get(
            f"/api/v1/service-lines/{line}/usage-summary", params={"period": "2026-10"}
        )
        return dict(r.json())

    await eventually(lambda: october(on_plan), lambda s: s["priority_gb"] == "62.5")
    await eventually(lambda: october(member), lambda s: s["priority_gb"] == "120.25")

    run = await gateway.post("/api/v1/billing-runs", json={"period": "2026-11"})
    assert run.status_code == 200, run.text
    listed = (await gateway.get("/api/v1/invoices", params={"org_id": org["id"]})).json()
    assert len(listed["items"]) == 1
    summary = listed["items"][0]
    assert summary["invoice_id"] in run.json()["generated"]
    assert summary["invoice_id"].startswith("INV-202611-")
    # regular: plan 150.00 + pool 999.99; overage of October: (62.5 - 50) x 2.125 = 26.5625
    # -> 26.56 and pool (120.25 - 100) x 1.5 = 30.375 -> 30.38
    assert (
        summary["regular_charges"],
        summary["additional_charges"],
        summary["amount"],
        summary["payments"],
        summary["balance"],
    ) == ("1149.99", "56.94", "1206.93", "0.00", "1206.93")
    assert (summary["issued_on"], summary["payable_on"], summary["status"]) == (
        "2026-11-01",
        "2026-11-21",
        "GENERATED",
    )
    assert listed["totals"] == {"invoiced": "1206.93", "balance": "1206.93"}
    assert listed["counts"] == {"generated": 1, "sent": 0, "partial": 0, "paid": 0}

    detail = (await gateway.get(f"/api/v1/invoices/{summary['invoice_id']}")).json()
    assert [(x["type"], x["amount"]) for x in detail["lines"]] == [
        ("REGULAR", "150.00"),
        ("OVERAGE", "26.56"),
        ("REGULAR", "999.99"),
        ("OVERAGE", "30.38"),
        ("USAGE_INFO", "0.00"),
    ]
    assert detail["lines"][1]["usage_gb"] == "12.5"
    assert detail["lines"][4]["usage_gb"] == "120.25"
    assert "approve" in detail["allowed_actions"]

    again = (await gateway.post("/api/v1/billing-runs", json={"period": "2026-11"})).json()
    assert summary["invoice_id"] not in again["generated"]
    assert {"org_id": org["id"], "reason": f"already generated as {summary['invoice_id']}"} in (
        again["skipped"]
    )


async def test_product_order_creates_a_one_time_invoice_at_once(
    gateway: httpx.AsyncClient,
) -> None:
    t = tag()
    org = await created(gateway, "organizations", {"name": f"Buyer {t}", "payment_terms_days": 15})
    kit = await created(gateway, "products", {"name": f"Kit {t}", "unit_price": "599"})
    mount = await created(gateway, "products", {"name": f"Mount {t}", "unit_price": "10.50"})
    invoice = await created(
        gateway,
        "product-orders",
        {
            "org_id": org["id"],
            "ordered_on": "2026-11-12",
            "items": [
                {"product_id": kit["id"], "quantity": 2},
                {"product_id": mount["id"], "quantity": 3},
            ],
        },
    )
    assert invoice["kind"] == "ONE_TIME" and invoice["invoice_id"].startswith("INV-202611-")
    assert (invoice["regular_charges"], invoice["amount"], invoice["balance"]) == (
        "1229.50",
        "1229.50",
        "1229.50",
    )
    assert (invoice["issued_on"], invoice["payable_on"]) == ("2026-11-12", "2026-11-27")
    assert [(x["type"], x["quantity"], x["unit_price"], x["amount"]) for x in invoice["lines"]] == [
        ("PRODUCT", "2", "599.00", "1198.00"),
        ("PRODUCT", "3", "10.50", "31.50"),
    ]
    listed = (
        await gateway.get("/api/v1/invoices", params={"kind": "one_time", "org_id": org["id"]})
    ).json()
    assert [i["invoice_id"] for i in listed["items"]] == [invoice["invoice_id"]]
    subscription = (await gateway.get("/api/v1/invoices", params={"org_id": org["id"]})).json()
    assert subscription["items"] == []
    bad = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org["id"],
            "ordered_on": "2026-11-12",
            "items": [{"product_id": "prod_nope", "quantity": 1}],
        },
    )
    assert bad.status_code == 422 and "items.0.product_id" in bad.json()["error"]["fields"]
    zero = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org["id"],
            "ordered_on": "2026-11-12",
            "items": [{"product_id": kit["id"], "quantity": 0}],
        },
    )
    assert zero.status_code == 422


async def test_invoice_filters_and_org_scoping(stack: Stack, gateway: httpx.AsyncClient) -> None:
    t = tag()
    mine = await created(gateway, "organizations", {"name": f"Mine {t}"})
    theirs = await created(gateway, "organizations", {"name": f"Theirs {t}"})
    product = await created(gateway, "products", {"name": f"Thing {t}", "unit_price": "100"})
    invoices = {}
    for org in (mine, theirs):
        invoices[org["id"]] = await created(
            gateway,
            "product-orders",
            {
                "org_id": org["id"],
                "ordered_on": "2026-11-03",
                "items": [{"product_id": product["id"], "quantity": 1}],
            },
        )

    big = (
        await gateway.get(
            "/api/v1/invoices",
            params={
                "kind": "one_time",
                "min_amount": "100",
                "max_amount": "100",
                "invoice_id": invoices[mine["id"]]["invoice_id"],
            },
        )
    ).json()
    assert [i["org_id"] for i in big["items"]] == [mine["id"]]
    none = (
        await gateway.get(
            "/api/v1/invoices",
            params={"kind": "one_time", "org_id": mine["id"], "min_balance": "100.01"},
        )
    ).json()
    assert none["items"] == [] and none["totals"] == {"invoiced": "0.00", "balance": "0.00"}

    token = (
        await gateway.post(
            "/api/v1/tokens", json={"name": "org user", "role": "org_user", "org_id": mine["id"]}
        )
    ).json()["token"]
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as user:
        seen = (
            await user.get("/api/v1/invoices", params={"kind": "one_time", "org_id": theirs["id"]})
        ).json()
        assert {i["org_id"] for i in seen["items"]} == {mine["id"]}
        other = await user.get(f"/api/v1/invoices/{invoices[theirs['id']]['invoice_id']}")
        assert other.status_code == 404
        own = await user.get(f"/api/v1/invoices/{invoices[mine['id']]['invoice_id']}")
        assert own.status_code == 200
        assert (
            await user.post("/api/v1/billing-runs", json={"period": "2026-11"})
        ).status_code == 403


async def test_scheduler_ran_this_months_billing_once_at_start(db: Any) -> None:
    from datetime import UTC, datetime

    period = datetime.now(UTC).strftime("%Y-%m")
    triggers = [
        r["trigger"]
        for r in await db.fetch(
            "SELECT trigger FROM invoicing.billing_runs WHERE period = $1", period
        )
    ]
    assert triggers.count("scheduler") == 1
