"""Proforma: the next invoice per organization from the usage so far, never stored."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


async def test_proforma_shows_next_invoice_with_this_months_usage(
    gateway: httpx.AsyncClient,
) -> None:
    today = datetime.now(UTC).date()
    this_month = today.replace(day=1)
    following = (this_month + timedelta(days=32)).replace(day=1)
    t = uuid.uuid4().hex[:8]
    org = (
        await gateway.post(
            "/api/v1/organizations", json={"name": f"Pro {t}", "payment_terms_days": 10}
        )
    ).json()
    plan = (
        await gateway.post(
            "/api/v1/plans",
            json={
                "name": f"Pro plan {t}",
                "monthly_price": "80",
                "allowance_gb": "10",
                "overage_price_per_gb": "3",
            },
        )
    ).json()
    # This month has been billed (the scheduler does it a few hours into the month; made sure
    # here): the line below is activated after that run.
    run = await gateway.post("/api/v1/billing-runs", json={"period": this_month.isoformat()[:7]})
    assert run.status_code == 200, run.text
    line = f"AST-{t}-P"
    await gateway.post(
        "/api/v1/service-lines",
        json={
            "service_line_number": line,
            "name": "Camp",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": this_month.isoformat(),
        },
    )
    await gateway.post(
        "/api/v1/usage/records",
        json={
            "records": [
                {
                    "service_line_number": line,
                    "date": this_month.isoformat(),
                    "priority_gb": "12.5",
                    "observed_at": f"{today.isoformat()}T00:00:00Z",
                }
            ]
        },
    )

    async def proforma() -> dict[str, Any]:
        r = await gateway.get("/api/v1/invoices", params={"view": "proforma", "org_id": org["id"]})
        assert r.status_code == 200, r.text
        return dict(r.json())

    got = await eventually(
        proforma, lambda p: p["items"] and p["items"][0]["additional_charges"] != "0.00"
    )
    [item] = got["items"]
    # allowance 10 GB prorated by the days active this month (all of them): 2.5 GB x 3 = 7.50;
    # and this month's regular charge, owed since the line came after this month's run: 80.00
    active = (following - this_month).days
    assert item["proforma"] is True and item["status"] == "PROFORMA"
    assert item["invoice_id"].startswith("PROFORMA-")
    assert (item["regular_charges"], item["additional_charges"], item["amount"]) == (
        "80.00",
        "87.50",
        "167.50",
    )
    corrections = [x for x in item["lines"] if x["type"] == "ADJUSTMENT"]
    assert [(x["amount"], x["description"][:18]) for x in corrections] == [
        ("80.00", f"Correction {this_month.isoformat()[:7]}")
    ]
    assert item["issued_on"] == following.isoformat()
    assert item["payable_on"] == (following + timedelta(days=10)).isoformat()
    assert active >= 28
    assert got["totals"] == {"invoiced": "167.50", "balance": "167.50"}
    stored = (await gateway.get("/api/v1/invoices", params={"org_id": org["id"]})).json()
    assert stored["items"] == []  # never stored as an invoice
    wrong = await gateway.get("/api/v1/invoices", params={"view": "proforma", "kind": "one_time"})
    assert wrong.status_code == 422
    assert date.fromisoformat(item["issued_on"]) > today
    # Taxed at the organization's rate as it stands (the proforma is the invoice to come):
    # 167.50 x 20 % = 33.50; 201.00.
    r = await gateway.patch(f"/api/v1/organizations/{org['id']}", json={"tax_rate": "20"})
    assert r.status_code == 200, r.text
    [taxed] = (await proforma())["items"]
    assert (taxed["tax"], taxed["tax_rate"], taxed["amount"]) == ("33.50", "20", "201.00")
