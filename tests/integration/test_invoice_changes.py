"""Regenerate, approve and edit on the real stack: late usage is not lost, approved invoices
are never changed silently, every change is a revision with who, when and why."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


async def created(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def push(gateway: httpx.AsyncClient, line: str, day: str, gb: str) -> None:
    r = await gateway.post(
        "/api/v1/usage/records",
        json={
            "records": [
                {
                    "service_line_number": line,
                    "date": day,
                    "priority_gb": gb,
                    "observed_at": "2027-03-01T00:00:00Z",
                }
            ]
        },
    )
    assert r.status_code == 202


async def february(gateway: httpx.AsyncClient, line: str) -> str:
    r = await gateway.get(
        f"/api/v1/service-lines/{line}/usage-summary", params={"period": "2027-02"}
    )
    return str(r.json()["priority_gb"])


async def test_late_usage_regenerate_approve_edit(gateway: httpx.AsyncClient) -> None:
    t = uuid.uuid4().hex[:8]
    org = await created(gateway, "organizations", {"name": f"Fleet {t}"})
    plan = await created(
        gateway,
        "plans",
        {
            "name": f"Plan {t}",
            "monthly_price": "150",
            "allowance_gb": "50",
            "overage_price_per_gb": "2.125",
        },
    )
    line = f"AST-{t}-9"
    await created(
        gateway,
        "service-lines",
        {
            "service_line_number": line,
            "name": "Tug",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": "2027-02-01",
        },
    )
    await push(gateway, line, "2027-02-03", "60")
    await eventually(lambda: february(gateway, line), lambda gb: gb == "60")
    await gateway.post("/api/v1/billing-runs", json={"period": "2027-03"})
    [invoice] = (await gateway.get("/api/v1/invoices", params={"org_id": org["id"]})).json()[
        "items"
    ]
    number = invoice["invoice_id"]
    assert invoice["amount"] == "171.25"  # 150 + 10 GB x 2.125

    await push(gateway, line, "2027-02-27", "10")  # late usage of February
    await eventually(lambda: february(gateway, line), lambda gb: gb == "70")
    body = {"period": "2027-03", "org_id": org["id"]}
    regenerated = (await gateway.post("/api/v1/invoices/regenerate", json=body)).json()
    assert regenerated == {"regenerated": [number], "skipped": []}
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    assert (detail["amount"], detail["additional_charges"], detail["revision"]) == (
        "192.50",
        "42.50",
        2,
    )
    assert [
        (r["revision"], r["amount_before"], r["amount_after"]) for r in detail["revisions"]
    ] == [(2, "171.25", "192.50")]
    assert detail["revisions"][0]["by"] == "bootstrap-admin"

    again = (await gateway.post("/api/v1/invoices/regenerate", json=body)).json()
    assert again["regenerated"] == [number]
    assert (await gateway.get(f"/api/v1/invoices/{number}")).json()["revision"] == 2

    approved = await gateway.post(f"/api/v1/invoices/{number}/approve")
    assert approved.status_code == 200 and approved.json()["approved"] is True
    assert "send" in approved.json()["allowed_actions"]
    twice = await gateway.post(f"/api/v1/invoices/{number}/approve")
    assert twice.status_code == 409
    skipped = (await gateway.post("/api/v1/invoices/regenerate", json=body)).json()
    assert skipped["regenerated"] == [] and "approved" in skipped["skipped"][0]["reason"]

    lines = [{k: v for k, v in x.items() if v is not None} for x in detail["lines"]]
    credit = {"type": "ADJUSTMENT", "description": "Goodwill credit", "amount": "-10.00"}
    edited = await gateway.patch(
        f"/api/v1/invoices/{number}", json={"lines": [*lines, credit], "reason": "storm outage"}
    )
    assert edited.status_code == 200, edited.text
    after = edited.json()
    assert (
        after["amount"],
        after["additional_charges"],
        after["balance"],
        after["revision"],
        after["approved"],
    ) == ("182.50", "32.50", "182.50", 3, False)
    assert after["revisions"][-1]["reason"] == "storm outage"
    assert after["lines"][-1]["type"] == "ADJUSTMENT"

    bad_info = await gateway.patch(
        f"/api/v1/invoices/{number}",
        json={"lines": [{"type": "USAGE_INFO", "description": "x", "amount": "5"}], "reason": "r"},
    )
    assert bad_info.status_code == 422
    no_reason = await gateway.patch(f"/api/v1/invoices/{number}", json={"lines": lines})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["error"]["fields"]
    missing = await gateway.post("/api/v1/invoices/INV-209901-999999/approve")
    assert missing.status_code == 404


async def test_sub_organizations_get_their_own_invoices_listed_under_the_parent(
    gateway: httpx.AsyncClient,
) -> None:
    t = uuid.uuid4().hex[:8]
    parent = await created(gateway, "organizations", {"name": f"Group {t}"})
    child = await created(
        gateway, "organizations", {"name": f"Branch {t}", "parent_id": parent["id"]}
    )
    plan = await created(
        gateway,
        "plans",
        {
            "name": f"Branch plan {t}",
            "monthly_price": "90",
            "allowance_gb": "10",
            "overage_price_per_gb": "1",
        },
    )
    for org, n in ((parent, 1), (child, 2)):
        await created(
            gateway,
            "service-lines",
            {
                "service_line_number": f"AST-{t}-S{n}",
                "name": f"Site {n}",
                "org_id": org["id"],
                "plan_id": plan["id"],
                "active_from": "2027-06-16",
            },
        )
    await gateway.post("/api/v1/billing-runs", json={"period": "2027-06"})
    tree = (await gateway.get("/api/v1/invoices", params={"org_id": parent["id"]})).json()
    assert sorted((i["org_id"], i["amount"]) for i in tree["items"]) == sorted(
        [(parent["id"], "45.00"), (child["id"], "45.00")]
    )  # 15 of 30 days of 90.00
    assert tree["totals"]["invoiced"] == "90.00"
    only_child = (await gateway.get("/api/v1/invoices", params={"org_id": child["id"]})).json()
    assert [i["org_id"] for i in only_child["items"]] == [child["id"]]
    number = only_child["items"][0]["invoice_id"]
    edited = await gateway.patch(
        f"/api/v1/invoices/{number}",
        json={
            "lines": [{"type": "REGULAR", "description": "Site 2, half month", "amount": "40.00"}],
            "reason": "agreed discount",
        },
    )
    assert edited.json()["amount"] == "40.00" and edited.json()["approved"] is False
    approved = await gateway.post(f"/api/v1/invoices/{number}/approve")
    assert approved.json()["approved"] is True and approved.json()["revision"] == 2
