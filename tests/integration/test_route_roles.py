"""Every route of the public API by every role: the answer says who may do what.

The table below is the specification (api.md: admin everything; finance invoices, payments,
approve, send and catalog read; org_user reads and downloads within its own tree; feed usage
ingest only). A route missing from it fails the test, so a new route must say its roles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration

ADMIN = {"admin"}
STAFF = {"admin", "finance"}
READER = {"admin", "finance", "org_user"}
FEED = {"admin", "feed"}
EVERYONE = {"admin", "finance", "org_user", "feed"}

ALLOWED: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/usage/records"): FEED,
    ("POST", "/api/v1/usage/starlink"): FEED,
    ("GET", "/api/v1/service-lines/{service_line_number}/usage"): STAFF,
    ("GET", "/api/v1/service-lines/{service_line_number}/usage-summary"): STAFF,
    ("GET", "/api/v1/usage/unassigned"): STAFF,
    ("GET", "/api/v1/usage/check"): STAFF,
    ("POST", "/api/v1/usage/resync"): ADMIN,
    ("GET", "/api/v1/usage/resync/{job_id}"): ADMIN,
    ("POST", "/api/v1/usage/failures/{failure_id}/dismiss"): ADMIN,
    ("POST", "/api/v1/organizations"): ADMIN,
    ("GET", "/api/v1/organizations/{org_id}"): READER,
    ("PATCH", "/api/v1/organizations/{org_id}"): ADMIN,
    ("GET", "/api/v1/service-lines/{service_line_number}"): READER,
    ("POST", "/api/v1/service-lines/{service_line_number}/changes"): ADMIN,
    ("PATCH", "/api/v1/service-lines/{service_line_number}"): ADMIN,
    ("GET", "/api/v1/plans/{plan_id}"): READER,
    ("PATCH", "/api/v1/plans/{plan_id}"): ADMIN,
    ("GET", "/api/v1/sub-pools/{pool_id}"): READER,
    ("PATCH", "/api/v1/sub-pools/{pool_id}"): ADMIN,
    ("GET", "/api/v1/organizations"): READER,
    ("POST", "/api/v1/plans"): ADMIN,
    ("GET", "/api/v1/plans"): READER,
    ("POST", "/api/v1/sub-pools"): ADMIN,
    ("GET", "/api/v1/sub-pools"): READER,
    ("POST", "/api/v1/service-lines"): ADMIN,
    ("GET", "/api/v1/service-lines"): READER,
    ("POST", "/api/v1/products"): ADMIN,
    ("GET", "/api/v1/products"): READER,
    ("POST", "/api/v1/billing-runs"): STAFF,
    ("POST", "/api/v1/product-orders"): STAFF,
    ("GET", "/api/v1/invoices"): READER,
    ("GET", "/api/v1/invoices/report"): READER,
    ("GET", "/api/v1/invoices/{invoice_id}/ipt"): READER,
    ("GET", "/api/v1/invoices/{invoice_id}"): READER,
    ("PATCH", "/api/v1/invoices/{invoice_id}"): STAFF,
    ("POST", "/api/v1/invoices/regenerate"): STAFF,
    ("POST", "/api/v1/invoices/{invoice_id}/approve"): STAFF,
    ("POST", "/api/v1/invoices/{invoice_id}/payments"): STAFF,
    ("GET", "/api/v1/invoices/{invoice_id}/payments"): STAFF,
    ("POST", "/api/v1/invoices/{invoice_id}/payments/{payment_id}/reversal"): STAFF,
    ("GET", "/api/v1/payments/ledger-check"): STAFF,
    ("GET", "/api/v1/invoices/{invoice_id}/document"): READER,
    ("GET", "/api/v1/invoices/{invoice_id}/pdf"): READER,
    ("POST", "/api/v1/invoices/{invoice_id}/send"): STAFF,
    ("POST", "/api/v1/reminders/run"): ADMIN,
    ("GET", "/api/v1/whoami"): EVERYONE,
    ("GET", "/api/v1/audit"): ADMIN,
}
PARAMS = {
    "{invoice_id}": "INV-209901-999999",
    "{payment_id}": "pay_none",
    "{failure_id}": "999999999",
    "{job_id}": "999999999",
    "{org_id}": "org_none",
    "{plan_id}": "plan_none",
    "{pool_id}": "pool_none",
    "{service_line_number}": "AST-0-0-0",
}


async def test_every_route_for_every_role(stack: Stack, gateway: httpx.AsyncClient) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    routes = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if path.startswith("/api/v1")
    }
    assert routes == set(ALLOWED), {"unlisted": routes - set(ALLOWED)}

    org = (await gateway.post("/api/v1/organizations", json={"name": "Roles Co"})).json()
    tokens = {"admin": ADMIN_TOKEN}
    for role in ("finance", "org_user", "feed"):
        scope = {"org_id": org["id"]} if role == "org_user" else {}
        made = await gateway.post("/api/v1/tokens", json={"name": role, "role": role, **scope})
        tokens[role] = made.json()["token"]

    wrong: list[Any] = []
    for (method, path), allowed in sorted(ALLOWED.items()):
        url = path
        for name, value in PARAMS.items():
            url = url.replace(name, value)
        body = {"json": {}} if method in ("POST", "PATCH") else {}
        for role, token in tokens.items():
            async with httpx.AsyncClient(
                base_url=stack.config.gateway_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as client:
                r = await client.request(method, url, **body)
            refused = r.status_code == 403
            if refused == (role in allowed) or r.status_code in (401, 500):
                wrong.append((method, path, role, r.status_code, r.text[:120]))
            if refused:
                assert r.json()["error"]["code"] == "forbidden"
    assert wrong == []


async def test_state_changes_leave_audit_records(gateway: httpx.AsyncClient) -> None:
    org = (await gateway.post("/api/v1/organizations", json={"name": "Audited Co"})).json()
    pushed = await gateway.post(
        "/api/v1/usage/records",
        json={
            "records": [
                {
                    "service_line_number": "AST-9-9-9",
                    "date": "2026-11-01",
                    "priority_gb": "1",
                    "observed_at": "2026-11-02T00:00:00Z",
                }
            ]
        },
    )
    assert pushed.status_code == 202
    page = (await gateway.get("/api/v1/audit", params={"limit": 50})).json()
    actions = [(r["action"], r["subject"]) for r in page["items"]]
    assert ("usage.push", "/api/v1/usage/records") in actions
    created = [r for r in page["items"] if r["subject"] == org["id"]]
    assert created and created[0]["role"] == "admin" and created[0]["client_ip"] == "127.0.0.1"
    assert created[0]["at"].endswith("Z") and created[0]["actor"]
