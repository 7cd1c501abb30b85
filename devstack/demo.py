"""A small demo data set, loaded through the public API (idempotent: loading it twice changes
nothing, since every snapshot has a fixed `observed_at`)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

DEMO_LINES = ("AST-511274-31364-54", "AST-511274-31364-55", "AST-700100-20001-01")


def _call(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path} answered {exc.code}: {exc.read().decode()}") from None


def demo_records(today: date) -> list[dict[str, str]]:
    """Daily usage for the previous month and this month so far, for three service lines."""
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    records = []
    for n, line in enumerate(DEMO_LINES):
        day = first
        while day < today:
            priority = Decimal(3 + n) + Decimal(day.day % 7) / 4
            records.append(
                {
                    "service_line_number": line,
                    "date": day.isoformat(),
                    "priority_gb": str(priority),
                    "opt_in_priority_gb": str(priority / 4),
                    "standard_gb": str(Decimal(day.day % 5) / 2),
                    "observed_at": datetime.combine(
                        day + timedelta(days=1), datetime.min.time(), UTC
                    ).isoformat(),
                }
            )
            day += timedelta(days=1)
    return records


def load(base: str, admin_token: str) -> str:
    today = datetime.now(UTC).date()
    result = _call(
        base, admin_token, "POST", "/api/v1/usage/records", {"records": demo_records(today)}
    )
    invoices = _catalog_and_invoices(base, admin_token, today)
    return (
        f"demo: {result['accepted']} daily usage records for {len(DEMO_LINES)} service"
        f" lines; {invoices}"
    )


def _catalog_and_invoices(base: str, token: str, today: date) -> str:
    """A reseller's customer with a sub-organization, a plan, a sub-pool, three lines, a product;
    this month's billing run and one product order. Loaded once (found by name afterwards)."""
    orgs = _call(base, token, "GET", "/api/v1/organizations?limit=1000")["items"]
    if any(o["name"] == "Oceanic Shipping" for o in orgs):
        return "demo catalog already loaded"
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=1).isoformat()
    org = _call(
        base,
        token,
        "POST",
        "/api/v1/organizations",
        {
            "name": "Oceanic Shipping",
            "customer_emails": ["ap@oceanic.example"],
            "finance_emails": ["finance@oceanic.example"],
            "payment_terms_days": 30,
        },
    )
    fleet = _call(
        base,
        token,
        "POST",
        "/api/v1/organizations",
        {
            "name": "Oceanic Shipping - North Fleet",
            "parent_id": org["id"],
            "customer_emails": ["north@oceanic.example"],
            "payment_terms_days": 15,
        },
    )
    plan = _call(
        base,
        token,
        "POST",
        "/api/v1/plans",
        {
            "name": "Maritime 50 GB",
            "monthly_price": "250.00",
            "allowance_gb": "50",
            "overage_price_per_gb": "2.50",
        },
    )
    pool = _call(
        base,
        token,
        "POST",
        "/api/v1/sub-pools",
        {
            "org_id": org["id"],
            "name": "Fleet pool",
            "monthly_price": "1200.00",
            "allowance_gb": "150",
            "overage_price_per_gb": "1.75",
        },
    )
    for number, name, owner, on in (
        (DEMO_LINES[0], "MV Aurora", org, {"plan_id": plan["id"]}),
        (DEMO_LINES[1], "MV Borealis", fleet, {"sub_pool_id": pool["id"]}),
        (DEMO_LINES[2], "Rig Castor", fleet, {"sub_pool_id": pool["id"]}),
    ):
        _call(
            base,
            token,
            "POST",
            "/api/v1/service-lines",
            {
                "service_line_number": number,
                "name": name,
                "org_id": owner["id"],
                "active_from": start,
                **on,
            },
        )
    product = _call(
        base,
        token,
        "POST",
        "/api/v1/products",
        {"name": "Flat High Performance kit", "unit_price": "2499.00"},
    )
    _call(
        base,
        token,
        "POST",
        "/api/v1/product-orders",
        {
            "org_id": org["id"],
            "ordered_on": today.isoformat(),
            "items": [{"product_id": product["id"], "quantity": 2}],
        },
    )
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    for _ in range(100):  # let last month's usage reach the invoicing service first
        summary = _call(
            base,
            token,
            "GET",
            f"/api/v1/service-lines/{DEMO_LINES[2]}/usage-summary?period={last_month}",
        )
        if summary["days_with_usage"]:
            break
        time.sleep(0.1)
    run = _call(base, token, "POST", "/api/v1/billing-runs", {"period": today.strftime("%Y-%m")})
    return f"catalog loaded; {len(run['generated'])} invoices for {today:%Y-%m} and 1 order"
