"""The catalog through the gateway on the real stack: creation, lists, clear errors."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from devstack.stack import Stack

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


async def post(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def error(gateway: httpx.AsyncClient, path: str, body: dict[str, Any], status: int) -> Any:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == status, r.text
    return r.json()["error"]


async def make_org(gateway: httpx.AsyncClient, parent: str | None = None) -> dict[str, Any]:
    return await post(
        gateway,
        "organizations",
        {
            "name": unique("Org"),
            "parent_id": parent,
            "customer_emails": ["ap@example.com"],
            "finance_emails": ["finance@example.com"],
            "payment_terms_days": 15,
        },
    )


async def make_plan(gateway: httpx.AsyncClient, **overage: str) -> dict[str, Any]:
    return await post(
        gateway,
        "plans",
        {
            "name": unique("Plan"),
            "monthly_price": "150",
            "allowance_gb": "50.5",
            **(overage or {"overage_price_per_gb": "2.125"}),
        },
    )


async def test_organizations_form_a_tree_and_lists_include_sub_organizations(
    gateway: httpx.AsyncClient,
) -> None:
    parent = await make_org(gateway)
    child = await make_org(gateway, parent["id"])
    assert parent["id"].startswith("org_") and child["parent_id"] == parent["id"]
    assert parent["payment_terms_days"] == 15 and parent["customer_emails"] == ["ap@example.com"]
    listed = (await gateway.get("/api/v1/organizations", params={"org_id": parent["id"]})).json()
    assert {o["id"] for o in listed["items"]} == {parent["id"], child["id"]}
    unknown = await error(gateway, "organizations", {"name": "x", "parent_id": "org_nope"}, 422)
    assert "parent_id" in unknown["fields"]


async def test_plans_per_gb_and_block_overage_with_exact_decimals(
    gateway: httpx.AsyncClient,
) -> None:
    per_gb = await make_plan(gateway)
    assert (per_gb["monthly_price"], per_gb["allowance_gb"], per_gb["overage_price_per_gb"]) == (
        "150.00",
        "50.5",
        "2.125",
    )
    block = await make_plan(gateway, overage_block_gb="50", overage_block_price="25")
    assert (block["overage_block_gb"], block["overage_block_price"]) == ("50", "25.00")
    assert block["overage_price_per_gb"] is None
    name_taken = await error(
        gateway,
        "plans",
        {
            **{
                k: per_gb[k]
                for k in ("name", "monthly_price", "allowance_gb", "overage_price_per_gb")
            }
        },
        409,
    )
    assert name_taken["fields"] == {"name": "already taken"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"monthly_price": "-1"}, "monthly_price"),
        ({"monthly_price": "1.005"}, "monthly_price"),
        ({"monthly_price": 10.5}, "monthly_price"),
        ({"allowance_gb": "-5"}, "allowance_gb"),
        ({"overage_price_per_gb": None}, "body"),
        ({"overage_block_gb": "50"}, "body"),
    ],
)
async def test_bad_plans_are_refused_with_the_field(
    gateway: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {
        "name": unique("Bad"),
        "monthly_price": "10",
        "allowance_gb": "1",
        "overage_price_per_gb": "1",
        **change,
    }
    err = await error(gateway, "plans", body, 422)
    assert field in err["fields"], err


async def test_service_lines_on_a_plan_or_in_a_pool_never_both_never_overlapping(
    gateway: httpx.AsyncClient,
) -> None:
    org = await make_org(gateway)
    child = await make_org(gateway, org["id"])
    plan = await make_plan(gateway)
    pool = await post(
        gateway,
        "sub-pools",
        {
            "org_id": org["id"],
            "name": "Fleet pool",
            "monthly_price": "999.99",
            "allowance_gb": "1000",
            "overage_price_per_gb": "1.5",
        },
    )
    number = f"AST-{uuid.uuid4().int % 10**6:06d}-12345-01"
    line = await post(
        gateway,
        "service-lines",
        {
            "service_line_number": number,
            "name": "Vessel 1",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": "2026-10-01",
            "active_to": "2026-10-31",
        },
    )
    assert line["id"].startswith("sl_") and line["active_to"] == "2026-10-31"
    moved = await post(
        gateway,
        "service-lines",
        {
            "service_line_number": number,
            "name": "Vessel 1",
            "org_id": child["id"],
            "sub_pool_id": pool["id"],
            "active_from": "2026-11-01",
        },
    )
    assert moved["sub_pool_id"] == pool["id"] and moved["plan_id"] is None

    overlap = await error(
        gateway,
        "service-lines",
        {
            "service_line_number": number,
            "name": "again",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": "2026-10-31",
            "active_to": "2026-11-01",
        },
        409,
    )
    assert "already active" in overlap["message"]
    both = await error(
        gateway,
        "service-lines",
        {
            "service_line_number": "AST-1-1-1",
            "name": "x",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "sub_pool_id": pool["id"],
            "active_from": "2026-11-01",
        },
        422,
    )
    assert "exactly one" in str(both)
    backwards = await error(
        gateway,
        "service-lines",
        {
            "service_line_number": "AST-1-1-2",
            "name": "x",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": "2026-11-02",
            "active_to": "2026-11-01",
        },
        422,
    )
    assert "before" in str(backwards)
    for field, value in (("org_id", "org_nope"), ("plan_id", "plan_nope")):
        unknown = await error(
            gateway,
            "service-lines",
            {
                "service_line_number": "AST-1-1-3",
                "name": "x",
                "org_id": org["id"],
                "plan_id": plan["id"],
                "active_from": "2026-11-01",
                field: value,
            },
            422,
        )
        assert field in unknown["fields"]
    other = await make_org(gateway)
    foreign = await error(
        gateway,
        "service-lines",
        {
            "service_line_number": "AST-1-1-4",
            "name": "x",
            "org_id": other["id"],
            "sub_pool_id": pool["id"],
            "active_from": "2026-11-01",
        },
        422,
    )
    assert "sub_pool_id" in foreign["fields"]
    listed = (await gateway.get("/api/v1/service-lines", params={"org_id": org["id"]})).json()
    assert {x["id"] for x in listed["items"]} == {line["id"], moved["id"]}


async def test_products_and_cursor_pagination(gateway: httpx.AsyncClient) -> None:
    made = [
        await post(gateway, "products", {"name": unique("Kit"), "unit_price": "599"})
        for _ in range(3)
    ]
    assert made[0]["unit_price"] == "599.00"
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await gateway.get("/api/v1/products", params=params)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert {p["id"] for p in made} <= set(seen) and len(seen) == len(set(seen))


async def test_catalog_roles(stack: Stack, gateway: httpx.AsyncClient) -> None:
    org = await make_org(gateway)
    child = await make_org(gateway, org["id"])
    other = await make_org(gateway)
    tokens = {}
    for role, org_id in (("finance", None), ("org_user", org["id"]), ("feed", None)):
        made = await gateway.post(
            "/api/v1/tokens", json={"name": role, "role": role, "org_id": org_id}
        )
        tokens[role] = made.json()["token"]

    async def as_role(role: str, method: str, path: str, **kw: Any) -> httpx.Response:
        async with httpx.AsyncClient(
            base_url=stack.config.gateway_url, headers={"Authorization": f"Bearer {tokens[role]}"}
        ) as client:
            return await client.request(method, path, **kw)

    body = {"name": "x", "unit_price": "1"}
    assert (await as_role("finance", "POST", "/api/v1/products", json=body)).status_code == 403
    assert (await as_role("finance", "GET", "/api/v1/products")).status_code == 200
    assert (await as_role("feed", "GET", "/api/v1/products")).status_code == 403
    mine = await as_role("org_user", "GET", "/api/v1/organizations", params={"org_id": other["id"]})
    assert {o["id"] for o in mine.json()["items"]} == {org["id"], child["id"]}
